"""The escalation sweep: select everything due in one set-based query, fire it in batches.

Selection: the ladder's cutoffs for the day (`escalation.cutoffs`) turn "n working days after the
deadline" into "deadline on or before date X", so one indexed query per batch finds the due rows,
keyset-paginated on the id; no Python loop over all open hazards, no per-row calendar arithmetic.

Firing: each step is the lifecycle's `escalate` action by `system`, decided and recorded by the same
code as a user's action (`transitions.prepare`: role, state and guards from the table, the changes,
the hash-chained event, the outbox rows). Only the I/O is batched: one compare-and-set UPDATE per
hazard sent as one executemany, the events and outbox rows as multi-row INSERTs, one commit per
batch.

Concurrency: a batch whose compare-and-set does not match every row (a user acted, or another
sweep fired first) is rolled back whole and redone hazard by hazard, each re-read under its own
transaction and re-decided from its fresh facts; a step already fired has its bit set and is not
due any more. So two sweeps at once never fire a step twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import structlog
from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from db.engine import read_only, transaction
from db.models import AuditEvent, Hazard, OutboxMessage
from services import transitions
from services.auth import SYSTEM
from services.calendar import WorkCalendar
from services.clock import SHANGHAI, local_date
from services.errors import Conflict
from services.escalation import (
    DEADLINE_STATES, DEADLINE_STEPS, UNREGISTERED_STEPS, Cutoffs, LadderConfig, LadderFacts, Step, cutoffs, due,
)
from services.lifecycle import LIFECYCLE, State

log = structlog.get_logger("hazard.sweep")

H = Hazard.__table__
SPEC = LIFECYCLE["escalate"]


def _clear(step: Step):
    return H.c.escalation_fired.op("&")(int(step)) == 0


def _day_end_utc(day: date) -> datetime:
    """The first instant after `day` ends in Asia/Shanghai, in UTC: `ts < this` ⇔ local date ≤ day."""
    return datetime.combine(day + timedelta(days=1), time(0), SHANGHAI).astimezone(timezone.utc)


def due_condition(cut: Cutoffs):
    """The SQL form of `escalation.due` (a row it selects may still be refused by the lifecycle)."""
    deadline_due = or_(
        *[and_(H.c.deadline <= cut.deadline[s], _clear(s)) for s in DEADLINE_STEPS],
        and_(H.c.failed_acceptances >= cut.failed_acceptances, _clear(Step.summon)),
    )
    return or_(
        and_(H.c.state.in_(sorted(DEADLINE_STATES)), H.c.deadline.is_not(None), deadline_due),
        and_(H.c.state == State.REPORTED.value,
             or_(*[and_(H.c.discovered_at < _day_end_utc(cut.reported[s]), _clear(s)) for s in UNREGISTERED_STEPS])),
        and_(H.c.state == State.ACCEPTANCE_REQUESTED.value,
             H.c.acceptance_requested_at < _day_end_utc(cut.review), _clear(Step.review_overdue)),
    )


def facts_of(row: Any) -> LadderFacts:
    return LadderFacts(
        state=row.state, deadline=row.deadline, reported_on=local_date(row.discovered_at),
        acceptance_requested_on=local_date(row.acceptance_requested_at) if row.acceptance_requested_at else None,
        failed_acceptances=row.failed_acceptances, fired=row.escalation_fired,
    )


@dataclass
class Fired:
    hazard_id: int
    code: str
    steps: list[str]


@dataclass
class SweepReport:
    as_of: date
    dry_run: bool
    selected: int = 0
    hazards: int = 0
    events: int = 0
    by_step: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    retried: int = 0
    fired: list[Fired] = field(default_factory=list)  # kept only when asked (dry runs, tests)

    def count(self, hazard_id: int, code: str, steps: list[Step], keep: bool) -> None:
        self.hazards += 1
        self.events += len(steps)
        for s in steps:
            self.by_step[s.name] = self.by_step.get(s.name, 0) + 1
        if keep:
            self.fired.append(Fired(hazard_id, code, [s.name for s in steps]))


def _select_batch(session: Session, cut: Cutoffs, after_id: int, limit: int) -> list[Any]:
    q = select(H).where(due_condition(cut), H.c.id > after_id).order_by(H.c.id).limit(limit)
    return session.connection().execute(q).all()


class StaleBatch(Exception):
    """The batch's compare-and-set did not match every row."""


_CAS_COLUMNS = ("version", "audit_head", "escalation_step", "escalation_fired", "listing_level", "listing_body",
                "updated_at")
_BATCH_CAS = update(H).where(H.c.id == bindparam("cas_id"), H.c.version == bindparam("cas_version")).values(
    {c: bindparam(f"new_{c}") for c in _CAS_COLUMNS}
)
_BATCH_EVENTS = insert(AuditEvent.__table__).returning(AuditEvent.__table__.c.id, sort_by_parameter_order=True)
_BATCH_OUTBOX = insert(OutboxMessage.__table__)


def _fire_batch(session: Session, rows: list[Any], cut: Cutoffs, now: datetime, as_of: date,
                report: SweepReport, keep: bool) -> None:
    updates: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    outbox: list[tuple[int, list[dict[str, Any]]]] = []  # (index of the event, rows)
    planned: list[tuple[Any, list[Step]]] = []
    for row in rows:
        steps = due(facts_of(row), cut)
        if not steps:
            continue
        state = transitions.Working(row)
        for step in steps:
            decided = transitions.prepare(session, SPEC, state, SYSTEM,
                                          {"step": step.name, "as_of": as_of.isoformat()}, now=now)
            events.append(decided.event)
            outbox.append((len(events) - 1, decided.outbox_rows))
            state.apply(decided)
        planned.append((row, steps))
        updates.append({"cas_id": row.id, "cas_version": row.version,
                        **{f"new_{c}": getattr(state, c) for c in _CAS_COLUMNS}})
    if not updates:
        return
    conn = session.connection()
    result = conn.execute(_BATCH_CAS, updates)
    if result.rowcount != len(updates):
        raise StaleBatch
    ids = [r[0] for r in conn.execute(_BATCH_EVENTS, events)]
    rows_out = [p for i, batch in outbox for p in transitions.outbox_params(batch, ids[i])]
    if rows_out:
        conn.execute(_BATCH_OUTBOX, rows_out)
    for row, steps in planned:
        report.count(row.id, row.code, steps, keep)


def _fire_one(factory: sessionmaker[Session], hazard_id: int, cut: Cutoffs, now: datetime, as_of: date,
              report: SweepReport, keep: bool) -> None:
    """The slow path for a batch that lost a race: this hazard alone, re-read and re-decided."""
    with transaction(factory) as session:
        row = session.connection().execute(select(H).where(H.c.id == hazard_id, due_condition(cut))).first()
        if row is None:
            return
        steps = due(facts_of(row), cut)
        done = []
        for step in steps:
            try:
                transitions.perform(session, SYSTEM, hazard_id, "escalate", {"step": step.name, "as_of": as_of.isoformat()},
                                    now=now)
                done.append(step)
            except Conflict:
                break
        if done:
            report.count(row.id, row.code, done, keep)


def sweep(factory: sessionmaker[Session], *, now: datetime, calendar: WorkCalendar, config: LadderConfig,
          as_of: date | None = None, dry_run: bool = False, batch_size: int = 1000,
          keep_details: bool = False) -> SweepReport:
    """Fire every step due as of `as_of` (default: today in Asia/Shanghai). Events carry `now`."""
    as_of = as_of or local_date(now)
    cut = cutoffs(as_of, calendar, config)
    report = SweepReport(as_of=as_of, dry_run=dry_run)
    after = 0
    while True:
        with read_only(factory) as session:
            rows = _select_batch(session, cut, after, batch_size)
        if not rows:
            break
        after = rows[-1].id
        report.selected += len(rows)
        report.batches += 1
        if dry_run:
            for row in rows:
                steps = due(facts_of(row), cut)
                if steps:
                    report.count(row.id, row.code, steps, True)
            continue
        try:
            with transaction(factory) as session:
                _fire_batch(session, rows, cut, now, as_of, report, keep_details)
        except StaleBatch:
            report.retried += len(rows)
            for row in rows:
                _fire_one(factory, row.id, cut, now, as_of, report, keep_details)
    log.info("escalation_sweep", as_of=as_of.isoformat(), dry_run=dry_run, selected=report.selected,
             hazards=report.hazards, events=report.events, batches=report.batches, retried=report.retried,
             by_step=report.by_step)
    return report


def iter_due(factory: sessionmaker[Session], cut: Cutoffs, batch_size: int = 1000) -> Iterator[Any]:
    after = 0
    while True:
        with read_only(factory) as session:
            rows = _select_batch(session, cut, after, batch_size)
        if not rows:
            return
        yield from rows
        after = rows[-1].id
