"""(o) the per-row ORM loop the issue compares the sweep with: how escalation is usually written
first, and what `services.escalation.sweep` exists to avoid.

Every open hazard is loaded as an ORM object (one `select(Hazard)`, iterated to the end). For each,
the ladder is worked out row by row, counting working days with the calendar for every step
(`naive_due`: the step's date is `add_working_days(anchor, offset)`, as `escalation.due_steps`
would have it, with no per-day cutoffs), and each due step is fired with
`transitions.perform(session, SYSTEM, id, "escalate", ...)`: one transaction per hazard, the
hazard re-read by `perform`, one compare-and-set, event and outbox INSERT per step. It writes
exactly what the sweep writes (checked by the benchmark, row for row).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.engine import read_only, transaction
from db.models import Hazard
from services.engine import transitions
from services.accounts.auth import SYSTEM
from services.calendar.workdays import WorkCalendar
from services.escalation.ladder import (
    ACCEPTANCE_REQUESTED, DEADLINE_STATES, DEADLINE_STEPS, REPORTED, UNREGISTERED_STEPS, LadderConfig, Step, collapse,
)
from services.lifecycle.states import OPEN_STATES
from services.escalation.sweep import facts_of


def naive_due(facts: Any, today: date, calendar: WorkCalendar, config: LadderConfig) -> list[Step]:
    """The steps due and not yet fired, each step's day counted from its anchor in working days.
    Same answer as `escalation.due` (which compares with the day's cutoffs instead)."""
    steps: list[Step] = []
    if facts.state == REPORTED:
        steps += [s for s in UNREGISTERED_STEPS
                  if calendar.add_working_days(facts.reported_on, config.offset(s)) <= today]
    elif facts.state in DEADLINE_STATES and facts.deadline is not None:
        for s in DEADLINE_STEPS:
            if calendar.add_working_days(facts.deadline, config.offset(s)) <= today or (
                s == Step.summon and facts.failed_acceptances >= config.summon_after_failed_acceptances
            ):
                steps.append(s)
    elif facts.state == ACCEPTANCE_REQUESTED and facts.acceptance_requested_on is not None:
        if calendar.add_working_days(facts.acceptance_requested_on, config.review_overdue) <= today:
            steps.append(Step.review_overdue)
    return [s for s in steps if not facts.fired & s]


def run(factory: sessionmaker[Session], *, now: datetime, as_of: date, calendar: WorkCalendar,
        config: LadderConfig) -> dict[str, Any]:
    scanned = hazards = events = 0
    body_day = as_of.isoformat()
    with read_only(factory) as reader:
        query = select(Hazard).where(Hazard.state.in_(sorted(OPEN_STATES))).order_by(Hazard.id)
        for hazard in reader.execute(query).scalars():
            scanned += 1
            steps = naive_due(facts_of(hazard), as_of, calendar, config)
            if not steps:
                continue
            plan = collapse(steps)  # as the sweep: of several due at once, the most severe
            with transaction(factory) as session:
                for step, skipped in plan:
                    transitions.perform(session, SYSTEM, hazard.id, "escalate",
                                        {"step": step.name, "skipped": [s.name for s in skipped], "as_of": body_day},
                                        now=now)
            hazards += 1
            events += len(plan)
    return {"scanned": scanned, "hazards": hazards, "events": events}
