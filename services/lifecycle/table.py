"""The hazard lifecycle, declared once (DESIGN 2.2 and 2.3).

Every action is in `LIFECYCLE` below: who may take it, from which states, to which, with which
body, guards (`services.lifecycle.guards`), changes (`services.lifecycle.changes`) and outbox
effects. The engine (`services.engine.transitions` for an action on a hazard,
`services.engine.creation` for one that starts a hazard), the API's `allowed_actions`, the
README's state diagram and the tests all read this table; nothing else may decide whether an
action is allowed.

A decision is taken in this order, and the first failure answers:
1. the action's roles (403), 2. the hazard's state (409), 3. guards that need only the hazard and
the actor (403 for four-eyes and authority, 409 for facts of the hazard), 4. the body (422),
5. guards that need the body. Scope (404) is checked before all of this by the caller. An action
that starts a hazard has no state and no body-free guard: its role, then its body and the guards
on the body (a new hazard in the reporter's region and industry).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from services.kernel.errors import Conflict, DomainError, Forbidden, Invalid
from services.lifecycle import bodies, changes
from services.lifecycle.facts import Actor, Context, Facts
from services.lifecycle.guards import (
    COMPLETED_NOT_FUTURE,
    DEADLINE_WITHIN_YEAR,
    EXTENSION_DECIDER,
    EXTENSION_IN_TIME,
    GENERAL_OR_PLANNED,
    HAS_PENDING_EXTENSION,
    IMPORTED_DATES,
    IS_MAJOR,
    LISTING_AUTHORITY,
    LISTING_COMMITTEE,
    MAJOR_ASSESSMENT,
    MAJOR_CLOSE_PREREQUISITES,
    MAJOR_PLAN_COMPLETE,
    NEW_DEADLINE_LATER,
    NO_PENDING_EXTENSION,
    NOT_ACCEPTOR,
    NOT_FIRED,
    NOT_FUTURE,
    NOT_OF_ENTERPRISE,
    NOT_REPORTER,
    NOT_SUSPENDED,
    SUPERVISE_DATES,
    SUSPENDED,
    TIME_LIMIT_IN_DEADLINE,
    Guard,
    Kind,
    in_industry,
    in_region,
    listed_first,
)
from services.lifecycle.import_body import ImportBody
from services.lifecycle.roles import Role
from services.lifecycle.states import ALL_STATES, FINAL_STATES, OPEN_STATES, STATE_LABELS, State


@dataclass(frozen=True)
class ActionSpec:
    action: str
    label: str
    roles: frozenset[Role]
    sources: frozenset[State]  # empty: the action starts a hazard
    body: type[BaseModel]
    targets: tuple[State, ...] = ()  # empty: the state does not change
    guards: tuple[Guard, ...] = ()
    effects: tuple[str, ...] = ()  # outbox kinds written with the event
    # What those outbox rows carry besides the hazard and the event: (body, changes, ctx) -> dict.
    notice: Callable[[Any, dict[str, Any], Context], dict[str, Any]] | None = None
    choose_target: Callable[[Facts, Any], State] | None = None
    apply: Callable[[Facts, Any, Actor, Context], dict[str, Any]] | None = None
    lifecycle: bool = True  # False: not offered to people (the system's escalation)
    doc: str = ""
    # Outbox kinds that depend on the body (the ladder's 督办函 and 约谈通知书), added to `effects`.
    documents: Callable[[Any], tuple[str, ...]] | None = None

    def effects_for(self, body: Any) -> tuple[str, ...]:
        return self.effects + (self.documents(body) if self.documents is not None else ())

    def target(self, facts: Facts, body: Any) -> State:
        if self.choose_target is not None:
            return self.choose_target(facts, body)
        if self.targets:
            return self.targets[0]
        states = type(next(iter(self.sources))) if self.sources else State  # this lifecycle's states
        return states(facts.state)

    def changes(self, facts: Facts, body: Any, actor: Actor, ctx: Context) -> dict[str, Any]:
        return self.apply(facts, body, actor, ctx) if self.apply else {}


OFFICIALS = frozenset({Role.INSPECTOR, Role.SUPERVISOR})
IN_SCOPE_PEOPLE = frozenset({Role.ENTERPRISE, Role.INSPECTOR, Role.SUPERVISOR, Role.COMMITTEE})
WORKING = frozenset({State.REGISTERED, State.SUPERVISED, State.RECTIFYING})
AUTHORITIES = OFFICIALS | {Role.COMMITTEE}  # officials and the committee offices (安委办)

_SPECS = (
    ActionSpec(
        "report", "报告隐患", IN_SCOPE_PEOPLE | {Role.PUBLIC}, frozenset(), bodies.ReportBody,
        targets=(State.REPORTED,), guards=(in_region("报告"), in_industry("报告", OFFICIALS)),
        effects=("stage.reported",),
        doc="A new hazard; the public reaches it through the public form only.",
    ),
    ActionSpec(
        "import", "台账导入", AUTHORITIES, frozenset(), ImportBody,
        targets=(State.SUPERVISED, State.RECTIFYING, State.ACCEPTANCE_REQUESTED),
        guards=(in_region("导入"), in_industry("导入", AUTHORITIES), *IMPORTED_DATES),
        choose_target=lambda f, b: State(b.state), lifecycle=False,
        doc="A running hazard moved in from an office's ledger (`hazard import-ledger`): like `report` "
            "it starts a hazard (`creation.import_hazard`), in the state the ledger gives, with one "
            "event naming the source row; no state leads to it, and nobody is offered it on a hazard.",
    ),
    ActionSpec(
        "register", "登记（限期整改）", OFFICIALS, frozenset({State.REPORTED}), bodies.RegisterBody,
        targets=(State.REGISTERED, State.CLOSED),
        guards=(DEADLINE_WITHIN_YEAR,),
        choose_target=lambda f, b: State.CLOSED if b.rectified_on_spot else State.REGISTERED,
        apply=changes.register, effects=("document.rectification_notice", "notify.enterprise"),
    ),
    ActionSpec(
        "dismiss", "不予立案", OFFICIALS, frozenset({State.REPORTED}), bodies.ReasonBody,
        targets=(State.DISMISSED,), guards=(NOT_REPORTER,), apply=changes.dismiss,
        effects=("notify.reporter",),
    ),
    ActionSpec(
        "supervise", "挂牌督办", frozenset({Role.COMMITTEE}), frozenset({State.REGISTERED}),
        bodies.SuperviseBody, targets=(State.SUPERVISED,),
        guards=(IS_MAJOR, LISTING_AUTHORITY, SUPERVISE_DATES), apply=changes.supervise,
        effects=("document.listing_notice", "notify.enterprise"),
    ),
    ActionSpec(
        "file_plan", "报送整改方案", frozenset({Role.ENTERPRISE}),
        frozenset({State.REGISTERED, State.SUPERVISED}), bodies.FilePlanBody,
        targets=(State.RECTIFYING,),
        guards=(listed_first("报送整改方案"), *MAJOR_PLAN_COMPLETE, TIME_LIMIT_IN_DEADLINE),
        apply=changes.file_plan, effects=("notify.supervisors",),
    ),
    ActionSpec(
        "report_progress", "报告整改进展", frozenset({Role.ENTERPRISE}), frozenset({State.RECTIFYING}),
        bodies.ProgressBody,
    ),
    ActionSpec(
        "request_extension", "申请延期", frozenset({Role.ENTERPRISE}), WORKING,
        bodies.ExtensionRequestBody,
        guards=(NO_PENDING_EXTENSION, NEW_DEADLINE_LATER, EXTENSION_IN_TIME),
        apply=changes.request_extension, effects=("notify.extension_deciders",),
    ),
    ActionSpec(
        "grant_extension", "批准延期", frozenset({Role.SUPERVISOR, Role.COMMITTEE}), WORKING,
        bodies.NoteBody, guards=(HAS_PENDING_EXTENSION, EXTENSION_DECIDER), apply=changes.grant_extension,
        effects=("document.extension_decision", "notify.enterprise"),
    ),
    ActionSpec(
        "deny_extension", "不予延期", frozenset({Role.SUPERVISOR, Role.COMMITTEE}), WORKING,
        bodies.NoteBody, guards=(HAS_PENDING_EXTENSION, EXTENSION_DECIDER), apply=changes.deny_extension,
        effects=("document.extension_decision", "notify.enterprise"),
    ),
    ActionSpec(
        "request_acceptance", "申请验收", frozenset({Role.ENTERPRISE}),
        frozenset({State.REGISTERED, State.RECTIFYING}), bodies.AcceptanceRequestBody,
        targets=(State.ACCEPTANCE_REQUESTED,),
        guards=(listed_first("申请验收"), GENERAL_OR_PLANNED, MAJOR_ASSESSMENT, COMPLETED_NOT_FUTURE),
        apply=changes.request_acceptance, effects=("notify.inspectors",),
    ),
    ActionSpec(
        "accept", "验收通过", OFFICIALS, frozenset({State.ACCEPTANCE_REQUESTED}), bodies.AcceptBody,
        targets=(State.CLOSED, State.ACCEPTED), guards=(NOT_OF_ENTERPRISE, listed_first("验收"), NOT_FUTURE),
        choose_target=lambda f, b: State.ACCEPTED if f.level == "major" else State.CLOSED,
        apply=changes.accept, effects=("document.acceptance_opinion", "notify.enterprise"),
    ),
    ActionSpec(
        "reject", "验收不通过", OFFICIALS, frozenset({State.ACCEPTANCE_REQUESTED}), bodies.RejectBody,
        targets=(State.RECTIFYING,), guards=(NOT_OF_ENTERPRISE, NOT_FUTURE), apply=changes.reject,
        effects=("document.acceptance_opinion", "notify.enterprise"),
    ),
    ActionSpec(
        "close", "销号（摘牌）", frozenset({Role.COMMITTEE}), frozenset({State.ACCEPTED}),
        bodies.OpinionBody, targets=(State.CLOSED,),
        guards=(NOT_ACCEPTOR, LISTING_COMMITTEE, listed_first("摘牌销号"), MAJOR_CLOSE_PREREQUISITES),
        apply=changes.close,
        effects=("document.closure_notice", "notify.enterprise"),
    ),
    ActionSpec(
        "order_suspension", "责令停产整顿", AUTHORITIES, OPEN_STATES,
        bodies.ReasonBody, guards=(NOT_SUSPENDED,), apply=lambda f, b, a, c: {"suspended": True},
        effects=("notify.enterprise",),
    ),
    ActionSpec(
        "lift_suspension", "解除停产整顿", AUTHORITIES, OPEN_STATES,
        bodies.ReasonBody, guards=(SUSPENDED,), apply=lambda f, b, a, c: {"suspended": False},
        effects=("notify.enterprise",),
    ),
    ActionSpec(
        "escalate", "督办升级", frozenset({Role.SYSTEM}), OPEN_STATES, bodies.EscalateBody,
        guards=(NOT_FIRED,), apply=changes.escalate, effects=("escalation",), notice=changes.escalation_notice,
        documents=lambda b: changes.LADDER_DOCUMENTS.get(b.step, ()), lifecycle=False,
    ),
    ActionSpec(
        "issue_document", "签发文书", frozenset({Role.SYSTEM}), ALL_STATES, bodies.IssueDocumentBody,
        lifecycle=False,
        doc="The document engine records each issued document in the hazard's trail; a closed "
            "hazard still gets the 销号 notice of its closing, so every state allows it.",
    ),
    ActionSpec(
        "attach", "上传附件", IN_SCOPE_PEOPLE, OPEN_STATES, bodies.AttachBody, lifecycle=False,
        doc="Every accepted upload is an event; a closed or dismissed hazard takes no new files.",
    ),
    ActionSpec(
        "comment", "备注", IN_SCOPE_PEOPLE, ALL_STATES, bodies.CommentBody,
    ),
)

LIFECYCLE: dict[str, ActionSpec] = {spec.action: spec for spec in _SPECS}
ACTIONS = tuple(LIFECYCLE)
# The actions that start a hazard (no state leads to them); every other one acts on an existing hazard.
CREATING_ACTIONS = ("report", "import")
TRANSITION_ACTIONS = tuple(a for a in ACTIONS if a not in CREATING_ACTIONS)


@dataclass(frozen=True)
class Refusal:
    kind: Kind | Literal["role", "state"]
    code: str
    message: str
    field: str | None = None
    also: tuple["Refusal", ...] = ()  # further field refusals of the same body (all reported)

    @property
    def status(self) -> int:
        return {"role": 403, "forbidden": 403, "state": 409, "conflict": 409, "invalid": 422}[self.kind]

    def error(self) -> DomainError:
        """The domain error that answers with this refusal (an invalid body: every field at once)."""
        if self.kind in ("role", "forbidden"):
            return Forbidden(self.message, code=self.code)
        if self.kind in ("state", "conflict"):
            return Conflict(self.message, code=self.code)
        return Invalid(
            "提交的内容有误，请按提示修改。",
            code=self.code,
            details=[{"field": r.field or "body", "message": r.message, "type": r.code} for r in (self, *self.also)],
        )


def check_pre(spec: ActionSpec, facts: Facts | None, actor: Actor,
              labels: Mapping[str, str] = STATE_LABELS, noun: str = "隐患") -> Refusal | None:
    """Everything decidable without the body: role, state, then the body-free guards. For an
    action that starts a hazard (`facts` None: there is no hazard yet) the role alone. `labels`
    and `noun` name the states and the subject of another lifecycle (a task's)."""
    if actor.role not in spec.roles:
        return Refusal("role", "role", f"当前角色无权执行“{spec.label}”")
    if facts is None:
        return None
    if facts.state not in spec.sources:
        label = labels.get(facts.state, facts.state)
        return Refusal("state", "state", f"{noun}处于“{label}”状态，不能执行“{spec.label}”")
    for guard in spec.guards:
        if not guard.needs_body and not guard.check(facts, actor):
            return Refusal(guard.kind, guard.code, guard.refusal_message(facts, actor), guard.field)
    return None


def check_body(spec: ActionSpec, facts: Facts | None, actor: Actor, body: Any,
               ctx: Context) -> Refusal | None:
    """The first failing body guard; when it is about a field (422), with every other field guard
    that fails too in `also`, so a person learns everything to fix at once."""
    failing = [g for g in spec.guards if g.needs_body and not g.check(facts, actor, body, ctx)]
    if not failing:
        return None
    first = failing[0]
    also = tuple(Refusal(g.kind, g.code, g.refusal_message(facts, actor, body, ctx), g.field)
                 for g in failing[1:] if g.kind == "invalid")
    return Refusal(first.kind, first.code, first.refusal_message(facts, actor, body, ctx), first.field,
                   also if first.kind == "invalid" else ())


def allowed_actions(facts: Facts, actor: Actor, lifecycle: Mapping[str, ActionSpec] | None = None,
                    labels: Mapping[str, str] = STATE_LABELS) -> list[str]:
    """The actions this actor may offer on this hazard (or another lifecycle's subject) now (body
    rules are checked on submit)."""
    return [
        name
        for name, spec in (LIFECYCLE if lifecycle is None else lifecycle).items()
        if spec.sources and spec.lifecycle and check_pre(spec, facts, actor, labels) is None
    ]


def diagram(specs: Any, states: Any, labels: Mapping[str, str], start: str, finals: Any) -> str:
    """A lifecycle's state diagram (Mermaid) from its table: `start` is the edge into the first
    state (`reported: report 报告`); the actions with no source (those that start a subject) draw none."""
    order = list(states)
    lines = ["stateDiagram-v2"]
    for state in order:
        lines.append(f"    {state.value}: {state.value} {labels[state]}")
    lines.append(f"    [*] --> {start}")
    edges: dict[tuple[str, str], list[str]] = {}
    for spec in specs:
        for source in sorted(spec.sources, key=order.index):
            for target in spec.targets:
                if target != source:
                    edges.setdefault((source.value, target.value), []).append(spec.action)
    for (source, target), names in edges.items():
        lines.append(f"    {source} --> {target}: {', '.join(names)}")
    for state in sorted(finals, key=order.index):
        lines.append(f"    {state.value} --> [*]")
    return "\n".join(lines)


def mermaid() -> str:
    """The hazard's state diagram, generated from the table (the README embeds it; a test keeps it fresh)."""
    return diagram(_SPECS, State, STATE_LABELS, "reported: report 报告", FINAL_STATES)


if __name__ == "__main__":  # `uv run python -m services.lifecycle.table` prints the README's diagram
    print(mermaid())
