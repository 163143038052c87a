"""DESIGN 2.2 / 2.3 transcribed by hand: the states with their labels, and the sources, roles and
targets of every action (`EXPECTED`).

It is deliberately not derived from `services.lifecycle.table`: when the code's table and the
design drift apart, one of test_lifecycle_table.py's or test_lifecycle_guards.py's tests fails and
someone has to decide which one is right.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.lifecycle.roles import Role
from services.lifecycle.states import State
from services.lifecycle.table import LIFECYCLE

S = State
R = Role

# --- DESIGN 2.2, transcribed --------------------------------------------------------------------

DESIGN_STATES = {
    "reported": "待核查",
    "registered": "已登记（限期整改）",
    "supervised": "挂牌督办",
    "rectifying": "整改中",
    "acceptance_requested": "待验收",
    "accepted": "待销号",
    "closed": "已销号",
    "dismissed": "不予立案",
}
OPEN = {S.REPORTED, S.REGISTERED, S.SUPERVISED, S.RECTIFYING, S.ACCEPTANCE_REQUESTED, S.ACCEPTED}
ANY = OPEN | {S.CLOSED, S.DISMISSED}
WORKING = {S.REGISTERED, S.SUPERVISED, S.RECTIFYING}
OFFICIALS = {R.INSPECTOR, R.SUPERVISOR}
IN_SCOPE_PEOPLE = {R.ENTERPRISE, R.INSPECTOR, R.SUPERVISOR, R.COMMITTEE}
SAME = None  # "no state change"


@dataclass(frozen=True)
class Row:
    sources: frozenset[State]
    roles: frozenset[Role]
    targets: frozenset[State] | None  # None: the state does not change


def row(sources, roles, targets) -> Row:
    return Row(
        frozenset(sources), frozenset(roles), None if targets is None else frozenset(targets)
    )


EXPECTED: dict[str, Row] = {
    # action: (from, who, to)
    "report": row((), IN_SCOPE_PEOPLE | {R.PUBLIC}, {S.REPORTED}),  # (new) → reported
    # Issue 11: an office moving its running ledger in creates hazards in these states (one event).
    "import": row((), OFFICIALS | {R.COMMITTEE}, {S.SUPERVISED, S.RECTIFYING, S.ACCEPTANCE_REQUESTED}),
    "register": row({S.REPORTED}, OFFICIALS, {S.REGISTERED, S.CLOSED}),  # 立查立改 → closed
    "dismiss": row({S.REPORTED}, OFFICIALS, {S.DISMISSED}),
    "supervise": row({S.REGISTERED}, {R.COMMITTEE}, {S.SUPERVISED}),
    "file_plan": row({S.REGISTERED, S.SUPERVISED}, {R.ENTERPRISE}, {S.RECTIFYING}),
    "report_progress": row({S.RECTIFYING}, {R.ENTERPRISE}, SAME),  # rectifying → rectifying
    "request_extension": row(WORKING, {R.ENTERPRISE}, SAME),
    "grant_extension": row(WORKING, {R.SUPERVISOR, R.COMMITTEE}, SAME),
    "deny_extension": row(WORKING, {R.SUPERVISOR, R.COMMITTEE}, SAME),
    "request_acceptance": row(
        {S.REGISTERED, S.RECTIFYING}, {R.ENTERPRISE}, {S.ACCEPTANCE_REQUESTED}
    ),
    "accept": row({S.ACCEPTANCE_REQUESTED}, OFFICIALS, {S.CLOSED, S.ACCEPTED}),
    "reject": row({S.ACCEPTANCE_REQUESTED}, OFFICIALS, {S.RECTIFYING}),
    "close": row({S.ACCEPTED}, {R.COMMITTEE}, {S.CLOSED}),
    "order_suspension": row(OPEN, OFFICIALS | {R.COMMITTEE}, SAME),
    "lift_suspension": row(OPEN, OFFICIALS | {R.COMMITTEE}, SAME),
    "escalate": row(OPEN, {R.SYSTEM}, SAME),
    # DESIGN 2.6 (issue #4): each issued document is an audit event by `system`; the 销号 notice is
    # issued after the hazard closed, so every state takes it.
    "issue_document": row(ANY, {R.SYSTEM}, SAME),
    # Issue 10: every accepted upload is an audit event; closed and dismissed hazards take none.
    "attach": row(OPEN, IN_SCOPE_PEOPLE, SAME),
    "comment": row(ANY, IN_SCOPE_PEOPLE, SAME),
}

# DESIGN 2.3
DESIGN_ROLES = {"enterprise", "inspector", "supervisor", "committee", "auditor", "admin", "system"}


def code_row(action: str) -> Row:
    """The code's table row of `action`, in the same shape as EXPECTED's."""
    spec = LIFECYCLE[action]
    return Row(spec.sources, spec.roles, frozenset(spec.targets) if spec.targets else None)
