"""The 通报 answers (the API's response models and the pages' data)."""

from __future__ import annotations

from pydantic import BaseModel


class BulletinItemOut(BaseModel):
    id: int
    region_code: str
    month: str
    kind: str
    kind_label: str
    hazard_id: int | None
    hazard_code: str | None
    hazard_title: str | None
    enterprise: str | None
    department: str | None  # 行业主管部门
    subject: str  # what is named: the hazard's enterprise, the unit, or the region
    reason: str
    status: str  # proposed | included | excluded
    status_label: str
    review_note: str | None
    bulletin_id: int | None
    bulletin_number: str | None
    # an overdue task (`overdue_task`): the unit's part, its task and plan (the subject is the unit)
    assignment_id: int | None = None
    plan_id: int | None = None
    task_id: int | None = None
    task_number: str | None = None
    task_title: str | None = None


class BulletinOut(BaseModel):
    id: int
    region_code: str
    month: str
    number: str
    title: str
    issuer_name: str
    sha256: str
    issued_at: str
    entries: int


class BulletinList(BaseModel):
    region_code: str
    region_name: str
    month: str
    can_review: bool  # the caller is this region's committee office
    items: list[BulletinItemOut]
    bulletins: list[BulletinOut]


class ExposureEntry(BaseModel):
    code: str
    enterprise: str
    summary: str  # the hazard's title, nothing internal
    deadline: str | None
    listing_body: str
    listing_level: str
    listed_on: str | None
    closed_on: str | None


class ExposurePage(BaseModel):
    listed: list[ExposureEntry]
    closed: list[ExposureEntry]
    closed_within_days: int
    page: int
    pages: int
