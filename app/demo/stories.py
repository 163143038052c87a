"""The acts of one demo hazard's story (see `app.demo`): who reports, registers, lists, plans,
rectifies, asks for an extension or acceptance, reviews and closes, with which body and files,
against a model of the hazard's facts on its clock (app/demo/timeline.py). The order of the acts
for a target state is app/demo/plots.py's. Nothing here touches the database: the steps are
replayed through `services.engine` (creation, transitions) later, which checks every one of them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

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
from app.demo.timeline import WORKING, Timeline, Upload, next_working
from services.calendar.workdays import add_working_days
from services.kernel import regions
from services.lifecycle.roles import Role
from services.lifecycle.states import State

SUSPENDING_INDUSTRIES = {"煤矿", "非煤矿山", "危险化学品", "冶金工贸", "民爆物品", "建筑施工", "经营性自建房"}
LEVEL_ORDER = {"county": 0, "city": 1, "province": 2}


@dataclass(frozen=True)
class Spec:
    target: State
    level: str | None
    listing: str | None
    org: Org
    template: Template
    source: str


class Story(Timeline):
    """Plans one hazard against a model of its facts; the real engine checks every step later."""

    def __init__(self, spec: Spec, rng: random.Random, anchor: datetime, ext_days: int) -> None:
        super().__init__(rng, anchor, major=spec.level == "major")
        self.spec, self.ext_days = spec, ext_days
        self.org = spec.org
        self.region = spec.org.region
        self.industry = spec.org.industry
        self.plan_due: date | None = None
        self.suspended = False
        self.ext_pending = False
        self.ext_new: date | None = None
        self.reporter: str | None = None
        self.has_enterprise = False
        self.planned_funds: float | None = None
        r = rng
        self.vals = {
            "ent": self.org.name, "county": region_names().get(self.region, ""), "street": r.choice(STREETS),
            "face": r.choice(FACES), "n": r.randint(2, 9), "m": r.randint(2, 5), "k": r.randint(15, 60),
            "d": r.randint(6, 15), "f": r.randint(3, 28), "x": f"{r.uniform(1.05, 1.9):.2f}",
        }

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
        new = next_working(self.deadline + timedelta(days=self.rng.randint(20, 60)))
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
