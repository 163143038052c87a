"""Request bodies of the task actions (issue 14), with Chinese validation messages. They share the
hazards' base (`services.lifecycle.bodies.Body`: unknown fields and control characters refused)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from services.lifecycle.bodies import Body, Evidence, Short, Text

TaskStep = Literal["remind", "overdue", "urge", "summon", "publicize", "progress_remind"]


class AssignBody(Body):
    """The first event of a unit's part: what it was given, as published."""

    plan_id: int
    task_id: int
    number: Short
    title: Short
    unit_name: Short
    role: Short
    deadline: date
    year_long: bool = False


class EmptyBody(Body):
    pass


class TaskProgressBody(Body):
    text: Text
    evidence: Evidence = []


class CompletionBody(Body):
    summary: Text
    completed_on: date
    # 佐证材料: what proves it (文件文号, 台账, 现场照片说明…); files uploaded to the part are named in `evidence`.
    evidence_text: Text
    evidence: Evidence = []


class TaskExtensionBody(Body):
    new_deadline: date
    reason: Text


class TaskNoteBody(Body):
    note: Text


class TaskReturnBody(Body):
    reason: Text


class TaskEscalateBody(Body):
    step: TaskStep
    as_of: date | None = None
    skipped: Annotated[list[TaskStep], Field(max_length=5)] = []
    month: Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")] | None = None  # progress_remind

    @model_validator(mode="after")
    def _month_for_progress(self) -> "TaskEscalateBody":
        if (self.step == "progress_remind") != (self.month is not None):
            raise PydanticCustomError("zh_month", "月度进展提醒须注明月份（且只有它注明）", {"field": "month"})
        return self


class TaskCommentBody(Body):
    text: Text


class TaskDocumentBody(Body):
    kind: Short
    number: Short
    title: Short
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    document_id: int
