"""The mirror's stream: take the queued items, write what each must show through a `Sink` (Prefect,
in `flows/mirror.py`), and keep each item's marker, in short transactions around the writing, never
one held across it (a SQLite database stays free for the people using the service meanwhile).

What must hold:
- Exactly once. An item's marker (`mirror_items`) says how far its run shows its chain and its
  notifications; only what lies beyond is written. Before writing, the batch's markers are flagged
  `writing` (committed); after, the markers move and the flag is cleared. A pass that dies between
  leaves the flag set, and the next pass tells the sink to read back what reached Prefect first.
- Never lost. A queue row is deleted only with the marker that covers it; an item that Prefect
  refused keeps its rows and is tried again after a backoff, so Prefect being away only delays.
- One writer. A lease (`mirror_lease`) lets one pass or resync write at a time.
- Its own stream. Nothing here touches the outbox, so notifications and documents never wait on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from db.engine import UnitOfWork
from db.models import Hazard, MirrorItem, MirrorLease, MirrorQueue, TaskAssignment
from services.kernel.clock import utcnow
from services.mirror import snapshots
from services.mirror.render import Artifact, ItemOps, Marker, artifact_of, plan

LEASE = "prefect"
LEASE_SECONDS = 120
ROWS_PER_PASS = 5000
ITEMS_PER_PASS = 500
MAX_BACKOFF_SECONDS = 600
Q, M = MirrorQueue.__table__, MirrorItem.__table__


@dataclass
class Outcome:
    """What the sink did for one item: its run's id, or why it could not (the item is tried again);
    `missing`: the run it was told of no longer exists in Prefect, so the item is shown afresh."""

    flow_run_id: str | None
    error: str | None = None
    missing: bool = False


class Sink(Protocol):
    def write(self, ops: list[ItemOps]) -> dict[str, Outcome]: ...

    def write_artifacts(self, artifacts: list[Artifact]) -> set[str]:
        """Returns the items whose artifact was written."""
        ...


@dataclass
class PassReport:
    items: int = 0
    transitions: int = 0
    lines: int = 0
    failed: int = 0
    artifacts: int = 0
    errors: list[str] = field(default_factory=list)

    def merge(self, other: PassReport) -> None:
        self.artifacts += other.artifacts
        self.items += other.items
        self.transitions += other.transitions
        self.lines += other.lines
        self.failed += other.failed
        self.errors += other.errors[:5]


def acquire(uow: UnitOfWork, holder: str, now: datetime | None = None) -> bool:
    """Take or renew the lease; False while another holder's lease runs."""
    now = now or utcnow()
    until = now + timedelta(seconds=LEASE_SECONDS)
    L = MirrorLease.__table__
    with uow.write() as session:
        taken = session.execute(update(L).where(L.c.name == LEASE, (L.c.holder == holder) | (L.c.until < now))
                                .values(holder=holder, until=until)).rowcount
        if taken:
            return True
        if session.execute(select(L.c.name).where(L.c.name == LEASE)).first() is None:
            session.execute(insert(L).values(name=LEASE, holder=holder, until=until))
            return True
    return False


def release(uow: UnitOfWork, holder: str) -> None:
    L = MirrorLease.__table__
    with uow.write() as session:
        session.execute(delete(L).where(L.c.name == LEASE, L.c.holder == holder))


def new_holder() -> str:
    return uuid.uuid4().hex


def _markers(session: Session, items: Iterable[str]) -> dict[str, Marker]:
    rows = session.execute(select(M).where(M.c.item.in_(list(items)))).all()
    return {r.item: Marker(r.flow_run_id, r.seq, r.delivery_id, r.state, r.tags, r.writing) for r in rows}


def _take(session: Session, now: datetime) -> tuple[list[str], int]:
    """The oldest queued items not waiting out a backoff (at most `ITEMS_PER_PASS`), and the last
    queue id read: rows after it arrived later and wait for the next pass."""
    rows = session.execute(
        select(Q.c.id, Q.c.item).outerjoin(M, M.c.item == Q.c.item)
        .where((M.c.retry_at.is_(None)) | (M.c.retry_at <= now)).order_by(Q.c.id).limit(ROWS_PER_PASS)).all()
    items: dict[str, None] = {}
    last = 0
    for row in rows:
        if row.item not in items and len(items) >= ITEMS_PER_PASS:
            break
        items[row.item] = None
        last = row.id
    return list(items), last


def run_pass(uow: UnitOfWork, sink: Sink, *, now: datetime | None = None) -> PassReport:
    """One batch: take, flag, read, write, record. The caller holds the lease."""
    now = now or utcnow()
    with uow.write() as session:
        items, last = _take(session, now)
        if not items:
            return PassReport()
        known = _markers(session, items)
        fresh = [i for i in items if i not in known]
        if fresh:
            session.execute(insert(M), [{"item": i, "seq": 0, "delivery_id": 0, "writing": True} for i in fresh])
        session.execute(update(M).where(M.c.item.in_(items)).values(writing=True))
    with uow.read() as session:
        snaps = snapshots.read(session, items, known)
    ops = [plan(snaps[i], known.get(i, Marker())) for i in items if i in snaps]
    ops = [op for op in ops if op.flow_run_id is None or op.states or op.logs or op.retag or op.resume]
    outcomes = sink.write(ops) if ops else {}
    report = PassReport(items=len(items))
    later = utcnow()
    with uow.write() as session:
        done = [i for i in items if i not in snaps]  # gone from the database: nothing to show
        for op in ops:
            out = outcomes.get(op.item) or Outcome(None, error="未写入")
            if out.error is None:
                a = op.after
                session.execute(update(M).where(M.c.item == op.item).values(
                    flow_run_id=out.flow_run_id, seq=a.seq, delivery_id=a.delivery_id, state=a.state, tags=a.tags,
                    writing=False, failures=0, last_error=None, retry_at=None, updated_at=later, artifact_due=True))
                done.append(op.item)
                report.transitions += op.transitions
                report.lines += len(op.logs)
            elif out.missing:  # shown afresh by the next drain; its queue rows stay
                session.execute(update(M).where(M.c.item == op.item).values(
                    flow_run_id=None, seq=0, delivery_id=0, state=None, tags=None, writing=False, updated_at=later))
                report.failed += 1
                report.errors.append(f"{op.item}: 流程已不在 Prefect 中，下次重建")
            else:
                failures = session.execute(select(M.c.failures).where(M.c.item == op.item)).scalar_one() + 1
                backoff = min(MAX_BACKOFF_SECONDS, 2 ** min(failures, 10))
                session.execute(update(M).where(M.c.item == op.item).values(
                    failures=failures, last_error=out.error[:2000], retry_at=later + timedelta(seconds=backoff),
                    updated_at=later))
                report.failed += 1
                report.errors.append(f"{op.item}: {out.error[:200]}")
        planned = {op.item for op in ops}
        quiet = [i for i in items if i in snaps and i not in planned]  # nothing new (already shown)
        if quiet:
            session.execute(update(M).where(M.c.item.in_(quiet)).values(writing=False))
        done += quiet
        if done:
            session.execute(delete(Q).where(Q.c.item.in_(done), Q.c.id <= last))
    return report


def refresh_artifacts(uow: UnitOfWork, sink: Sink) -> int:
    """Write the artifacts of items whose run has caught up and that nothing queued is about to
    change again (at most `ITEMS_PER_PASS`); returns how many were written. An item acted on
    meanwhile stays due: the flag is cleared only if its marker is still at the length shown."""
    with uow.read() as session:
        rows = session.execute(select(M.c.item, M.c.flow_run_id).where(
            M.c.artifact_due.is_(True), M.c.flow_run_id.is_not(None), M.c.writing.is_(False),
            ~M.c.item.in_(select(Q.c.item))).order_by(M.c.item).limit(ITEMS_PER_PASS)).all()
        if not rows:
            return 0
        snaps = snapshots.read(session, [r.item for r in rows], None)
    artifacts = [artifact_of(snaps[r.item], r.flow_run_id) for r in rows if r.item in snaps]
    written = sink.write_artifacts(artifacts) if artifacts else set()
    with uow.write() as session:
        gone = [r.item for r in rows if r.item not in snaps]
        if gone:
            session.execute(update(M).where(M.c.item.in_(gone)).values(artifact_due=False))
        for a in artifacts:
            if a.item in written:
                session.execute(update(M).where(M.c.item == a.item, M.c.seq == a.seq).values(artifact_due=False))
    if artifacts and not written:
        raise RuntimeError("Prefect 未接受任何产物（artifact）")
    return len(written)


def _idle(uow: UnitOfWork) -> bool:
    with uow.read() as session:
        queued = session.execute(select(Q.c.id).limit(1)).first()
        due = session.execute(select(M.c.item).where(M.c.artifact_due.is_(True), M.c.flow_run_id.is_not(None))
                              .limit(1)).first()
    return queued is None and due is None


def drain(uow: UnitOfWork, sink: Sink, *, max_passes: int = 10_000, should_go=lambda: True) -> PassReport:
    """Passes until nothing is queued, then the artifacts of the items shown; stops early when a
    pass makes no progress (every item failing) or `should_go` says so. Takes and keeps renewing
    the lease; returns at once if another mirror holds it."""
    holder, total = new_holder(), PassReport()
    if _idle(uow):  # a read, so an idle mirror looking every few seconds takes no write lock
        return total
    if not acquire(uow, holder):
        total.errors.append("另一个镜像进程正在写入（租约未到期）")
        return total
    try:
        for _ in range(max_passes):
            if not should_go() or not acquire(uow, holder):
                return total
            report = run_pass(uow, sink)
            total.merge(report)
            if report.items == 0:
                break
            if report.failed == report.items:
                return total
        while should_go() and acquire(uow, holder):
            try:
                written = refresh_artifacts(uow, sink)
            except Exception as exc:  # noqa: BLE001 - Prefect away: the artifacts wait for the next drain
                total.errors.append(f"产物写入失败：{exc!r}"[:300])
                break
            total.artifacts += written
            if written == 0:
                break
    finally:
        release(uow, holder)
    return total


def enqueue_all(uow: UnitOfWork, *, code: str | None = None) -> list[str]:
    """Reset the markers of every item (or the one with this code: a hazard's code or `task-<id>`)
    and queue it, so the next passes rebuild its run from the first event of its chain; the run
    Prefect holds for it is replaced (`flows/mirror.py` deletes it on seeing it again)."""
    with uow.write() as session:
        if code is None:
            items = [snapshots.hazard_item(i) for i in session.execute(select(Hazard.id).order_by(Hazard.id)).scalars()]
            items += [snapshots.part_item(i) for i in
                      session.execute(select(TaskAssignment.id).order_by(TaskAssignment.id)).scalars()]
        elif code.startswith("task-") and code[5:].isdigit():
            found = session.get(TaskAssignment, int(code[5:]))
            items = [snapshots.part_item(found.id)] if found is not None else []
        else:
            hazard_id = session.execute(select(Hazard.id).where(Hazard.code == code)).scalar_one_or_none()
            items = [snapshots.hazard_item(hazard_id)] if hazard_id is not None else []
        if not items:
            return []
        for i in range(0, len(items), 500):
            chunk = items[i:i + 500]
            session.execute(update(M).where(M.c.item.in_(chunk)).values(
                flow_run_id=None, seq=0, delivery_id=0, state=None, tags=None, writing=False, failures=0,
                last_error=None, retry_at=None))
            session.execute(insert(Q), [{"item": item} for item in chunk])
    return items


@dataclass
class Status:
    queued_rows: int
    queued_items: int
    items: int
    failing: list[tuple[str, int, str]]
    failing_items: int = 0


def read_status(session: Session) -> Status:
    """What waits to be shown, how many items have a run, and the items Prefect keeps refusing
    (`hazard prefect status`, `/metrics`)."""
    rows = session.execute(select(func.count()).select_from(Q)).scalar_one()
    queued = session.execute(select(func.count(func.distinct(Q.c.item)))).scalar_one()
    items = session.execute(select(func.count()).select_from(M).where(M.c.flow_run_id.is_not(None))).scalar_one()
    failing_items = session.execute(select(func.count()).select_from(M).where(M.c.failures > 0)).scalar_one()
    failing = [(r.item, r.failures, r.last_error or "") for r in session.execute(
        select(M.c.item, M.c.failures, M.c.last_error).where(M.c.failures > 0).order_by(M.c.item).limit(20))]
    return Status(rows, queued, items, failing, failing_items)


def status(uow: UnitOfWork) -> Status:
    with uow.read() as session:
        return read_status(session)
