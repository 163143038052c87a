"""A demo story's clock (see `app.demo`): the simulated time one hazard's story moves through, office
hours and working days, and the escalations the daily sweep would have fired on the way, exactly as
`services.escalation.sweep` fires them. The acts themselves are app/demo/stories.py's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from services.calendar.workdays import add_working_days, is_working_day
from services.escalation.ladder import DEADLINE_STEPS, NEXT_LISTING, LadderConfig
from services.kernel.clock import SHANGHAI, local_date
from services.lifecycle.states import State

# The escalation ladder (DESIGN 2.5): working days from the deadline, as the sweep counts them.
LADDER = tuple((s.name, LadderConfig().offset(s)) for s in DEADLINE_STEPS)
# A major hazard registered and not listed within this many working days goes to the 安委办.
UNLISTED_DAYS = LadderConfig().unlisted_escalate
SWEEP_MIN = 7 * 60
WORKING = {State.REGISTERED, State.SUPERVISED, State.RECTIFYING}


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


class Overflow(Exception):
    """The story ran past `now`: it is planned again, starting earlier."""

    def __init__(self, days: int) -> None:
        self.days = days


def local_at(day: date, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=SHANGHAI).astimezone(timezone.utc)


def next_sweep(after: datetime) -> datetime:
    """The first run of the daily escalation sweep (07:00 Shanghai) after `after`."""
    day = local_date(after)
    at = local_at(day, SWEEP_MIN)
    return at if at > after else local_at(day + timedelta(days=1), SWEEP_MIN)


def next_working(day: date) -> date:
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


class Timeline:
    """The clock of one story and the hazard facts the ladder reads; `steps` is what happened."""

    OPEN_MIN, CLOSE_MIN = 8 * 60 + 30, 17 * 60 + 30

    def __init__(self, rng: random.Random, anchor: datetime, *, major: bool) -> None:
        self.rng, self.anchor, self.major = rng, anchor, major
        self.steps: list[Step] = []
        self.t = anchor
        self.state: State | None = None
        self.deadline: date | None = None
        self.listing: str | None = None
        self.fired: set[str] = set()
        self.unlisted_fired = False  # not a deadline step: a new deadline does not clear it
        self.registered_on: date | None = None

    # -- time ----------------------------------------------------------------------------------

    @property
    def today(self) -> date:
        return local_date(self.t)

    def _later(self, lo: int, hi: int, *, office: bool = True) -> datetime:
        r = self.rng
        start, end = (self.OPEN_MIN, self.CLOSE_MIN) if office else (7 * 60, 22 * 60)
        day = self.today + timedelta(days=r.randint(lo, hi))
        if office:
            day = next_working(day)
        if day == self.today:
            local = self.t.astimezone(SHANGHAI)
            now_min = local.hour * 60 + local.minute + r.randint(10, 90)
            if now_min >= end:
                day = next_working(day + timedelta(days=1)) if office else day + timedelta(days=1)
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
            at = max(first, next_sweep(self.t))
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
        if (self.state != State.REGISTERED or not self.major or self.listing is not None
                or self.unlisted_fired or self.registered_on is None):
            return None
        return local_at(add_working_days(self.registered_on, UNLISTED_DAYS), SWEEP_MIN)

    def _set_deadline(self, deadline: date) -> None:
        self.deadline = deadline
        self.fired = set()

    def _deadline_in(self, lo: int, hi: int) -> date:
        return next_working(self.today + timedelta(days=self.rng.randint(lo, hi)))

    def _emit(self, action: str, actor: str | None, body: dict[str, Any], uploads: list[Upload] | None = None,
              contact: dict[str, Any] | None = None) -> None:
        self.steps.append(Step(self.t, action, actor, body, uploads or [], contact))
