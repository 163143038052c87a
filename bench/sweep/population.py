"""What the benchmark's open hazards look like, as pure functions: no database, no clock.

Every hazard gets a profile (state, deadline, report and acceptance-request dates, failed
acceptances, the ladder bits already fired) drawn from one seeded generator, so a run depends only
on (N, due, seed, bench day). The profiles are built against the day's cutoffs
(`escalation.cutoffs`), so whether a hazard is due is decided by construction, and checked with
`escalation.due` on every one of them (`expected_steps`).

Exactly `due` of every N hazards have at least one step due, spread evenly over the ids
(`is_due`), so any prefix of k hazards holds exactly `due_in_prefix(k)` of them: the smaller
scales and the ORM subset are prefixes of the same generated data.

A daily sweep mostly finds one new step per due hazard (the earlier ones fired on earlier days),
and sometimes several (the sweep did not run for a while). Hazards that are not due are the hard
part for the selection: besides deadlines still in the future, many are past their deadline with
every reached step already fired, waiting for the next one; the SQL must tell them apart by
their bits, not by the deadline alone.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from services.calendar.workdays import WorkCalendar
from services.kernel.clock import SHANGHAI
from services.escalation.ladder import (
    DEADLINE_STEPS, Cutoffs, LadderConfig, LadderFacts, Step, cutoffs, due,
)

BENCH_DAY = date(2026, 6, 15)  # a Monday of a published year: both package years around it are known
SWEEP_HOUR = 6  # the sweep runs at 06:00 Asia/Shanghai; its events carry that moment

# Share of each open state, the same among due and not-due hazards.
STATE_MIX = (("reported", 8), ("registered", 30), ("supervised", 7), ("rectifying", 45), ("acceptance_requested", 10))
# Which deadline step is the newest one reached, for a due hazard (remind is the most common).
NEXT_STEP_MIX = ((Step.remind, 30), (Step.overdue, 20), (Step.urge, 15), (Step.summon, 12), (Step.publicize, 10),
                 (Step.elevate, 7), (Step.refer, 6))
FUTURE_DAYS = 120  # not-due deadlines run up to this many days after the bench day
PAST_DAYS = 90  # the oldest window (past `refer`, or requests long unreviewed) is this many days wide


def sweep_now(day: date) -> datetime:
    """The moment a sweep on `day` runs, in UTC."""
    return datetime.combine(day, time(SWEEP_HOUR), SHANGHAI).astimezone(timezone.utc)


def is_due(i: int, n: int, due_count: int) -> bool:
    """Whether hazard number i (0-based) of n is one of the `due_count` due ones: evenly spread."""
    return (i + 1) * due_count // n - i * due_count // n == 1


def due_in_prefix(k: int, n: int, due_count: int) -> int:
    """How many of the first k hazards are due (exact, by the telescoping sum of `is_due`)."""
    return k * due_count // n


def bits(steps) -> int:
    out = 0
    for s in steps:
        out |= s
    return out


@dataclass(frozen=True)
class Profile:
    """The ladder-relevant facts of one generated hazard, and the shape it was drawn as."""

    state: str
    shape: str
    deadline: date | None
    reported_on: date
    acceptance_requested_on: date | None
    failed_acceptances: int
    fired: int
    level: str | None
    listing_level: str | None

    def facts(self) -> LadderFacts:
        return LadderFacts(state=self.state, deadline=self.deadline, reported_on=self.reported_on,
                           acceptance_requested_on=self.acceptance_requested_on,
                           failed_acceptances=self.failed_acceptances, fired=self.fired)


@dataclass(frozen=True)
class Windows:
    """Date ranges (lo, hi] of an anchor date, from the day's cutoffs.

    `deadline[k]`: the deadlines for which DEADLINE_STEPS[k] is the newest step reached;
    `future`: deadlines before even `remind`."""

    today: date
    deadline: tuple[tuple[date, date], ...]
    future: tuple[date, date]
    unregistered_remind: tuple[date, date]  # reported_on: remind reached, escalate not
    unregistered_escalate: tuple[date, date]  # reported_on: both reached
    unregistered_recent: tuple[date, date]  # reported_on: neither reached
    review_due: tuple[date, date]  # acceptance requested long enough ago
    review_recent: tuple[date, date]


def windows(cut: Cutoffs) -> Windows:
    d = [cut.deadline[s] for s in DEADLINE_STEPS]
    past = timedelta(days=PAST_DAYS)
    deadline = tuple((d[k + 1], d[k]) for k in range(len(d) - 1)) + ((d[-1] - past, d[-1]),)
    remind, escalate = cut.reported[Step.unregistered_remind], cut.reported[Step.unregistered_escalate]
    w = Windows(
        today=cut.today, deadline=deadline, future=(d[0], cut.today + timedelta(days=FUTURE_DAYS)),
        unregistered_remind=(escalate, remind), unregistered_escalate=(escalate - past, escalate),
        unregistered_recent=(remind, cut.today), review_due=(cut.review - past, cut.review),
        review_recent=(cut.review, cut.today),
    )
    for name in ("future", "unregistered_remind", "unregistered_escalate", "unregistered_recent",
                 "review_due", "review_recent"):
        lo, hi = getattr(w, name)
        if hi <= lo:
            raise ValueError(f"empty window {name}: ({lo}, {hi}] — the ladder configuration leaves no such hazard")
    for k, (lo, hi) in enumerate(deadline):
        if hi <= lo:
            raise ValueError(f"empty deadline window for {DEADLINE_STEPS[k].name}: ({lo}, {hi}]")
    return w


def _in(rng: random.Random, window: tuple[date, date]) -> date:
    lo, hi = window
    return lo + timedelta(days=rng.randint(1, (hi - lo).days))


def weighted(rng: random.Random, mix):
    return rng.choices([x for x, _ in mix], weights=[w for _, w in mix])[0]


def _level_and_listing(rng: random.Random, state: str) -> tuple[str | None, str | None]:
    if state == "reported":
        return None, None
    if state == "supervised":
        return "major", rng.choice(("county", "county", "city"))
    if state == "rectifying" and rng.random() < 0.2:
        return "major", rng.choice(("county", "county", "city"))
    return ("major" if rng.random() < 0.1 else "general"), None


def profile(rng: random.Random, w: Windows, due_wanted: bool) -> Profile:
    """One hazard: due (at least one step) or not, by construction."""
    state = weighted(rng, STATE_MIX)
    level, listing = _level_and_listing(rng, state)
    today = w.today
    if state == "reported":
        unreg = Step.unregistered_remind | Step.unregistered_escalate
        if due_wanted:
            x = rng.random()
            if x < 0.6:
                return Profile(state, "due: unregistered_remind", None, _in(rng, w.unregistered_remind), None, 0, 0,
                               level, listing)
            if x < 0.9:
                return Profile(state, "due: unregistered_escalate", None, _in(rng, w.unregistered_escalate), None, 0,
                               int(Step.unregistered_remind), level, listing)
            return Profile(state, "due: both unregistered steps", None, _in(rng, w.unregistered_escalate), None, 0, 0,
                           level, listing)
        if rng.random() < 0.7:
            return Profile(state, "not due: reported recently", None, _in(rng, w.unregistered_recent), None, 0, 0,
                           level, listing)
        return Profile(state, "not due: unregistered, both fired", None, _in(rng, w.unregistered_escalate), None, 0,
                       int(unreg), level, listing)

    failed = 1 if rng.random() < 0.1 else 0
    if state == "acceptance_requested":
        window = w.review_due if due_wanted else (w.review_recent if rng.random() < 0.7 else w.review_due)
        requested = _in(rng, window)
        fired_review = 0 if due_wanted or window is w.review_recent else int(Step.review_overdue)
        deadline = requested + timedelta(days=rng.randint(-10, 30))
        reached = bits(s for k, s in enumerate(DEADLINE_STEPS) if deadline <= w.deadline[k][1])
        shape = ("due: review_overdue" if due_wanted else
                 "not due: acceptance requested recently" if fired_review == 0 else "not due: review_overdue fired")
        return Profile(state, shape, deadline, min(requested, deadline) - timedelta(days=rng.randint(15, 60)),
                       requested, failed, reached | fired_review, level, listing)

    # registered, supervised, rectifying: the deadline ladder
    if due_wanted:
        x = rng.random()
        if state == "rectifying" and x < 0.05:
            deadline = _in(rng, w.future)
            shape, fired, failed = "due: summon after 2 failed acceptances", 0, 2
        else:
            step = weighted(rng, NEXT_STEP_MIX)
            k = DEADLINE_STEPS.index(step)
            deadline = _in(rng, w.deadline[k])
            if k and x > 0.85:
                j = rng.randrange(k)  # the sweep missed some days: steps j..k are all due
                shape, fired = "due: several steps (catch-up)", bits(DEADLINE_STEPS[:j])
            else:
                shape, fired = f"due: next step ({step.name})", bits(DEADLINE_STEPS[:k])
    else:
        x = rng.random()
        if x < 0.6:
            deadline, fired, shape = _in(rng, w.future), 0, "not due: deadline ahead"
        else:
            k = len(DEADLINE_STEPS) - 1 if x > 0.95 else rng.randrange(len(DEADLINE_STEPS) - 1)
            deadline, fired = _in(rng, w.deadline[k]), bits(DEADLINE_STEPS[:k + 1])
            shape = "not due: past refer, all fired" if x > 0.95 else "not due: waiting for the next step"
    reported_on = min(deadline - timedelta(days=rng.randint(15, 90)), today - timedelta(days=rng.randint(1, 10)))
    return Profile(state, shape, deadline, reported_on, None, failed, fired, level, listing)


def profiles(n: int, due_count: int, cut: Cutoffs, seed: int) -> Iterator[Profile]:
    """The n hazards in id order; exactly `due_count` of them due (any prefix: `due_in_prefix`)."""
    if not 0 <= due_count <= n:
        raise ValueError(f"due ({due_count}) must be between 0 and n ({n})")
    rng = random.Random(seed)
    w = windows(cut)
    for i in range(n):
        yield profile(rng, w, is_due(i, n, due_count))


def expected_steps(p: Profile, cut: Cutoffs) -> list[Step]:
    return due(p.facts(), cut)


def day_cutoffs(day: date, calendar: WorkCalendar | None = None, config: LadderConfig | None = None) -> Cutoffs:
    return cutoffs(day, calendar or WorkCalendar(), config or LadderConfig())
