"""What the lifecycle's rules may read: the hazard's facts, the actor, and the moment (`Context`).

Guards and the changes an action writes are pure functions of these: everything they need from
outside the hazard, the day and the working-day calendar included, comes in the `Context` the
caller builds, so a rule reads no clock, settings or process-wide calendar of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from services.calendar.workdays import WorkCalendar


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
    industry: str | None


@dataclass(frozen=True)
class Context:
    """What a rule may know besides the hazard, the actor and the body: the day of the act, its
    moment, the working-day calendar to count with (the engine passes the process's calendar,
    taken once per action) and the deployment's extension limit."""

    today: date
    now: datetime
    calendar: WorkCalendar
    extension_min_working_days: int = 15
