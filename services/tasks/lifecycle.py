"""The lifecycle of one unit's part of a published task (issue 14, item 3), declared once, beside
the hazard's (`services.lifecycle.table`) and in the same terms (`ActionSpec`, `Guard`): the
transaction path (`services.engine.transitions`), the pages' offered actions, the README's diagram
and the tests all read `TASK_LIFECYCLE`.

published (assign) → 签收 acknowledge → 报告进展 report_progress (monthly for a year-long task) →
报告完成 report_completion (with its evidence) → 核查 verify by the issuing office, or 退回 return
(back to in progress); 申请延期 request_extension decided by the issuing office (grant / deny). A
task is closed (销号) when every unit's part is verified (`services.tasks.engine.close_if_done`).

Who: a unit acts on its own part (the user's organisation is the part's); the issuing office (a
安委办 user of the plan's region) verifies, returns and decides extensions; four-eyes: the user who
reported completion does not verify it, the one who asked for an extension does not decide it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from services.escalation.ladder import Step
from services.lifecycle.facts import Context
from services.lifecycle.guards import Guard
from services.lifecycle.roles import Role
from services.lifecycle.table import ActionSpec, diagram
from services.outbox import kinds
from services.tasks import bodies
from services.tasks.states import ALL, FINAL, OPEN, TASK_STATE_LABELS, WORKING, TaskState

OFFICIALS = frozenset({Role.INSPECTOR, Role.SUPERVISOR, Role.COMMITTEE})  # government users
ISSUER = frozenset({Role.COMMITTEE})

# The task ladder's steps and their bits in `task_assignments.escalation_fired` (the hazards' bits).
TASK_STEPS = {"remind": Step.remind, "overdue": Step.overdue, "urge": Step.urge, "summon": Step.summon,
              "publicize": Step.publicize}
TASK_DEADLINE_BITS = sum(TASK_STEPS.values())
TASK_STEP_LABELS = {"remind": "任务完成时限临近提醒", "overdue": "任务逾期预警", "urge": "发督办函",
                    "summon": "约谈", "publicize": "通报", "progress_remind": "月度进展提醒"}


def _forbidden(code: str, message: str, check) -> Guard:
    return Guard(code, message, "forbidden", check)


def _conflict(code: str, message: str, check) -> Guard:
    return Guard(code, message, "conflict", check)


def _body(code: str, message: str, field_name: str, check) -> Guard:
    return Guard(code, message, "invalid", check, needs_body=True, field=field_name)


def is_unit(facts: Any, actor: Any) -> bool:
    return actor.role == Role.SYSTEM or (getattr(actor, "organisation_id", None) is not None
                                         and actor.organisation_id == facts.org_id)


def is_issuing_office(facts: Any, actor: Any) -> bool:
    """A 安委办 user of the plan's region: the office that issued the list checks its tasks."""
    return actor.role == Role.COMMITTEE and actor.region_code == facts.issuer_region_code


OWN_UNIT = _forbidden("own_unit", "只能办理本单位承担的任务", is_unit)
ISSUING_OFFICE = _forbidden("issuing_office", "须由印发任务清单的安委办办理", is_issuing_office)
UNIT_OR_OFFICE = _forbidden("own_unit", "只有承担单位和印发任务清单的安委办可以备注",
                            lambda f, a: is_unit(f, a) or is_issuing_office(f, a))
NOT_COMPLETION_REPORTER = _forbidden(
    "four_eyes_reporter", "核查须由报告完成情况的人员以外的人员办理（四眼原则）",
    lambda f, a: a.id is None or f.completion_reported_by_id != a.id)
NOT_EXTENSION_REQUESTER = _forbidden(
    "four_eyes_requester", "延期申请须由申请人以外的人员审批（四眼原则）",
    lambda f, a: a.id is None or f.extension_requested_by_id != a.id)
NO_PENDING_EXTENSION = _conflict("extension_pending", "已有待审批的延期申请",
                                 lambda f, a: f.extension_requested_at is None)
HAS_PENDING_EXTENSION = _conflict("no_extension_pending", "没有待审批的延期申请",
                                  lambda f, a: f.extension_requested_at is not None)
NEW_DEADLINE_LATER = _body("new_deadline", "延期后的完成时限应晚于当前完成时限", "new_deadline",
                           lambda f, a, b, c: b.new_deadline > f.deadline)
NEW_DEADLINE_IN_REACH = _body("new_deadline", "延期后的完成时限不能晚于一年之后", "new_deadline",
                              lambda f, a, b, c: b.new_deadline <= date(c.today.year + 1, c.today.month, 28))
COMPLETED_NOT_FUTURE = _body("future_date", "完成日期不能晚于今天", "completed_on",
                             lambda f, a, b, c: b.completed_on <= c.today)


def _step_bits(body: Any) -> int:
    return sum(TASK_STEPS[s] for s in (body.step, *body.skipped) if s in TASK_STEPS)


NOT_FIRED = Guard(
    "step_fired", "该督办步骤已针对当前时限执行过", "conflict",
    lambda f, a, b, c: (not f.escalation_fired & _step_bits(b)) if b.step != "progress_remind"
    else f.progress_reminded != b.month,
    needs_body=True,
)

_NO_EXTENSION: dict[str, Any] = {"extension_new_deadline": None, "extension_reason": None,
                                 "extension_requested_at": None, "extension_requested_by_id": None}


def _progress(f: Any, b: bodies.TaskProgressBody, a: Any, c: Context) -> dict[str, Any]:
    changes: dict[str, Any] = {"progress_count": f.progress_count + 1, "last_progress_at": c.now,
                               "last_progress": b.text}
    if f.acknowledged_at is None:
        changes["acknowledged_at"] = c.now
    return changes


def _completion(f: Any, b: bodies.CompletionBody, a: Any, c: Context) -> dict[str, Any]:
    return {"completion_reported_at": c.now, "completion_reported_by_id": a.id, "completion": b.summary,
            **_NO_EXTENSION}


def _verify(f: Any, b: Any, a: Any, c: Context) -> dict[str, Any]:
    return {"verified_at": c.now, "verified_by_id": a.id}


def _return(f: Any, b: bodies.TaskReturnBody, a: Any, c: Context) -> dict[str, Any]:
    return {"returned_count": f.returned_count + 1, "completion_reported_at": None}


def _request_extension(f: Any, b: bodies.TaskExtensionBody, a: Any, c: Context) -> dict[str, Any]:
    return {"extension_new_deadline": b.new_deadline, "extension_reason": b.reason,
            "extension_requested_at": c.now, "extension_requested_by_id": a.id}


def _grant(f: Any, b: Any, a: Any, c: Context) -> dict[str, Any]:
    # A new deadline: the ladder's deadline steps start again from nothing.
    return {"deadline": f.extension_new_deadline, "extensions_granted": f.extensions_granted + 1,
            "escalation_step": None, "escalation_fired": f.escalation_fired & ~TASK_DEADLINE_BITS, **_NO_EXTENSION}


def _escalate(f: Any, b: bodies.TaskEscalateBody, a: Any, c: Context) -> dict[str, Any]:
    if b.step == "progress_remind":
        return {"progress_reminded": b.month}
    return {"escalation_step": b.step, "escalation_fired": f.escalation_fired | _step_bits(b)}


def _escalation_notice(b: bodies.TaskEscalateBody, changes: dict[str, Any], c: Context) -> dict[str, Any]:
    notice: dict[str, Any] = {"step": b.step, "as_of": (b.as_of or c.today).isoformat()}
    if b.skipped:
        notice["skipped"] = list(b.skipped)
    if b.month:
        notice["month"] = b.month
    return notice


UNIT, OFFICE = kinds.NOTIFY_TASK_UNIT, kinds.NOTIFY_TASK_OFFICE

_SPECS = (
    ActionSpec("assign", "交办", frozenset({Role.SYSTEM, Role.COMMITTEE}), frozenset(), bodies.AssignBody,
               targets=(TaskState.ASSIGNED,), effects=(UNIT,), lifecycle=False,
               doc="A published plan gives each responsible unit its part (`services.tasks.assign`): "
                   "the first event of the part's chain; the 任务交办通知 is the plan's document."),
    ActionSpec("acknowledge", "签收", OFFICIALS, frozenset({TaskState.ASSIGNED}), bodies.EmptyBody,
               targets=(TaskState.ACKNOWLEDGED,), guards=(OWN_UNIT,),
               apply=lambda f, b, a, c: {"acknowledged_at": c.now}, effects=(OFFICE,)),
    ActionSpec("report_progress", "报告进展", OFFICIALS,
               frozenset({TaskState.ASSIGNED, TaskState.ACKNOWLEDGED, TaskState.IN_PROGRESS}),
               bodies.TaskProgressBody, targets=(TaskState.IN_PROGRESS,), guards=(OWN_UNIT,), apply=_progress),
    ActionSpec("report_completion", "报告完成情况", OFFICIALS, WORKING, bodies.CompletionBody,
               targets=(TaskState.REPORTED,), guards=(OWN_UNIT, COMPLETED_NOT_FUTURE), apply=_completion,
               effects=(OFFICE,)),
    ActionSpec("verify", "核查通过", ISSUER, frozenset({TaskState.REPORTED}), bodies.TaskNoteBody,
               targets=(TaskState.VERIFIED,), guards=(ISSUING_OFFICE, NOT_COMPLETION_REPORTER), apply=_verify,
               effects=(UNIT,)),
    ActionSpec("return", "核查退回", ISSUER, frozenset({TaskState.REPORTED}), bodies.TaskReturnBody,
               targets=(TaskState.IN_PROGRESS,), guards=(ISSUING_OFFICE, NOT_COMPLETION_REPORTER), apply=_return,
               effects=(UNIT,)),
    ActionSpec("request_extension", "申请延期", OFFICIALS, WORKING, bodies.TaskExtensionBody,
               guards=(OWN_UNIT, NO_PENDING_EXTENSION, NEW_DEADLINE_LATER, NEW_DEADLINE_IN_REACH),
               apply=_request_extension, effects=(OFFICE,)),
    ActionSpec("grant_extension", "批准延期", ISSUER, WORKING, bodies.TaskNoteBody,
               guards=(HAS_PENDING_EXTENSION, ISSUING_OFFICE, NOT_EXTENSION_REQUESTER), apply=_grant,
               effects=(UNIT,)),
    ActionSpec("deny_extension", "不予延期", ISSUER, WORKING, bodies.TaskNoteBody,
               guards=(HAS_PENDING_EXTENSION, ISSUING_OFFICE, NOT_EXTENSION_REQUESTER),
               apply=lambda f, b, a, c: dict(_NO_EXTENSION), effects=(UNIT,)),
    ActionSpec("escalate", "督办升级", frozenset({Role.SYSTEM}), OPEN, bodies.TaskEscalateBody,
               guards=(NOT_FIRED,), apply=_escalate, effects=(UNIT, OFFICE), notice=_escalation_notice,
               documents=lambda b: (kinds.document("task_urge_letter"),) if b.step == "urge" else (),
               lifecycle=False),
    ActionSpec("issue_document", "签发文书", frozenset({Role.SYSTEM}), ALL, bodies.TaskDocumentBody,
               lifecycle=False),
    ActionSpec("comment", "备注", OFFICIALS, ALL, bodies.TaskCommentBody, guards=(UNIT_OR_OFFICE,)),
)

TASK_LIFECYCLE: dict[str, ActionSpec] = {spec.action: spec for spec in _SPECS}


def mermaid() -> str:
    """The state diagram of a unit's part, generated from the table (the README embeds it)."""
    return diagram(_SPECS, TaskState, TASK_STATE_LABELS, "assigned: assign 交办", FINAL)


if __name__ == "__main__":  # `uv run python -m services.tasks.lifecycle` prints the README's diagram
    print(mermaid())
