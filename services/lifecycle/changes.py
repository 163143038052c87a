"""What each action writes on the hazard's row, and what its outbox rows carry besides the event.

`apply(facts, body, actor, ctx) -> changes`: the columns the action sets, as the compare-and-set
writes them and the audit event records them (`payload.changes`, replayed by the audit check).
"""

from __future__ import annotations

from typing import Any

from services.escalation.ladder import DEADLINE_BITS, Step, step_changes
from services.lifecycle import bodies
from services.lifecycle.facts import Actor, Context, Facts

# An extension request answered, or moot: the request's columns cleared.
_NO_EXTENSION_PENDING: dict[str, Any] = {
    "extension_new_deadline": None, "extension_reason": None, "extension_requested_at": None,
}


def register(f: Facts, b: bodies.RegisterBody, a: Actor, c: Context) -> dict[str, Any]:
    # A new deadline: the ladder starts from nothing (the unregistered reminders are moot too).
    changes: dict[str, Any] = {"level": b.level, "deadline": b.deadline, "category": b.category,
                               "escalation_step": None, "escalation_fired": 0}
    if b.rectified_on_spot:
        changes["closed_at"] = c.now
    return changes


def supervise(f: Facts, b: bodies.SuperviseBody, a: Actor, c: Context) -> dict[str, Any]:
    return {
        "listing_level": b.listing_level,
        "listed_at": c.now,
        "deadline": b.deadline,
        "plan_due": b.plan_due,
        "suspended": b.suspend_production or f.suspended,
        "escalation_step": None,  # the listing's deadline: the ladder restarts
        "escalation_fired": f.escalation_fired & ~DEADLINE_BITS,
    }


# The plan's columns and the fields of a plan's body (`file_plan`, or an imported row) they take.
PLAN_COLUMNS = {
    "plan_responsible_person": "responsible_person",
    "plan_measures": "measures",
    "plan_funds_wan": "funds_wan",
    "plan_time_limit": "time_limit",
    "plan_contingency": "contingency_plan",
}


def plan_columns(body: Any) -> dict[str, Any]:
    return {column: getattr(body, field) for column, field in PLAN_COLUMNS.items()}


def file_plan(f: Facts, b: bodies.FilePlanBody, a: Actor, c: Context) -> dict[str, Any]:
    return {**plan_columns(b), "plan_filed_at": c.now}


def request_extension(f: Facts, b: bodies.ExtensionRequestBody, a: Actor, c: Context) -> dict[str, Any]:
    return {
        "extension_new_deadline": b.new_deadline,
        "extension_reason": b.reason,
        "extension_requested_at": c.now,
    }


def grant_extension(f: Any, b: bodies.NoteBody, a: Actor, c: Context) -> dict[str, Any]:
    return {
        "deadline": f.extension_new_deadline,
        "extensions_granted": f.extensions_granted + 1,
        "escalation_step": None,  # the ladder restarts against the new deadline
        "escalation_fired": f.escalation_fired & ~DEADLINE_BITS,
        **_NO_EXTENSION_PENDING,
    }


def deny_extension(f: Facts, b: bodies.NoteBody, a: Actor, c: Context) -> dict[str, Any]:
    return dict(_NO_EXTENSION_PENDING)


def request_acceptance(f: Facts, b: bodies.AcceptanceRequestBody, a: Actor, c: Context) -> dict[str, Any]:
    # A pending extension request is moot once the work is reported done.
    # A new request may again be reported as unreviewed.
    return {"acceptance_requested_at": c.now, "funds_spent_wan": b.funds_spent_wan,
            **_NO_EXTENSION_PENDING,
            "escalation_fired": f.escalation_fired & ~Step.review_overdue}


def accept(f: Facts, b: bodies.AcceptBody, a: Actor, c: Context) -> dict[str, Any]:
    changes: dict[str, Any] = {"accepted_by_id": a.id, "accepted_at": c.now}
    if f.level != "major":
        changes["closed_at"] = c.now
    return changes


def reject(f: Any, b: bodies.RejectBody, a: Actor, c: Context) -> dict[str, Any]:
    return {"failed_acceptances": f.failed_acceptances + 1, "acceptance_requested_at": None}


def close(f: Facts, b: bodies.OpinionBody, a: Actor, c: Context) -> dict[str, Any]:
    return {"closed_at": c.now, "suspended": False}


def dismiss(f: Facts, b: bodies.ReasonBody, a: Actor, c: Context) -> dict[str, Any]:
    return {"dismiss_reason": b.reason, "closed_at": c.now}


def escalate(f: Facts, b: bodies.EscalateBody, a: Actor, c: Context) -> dict[str, Any]:
    return step_changes(Step[b.step], f.escalation_fired, f.listing_level, [Step[s] for s in b.skipped])


def escalation_notice(b: bodies.EscalateBody, changes: dict[str, Any], c: Context) -> dict[str, Any]:
    """The step, the sweep's day (delivery sends one digest per recipient and day), the lesser
    steps it was fired in place of (a catch-up: "（已跳过：…）"), and, for an elevation (also one
    skipped for a referral), the new listing level (its 安委办 is told)."""
    notice: dict[str, Any] = {"step": b.step, "as_of": (b.as_of or c.today).isoformat()}
    if b.skipped:
        notice["skipped"] = list(b.skipped)
    if "listing_level" in changes:
        notice["listing_level"] = changes["listing_level"]
    return notice


# The ladder steps that issue an official document (DESIGN 2.6); the other steps only notify. Only
# the fired step's: a 督办函 skipped for a 约谈 is not issued.
LADDER_DOCUMENTS = {"urge": ("document.urge_letter",), "summon": ("document.summon_notice",)}
