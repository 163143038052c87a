"""The task ladder (issue 14, item 4): a unit's part of a published task is chased on the hazards'
working-day calendar and offsets (`services.escalation.ladder.LadderConfig`: remind −3, overdue 0,
urge +5, summon +10, publicize +20 working days from the part's deadline), and a year-long part is
reminded once a month to report its progress.

Selection: the ladder's cutoffs for the day (`calendar.latest_start`, as `ladder.cutoffs` does for
the hazards) turn "n working days after the deadline" into "deadline on or before date X", so one
query per batch over the (state, deadline) index finds the due parts, keyset-paginated on the id.
Only parts the unit still owes (assigned, acknowledged, in progress) are chased; once completion is
reported the office owes the check, and a return puts the part back on the ladder.

Firing: each step is the lifecycle's `escalate` action by `system` through
`services.tasks.engine.perform`, so role, state, the `NOT_FIRED` guard, the event on the part's
record chain and the outbox rows are the engine's. Of several deadline steps due at once (the
service was down) only the most severe fires and names the others as `skipped`
(`ladder.collapse`); their bits are set with it, so they never fire later. `publicize` (fired or
skipped) puts the part on the issuing office's 通报 list (`services.bulletins.items.propose`, kind
`overdue_task`, key `overdue_task:<part>:<deadline>`: once per part and deadline).

Progress reminder: on the working day three working days before the month's last working day (or a
later day of the month, after downtime), a year-long part with no progress reported in the month
gets `escalate` with step `progress_remind` and the month; the guard compares `progress_reminded`,
so once per month.

Batches: `batch_size` parts per transaction. Each part is re-read under its row lock before its
steps are decided, so a user's action or another sweep that got there first is seen; a part whose
firing is refused all the same (a lost compare-and-set) is rolled back to its savepoint and redone
alone in a transaction of its own after the batch. Two sweeps at once fire each step once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import structlog
from sqlalchemy import and_, false, or_, select
from sqlalchemy.orm import Session

from db.engine import UnitOfWork
from db.models import Organisation, PlanTask, TaskAssignment, TaskPlan
from services.accounts.auth import SYSTEM
from services.bulletins.items import OVERDUE_TASK, propose
from services.calendar.workdays import WorkCalendar
from services.escalation.ladder import LadderConfig, Step, collapse, configured_ladder
from services.kernel.clock import SHANGHAI, cn_date, local_date
from services.kernel.errors import Conflict
from services.tasks import engine
from services.tasks.lifecycle import TASK_STEP_LABELS, TASK_STEPS
from services.tasks.states import WORKING

log = structlog.get_logger("hazard.tasks.sweep")

A = TaskAssignment.__table__
LADDER: tuple[Step, ...] = tuple(TASK_STEPS.values())  # remind … publicize, least to most severe
WORKING_STATES = sorted(s.value for s in WORKING)
PROGRESS = "progress_remind"
PROGRESS_LEAD = 3  # working days before the month's last working day


# --- the days -------------------------------------------------------------------------------------


def last_working_day(year: int, month: int, calendar: WorkCalendar) -> date:
    day = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    while not calendar.is_working_day(day):
        day -= timedelta(days=1)
    return day


def progress_day(year: int, month: int, calendar: WorkCalendar) -> date:
    """The month's progress-reminder day: `PROGRESS_LEAD` working days before its last working day."""
    return calendar.add_working_days(last_working_day(year, month, calendar), -PROGRESS_LEAD)


def _month_start_utc(day: date) -> datetime:
    return datetime.combine(day.replace(day=1), time(0), SHANGHAI).astimezone(timezone.utc)


@dataclass(frozen=True)
class TaskCutoffs:
    """For one `today`: a deadline step is due when the deadline is on or before its cutoff; the
    progress reminder when `progress_month` is set (today is on or after the month's reminder day)."""

    today: date
    deadline: dict[Step, date]
    progress_month: str | None
    month_start: datetime  # the month's first instant (UTC): progress reported since counts


def cutoffs(today: date, calendar: WorkCalendar, config: LadderConfig) -> TaskCutoffs:
    remind_on = progress_day(today.year, today.month, calendar)
    return TaskCutoffs(
        today=today, deadline={s: calendar.latest_start(today, config.offset(s)) for s in LADDER},
        progress_month=f"{today:%Y-%m}" if today >= remind_on else None, month_start=_month_start_utc(today))


# --- selection ------------------------------------------------------------------------------------


def _clear(step: Step):
    return A.c.escalation_fired.op("&")(int(step)) == 0


def _progress_due(cut: TaskCutoffs):
    if cut.progress_month is None:
        return false()
    return and_(A.c.year_long.is_(True),
                or_(A.c.progress_reminded.is_(None), A.c.progress_reminded != cut.progress_month),
                or_(A.c.last_progress_at.is_(None), A.c.last_progress_at < cut.month_start))


def due_condition(cut: TaskCutoffs):
    """The SQL form of `plan_of` (a part it selects may still turn out not due once re-read)."""
    deadline_due = or_(*[and_(A.c.deadline <= cut.deadline[s], _clear(s)) for s in LADDER])
    return and_(A.c.state.in_(WORKING_STATES), or_(deadline_due, _progress_due(cut)))


def due_rows(cut: TaskCutoffs):
    return select(A).where(due_condition(cut))


def due_batches(uow: UnitOfWork, cut: TaskCutoffs, batch_size: int) -> Iterator[list[Any]]:
    """The due parts in id order, a batch at a time, each read in its own short transaction."""
    after = 0
    while True:
        with uow.read() as session:
            rows = session.connection().execute(
                due_rows(cut).where(A.c.id > after).order_by(A.c.id).limit(batch_size)).all()
        if not rows:
            return
        yield rows
        after = rows[-1].id


# --- deciding -------------------------------------------------------------------------------------


Plan = list[tuple[str, tuple[str, ...]]]  # (step fired, steps it skips), in order


def plan_of(part: Any, cut: TaskCutoffs) -> Plan:
    """The events due on a part today: of the deadline steps due and not fired, the most severe
    (the others skipped), then the month's progress reminder."""
    out: Plan = []
    if part.state not in WORKING_STATES:
        return out
    due = [s for s in LADDER if part.deadline <= cut.deadline[s] and not part.escalation_fired & s]
    for step, skipped in collapse(due):
        out.append((step.name, tuple(s.name for s in skipped)))
    month = cut.progress_month
    if (month is not None and part.year_long and part.progress_reminded != month
            and (part.last_progress_at is None or part.last_progress_at < cut.month_start)):
        out.append((PROGRESS, ()))
    return out


def escalate_body(step: str, skipped: tuple[str, ...], as_of: date) -> dict[str, Any]:
    body: dict[str, Any] = {"step": step, "skipped": list(skipped), "as_of": as_of.isoformat()}
    if step == PROGRESS:
        body["month"] = f"{as_of:%Y-%m}"
    return body


# --- the report -----------------------------------------------------------------------------------


@dataclass
class FiredPart:
    assignment_id: int
    steps: list[str]
    skipped: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class TaskSweepReport:
    as_of: date
    dry_run: bool = False
    selected: int = 0
    parts: int = 0
    events: int = 0
    by_step: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    batches: int = 0
    retried: int = 0
    bulletin_entries: int = 0
    fired: list[FiredPart] = field(default_factory=list)  # kept only when asked (dry runs, tests)

    def count(self, part_id: int, plan: Plan, keep: bool) -> None:
        self.parts += 1
        self.events += len(plan)
        for step, skipped in plan:
            self.by_step[step] = self.by_step.get(step, 0) + 1
            self.skipped += len(skipped)
        if keep:
            self.fired.append(FiredPart(part_id, [s for s, _ in plan], {s: list(k) for s, k in plan if k}))

    def merge(self, other: TaskSweepReport) -> None:
        self.parts += other.parts
        self.events += other.events
        self.skipped += other.skipped
        self.retried += other.retried
        self.bulletin_entries += other.bulletin_entries
        for name, n in other.by_step.items():
            self.by_step[name] = self.by_step.get(name, 0) + n
        self.fired += other.fired

    def counts(self) -> dict[str, int]:
        return {"selected": self.selected, "parts": self.parts, "events": self.events, "skipped": self.skipped,
                "retried": self.retried, "bulletin_entries": self.bulletin_entries,
                **{f"step_{k}": v for k, v in sorted(self.by_step.items())}}


# --- firing ---------------------------------------------------------------------------------------


def bulletin_key(part: Any) -> str:
    return f"{OVERDUE_TASK}:{part.id}:{part.deadline.isoformat()}"


def _reason(session: Session, part: Any, as_of: date, calendar: WorkCalendar) -> str:
    """任务编号「标题」：完成时限、逾期工作日数；承担单位；任务清单: what the 通报 names."""
    task, plan_title, unit = session.execute(
        select(PlanTask, TaskPlan.title, Organisation.name).join(TaskPlan, TaskPlan.id == PlanTask.plan_id)
        .join(Organisation, Organisation.id == part.org_id).where(PlanTask.id == part.task_id)).one()
    days = max(calendar.working_days_between(part.deadline, as_of), 0)
    number = f"任务{task.number}" if task.number else "任务"
    return (f"{number}「{task.title}」：完成时限{cn_date(part.deadline)}，截至{cn_date(as_of)}逾期{days}个工作日未完成；"
            f"承担单位：{unit or part.unit_name}（{part.role}）；任务清单：{plan_title}")


def _publicize(session: Session, part: Any, as_of: date, calendar: WorkCalendar, now: datetime) -> bool:
    return propose(session, key=bulletin_key(part), region_code=part.issuer_region_code, month=f"{as_of:%Y-%m}",
                   kind=OVERDUE_TASK, reason=_reason(session, part, as_of, calendar), now=now)


def _fire_part(session: Session, part_id: int, cut: TaskCutoffs, calendar: WorkCalendar, now: datetime,
               report: TaskSweepReport, keep: bool) -> None:
    """Re-read the part under its row lock, decide its plan from the fresh facts, fire it."""
    part = engine.load(session, SYSTEM, part_id, lock=True)
    plan = plan_of(part, cut)
    if not plan:
        return
    for step, skipped in plan:
        engine.perform(session, SYSTEM, part.id, "escalate", escalate_body(step, skipped, cut.today), now=now)
        if "publicize" in (step, *skipped):
            if _publicize(session, part, cut.today, calendar, now):
                report.bulletin_entries += 1
    report.count(part.id, plan, keep)


def fire(uow: UnitOfWork, part_ids: list[int], cut: TaskCutoffs, calendar: WorkCalendar, *, now: datetime,
         keep_details: bool = False) -> TaskSweepReport:
    """Fire the steps due on these parts in one transaction, each in a savepoint; a part refused
    there (lost a race) is redone alone afterwards. Counted once committed."""
    report = TaskSweepReport(as_of=cut.today)
    again: list[int] = []
    with uow.write() as session:
        for part_id in part_ids:
            mine = TaskSweepReport(as_of=cut.today)
            try:
                with session.begin_nested():
                    _fire_part(session, part_id, cut, calendar, now, mine, keep_details)
            except Conflict:
                again.append(part_id)
                continue
            report.merge(mine)
    for part_id in again:
        mine = TaskSweepReport(as_of=cut.today, retried=1)
        try:
            with uow.write() as session:
                _fire_part(session, part_id, cut, calendar, now, mine, keep_details)
        except Conflict:  # refused again: what it was due for has been done by someone else
            mine = TaskSweepReport(as_of=cut.today, retried=1)
        report.merge(mine)
    return report


def sweep(uow: UnitOfWork, *, now: datetime, calendar: WorkCalendar, config: LadderConfig | None = None,
          as_of: date | None = None, dry_run: bool = False, batch_size: int = 200,
          keep_details: bool = False) -> TaskSweepReport:
    """Fire every task step due as of `as_of` (default: today in Asia/Shanghai); events carry `now`."""
    as_of = as_of or local_date(now)
    cut = cutoffs(as_of, calendar, config or configured_ladder())
    report = TaskSweepReport(as_of=as_of, dry_run=dry_run)
    for rows in due_batches(uow, cut, batch_size):
        report.selected += len(rows)
        report.batches += 1
        if dry_run:
            for row in rows:
                plan = plan_of(row, cut)
                if plan:
                    report.count(row.id, plan, True)
            continue
        report.merge(fire(uow, [r.id for r in rows], cut, calendar, now=now, keep_details=keep_details))
    log.info("task_sweep", as_of=as_of.isoformat(), dry_run=dry_run, selected=report.selected, parts=report.parts,
             events=report.events, skipped=report.skipped, batches=report.batches, retried=report.retried,
             bulletin_entries=report.bulletin_entries, by_step=report.by_step)
    return report


def step_label(step: str, skipped: list[str] | tuple[str, ...] = ()) -> str:
    label = TASK_STEP_LABELS.get(step, step)
    names = [TASK_STEP_LABELS.get(s, s) for s in skipped]
    return f"{label}（已跳过：{'、'.join(names)}）" if names else label
