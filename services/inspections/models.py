"""The bodies and read models of self-inspection returns (Pydantic, separate from the ORM rows)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from services.lifecycle.bodies import Body, Short, Text

Principal100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class FoundHazard(Body):
    """A hazard the check found, reported with the return (source 企业自查); the region and the
    industry default to the enterprise's."""

    title: Short
    description: Text
    location: Short
    discovered_on: date | None = None


class ReturnBody(Body):
    """Filing (or amending) the return of `month` (`YYYY-MM`)."""

    month: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
    checked_from: date
    checked_to: date
    scope: Text
    principal: Principal100
    nil_return: bool = False
    hazards: Annotated[list[FoundHazard], Field(max_length=50)] = []
    link_hazard_ids: Annotated[list[Annotated[int, Field(ge=1, le=2**63 - 1)]], Field(max_length=200)] = []


class SpotFixBody(Body):
    """A 立查立改 record (the evidence file travels beside it)."""

    description: Text
    location: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    measures: Text
    fixed_on: date


class LinkedHazard(BaseModel):
    id: int
    code: str
    title: str
    state: str
    state_label: str
    level: str | None


class EarlierHazard(BaseModel):
    """An open hazard of the enterprise found before the month, as it stood when the return was filed."""

    id: int
    code: str
    title: str
    state: str
    state_label: str
    level: str | None
    deadline: str | None


class SpotFixOut(BaseModel):
    id: int
    self_inspection_id: int
    description: str
    location: str
    measures: str
    fixed_on: str
    evidence_filename: str
    evidence_content_type: str
    evidence_size: int
    evidence_sha256: str
    created_at: str


class ReturnOut(BaseModel):
    id: int
    enterprise_id: int
    enterprise_name: str
    enterprise_uscc: str
    region_code: str
    month: str
    checked_from: str
    checked_to: str
    scope: str
    principal: str
    nil_return: bool
    version: int
    filed_at: str
    amendable: bool  # the filing window of its month is still open
    hazards: list[LinkedHazard]
    earlier: list[EarlierHazard]
    spot_fixes: list[SpotFixOut]


class StatusRow(BaseModel):
    """One enterprise's return for a month: filed or not (a government reader's list), or one of
    an enterprise's own returns."""

    enterprise_id: int
    enterprise_name: str
    enterprise_uscc: str
    region_code: str
    industry: str
    month: str
    filed: bool
    return_id: int | None
    nil_return: bool | None
    hazards: int
    spot_fixes: int
    filed_at: str | None
    version: int | None


class ReturnList(BaseModel):
    month: str | None  # None: an enterprise's own returns, every month
    region_code: str | None
    region_name: str | None
    total: int
    filed: int
    rows: list[StatusRow]
