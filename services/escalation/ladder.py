"""The escalation ladder (DESIGN 2.5) as pure functions: (hazard facts, today, calendar,
configuration) → the steps due. No database, no clock: the sweep (`services.escalation.sweep`) asks, the
lifecycle's `escalate` action records.

At most once: every step has a bit in the hazard's `escalation_fired`; a step fires only while its
bit is clear. The deadline steps' bits are cleared when the deadline changes (register, supervise,
a granted extension), so the ladder restarts against the new deadline; the unreviewed-acceptance
bit is cleared by each new acceptance request. The unlisted-major bit is never cleared: a hazard is
registered once, and once listed the step no longer applies.

When a step is due: on the first sweep on or after the day it falls due (a step n working days
after the deadline is due on that working day; `overdue` at 0 is due on the deadline day itself,
when the hazard is still not done).

Catch-up: a sweep that finds several steps of one ladder due at once (say the service was down for
a week) fires only the most severe of them, as one event that names the others as `skipped`
(`collapse`). The skipped steps' bits are set with it, so they never fire later, and their effects
on the hazard still happen (an `elevate` skipped for `refer` still moves the listing up); their
notices and documents do not go out, so an enterprise never receives a 督办函 and a 约谈通知书 in
the same minute. The ladders are independent: the deadline ladder, the unregistered-report pair,
the unreviewed acceptance and the unlisted major hazard.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import IntFlag
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.calendar.workdays import WorkCalendar


class Step(IntFlag):
    """The ladder's steps; the value is the step's bit in `hazards.escalation_fired`."""

    remind = 1  # 提醒 (enterprise), −3
    overdue = 2  # 逾期预警 (enterprise, supervising department), 0
    urge = 4  # 督办函, +5
    summon = 8  # 约谈通知, +10 or after failed acceptances
    publicize = 16  # 通报, +20
    elevate = 32  # 提级督办, +30
    refer = 64  # 问责移交, +60
    unregistered_remind = 128  # a report not registered: remind the region's inspectors
    unregistered_escalate = 256  # ... still not: to their supervisor
    review_overdue = 512  # an acceptance request not reviewed: to the supervisor
    unlisted_escalate = 1024  # a major hazard registered and not listed (挂牌督办): to the 安委办


DEADLINE_STEPS = (Step.remind, Step.overdue, Step.urge, Step.summon, Step.publicize, Step.elevate, Step.refer)
DEADLINE_BITS = sum(DEADLINE_STEPS)
UNREGISTERED_STEPS = (Step.unregistered_remind, Step.unregistered_escalate)
LADDER_ORDER = (*UNREGISTERED_STEPS, Step.unlisted_escalate, *DEADLINE_STEPS, Step.review_overdue)
# Independent ladders, each from its least to its most severe step: of the steps of one ladder due
# on the same sweep only the last fires (`collapse`).
LADDERS = (UNREGISTERED_STEPS, (Step.unlisted_escalate,), DEADLINE_STEPS, (Step.review_overdue,))
# States in which the enterprise is working against the deadline. Once acceptance is requested
# the work is the officials' to review; the deadline ladder waits (and resumes on a rejection).
# (State values: the lifecycle imports this module, so it cannot import the lifecycle.)
DEADLINE_STATES = frozenset({"registered", "supervised", "rectifying"})
REPORTED, REGISTERED, ACCEPTANCE_REQUESTED = "reported", "registered", "acceptance_requested"

STEP_LABELS = {
    Step.remind: "整改期限临近提醒", Step.overdue: "逾期预警", Step.urge: "发督办函", Step.summon: "约谈",
    Step.publicize: "通报", Step.elevate: "提级督办", Step.refer: "问责移交",
    Step.unregistered_remind: "举报/报告未登记提醒", Step.unregistered_escalate: "未登记报上级",
    Step.review_overdue: "验收申请逾期未审", Step.unlisted_escalate: "重大隐患逾期未挂牌督办",
}


def ladder_of(step: Step) -> tuple[Step, ...]:
    return next(ladder for ladder in LADDERS if step in ladder)


def less_severe(step: Step) -> tuple[Step, ...]:
    """The steps a catch-up firing `step` may skip: those before it on its own ladder."""
    ladder = ladder_of(step)
    return ladder[:ladder.index(step)]


def collapse(steps: list[Step]) -> list[tuple[Step, tuple[Step, ...]]]:
    """The events for the steps due on one sweep: per ladder, the most severe step, with the
    lesser ones due with it as skipped; in ladder order."""
    out = []
    for ladder in LADDERS:
        mine = [s for s in ladder if s in steps]
        if mine:
            out.append((mine[-1], tuple(mine[:-1])))
    return sorted(out, key=lambda pair: LADDER_ORDER.index(pair[0]))


def step_label(step: str | Step, skipped: Iterable[str | Step] = (), *, name: bool = False) -> str:
    """`约谈（已跳过：逾期预警、发督办函）`: the step, and the lesser steps it was fired in place of
    (`name`: `约谈(summon)（已跳过：…）`, for the command line)."""
    fired = Step[step] if isinstance(step, str) else step
    label = f"{STEP_LABELS[fired]}({fired.name})" if name else STEP_LABELS[fired]
    names = [STEP_LABELS[Step[s] if isinstance(s, str) else s] for s in skipped]
    return f"{label}（已跳过：{'、'.join(names)}）" if names else label


class LadderConfig(BaseModel):
    """Offsets in working days. Deadline steps count from the current deadline (negative: before
    it); the others from the report, the registration (a major hazard not yet listed) or the
    acceptance request."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    remind: int = -3
    overdue: int = 0
    urge: int = 5
    summon: int = 10
    publicize: int = 20
    elevate: int = 30
    refer: int = 60
    summon_after_failed_acceptances: int = Field(2, ge=1)
    unregistered_remind: int = Field(3, ge=1)
    unregistered_escalate: int = Field(5, ge=1)
    review_overdue: int = Field(10, ge=1)
    unlisted_escalate: int = Field(5, ge=1)  # 重大隐患登记后未挂牌督办

    @model_validator(mode="after")
    def _in_order(self) -> "LadderConfig":
        offsets = [getattr(self, s.name) for s in DEADLINE_STEPS]
        if offsets != sorted(offsets) or len(set(offsets)) != len(offsets):
            raise ValueError("deadline steps must have strictly increasing offsets: "
                             + ", ".join(f"{s.name}={o}" for s, o in zip(DEADLINE_STEPS, offsets)))
        if self.unregistered_escalate <= self.unregistered_remind:
            raise ValueError("unregistered_escalate must come after unregistered_remind")
        return self

    def offset(self, step: Step) -> int:
        return getattr(self, step.name)


def load_config(path: Path | None) -> LadderConfig:
    """The deployment's ladder: `[ladder]` of a TOML file (any key left out keeps its default)."""
    if path is None:
        return LadderConfig()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the escalation configuration ({exc})") from None
    try:
        return LadderConfig(**data.get("ladder", {}))
    except ValidationError as exc:
        raise ValueError(f"{path}: {exc}") from None


def configured_ladder() -> LadderConfig:
    """This deployment's ladder (`HAZARD_ESCALATION_CONFIG`, or the defaults)."""
    from services.kernel.settings import get_settings

    return load_config(get_settings().escalation_config)


@dataclass(frozen=True)
class LadderFacts:
    """What the ladder reads of a hazard; dates are Asia/Shanghai calendar dates."""

    state: str
    deadline: date | None
    reported_on: date
    acceptance_requested_on: date | None
    failed_acceptances: int
    fired: int
    level: str | None = None
    listing_level: str | None = None
    registered_on: date | None = None  # read only for a major hazard registered and not listed


@dataclass(frozen=True)
class Cutoffs:
    """For one `today`: a step is due when its anchor date is on or before its cutoff. Computed once
    per sweep, so neither the SQL selection nor the per-row check counts working days."""

    today: date
    deadline: Mapping[Step, date]  # deadline <= cutoff
    reported: Mapping[Step, date]  # reported_on <= cutoff
    review: date  # acceptance_requested_on <= cutoff
    failed_acceptances: int
    unlisted: date  # registered_on <= cutoff


def cutoffs(today: date, calendar: WorkCalendar, config: LadderConfig) -> Cutoffs:
    return Cutoffs(
        today=today,
        deadline={s: calendar.latest_start(today, config.offset(s)) for s in DEADLINE_STEPS},
        reported={s: calendar.latest_start(today, config.offset(s)) for s in UNREGISTERED_STEPS},
        review=calendar.latest_start(today, config.review_overdue),
        failed_acceptances=config.summon_after_failed_acceptances,
        unlisted=calendar.latest_start(today, config.unlisted_escalate),
    )


def unlisted_major(facts: LadderFacts) -> bool:
    """A major hazard registered and waiting for its 挂牌督办 (only `supervise` leaves that state)."""
    return facts.state == REGISTERED and facts.level == "major" and facts.listing_level is None


def due(facts: LadderFacts, cut: Cutoffs) -> list[Step]:
    """The steps due and not yet fired, in ladder order (several of one ladder: see `collapse`)."""
    steps: list[Step] = []
    state = facts.state
    if state == REPORTED:
        steps += [s for s in UNREGISTERED_STEPS if facts.reported_on <= cut.reported[s]]
    elif state in DEADLINE_STATES and facts.deadline is not None:
        for s in DEADLINE_STEPS:
            if facts.deadline <= cut.deadline[s] or (
                s == Step.summon and facts.failed_acceptances >= cut.failed_acceptances
            ):
                steps.append(s)
    elif state == ACCEPTANCE_REQUESTED and facts.acceptance_requested_on is not None:
        if facts.acceptance_requested_on <= cut.review:
            steps.append(Step.review_overdue)
    if unlisted_major(facts) and facts.registered_on is not None and facts.registered_on <= cut.unlisted:
        steps.append(Step.unlisted_escalate)
    return sorted((s for s in steps if not facts.fired & s), key=LADDER_ORDER.index)


def due_steps(facts: LadderFacts, today: date, calendar: WorkCalendar, config: LadderConfig) -> list[Step]:
    """`due` for one hazard and one day (tests and one-off checks; a sweep computes cutoffs once)."""
    return due(facts, cutoffs(today, calendar, config))


def step_changes(step: Step, fired: int, listing_level: str | None,
                 skipped: Iterable[Step] = ()) -> dict[str, Any]:
    """What firing `step` writes on the hazard (the lifecycle's `escalate` applies it). The steps it
    skips are marked fired too, and keep their effect on the hazard: an elevation skipped for the
    referral still moves the listing up (who supervises is not a notice that can be left out)."""
    skipped = tuple(skipped)
    bits = int(step)
    for s in skipped:
        bits |= s
    changes: dict[str, Any] = {"escalation_step": step.name, "escalation_fired": fired | bits}
    if Step.elevate in (step, *skipped) and listing_level:
        changes["listing_level"] = NEXT_LISTING[listing_level]
    return changes


NEXT_LISTING = {"county": "city", "city": "province", "province": "province"}
