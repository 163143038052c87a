"""The escalation sweep: select everything due in one set-based query, fire it in batches.

Selection: the ladder's cutoffs for the day (`escalation.cutoffs`) turn "n working days after the
deadline" into "deadline on or before date X", so one indexed query per batch finds the due rows,
keyset-paginated on the id; no Python loop over all open hazards, no per-row calendar arithmetic.

Firing: the steps due on a hazard are collapsed per ladder (`escalation.collapse`: of several due
at once only the most severe fires, naming the others as skipped), and each is the lifecycle's
`escalate` action by `system`, decided and recorded by the same code as a user's action
(`transitions.prepare`: role, state and guards from the table, the changes, the hash-chained
event, the outbox rows). Only the I/O is batched, one commit per batch: on
PostgreSQL three statements per batch (the compare-and-set of every hazard, the events, the outbox
rows), each taking its rows as one JSON parameter; elsewhere one compare-and-set UPDATE per hazard
sent as one executemany, the events as a multi-row INSERT, the outbox rows as an executemany.

Concurrency: a batch whose compare-and-set does not match every row (a user acted, or another
sweep fired first) is rolled back whole and redone hazard by hazard, each re-read under its own
transaction and re-decided from its fresh facts; a step already fired has its bit set and is not
due any more. So two sweeps at once never fire a step twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import structlog
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from db.engine import UnitOfWork
from db.models import AuditEvent, Hazard, OutboxMessage
from services.engine import transitions
from services.accounts.auth import SYSTEM
from services.escalation import writer
from services.calendar.workdays import WorkCalendar
from services.kernel.clock import SHANGHAI, local_date
from services.kernel.errors import Conflict
from services.escalation.ladder import (
    DEADLINE_STATES, DEADLINE_STEPS, UNREGISTERED_STEPS, Cutoffs, LadderConfig, LadderFacts, Step, collapse, cutoffs,
    due,
)
from services.lifecycle.states import State
from services.lifecycle.table import LIFECYCLE

log = structlog.get_logger("hazard.sweep")

H = Hazard.__table__
E, O = AuditEvent.__table__, OutboxMessage.__table__
SPEC = LIFECYCLE["escalate"]

# A major hazard waiting for its listing: only `supervise` leaves `registered`, so such a row is
# registered, major and unlisted. When it was registered is the event that brought it into
# `registered` (the register action, or an import that starts the trail there); the hazard is never
# registered twice. Read only for such rows (the CASE), through the events' (hazard_id, seq) index.
_UNLISTED_MAJOR = and_(H.c.state == State.REGISTERED.value, H.c.level == "major", H.c.listing_level.is_(None))
_REGISTERED_AT = (select(func.min(E.c.occurred_at))
                  .where(E.c.hazard_id == H.c.id, E.c.to_state == State.REGISTERED.value)
                  .correlate(H).scalar_subquery())
REGISTERED_AT = case((_UNLISTED_MAJOR, _REGISTERED_AT), else_=None).label("registered_at")


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
             or_(*[and_(H.c.created_at < _day_end_utc(cut.reported[s]), _clear(s)) for s in UNREGISTERED_STEPS])),
        and_(H.c.state == State.ACCEPTANCE_REQUESTED.value,
             H.c.acceptance_requested_at < _day_end_utc(cut.review), _clear(Step.review_overdue)),
        and_(_UNLISTED_MAJOR, _clear(Step.unlisted_escalate), _REGISTERED_AT < _day_end_utc(cut.unlisted)),
    )


def due_rows(cut: Cutoffs):
    """The hazards due, with when each major hazard waiting for its listing was registered."""
    return select(H, REGISTERED_AT).where(due_condition(cut))


def facts_of(row: Any) -> LadderFacts:
    """A row of `due_rows` (or any hazard row: without `registered_at` the unlisted step is not due)."""
    registered_at = getattr(row, "registered_at", None)
    return LadderFacts(
        state=row.state, deadline=row.deadline, reported_on=local_date(row.created_at),
        acceptance_requested_on=local_date(row.acceptance_requested_at) if row.acceptance_requested_at else None,
        failed_acceptances=row.failed_acceptances, fired=row.escalation_fired,
        level=row.level, listing_level=row.listing_level,
        registered_on=local_date(registered_at) if registered_at else None,
    )


Plan = list[tuple[Step, tuple[Step, ...]]]  # the events to write: (step fired, steps it skips)


def plan_of(row: Any, cut: Cutoffs) -> Plan:
    return collapse(due(facts_of(row), cut))


def escalate_body(step: Step, skipped: tuple[Step, ...], as_of: date) -> dict[str, Any]:
    return {"step": step.name, "skipped": [s.name for s in skipped], "as_of": as_of.isoformat()}


@dataclass
class Fired:
    hazard_id: int
    code: str
    steps: list[str]  # one event each
    skipped: dict[str, list[str]] = field(default_factory=dict)  # step fired -> the lesser steps it skipped


@dataclass
class SweepReport:
    as_of: date
    dry_run: bool
    selected: int = 0
    hazards: int = 0
    events: int = 0
    by_step: dict[str, int] = field(default_factory=dict)
    skipped: int = 0  # steps marked fired without their own event (caught up by a more severe one)
    batches: int = 0
    retried: int = 0
    fired: list[Fired] = field(default_factory=list)  # kept only when asked (dry runs, tests)

    def count(self, hazard_id: int, code: str, plan: Plan, keep: bool) -> None:
        self.hazards += 1
        self.events += len(plan)
        for s, skipped in plan:
            self.by_step[s.name] = self.by_step.get(s.name, 0) + 1
            self.skipped += len(skipped)
        if keep:
            self.fired.append(Fired(hazard_id, code, [s.name for s, _ in plan],
                                    {s.name: [k.name for k in skipped] for s, skipped in plan if skipped}))

    def merge(self, part: SweepReport) -> None:
        """Add what one part of the sweep fired (the flow fires a batch's parts as task runs)."""
        self.hazards += part.hazards
        self.events += part.events
        self.skipped += part.skipped
        self.retried += part.retried
        for name, n in part.by_step.items():
            self.by_step[name] = self.by_step.get(name, 0) + n
        self.fired += part.fired


def _select_batch(session: Session, cut: Cutoffs, after_id: int, limit: int) -> list[Any]:
    q = due_rows(cut).where(H.c.id > after_id).order_by(H.c.id).limit(limit)
    return session.connection().execute(q).all()


def _fire_batch(session: Session, rows: list[Any], cut: Cutoffs, now: datetime, as_of: date,
                report: SweepReport, keep: bool) -> None:
    updates: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    outbox: list[tuple[int, list[dict[str, Any]]]] = []  # (index of the event, rows)
    planned: list[tuple[Any, Plan]] = []
    for row in rows:
        plan = plan_of(row, cut)
        if not plan:
            continue
        state = transitions.Working(row)
        for step, skipped in plan:
            decided = transitions.prepare(session, SPEC, state, SYSTEM, escalate_body(step, skipped, as_of), now=now)
            writer.check_columns(decided.values)
            events.append(decided.event)
            outbox.append((len(events) - 1, decided.outbox_rows))
            state.apply(decided)
        planned.append((row, plan))
        updates.append({"cas_id": row.id, "cas_version": row.version,
                        **writer.new_values(state)})
    if not updates:
        return
    writer.write(session.connection(), updates, events, outbox)
    for row, plan in planned:
        report.count(row.id, row.code, plan, keep)


def _fire_one(uow: UnitOfWork, hazard_id: int, cut: Cutoffs, now: datetime, as_of: date,
              report: SweepReport, keep: bool) -> None:
    """The slow path for a batch that lost a race: this hazard alone, re-read and re-decided."""
    with uow.write() as session:
        row = session.connection().execute(due_rows(cut).where(H.c.id == hazard_id)).first()
        if row is None:
            return
        done: Plan = []
        for step, skipped in plan_of(row, cut):
            try:
                transitions.perform(session, SYSTEM, hazard_id, "escalate", escalate_body(step, skipped, as_of),
                                    now=now)
                done.append((step, skipped))
            except Conflict:
                break
        if done:
            report.count(row.id, row.code, done, keep)


def due_batches(uow: UnitOfWork, cut: Cutoffs, batch_size: int) -> Iterator[list[Any]]:
    """The due rows in id order, a batch at a time, each read in its own short transaction (the
    previous batch is committed by then, so a batch never sees its own writes half done)."""
    after = 0
    while True:
        with uow.read() as session:
            rows = _select_batch(session, cut, after, batch_size)
        if not rows:
            return
        yield rows
        after = rows[-1].id


def fire(uow: UnitOfWork, rows: list[Any], cut: Cutoffs, *, now: datetime, as_of: date,
         keep_details: bool = False) -> SweepReport:
    """Fire the steps due on these rows (from `due_batches`) in one transaction; a batch that lost a
    race is redone hazard by hazard. Returns what was fired (`selected` and `batches` are the
    caller's to count)."""
    report = SweepReport(as_of=as_of, dry_run=False)
    try:
        with uow.write() as session:
            _fire_batch(session, rows, cut, now, as_of, report, keep_details)
    except writer.StaleBatch:
        report = SweepReport(as_of=as_of, dry_run=False, retried=len(rows))
        for row in rows:
            _fire_one(uow, row.id, cut, now, as_of, report, keep_details)
    return report


def fire_ids(uow: UnitOfWork, hazard_ids: list[int], cut: Cutoffs, *, now: datetime, as_of: date,
             keep_details: bool = False) -> SweepReport:
    """`fire` for hazards named by id (a Prefect task gets ids, not rows): they are read again, and
    only those still due are fired."""
    with uow.read() as session:
        rows = session.connection().execute(due_rows(cut).where(H.c.id.in_(hazard_ids)).order_by(H.c.id)).all()
    return fire(uow, rows, cut, now=now, as_of=as_of, keep_details=keep_details)


# How a sweep fires one batch of due rows: in this process by default (`fire`); the flow hands
# the batch's ids to its task runs instead.
BatchFirer = Callable[[list[Any], Cutoffs], SweepReport]


def sweep(uow: UnitOfWork, *, now: datetime, calendar: WorkCalendar, config: LadderConfig,
          as_of: date | None = None, dry_run: bool = False, batch_size: int = 1000,
          keep_details: bool = False, fire_batch: BatchFirer | None = None) -> SweepReport:
    """Fire every step due as of `as_of` (default: today in Asia/Shanghai). Events carry `now`.
    The one loop of every sweep: `hazard escalate` and the flow (which passes `fire_batch`)."""
    as_of = as_of or local_date(now)
    cut = cutoffs(as_of, calendar, config)
    report = SweepReport(as_of=as_of, dry_run=dry_run)
    for rows in due_batches(uow, cut, batch_size):
        report.selected += len(rows)
        report.batches += 1
        if dry_run:
            for row in rows:
                plan = plan_of(row, cut)
                if plan:
                    report.count(row.id, row.code, plan, True)
            continue
        if fire_batch is not None:
            report.merge(fire_batch(rows, cut))
        else:
            report.merge(fire(uow, rows, cut, now=now, as_of=as_of, keep_details=keep_details))
    log_report(report)
    return report


def log_report(report: SweepReport) -> None:
    log.info("escalation_sweep", as_of=report.as_of.isoformat(), dry_run=report.dry_run, selected=report.selected,
             hazards=report.hazards, events=report.events, skipped=report.skipped, batches=report.batches,
             retried=report.retried, by_step=report.by_step)
