"""One hazard's story, planned in plain Python against a simulated clock (see `app.demo`).

A story is the list of steps (who does what, when, with which body and files) that brings one
hazard from its report to its target state, with the escalations a daily sweep would have fired in
between. Nothing here touches the database: the steps are replayed through `services.engine.transitions`
later, which checks every one of them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from services.kernel import regions
from services.calendar.workdays import add_working_days, is_working_day
from services.kernel.clock import SHANGHAI, local_date
from app.demo.catalogue import (
    ACCEPT_OPINIONS,
    CLOSE_OPINIONS,
    COMMENTS,
    DISMISS_REASONS,
    EXTENSION_REASONS,
    FACES,
    INTERIM_MEASURES,
    LIFT_REASONS,
    PROGRESS_NOTES,
    REJECT_REASONS,
    STAFF,
    STREETS,
    SUSPEND_REASONS,
    TRANSFER_FROM,
    Org,
    Person,
    Template,
    org_uscc,
    region_names,
)
from services.escalation.ladder import DEADLINE_STEPS, NEXT_LISTING, LadderConfig
from services.lifecycle.table import Role, State

SUSPENDING_INDUSTRIES = {"煤矿", "非煤矿山", "危险化学品", "冶金工贸", "民爆物品", "建筑施工", "经营性自建房"}

# The escalation ladder (DESIGN 2.5): working days from the deadline, as the sweep counts them.
LADDER = tuple((s.name, LadderConfig().offset(s)) for s in DEADLINE_STEPS)
# A major hazard registered and not listed within this many working days goes to the 安委办.
UNLISTED_DAYS = LadderConfig().unlisted_escalate
SWEEP_MIN = 7 * 60
WORKING = {State.REGISTERED, State.SUPERVISED, State.RECTIFYING}
LEVEL_ORDER = {"county": 0, "city": 1, "province": 2}


# --- the plan of one hazard's story ---------------------------------------------------------------


@dataclass
class Upload:
    kind: str  # "png" or "pdf"
    filename: str
    field: str  # "evidence" or "assessment_report"


@dataclass
class Step:
    at: datetime
    action: str
    actor: str | None  # username; None: the public (report) or the system (escalate)
    body: dict[str, Any]
    uploads: list[Upload] = field(default_factory=list)
    contact: dict[str, Any] | None = None


@dataclass(frozen=True)
class Spec:
    target: State
    level: str | None
    listing: str | None
    org: Org
    template: Template
    source: str


class Overflow(Exception):
    """The story ran past `now`: it is planned again, starting earlier."""

    def __init__(self, days: int) -> None:
        self.days = days


def local_at(day: date, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=SHANGHAI).astimezone(timezone.utc)


def _next_sweep(after: datetime) -> datetime:
    """The first run of the daily escalation sweep (07:00 Shanghai) after `after`."""
    day = local_date(after)
    at = local_at(day, SWEEP_MIN)
    return at if at > after else local_at(day + timedelta(days=1), SWEEP_MIN)


def _next_working(day: date) -> date:
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


class _Story:
    """Plans one hazard against a model of its facts; the real engine checks every step later."""

    OPEN_MIN, CLOSE_MIN = 8 * 60 + 30, 17 * 60 + 30

    def __init__(self, spec: Spec, rng: random.Random, anchor: datetime, ext_days: int) -> None:
        self.spec, self.rng, self.anchor, self.ext_days = spec, rng, anchor, ext_days
        self.org = spec.org
        self.region = spec.org.region
        self.industry = spec.org.industry
        self.steps: list[Step] = []
        self.t = anchor
        self.state: State | None = None
        self.deadline: date | None = None
        self.listing: str | None = None
        self.plan_due: date | None = None
        self.suspended = False
        self.ext_pending = False
        self.ext_new: date | None = None
        self.fired: set[str] = set()
        self.unlisted_fired = False  # not a deadline step: a new deadline does not clear it
        self.reporter: str | None = None
        self.has_enterprise = False
        self.planned_funds: float | None = None
        self.registered_on: date | None = None
        r = rng
        self.vals = {
            "ent": self.org.name, "county": region_names().get(self.region, ""), "street": r.choice(STREETS),
            "face": r.choice(FACES), "n": r.randint(2, 9), "m": r.randint(2, 5), "k": r.randint(15, 60),
            "d": r.randint(6, 15), "f": r.randint(3, 28), "x": f"{r.uniform(1.05, 1.9):.2f}",
        }

    # -- time ----------------------------------------------------------------------------------

    @property
    def today(self) -> date:
        return local_date(self.t)

    def _later(self, lo: int, hi: int, *, office: bool = True) -> datetime:
        r = self.rng
        start, end = (self.OPEN_MIN, self.CLOSE_MIN) if office else (7 * 60, 22 * 60)
        day = self.today + timedelta(days=r.randint(lo, hi))
        if office:
            day = _next_working(day)
        if day == self.today:
            local = self.t.astimezone(SHANGHAI)
            now_min = local.hour * 60 + local.minute + r.randint(10, 90)
            if now_min >= end:
                day = _next_working(day + timedelta(days=1)) if office else day + timedelta(days=1)
                minute = r.randint(start, end)
            else:
                minute = r.randint(now_min, end)
        else:
            minute = r.randint(start, end)
        at = local_at(day, minute) + timedelta(seconds=r.randint(0, 59))
        if at >= self.anchor:
            raise Overflow((at - self.anchor).days + 1)
        return at

    def _go(self, lo: int, hi: int, *, office: bool = True) -> None:
        """Move the clock to the next action, letting the daily escalation sweep run before it."""
        at = self._later(lo, hi, office=office)
        self._ladder(at)
        self.t = at

    def _ladder(self, upto: datetime) -> None:
        """The daily sweeps before `upto`, as `services.escalation.sweep` fires them: of the deadline steps due
        at one sweep only the most severe, the others named as skipped (the service was down, or
        the ladder waited while acceptance was being reviewed); the unlisted major hazard on its own."""
        while True:
            unlisted = self._unlisted_due()
            pending = [] if self.state not in WORKING or self.deadline is None else [
                (step, self._step_due(offset)) for step, offset in LADDER if step not in self.fired]
            first = min([due for _, due in pending] + ([unlisted] if unlisted else []), default=None)
            if first is None:
                return
            at = max(first, _next_sweep(self.t))
            if at >= upto:
                return
            self.t = at
            if unlisted is not None and unlisted <= at:
                self._emit("escalate", None, {"step": "unlisted_escalate"})
                self.unlisted_fired = True
            due = [step for step, when in pending if when <= at]
            if due:
                body: dict[str, Any] = {"step": due[-1]}
                if len(due) > 1:
                    body["skipped"] = due[:-1]
                self._emit("escalate", None, body)
                self.fired.update(due)
                if "elevate" in due and self.listing:
                    self.listing = NEXT_LISTING[self.listing]

    def _step_due(self, offset: int) -> datetime:
        assert self.deadline is not None
        return local_at(add_working_days(self.deadline, offset) if offset else self.deadline, SWEEP_MIN)

    def _unlisted_due(self) -> datetime | None:
        """When the sweep sends a major hazard still waiting for its 挂牌督办 to the 安委办."""
        if (self.state != State.REGISTERED or self.spec.level != "major" or self.listing is not None
                or self.unlisted_fired or self.registered_on is None):
            return None
        return local_at(add_working_days(self.registered_on, UNLISTED_DAYS), SWEEP_MIN)

    def _set_deadline(self, deadline: date) -> None:
        self.deadline = deadline
        self.fired = set()

    def _deadline_in(self, lo: int, hi: int) -> date:
        return _next_working(self.today + timedelta(days=self.rng.randint(lo, hi)))

    # -- people --------------------------------------------------------------------------------

    def _candidates(self, roles: set[str], level: str | None = None,
                    exclude: Sequence[str | None] = ()) -> list[Person]:
        out = []
        for p in STAFF:
            if p.role not in roles or p.username in exclude or not regions.within(self.region, p.region):
                continue
            if p.role in (Role.INSPECTOR, Role.SUPERVISOR) and p.industry not in (None, self.industry):
                continue
            if level is not None and regions.region_level(p.region) != level:
                continue
            out.append(p)
        return out

    def _pick(self, roles: set[str], level: str | None = None, exclude: Sequence[str | None] = ()) -> str:
        """Someone in scope, most often of the most local office that has one."""
        people = self._candidates(roles, level, exclude)
        if not people:
            raise RuntimeError(f"演示数据配置有误：{self.region} {self.industry} 无可选人员 {roles} {level}")
        nearest = min(LEVEL_ORDER[regions.region_level(p.region)] for p in people)
        local = [p for p in people if LEVEL_ORDER[regions.region_level(p.region)] == nearest]
        return self.rng.choice(local if self.rng.random() < 0.8 else people).username

    def _official(self, exclude: Sequence[str | None] = ()) -> str:
        roles = {Role.INSPECTOR} if self.rng.random() < 0.8 else {Role.INSPECTOR, Role.SUPERVISOR}
        if not self._candidates(roles, exclude=exclude):
            roles = {Role.INSPECTOR, Role.SUPERVISOR}
        return self._pick(roles, exclude=exclude)

    @property
    def company(self) -> str:
        return f"ent_{self.org.key}"

    def _emit(self, action: str, actor: str | None, body: dict[str, Any], uploads: list[Upload] | None = None,
              contact: dict[str, Any] | None = None) -> None:
        self.steps.append(Step(self.t, action, actor, body, uploads or [], contact))

    # -- actions -------------------------------------------------------------------------------

    def report(self, start: datetime) -> None:
        r, spec, tpl = self.rng, self.spec, self.spec.template
        self.t = start
        description = tpl.description.format(**self.vals)
        body: dict[str, Any] = {
            "title": tpl.title, "location": tpl.location.format(**self.vals)[:200],
            "region_code": self.region, "industry": self.industry, "source": spec.source,
        }
        contact = None
        if spec.source == "public_report":
            actor = None
            description += f"\n（举报涉及单位：{self.org.name}）"
            contact = {"contact": f"139****{r.randint(0, 9999):04d}"}  # masked: never a real number
        else:
            body["enterprise_uscc"] = org_uscc(self.org)
            self.has_enterprise = True
            if spec.source == "self_check":
                actor = self.company
            elif spec.source == "covert_inspection":
                actor = self._pick({Role.COMMITTEE, Role.SUPERVISOR})
                description = "【明查暗访】" + description
            elif spec.source == "transfer":
                actor = self._pick({Role.INSPECTOR, Role.SUPERVISOR})
                description = f"【{TRANSFER_FROM.get(self.industry, '相关部门')}移交】" + description
            elif spec.source == "expert_review":
                actor = self._pick({Role.INSPECTOR})
                description = "【专家排查】" + description
            else:
                actor = self._pick({Role.INSPECTOR})
        body["description"] = description
        self.reporter = actor
        self.state = State.REPORTED
        self._emit("report", actor, body, contact=contact)

    def register(self, *, on_spot: bool = False) -> None:
        self._go(0, 4)
        level = self.spec.level or "general"
        actor = self._official()
        body: dict[str, Any] = {"level": level, "enterprise_uscc": org_uscc(self.org),
                                "category": self.spec.template.category}
        uploads = []
        if on_spot:
            body.update(deadline=self.today.isoformat(), rectified_on_spot=True)
            uploads = [Upload("png", "立查立改现场照片.png", "evidence")]
            self.state = State.CLOSED
        else:
            deadline = self._deadline_in(60, 120) if level == "major" else self._deadline_in(15, 45)
            body["deadline"] = deadline.isoformat()
            self._set_deadline(deadline)
            self.state = State.REGISTERED
        self.registered_on = self.today
        self.has_enterprise = True
        self._emit("register", actor, body, uploads)

    def dismiss(self) -> None:
        self._go(1, 8)
        actor = self._official(exclude=[self.reporter])
        self.state = State.DISMISSED
        self._emit("dismiss", actor, {"reason": self.rng.choice(DISMISS_REASONS)})

    def supervise(self) -> None:
        self._go(2, 10)
        listing = self.spec.listing or "city"
        actor = self._pick({Role.COMMITTEE}, level=listing)
        deadline = self._deadline_in(60, 150)
        plan_due = self.today + timedelta(days=self.rng.randint(7, 15))
        suspend = self.industry in SUSPENDING_INDUSTRIES and self.rng.random() < 0.35
        self._emit("supervise", actor, {"listing_level": listing, "deadline": deadline.isoformat(),
                                        "plan_due": plan_due.isoformat(), "suspend_production": suspend})
        self.listing, self.plan_due, self.state = listing, plan_due, State.SUPERVISED
        self.suspended = self.suspended or suspend
        self._set_deadline(deadline)

    def file_plan(self) -> None:
        r = self.rng
        if self.state == State.SUPERVISED and self.plan_due is not None:
            self._go(2, max(3, (self.plan_due - self.today).days))
        else:
            self._go(2, 10)
        assert self.deadline is not None
        if self.deadline < self.today:
            time_limit = self.deadline
        else:
            time_limit = max(self.today, self.deadline - timedelta(days=r.randint(0, 10)))
        major = self.spec.level == "major"
        funds = r.randint(200, 50000) / 100 if major else r.randint(20, 1500) / 100
        self.planned_funds = funds
        body: dict[str, Any] = {
            "responsible_person": self.org.head, "measures": self.spec.template.measures.format(**self.vals),
            "funds_wan": f"{funds:.2f}", "time_limit": time_limit.isoformat(),
        }
        if major or r.random() < 0.4:
            body["contingency_plan"] = f"《{self.org.name}{self.spec.template.category}事故专项应急预案》及现场处置方案"
        self.state = State.RECTIFYING
        self._emit("file_plan", self.company, body)

    def progress(self, lo: int = 5, hi: int = 20) -> None:
        self._go(lo, hi)
        note = self.rng.choice(PROGRESS_NOTES).format(pct=self.rng.choice((30, 40, 50, 60, 70, 80)))
        uploads = [Upload("png", "整改进展照片.png", "evidence")] if self.rng.random() < 0.3 else []
        self._emit("report_progress", self.company, {"note": note}, uploads)

    def request_extension(self, *, decide: bool) -> None:
        if self.ext_pending or self.state not in WORKING or self.deadline is None:
            return
        self._go(1, 6)
        if self.state not in WORKING or add_working_days(self.today, self.ext_days) > self.deadline:
            return  # too close to the deadline: the enterprise did not (could not) ask
        new = _next_working(self.deadline + timedelta(days=self.rng.randint(20, 60)))
        self._emit("request_extension", self.company, {
            "reason": self.rng.choice(EXTENSION_REASONS), "interim_measures": self.rng.choice(INTERIM_MEASURES),
            "new_deadline": new.isoformat()})
        self.ext_pending, self.ext_new = True, new
        if decide:
            self.decide_extension(grant=self.rng.random() < 0.65)

    def decide_extension(self, *, grant: bool) -> None:
        self._go(2, 7)
        if self.spec.level == "major":
            actor = self._pick({Role.COMMITTEE}, level=self.listing)
        else:
            actor = self._pick({Role.SUPERVISOR})
        if grant:
            note = f"经审查，延期理由充分，同意延期至{self.ext_new.isoformat()}，延期期间须落实临时管控措施。"  # type: ignore[union-attr]
            self._emit("grant_extension", actor, {"note": note})
            assert self.ext_new is not None
            self._set_deadline(self.ext_new)
        else:
            self._emit("deny_extension", actor, {"note": "延期理由不充分，请按原整改期限完成整改。"})
        self.ext_pending, self.ext_new = False, None

    def suspend(self) -> None:
        self._go(0, 3)
        actor = self._pick({Role.INSPECTOR, Role.SUPERVISOR, Role.COMMITTEE})
        self._emit("order_suspension", actor, {"reason": self.rng.choice(SUSPEND_REASONS)})
        self.suspended = True

    def lift(self) -> None:
        self._go(1, 5)
        actor = self._pick({Role.INSPECTOR, Role.SUPERVISOR, Role.COMMITTEE})
        self._emit("lift_suspension", actor, {"reason": self.rng.choice(LIFT_REASONS)})
        self.suspended = False

    def work_until_acceptance(self) -> None:
        """Progress reports, then the request for acceptance, most often before the deadline."""
        r = self.rng
        assert self.deadline is not None
        left = (self.deadline - self.today).days
        if left > 4 and r.random() < 0.9:
            span = max(2, int(left * r.uniform(0.4, 0.95)))
        else:
            span = max(2, left) + r.randint(3, 25)  # finished late: the ladder will have fired
        reports = r.choice((0, 1, 1, 2, 3)) if self.state == State.RECTIFYING else 0
        for _ in range(reports):
            gap = max(2, span // (reports + 1))
            self.progress(gap // 2, gap)
            span -= gap
        self._go(max(1, span // 2), max(1, span))
        self.request_acceptance()

    def request_acceptance(self) -> None:
        r = self.rng
        if self.suspended and self.state in WORKING and r.random() < 0.6:
            self.lift()  # 复产: lifted once the danger is under control, before the acceptance
        major = self.spec.level == "major"
        self._go(0, 1)
        completed = self.today - timedelta(days=r.randint(0, 2))
        if self.registered_on and completed < self.registered_on:
            completed = self.registered_on
        spent = (self.planned_funds or r.randint(20, 800) / 100) * r.uniform(0.8, 1.1)
        uploads = [Upload("png", f"整改后现场照片{i + 1}.png", "evidence") for i in range(r.randint(1, 2))]
        if major or r.random() < 0.15:
            uploads.append(Upload("pdf", "整改评估报告.pdf", "assessment_report"))
        assessment = r.choice(("expert", "third_party")) if major else r.choice(("self", "self", "expert"))
        body = {"work_done": "已完成：" + self.spec.template.measures.format(**self.vals),
                "completed_on": completed.isoformat(), "funds_spent_wan": f"{spent:.2f}",
                "assessment": assessment}
        self.state = State.ACCEPTANCE_REQUESTED
        self._emit("request_acceptance", self.company, body, uploads)

    def review(self, *, accept: bool) -> None:
        self._go(2, 10)
        actor = self._official()
        if accept:
            self._emit("accept", actor, {"reviewed_on": self.today.isoformat(),
                                         "opinion": self.rng.choice(ACCEPT_OPINIONS)})
            self.state = State.ACCEPTED if self.spec.level == "major" else State.CLOSED
        else:
            self._emit("reject", actor, {"reviewed_on": self.today.isoformat(),
                                         "reasons": self.rng.choice(REJECT_REASONS)})
            self.state = State.RECTIFYING

    def close(self) -> None:
        self._go(3, 15)
        actor = self._pick({Role.COMMITTEE}, level=self.listing)
        self._emit("close", actor, {"opinion": self.rng.choice(CLOSE_OPINIONS)})
        self.state, self.suspended = State.CLOSED, False

    def comment(self, chance: float) -> None:
        if self.rng.random() >= chance:
            return
        self._go(0, 6)
        kinds = ["official", "committee"] + (["enterprise"] if self.has_enterprise else [])
        kind = self.rng.choice(kinds)
        if kind == "enterprise":
            actor = self.company
        elif kind == "committee":
            actor = self._pick({Role.COMMITTEE})
        else:
            actor = self._pick({Role.INSPECTOR, Role.SUPERVISOR})
        self._emit("comment", actor, {"text": self.rng.choice(COMMENTS[kind])})

    def finish(self) -> None:
        self._ladder(self.anchor - timedelta(minutes=1))


def story(spec: Spec, rng: random.Random, start: datetime, anchor: datetime, ext_days: int) -> list[Step]:
    """The steps that bring one hazard to `spec.target`, in time order."""
    s = _Story(spec, rng, anchor, ext_days)
    target, major, r = spec.target, spec.level == "major", rng
    s.report(start)
    s.comment(0.1)
    if target == State.REPORTED:
        return _done(s)
    if target == State.DISMISSED:
        s.dismiss()
        s.comment(0.1)
        return _done(s)
    on_spot = target == State.CLOSED and not major and r.random() < 0.25
    s.register(on_spot=on_spot)
    if on_spot:
        s.comment(0.1)
        return _done(s)
    s.comment(0.15)
    if not major and r.random() < 0.05:
        s.suspend()
    if target == State.REGISTERED:
        _extension(s, pending_ok=True)
        return _done(s)
    if spec.listing:
        s.supervise()
    if target == State.SUPERVISED:
        _extension(s, pending_ok=True)
        return _done(s)
    if major or target == State.RECTIFYING or r.random() < 0.6:
        s.file_plan()
        s.comment(0.1)
    _extension(s, pending_ok=False)
    if target == State.RECTIFYING:
        if r.random() < 0.2:
            s.work_until_acceptance()
            s.review(accept=False)
            s.progress()
        else:
            s.progress(3, 15)
        _extension(s, pending_ok=True)
        return _done(s)
    failures = r.choices((0, 1, 2), (75, 20, 5))[0]
    for _ in range(failures):
        s.work_until_acceptance()
        s.review(accept=False)
        s.progress(3, 12)
    s.work_until_acceptance()
    if target == State.ACCEPTANCE_REQUESTED:
        return _done(s)
    s.review(accept=True)
    if target == State.CLOSED and major:
        s.close()
    s.comment(0.1)
    return _done(s)


def _extension(s: _Story, *, pending_ok: bool) -> None:
    """Sometimes an extension request: decided (granted or denied), or still pending at the end."""
    roll = s.rng.random()
    if roll < 0.2:
        s.request_extension(decide=True)
    elif pending_ok and roll < 0.35:
        s.request_extension(decide=False)


def _done(s: _Story) -> list[Step]:
    s.finish()
    return s.steps
