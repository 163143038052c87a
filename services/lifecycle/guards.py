"""The rules an action must pass besides role and state (DESIGN 2.2), each with its refusal.

A guard reads the hazard's facts and the actor, and, when it `needs_body`, the parsed body and
the `Context` of the act (the day, the working-day calendar): `check(facts, actor)` or
`check(facts, actor, body, ctx)`. For the actions that start a hazard (`report`, `import`) there
are no facts yet: their guards read the actor, the body and the context only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from services.calendar.workdays import WorkCalendar
from services.escalation.ladder import Step
from services.kernel import regions
from services.kernel.clock import cn_date
from services.lifecycle.bodies import FIVE_ITEMS, MAJOR_PLAN_RULE
from services.lifecycle.facts import Actor, Facts
from services.lifecycle.import_body import HISTORY_DATES
from services.lifecycle.roles import Role

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


def _forbidden(code: str, message: str, check: Callable[..., bool]) -> Guard:
    return Guard(code, message, "forbidden", check)


def _conflict(code: str, message: str, check: Callable[..., bool]) -> Guard:
    return Guard(code, message, "conflict", check)


def _body_guard(code: str, message: str, field_name: str, check: Callable[..., bool]) -> Guard:
    return Guard(code, message, "invalid", check, needs_body=True, field=field_name)


def one_year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def _actor_level(actor: Actor) -> str:
    return regions.region_level(actor.region_code)


# --- authority and four-eyes (403) ----------------------------------------------------------------


def _committee_of_listing(facts: Facts, actor: Actor) -> bool:
    """The committee office of the listing level decides for a listed hazard; before listing (an
    extension of a major hazard not yet listed), any committee office whose region holds the
    hazard (scope is checked by the caller)."""
    if actor.role != Role.COMMITTEE:
        return True
    return facts.listing_level is None or _actor_level(actor) == facts.listing_level


NOT_REPORTER = _forbidden("four_eyes_reporter", "不予立案须由报告人以外的人员决定（四眼原则）",
                          lambda f, a: a.id is None or f.reported_by_id != a.id)
NOT_ACCEPTOR = _forbidden("four_eyes_acceptor", "销号须由验收人以外的人员审批（四眼原则）",
                          lambda f, a: a.id is None or f.accepted_by_id != a.id)
NOT_OF_ENTERPRISE = _forbidden("four_eyes_enterprise", "企业人员不能验收本企业的隐患",
                               lambda f, a: a.enterprise_id is None or a.enterprise_id != f.enterprise_id)
LISTING_COMMITTEE = _forbidden("listing_level", "须由挂牌督办层级的安委办办理", _committee_of_listing)
EXTENSION_DECIDER = _forbidden(
    "extension_authority",
    "一般隐患的延期由监管科室审批，重大隐患的延期由挂牌层级的安委办审批",
    lambda f, a: (
        a.role == (Role.COMMITTEE if f.level == "major" else Role.SUPERVISOR)
        and _committee_of_listing(f, a)
    ),
)
LISTING_AUTHORITY = Guard(
    "listing_authority",
    "只能以本级安委办的层级挂牌督办",
    "forbidden",
    lambda f, a, b, c: _actor_level(a) == b.listing_level,
    needs_body=True,
)


def in_region(verb: str) -> Guard:
    """A new hazard lies in the actor's region: an official reports (or imports) only in the
    subtree it is bound to. An enterprise reports its own hazards wherever they are, the public
    form names its region itself, and the system is everywhere."""
    return Guard(
        "out_of_scope", f"只能{verb}本辖区内的隐患", "forbidden",
        lambda f, a, b, c: a.role in (Role.ENTERPRISE, Role.PUBLIC, Role.SYSTEM)
        or regions.within(b.region_code, a.region_code),
        needs_body=True,
    )


def in_industry(verb: str, bound: frozenset[Role]) -> Guard:
    """A new hazard lies in the industry an official of a `bound` role is bound to (if any)."""
    return Guard(
        "out_of_scope", f"只能{verb}分管行业的隐患", "forbidden",
        lambda f, a, b, c: a.role not in bound or not a.industry or b.industry == a.industry,
        needs_body=True,
        describe=lambda f, a, b, c: f"只能{verb}分管行业（{a.industry}）的隐患",
    )


# --- the hazard's facts (409) ---------------------------------------------------------------------

IS_MAJOR = _conflict("major_only", "只有重大隐患可以挂牌督办", lambda f, a: f.level == "major")
NO_PENDING_EXTENSION = _conflict("extension_pending", "已有待审批的延期申请",
                                 lambda f, a: f.extension_requested_at is None)
HAS_PENDING_EXTENSION = _conflict("no_extension_pending", "没有待审批的延期申请",
                                  lambda f, a: f.extension_requested_at is not None)
GENERAL_OR_PLANNED = _conflict("plan_required", "重大隐患须先报送整改方案（五落实）再申请验收",
                               lambda f, a: f.level == "general" or f.plan_filed_at is not None)


def listed_first(then: str) -> Guard:
    """A major hazard is closed only by 摘牌: the 安委办 lists it (挂牌督办) before its plan, its
    acceptance and its closing (临县 2021: 县政府对重大安全隐患实施挂牌督办、核查销号). The listing
    notice sets the plan's due date, and `supervise` leaves only `registered`, so the enterprise
    is stopped at its first step, not after months of work."""
    return _conflict(
        "listing_required",
        f"重大隐患须先由安委办挂牌督办，方可{then}（重大隐患实行挂牌督办、核查销号）",
        lambda f, a: f.level != "major" or f.listing_level is not None,
    )


MAJOR_CLOSE_PREREQUISITES = _conflict(
    "close_prerequisites",
    "重大隐患须有整改方案和验收结论才能销号",
    lambda f, a: f.level != "major" or (f.plan_filed_at is not None and f.accepted_at is not None),
)
NOT_SUSPENDED = _conflict("already_suspended", "已责令停产整顿", lambda f, a: not f.suspended)
SUSPENDED = _conflict("not_suspended", "未处于停产整顿状态", lambda f, a: f.suspended)
NOT_FIRED = Guard(
    "step_fired", "该督办步骤已针对当前期限执行过", "conflict",
    lambda f, a, b, c: not f.escalation_fired & (Step[b.step] | sum(Step[s] for s in b.skipped)),
    needs_body=True,
)


def last_extension_day(deadline: date, min_working_days: int, calendar: WorkCalendar) -> date:
    """The last day an extension may be asked for: `min_working_days` working days before the
    deadline still lie ahead of it."""
    return calendar.latest_start(deadline, min_working_days)


def extension_too_late(deadline: date | None, today: date, min_working_days: int,
                       calendar: WorkCalendar) -> str | None:
    """Why an extension can no longer be asked for, in words for the enterprise; None while it can."""
    if deadline is None or calendar.add_working_days(today, min_working_days) <= deadline:
        return None
    last = last_extension_day(deadline, min_working_days, calendar)
    return (f"延期申请须在整改期限届满 {min_working_days} 个工作日前提出：本隐患整改期限为{cn_date(deadline)}，"
            f"须在{cn_date(last)}前（含当日）提出，现已超过")


def _extension_refusal(f: Facts, a: Actor, b: Any, c: Any) -> str | None:
    return extension_too_late(f.deadline, c.today, c.extension_min_working_days, c.calendar)


EXTENSION_IN_TIME = Guard(
    "extension_late",
    "延期申请须在整改期限届满前规定的工作日之前提出",
    "conflict",
    lambda f, a, b, c: _extension_refusal(f, a, b, c) is None,
    needs_body=True,
    describe=lambda f, a, b, c: _extension_refusal(f, a, b, c) or "",
)


# --- the body against the hazard and the day (422) ------------------------------------------------

DEADLINE_WITHIN_YEAR = _body_guard(
    "deadline_range",
    "整改期限应在今天之后、一年之内",
    "deadline",
    lambda f, a, b, c: c.today <= b.deadline <= one_year_after(c.today),
)


def _five_items(field_name: str) -> Guard:
    """One guard per 五落实 item a general plan may omit, so each missing field gets its message
    (`check_body` reports every one that is missing, not only the first)."""
    return _body_guard(
        "five_items",
        f"{MAJOR_PLAN_RULE}，缺少{FIVE_ITEMS[field_name]}",
        field_name,
        lambda f, a, b, c: f.level != "major" or getattr(b, field_name) is not None,
    )


MAJOR_PLAN_COMPLETE = tuple(_five_items(name) for name in ("funds_wan", "time_limit", "contingency_plan"))
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
    and b.deadline <= one_year_after(c.today),
)


def _not_after_today(field_name: str, label: str) -> Guard:
    return _body_guard("future_date", f"{label}不能晚于今天", field_name,
                       lambda f, a, b, c: getattr(b, field_name) is None or getattr(b, field_name) <= c.today)


# An imported row's dates against the import day (the body checked the rest; a deadline already
# past is allowed: a running ledger has overdue hazards).
IMPORTED_DATES = (
    *(_not_after_today(name, label) for name, label in HISTORY_DATES.items()),
    _body_guard("deadline_range", "整改期限不能晚于一年之后", "deadline",
                lambda f, a, b, c: b.deadline <= one_year_after(c.today)),
)
