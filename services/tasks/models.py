"""The answers about task units' parts (issue 14), declared once: what `services.tasks.reads`
builds, the API's response models (app/api/routers/tasks.py) and the CLI's `--json`. Moments and
dates are ISO strings, as in the hazards' answers (services/reads/models.py)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class TaskRef(BaseModel):
    """The task of the plan a part belongs to, as published."""

    id: int
    plan_id: int
    plan_title: str
    plan_year: int
    section: str
    number: str
    title: str
    text: str
    deadline_text: str
    state: str = Field(description="open 办理中 | closed 已销号 (every unit's part verified)")
    state_label: str
    closed_at: str | None


class TaskProgress(BaseModel):
    count: int
    last_text: str | None
    last_at: str | None


class PersonRef(BaseModel):
    id: int | None
    name: str | None


class TaskCompletion(BaseModel):
    summary: str | None
    reported_at: str
    reported_by: PersonRef


class TaskVerification(BaseModel):
    verified_at: str
    verified_by: PersonRef


class TaskExtensionRequest(BaseModel):
    new_deadline: str | None
    reason: str | None
    requested_at: str
    requested_by: PersonRef


class TaskEventActor(BaseModel):
    id: int | None
    role: str
    role_label: str
    name: str


class TaskEventOut(BaseModel):
    """One event of the part's record chain (`assignment:<id>`), oldest first."""

    seq: int
    action: str
    label: str
    actor: TaskEventActor
    occurred_at: str
    from_state: str | None
    to_state: str | None
    body: dict[str, Any]
    attachments: list[dict[str, Any]] = Field(default_factory=list,
                                              description="files the action named in `evidence` (id, sha256, filename)")
    hash: str


class TaskAttachmentOut(BaseModel):
    id: int
    assignment_id: int
    sha256: str
    size: int
    content_type: str
    filename: str
    created_at: str
    uploaded_by_id: int | None


class TaskPartSummary(BaseModel):
    """One unit's part in a list."""

    id: int
    plan_id: int
    plan_title: str
    task_id: int
    number: str
    section: str
    title: str
    org_id: int
    unit_name: str
    role: str
    state: str
    state_label: str
    deadline: str
    year_long: bool
    overdue: bool = Field(description="the deadline has passed and the part is still owed (not reported or verified)")
    version: int
    progress_count: int
    last_progress_at: str | None
    escalation_step: str | None
    extension_pending: bool
    allowed_actions: list[str]


class TaskPartOut(BaseModel):
    """One unit's part of a task in full: the task, the unit, where it stands, its trail and files,
    and what the caller may do now (`allowed_actions`, from TASK_LIFECYCLE)."""

    id: int
    version: int
    task: TaskRef
    org_id: int
    unit_name: str
    role: str
    region_code: str
    issuer_org_id: int
    issuer_region_code: str
    state: str
    state_label: str
    deadline: str
    year_long: bool
    overdue: bool
    acknowledged_at: str | None
    progress: TaskProgress
    completion: TaskCompletion | None
    verification: TaskVerification | None
    returned_count: int
    pending_extension: TaskExtensionRequest | None
    extensions_granted: int
    escalation_step: str | None
    escalation_step_label: str | None
    trail: list[TaskEventOut]
    attachments: list[TaskAttachmentOut]
    allowed_actions: list[str]
    action_labels: dict[str, str]
    created_at: str
    updated_at: str


class TaskPage(BaseModel):
    items: list[TaskPartSummary]
    next_cursor: str | None
    limit: int
