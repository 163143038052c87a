"""The hazard lifecycle, declared once (DESIGN 2.2 and 2.3).

Every state, action, role, guard and four-eyes rule is in `LIFECYCLE` below. The engine
(`services.engine.transitions`), the API's `allowed_actions`, the README's state diagram and the tests all
read this table; nothing else may decide whether an action is allowed.

A decision is taken in this order, and the first failure answers:
1. the action's roles (403), 2. the hazard's state (409), 3. guards that need only the hazard and
the actor (403 for four-eyes and authority, 409 for facts of the hazard), 4. the body (422),
5. guards that need the body. Scope (404) is checked before all of this by the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, StringConstraints

from services.lifecycle import bodies
from services.kernel import regions
from services.calendar.workdays import add_working_days, default_calendar
from services.kernel.clock import cn_date
from services.escalation.ladder import DEADLINE_BITS, Step, step_changes


class State(StrEnum):
    REPORTED = "reported"
    REGISTERED = "registered"
    SUPERVISED = "supervised"
    RECTIFYING = "rectifying"
    ACCEPTANCE_REQUESTED = "acceptance_requested"
    ACCEPTED = "accepted"
    CLOSED = "closed"
    DISMISSED = "dismissed"


STATE_LABELS = {
    State.REPORTED: "待核查",
    State.REGISTERED: "已登记（限期整改）",
    State.SUPERVISED: "挂牌督办",
    State.RECTIFYING: "整改中",
    State.ACCEPTANCE_REQUESTED: "待验收",
    State.ACCEPTED: "待销号",
    State.CLOSED: "已销号",
    State.DISMISSED: "不予立案",
}

FINAL_STATES = frozenset({State.CLOSED, State.DISMISSED})
OPEN_STATES = frozenset(State) - FINAL_STATES
ALL_STATES = frozenset(State)


class Role(StrEnum):
    ENTERPRISE = "enterprise"
    INSPECTOR = "inspector"
    SUPERVISOR = "supervisor"
    COMMITTEE = "committee"
    AUDITOR = "auditor"
    ADMIN = "admin"
    SYSTEM = "system"
    PUBLIC = "public"  # not a user role: the actor of the public report form


ROLE_LABELS = {
    Role.ENTERPRISE: "企业",
    Role.INSPECTOR: "检查员",
    Role.SUPERVISOR: "监管科室负责人",
    Role.COMMITTEE: "安委办",
    Role.AUDITOR: "审计",
    Role.ADMIN: "管理员",
    Role.SYSTEM: "系统",
    Role.PUBLIC: "群众",
}

USER_ROLES = tuple(r for r in Role if r is not Role.PUBLIC)


class Facts(Protocol):
    """What the rules may read of a hazard (the ORM row satisfies it)."""

    state: str
    level: str | None
    enterprise_id: int | None
    reported_by_id: int | None
    accepted_by_id: int | None
    accepted_at: datetime | None
    listing_level: str | None
    suspended: bool
    deadline: date | None
    plan_filed_at: datetime | None
    extension_requested_at: datetime | None
    escalation_fired: int


class Actor(Protocol):
    id: int | None
    role: str
    region_code: str
    enterprise_id: int | None


@dataclass(frozen=True)
class Context:
    """What a rule may know besides the hazard, the actor and the body."""

    today: date
    now: datetime
    extension_min_working_days: int = 15


Kind = Literal["forbidden", "conflict", "invalid"]


@dataclass(frozen=True)
class Guard:
    """A rule that must hold; `check` returns True when it does.

    `kind` says how a failure answers: forbidden (403: authority, four-eyes), conflict (409: the
    hazard's facts), invalid (422: the body against the hazard, reported on `field`).
    """

    code: str
    message: str
    kind: Kind
    check: Callable[..., bool]
    needs_body: bool = False
    field: str | None = None
    # A message that names this hazard's facts (a date, a limit): (facts, actor, body, ctx) -> str.
    describe: Callable[..., str] | None = None

    def refusal_message(self, facts: Any, actor: Any, body: Any = None, ctx: Any = None) -> str:
        return self.describe(facts, actor, body, ctx) if self.describe is not None else self.message


@dataclass(frozen=True)
class ActionSpec:
    action: str
    label: str
    roles: frozenset[Role]
    sources: frozenset[State]
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
        return State(facts.state)

    def changes(self, facts: Facts, body: Any, actor: Actor, ctx: Context) -> dict[str, Any]:
        return self.apply(facts, body, actor, ctx) if self.apply else {}


# --- guards ---------------------------------------------------------------------------------------


def _actor_level(actor: Actor) -> str:
    return regions.region_level(actor.region_code)


def _committee_of_listing(facts: Facts, actor: Actor) -> bool:
    """The committee office of the listing level decides for a listed hazard; before listing (an
    extension of a major hazard not yet listed), any committee office whose region holds the
    hazard (scope is checked by the caller)."""
    if actor.role != Role.COMMITTEE:
        return True
    return facts.listing_level is None or _actor_level(actor) == facts.listing_level


IS_MAJOR = Guard("major_only", "只有重大隐患可以挂牌督办", "conflict", lambda f, a: f.level == "major")
NOT_REPORTER = Guard(
    "four_eyes_reporter",
    "不予立案须由报告人以外的人员决定（四眼原则）",
    "forbidden",
    lambda f, a: a.id is None or f.reported_by_id != a.id,
)
NOT_ACCEPTOR = Guard(
    "four_eyes_acceptor",
    "销号须由验收人以外的人员审批（四眼原则）",
    "forbidden",
    lambda f, a: a.id is None or f.accepted_by_id != a.id,
)
NOT_OF_ENTERPRISE = Guard(
    "four_eyes_enterprise",
    "企业人员不能验收本企业的隐患",
    "forbidden",
    lambda f, a: a.enterprise_id is None or a.enterprise_id != f.enterprise_id,
)
LISTING_COMMITTEE = Guard(
    "listing_level",
    "须由挂牌督办层级的安委办办理",
    "forbidden",
    _committee_of_listing,
)
EXTENSION_DECIDER = Guard(
    "extension_authority",
    "一般隐患的延期由监管科室审批，重大隐患的延期由挂牌层级的安委办审批",
    "forbidden",
    lambda f, a: (
        a.role == (Role.COMMITTEE if f.level == "major" else Role.SUPERVISOR)
        and _committee_of_listing(f, a)
    ),
)
NO_PENDING_EXTENSION = Guard(
    "extension_pending", "已有待审批的延期申请", "conflict", lambda f, a: f.extension_requested_at is None
)
HAS_PENDING_EXTENSION = Guard(
    "no_extension_pending", "没有待审批的延期申请", "conflict",
    lambda f, a: f.extension_requested_at is not None,
)
GENERAL_OR_PLANNED = Guard(
    "plan_required",
    "重大隐患须先报送整改方案（五落实）再申请验收",
    "conflict",
    lambda f, a: f.level == "general" or f.plan_filed_at is not None,
)


def _listed_first(then: str) -> Guard:
    """A major hazard is closed only by 摘牌: the 安委办 lists it (挂牌督办) before its plan, its
    acceptance and its closing (临县 2021: 县政府对重大安全隐患实施挂牌督办、核查销号). The listing
    notice sets the plan's due date, and `supervise` leaves only `registered`, so the enterprise
    is stopped at its first step, not after months of work."""
    return Guard(
        "listing_required",
        f"重大隐患须先由安委办挂牌督办，方可{then}（重大隐患实行挂牌督办、核查销号）",
        "conflict",
        lambda f, a: f.level != "major" or f.listing_level is not None,
    )


MAJOR_CLOSE_PREREQUISITES = Guard(
    "close_prerequisites",
    "重大隐患须有整改方案和验收结论才能销号",
    "conflict",
    lambda f, a: f.level != "major" or (f.plan_filed_at is not None and f.accepted_at is not None),
)
NOT_FIRED = Guard(
    "step_fired", "该督办步骤已针对当前期限执行过", "conflict",
    lambda f, a, b, c: not f.escalation_fired & (Step[b.step] | sum(Step[s] for s in b.skipped)),
    needs_body=True,
)
NOT_SUSPENDED = Guard("already_suspended", "已责令停产整顿", "conflict", lambda f, a: not f.suspended)
SUSPENDED = Guard("not_suspended", "未处于停产整顿状态", "conflict", lambda f, a: f.suspended)


def _one_year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def _body_guard(code: str, message: str, field_name: str, check: Callable[..., bool]) -> Guard:
    return Guard(code, message, "invalid", check, needs_body=True, field=field_name)


DEADLINE_WITHIN_YEAR = _body_guard(
    "deadline_range",
    "整改期限应在今天之后、一年之内",
    "deadline",
    lambda f, a, b, c: c.today <= b.deadline <= _one_year_after(c.today),
)
LISTING_AUTHORITY = Guard(
    "listing_authority",
    "只能以本级安委办的层级挂牌督办",
    "forbidden",
    lambda f, a, b, c: _actor_level(a) == b.listing_level,
    needs_body=True,
)
FIVE_ITEMS = "责任、措施、资金、时限、预案"  # 五落实, as the published plans name them


def _five_items(field_name: str, label: str) -> Guard:
    """One guard per 五落实 item a general plan may omit, so each missing field gets its message
    (`check_body` reports every one that is missing, not only the first)."""
    return _body_guard(
        "five_items",
        f"重大隐患的整改方案须做到五落实（{FIVE_ITEMS}），缺少{label}",
        field_name,
        lambda f, a, b, c: f.level != "major" or getattr(b, field_name) is not None,
    )


MAJOR_PLAN_COMPLETE = (
    _five_items("funds_wan", "资金"),
    _five_items("time_limit", "时限"),
    _five_items("contingency_plan", "预案"),
)
TIME_LIMIT_IN_DEADLINE = _body_guard(
    "time_limit",
    "整改时限不能晚于整改期限",
    "time_limit",
    lambda f, a, b, c: b.time_limit is None or f.deadline is None or b.time_limit <= f.deadline,
)
NEW_DEADLINE_LATER = _body_guard(
    "new_deadline",
    "延期后的期限应晚于当前整改期限",
    "new_deadline",
    lambda f, a, b, c: f.deadline is None or b.new_deadline > f.deadline,
)
def last_extension_day(deadline: date, min_working_days: int) -> date:
    """The last day an extension may be asked for: `min_working_days` working days before the
    deadline still lie ahead of it."""
    return default_calendar().latest_start(deadline, min_working_days)


def extension_too_late(deadline: date | None, today: date, min_working_days: int) -> str | None:
    """Why an extension can no longer be asked for, in words for the enterprise; None while it can."""
    if deadline is None or add_working_days(today, min_working_days) <= deadline:
        return None
    last = last_extension_day(deadline, min_working_days)
    return (f"延期申请须在整改期限届满 {min_working_days} 个工作日前提出：本隐患整改期限为{cn_date(deadline)}，"
            f"须在{cn_date(last)}前（含当日）提出，现已超过")


EXTENSION_IN_TIME = Guard(
    "extension_late",
    "延期申请须在整改期限届满前规定的工作日之前提出",
    "conflict",
    lambda f, a, b, c: extension_too_late(f.deadline, c.today, c.extension_min_working_days) is None,
    needs_body=True,
    describe=lambda f, a, b, c: extension_too_late(f.deadline, c.today, c.extension_min_working_days) or "",
)
MAJOR_ASSESSMENT = _body_guard(
    "assessment_report",
    "重大隐患申请验收须附评估报告",
    "assessment_report",
    lambda f, a, b, c: f.level != "major" or b.assessment_report is not None,
)
NOT_FUTURE = _body_guard(
    "future_date", "日期不能晚于今天", "reviewed_on",
    lambda f, a, b, c: getattr(b, "reviewed_on", c.today) <= c.today,
)
COMPLETED_NOT_FUTURE = _body_guard(
    "future_date", "完成日期不能晚于今天", "completed_on", lambda f, a, b, c: b.completed_on <= c.today
)
SUPERVISE_DATES = _body_guard(
    "deadline_range", "整改期限应在今天之后、一年之内", "deadline",
    lambda f, a, b, c: c.today <= b.plan_due <= b.deadline
    and b.deadline <= _one_year_after(c.today),
)


# --- what each action writes ----------------------------------------------------------------------


def _register(f: Facts, b: bodies.RegisterBody, a: Actor, c: Context) -> dict[str, Any]:
    # A new deadline: the ladder starts from nothing (the unregistered reminders are moot too).
    changes: dict[str, Any] = {"level": b.level, "deadline": b.deadline, "category": b.category,
                               "escalation_step": None, "escalation_fired": 0}
    if b.rectified_on_spot:
        changes["closed_at"] = c.now
    return changes


def _supervise(f: Facts, b: bodies.SuperviseBody, a: Actor, c: Context) -> dict[str, Any]:
    return {
        "listing_level": b.listing_level,
        "listed_at": c.now,
        "deadline": b.deadline,
        "plan_due": b.plan_due,
        "suspended": b.suspend_production or f.suspended,
        "escalation_step": None,  # the listing's deadline: the ladder restarts
        "escalation_fired": f.escalation_fired & ~DEADLINE_BITS,
    }


def _file_plan(f: Facts, b: bodies.FilePlanBody, a: Actor, c: Context) -> dict[str, Any]:
    return {
        "plan_responsible_person": b.responsible_person,
        "plan_measures": b.measures,
        "plan_funds_wan": b.funds_wan,
        "plan_time_limit": b.time_limit,
        "plan_contingency": b.contingency_plan,
        "plan_filed_at": c.now,
    }


def _request_extension(f: Facts, b: bodies.ExtensionRequestBody, a: Actor, c: Context) -> dict[str, Any]:
    return {
        "extension_new_deadline": b.new_deadline,
        "extension_reason": b.reason,
        "extension_requested_at": c.now,
    }


def _grant_extension(f: Any, b: bodies.NoteBody, a: Actor, c: Context) -> dict[str, Any]:
    return {
        "deadline": f.extension_new_deadline,
        "extensions_granted": f.extensions_granted + 1,
        "escalation_step": None,  # the ladder restarts against the new deadline
        "escalation_fired": f.escalation_fired & ~DEADLINE_BITS,
        "extension_new_deadline": None,
        "extension_reason": None,
        "extension_requested_at": None,
    }


def _deny_extension(f: Facts, b: bodies.NoteBody, a: Actor, c: Context) -> dict[str, Any]:
    return {"extension_new_deadline": None, "extension_reason": None, "extension_requested_at": None}


def _request_acceptance(f: Facts, b: bodies.AcceptanceRequestBody, a: Actor, c: Context) -> dict[str, Any]:
    # A pending extension request is moot once the work is reported done.
    # A new request may again be reported as unreviewed.
    return {"acceptance_requested_at": c.now, "funds_spent_wan": b.funds_spent_wan,
            "extension_new_deadline": None, "extension_reason": None, "extension_requested_at": None,
            "escalation_fired": f.escalation_fired & ~Step.review_overdue}


def _accept(f: Facts, b: bodies.AcceptBody, a: Actor, c: Context) -> dict[str, Any]:
    changes: dict[str, Any] = {"accepted_by_id": a.id, "accepted_at": c.now}
    if f.level != "major":
        changes["closed_at"] = c.now
    return changes


def _reject(f: Any, b: bodies.RejectBody, a: Actor, c: Context) -> dict[str, Any]:
    return {"failed_acceptances": f.failed_acceptances + 1, "acceptance_requested_at": None}


def _close(f: Facts, b: bodies.OpinionBody, a: Actor, c: Context) -> dict[str, Any]:
    return {"closed_at": c.now, "suspended": False}


def _dismiss(f: Facts, b: bodies.ReasonBody, a: Actor, c: Context) -> dict[str, Any]:
    return {"dismiss_reason": b.reason, "closed_at": c.now}


def _escalate(f: Facts, b: bodies.EscalateBody, a: Actor, c: Context) -> dict[str, Any]:
    return step_changes(Step[b.step], f.escalation_fired, f.listing_level, [Step[s] for s in b.skipped])


def _escalation_notice(b: bodies.EscalateBody, changes: dict[str, Any], c: Context) -> dict[str, Any]:
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


class IssueDocumentBody(bodies.Body):
    """What the audit trail keeps of an issued document (services.documents): enough to find it
    and to prove its stored HTML unchanged."""

    kind: bodies.Short
    number: bodies.Short
    title: bodies.Short
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    document_id: int


OFFICIALS = frozenset({Role.INSPECTOR, Role.SUPERVISOR})
IN_SCOPE_PEOPLE = frozenset({Role.ENTERPRISE, Role.INSPECTOR, Role.SUPERVISOR, Role.COMMITTEE})
WORKING = frozenset({State.REGISTERED, State.SUPERVISED, State.RECTIFYING})

_SPECS = (
    ActionSpec(
        "report", "报告隐患", IN_SCOPE_PEOPLE | {Role.PUBLIC}, frozenset(), bodies.ReportBody,
        targets=(State.REPORTED,), effects=("stage.reported",),
        doc="A new hazard; the public reaches it through the public form only.",
    ),
    ActionSpec(
        "import", "台账导入", OFFICIALS | {Role.COMMITTEE}, frozenset(), bodies.ImportBody,
        targets=(State.SUPERVISED, State.RECTIFYING, State.ACCEPTANCE_REQUESTED),
        choose_target=lambda f, b: State(b.state), lifecycle=False,
        doc="A running hazard moved in from an office's ledger (`hazard import-ledger`): like `report` "
            "it starts a hazard (`transitions.import_hazard`), in the state the ledger gives, with one "
            "event naming the source row; no state leads to it, and nobody is offered it on a hazard.",
    ),
    ActionSpec(
        "register", "登记（限期整改）", OFFICIALS, frozenset({State.REPORTED}), bodies.RegisterBody,
        targets=(State.REGISTERED, State.CLOSED),
        guards=(DEADLINE_WITHIN_YEAR,),
        choose_target=lambda f, b: State.CLOSED if b.rectified_on_spot else State.REGISTERED,
        apply=_register, effects=("document.rectification_notice", "notify.enterprise"),
    ),
    ActionSpec(
        "dismiss", "不予立案", OFFICIALS, frozenset({State.REPORTED}), bodies.ReasonBody,
        targets=(State.DISMISSED,), guards=(NOT_REPORTER,), apply=_dismiss,
        effects=("notify.reporter",),
    ),
    ActionSpec(
        "supervise", "挂牌督办", frozenset({Role.COMMITTEE}), frozenset({State.REGISTERED}),
        bodies.SuperviseBody, targets=(State.SUPERVISED,),
        guards=(IS_MAJOR, LISTING_AUTHORITY, SUPERVISE_DATES), apply=_supervise,
        effects=("document.listing_notice", "notify.enterprise"),
    ),
    ActionSpec(
        "file_plan", "报送整改方案", frozenset({Role.ENTERPRISE}),
        frozenset({State.REGISTERED, State.SUPERVISED}), bodies.FilePlanBody,
        targets=(State.RECTIFYING,),
        guards=(_listed_first("报送整改方案"), *MAJOR_PLAN_COMPLETE, TIME_LIMIT_IN_DEADLINE),
        apply=_file_plan, effects=("notify.supervisors",),
    ),
    ActionSpec(
        "report_progress", "报告整改进展", frozenset({Role.ENTERPRISE}), frozenset({State.RECTIFYING}),
        bodies.ProgressBody,
    ),
    ActionSpec(
        "request_extension", "申请延期", frozenset({Role.ENTERPRISE}), WORKING,
        bodies.ExtensionRequestBody,
        guards=(NO_PENDING_EXTENSION, NEW_DEADLINE_LATER, EXTENSION_IN_TIME),
        apply=_request_extension, effects=("notify.extension_deciders",),
    ),
    ActionSpec(
        "grant_extension", "批准延期", frozenset({Role.SUPERVISOR, Role.COMMITTEE}), WORKING,
        bodies.NoteBody, guards=(HAS_PENDING_EXTENSION, EXTENSION_DECIDER), apply=_grant_extension,
        effects=("document.extension_decision", "notify.enterprise"),
    ),
    ActionSpec(
        "deny_extension", "不予延期", frozenset({Role.SUPERVISOR, Role.COMMITTEE}), WORKING,
        bodies.NoteBody, guards=(HAS_PENDING_EXTENSION, EXTENSION_DECIDER), apply=_deny_extension,
        effects=("document.extension_decision", "notify.enterprise"),
    ),
    ActionSpec(
        "request_acceptance", "申请验收", frozenset({Role.ENTERPRISE}),
        frozenset({State.REGISTERED, State.RECTIFYING}), bodies.AcceptanceRequestBody,
        targets=(State.ACCEPTANCE_REQUESTED,),
        guards=(_listed_first("申请验收"), GENERAL_OR_PLANNED, MAJOR_ASSESSMENT, COMPLETED_NOT_FUTURE),
        apply=_request_acceptance, effects=("notify.inspectors",),
    ),
    ActionSpec(
        "accept", "验收通过", OFFICIALS, frozenset({State.ACCEPTANCE_REQUESTED}), bodies.AcceptBody,
        targets=(State.CLOSED, State.ACCEPTED), guards=(NOT_OF_ENTERPRISE, _listed_first("验收"), NOT_FUTURE),
        choose_target=lambda f, b: State.ACCEPTED if f.level == "major" else State.CLOSED,
        apply=_accept, effects=("document.acceptance_opinion", "notify.enterprise"),
    ),
    ActionSpec(
        "reject", "验收不通过", OFFICIALS, frozenset({State.ACCEPTANCE_REQUESTED}), bodies.RejectBody,
        targets=(State.RECTIFYING,), guards=(NOT_OF_ENTERPRISE, NOT_FUTURE), apply=_reject,
        effects=("document.acceptance_opinion", "notify.enterprise"),
    ),
    ActionSpec(
        "close", "销号（摘牌）", frozenset({Role.COMMITTEE}), frozenset({State.ACCEPTED}),
        bodies.OpinionBody, targets=(State.CLOSED,),
        guards=(NOT_ACCEPTOR, LISTING_COMMITTEE, _listed_first("摘牌销号"), MAJOR_CLOSE_PREREQUISITES),
        apply=_close,
        effects=("document.closure_notice", "notify.enterprise"),
    ),
    ActionSpec(
        "order_suspension", "责令停产整顿", OFFICIALS | {Role.COMMITTEE}, OPEN_STATES,
        bodies.ReasonBody, guards=(NOT_SUSPENDED,), apply=lambda f, b, a, c: {"suspended": True},
        effects=("notify.enterprise",),
    ),
    ActionSpec(
        "lift_suspension", "解除停产整顿", OFFICIALS | {Role.COMMITTEE}, OPEN_STATES,
        bodies.ReasonBody, guards=(SUSPENDED,), apply=lambda f, b, a, c: {"suspended": False},
        effects=("notify.enterprise",),
    ),
    ActionSpec(
        "escalate", "督办升级", frozenset({Role.SYSTEM}), OPEN_STATES, bodies.EscalateBody,
        guards=(NOT_FIRED,), apply=_escalate, effects=("escalation",), notice=_escalation_notice,
        documents=lambda b: LADDER_DOCUMENTS.get(b.step, ()), lifecycle=False,
    ),
    ActionSpec(
        "issue_document", "签发文书", frozenset({Role.SYSTEM}), ALL_STATES, IssueDocumentBody,
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


def check_pre(spec: ActionSpec, facts: Facts, actor: Actor) -> Refusal | None:
    """Everything decidable without the body: role, state, then the body-free guards."""
    if actor.role not in spec.roles:
        return Refusal("role", "role", f"当前角色无权执行“{spec.label}”")
    if State(facts.state) not in spec.sources:
        label = STATE_LABELS[State(facts.state)]
        return Refusal("state", "state", f"隐患处于“{label}”状态，不能执行“{spec.label}”")
    for guard in spec.guards:
        if not guard.needs_body and not guard.check(facts, actor):
            return Refusal(guard.kind, guard.code, guard.refusal_message(facts, actor), guard.field)
    return None


def check_body(spec: ActionSpec, facts: Facts, actor: Actor, body: Any, ctx: Context) -> Refusal | None:
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


def allowed_actions(facts: Facts, actor: Actor) -> list[str]:
    """The actions this actor may offer on this hazard now (body rules are checked on submit)."""
    return [
        name
        for name, spec in LIFECYCLE.items()
        if name != "report" and spec.lifecycle and check_pre(spec, facts, actor) is None
    ]


def mermaid() -> str:
    """The state diagram, generated from the table (the README embeds it; a test keeps it fresh)."""
    lines = ["stateDiagram-v2"]
    for state in State:
        lines.append(f"    {state.value}: {state.value} {STATE_LABELS[state]}")
    lines.append("    [*] --> reported: report 报告")
    edges: dict[tuple[str, str], list[str]] = {}
    for spec in _SPECS:
        if spec.action == "report":
            continue
        for source in sorted(spec.sources, key=list(State).index):
            for target in spec.targets:
                if target != source:
                    edges.setdefault((source.value, target.value), []).append(spec.action)
    for (source, target), names in edges.items():
        lines.append(f"    {source} --> {target}: {', '.join(names)}")
    for state in sorted(FINAL_STATES, key=list(State).index):
        lines.append(f"    {state.value} --> [*]")
    return "\n".join(lines)



if __name__ == "__main__":  # `uv run python -m services.lifecycle.table` prints the README's diagram
    print(mermaid())
