"""The read models: each answer the services give, declared once, field for field the JSON the API
emits (app/api/schemas.py re-exports them, so they are the OpenAPI document's components of these
names). Moments and dates are the ISO strings the answers have always carried.

Each answer is validated once, where a view builds it (plain construction runs in pydantic-core and
costs less than `model_construct`, which is Python); FastAPI takes the instance as it is (an
instance of the response model is not validated again) and serialises it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class EnterpriseRef(BaseModel):
    uscc: str
    name: str


class Listing(BaseModel):
    level: str
    body: str | None
    listed_at: str | None
    plan_due: str | None


class Plan(BaseModel):
    responsible_person: str | None
    measures: str | None
    funds_wan: str | None
    time_limit: str | None
    contingency_plan: str | None
    filed_at: str | None
    five_items_complete: bool


class PendingExtension(BaseModel):
    new_deadline: str | None
    reason: str | None
    requested_at: str | None


class HazardOut(BaseModel):
    id: int
    code: str
    title: str
    description: str
    location: str
    industry: str
    source: str
    source_label: str | None
    category: str | None
    level: str | None
    level_label: str | None
    region_code: str
    enterprise_id: int | None
    enterprise: EnterpriseRef | None
    state: str
    state_label: str
    version: int
    escalation_step: str | None
    suspended: bool
    discovered_at: str
    deadline: str | None
    overdue: bool
    listing: Listing | None
    plan: Plan | None
    pending_extension: PendingExtension | None
    extensions_granted: int
    failed_acceptances: int
    accepted_at: str | None
    closed_at: str | None
    repeat_of: int | None
    created_at: str
    updated_at: str
    allowed_actions: list[str]
    enterprise_blacklisted: bool | None = Field(
        default=None, description="其企业当前在黑名单内（services/blacklist/status.py）；无企业时为 null")


class HazardPage(BaseModel):
    items: list[HazardOut]
    next_cursor: str | None
    limit: int


class EventActor(BaseModel):
    id: int | None
    role: str
    name: str


class EventOut(BaseModel):
    id: int
    seq: int
    action: str
    actor: EventActor
    from_state: str | None
    to_state: str
    payload: dict[str, Any]
    occurred_at: str
    prev_hash: str
    hash: str


class TodoOut(BaseModel):
    hazard_id: int
    code: str
    title: str
    state: str
    state_label: str
    level: str | None
    actions: list[str]
    action_labels: list[str]
    deadline: str | None
    due: str | None = Field(description="by when this person's step is due (YYYY-MM-DD)")
    due_label: str = Field(description="what `due` is: 登记期限, 验收审查期限, 方案报送期限 or 整改期限")
    overdue: bool = Field(description="`due` has passed")
    due_soon: bool
    kind: Literal["hazard"] = "hazard"


class TaskTodoOut(BaseModel):
    """Issue 14: a unit's part of a published task waiting on this person (签收, 进展, 完成; for the
    issuing office 核查, 延期审批)."""

    kind: Literal["task"] = "task"
    assignment_id: int = Field(description="the unit's part (GET /api/v1/tasks/{id})")
    task_id: int
    plan_id: int
    plan_title: str
    unit_name: str
    code: str = Field(description="the task's number as the plan numbers it (任务3)")
    title: str
    state: str
    state_label: str
    actions: list[str]
    action_labels: list[str]
    deadline: str
    due: str = Field(description="by when this person's step is due (YYYY-MM-DD)")
    due_label: str = Field(description="完成时限, 月度进展报送期限 or 核查期限")
    overdue: bool
    due_soon: bool


class MessageOut(BaseModel):
    id: int
    hazard_id: int | None
    kind: str
    title: str
    body: str
    created_at: str
    read_at: str | None
    read: bool


class InboxOut(BaseModel):
    todos: list[TodoOut]
    task_todos: list[TaskTodoOut] = Field(default=[], description="the caller's task parts waiting (issue 14)")
    messages: list[MessageOut]
    next_cursor: str | None
    unread: int
    total: int = 0  # all the caller's messages, read or not


class AttachmentOut(BaseModel):
    id: int
    sha256: str
    size: int
    content_type: str
    filename: str
    hazard_version: int  # the upload is an audit event: the hazard's version after it


class PublicReceipt(BaseModel):
    tracking_code: str
    state: str
    message: str


class PublicStatus(BaseModel):
    tracking_code: str
    state: str
    state_label: str
