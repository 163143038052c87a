"""Verifying the audit trail: every hazard's chain against itself (services/audit/chain.py), its
hazard row, the last checkpoint (services/audit/merkle.py) and the checkpoint log outside the
database (services/audit/checkpoints.py), and its events replayed against the row
(services/audit/replay.py). The report names the first bad event of each hazard. The office
records' chains are walked too, and each task list part's row (issue 14) is replayed against its
chain `assignment:<id>` like a hazard's row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic.dataclasses import dataclass as model_dataclass
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import AuditCheckpoint, AuditCheckpointHead, AuditEvent, Hazard, Organisation, PlanTask, RecordEvent
from db.models import TaskAssignment
from services.audit import records as office_records
from services.audit import replay as audit_replay
from services.audit.chain import HASHED_FIELDS, event_hash, genesis_hash
from services.audit.merkle import ZERO, checkpoint_hash, leaf_hash, merkle_root

if TYPE_CHECKING:  # the evidence module builds on this one
    from services.audit.checkpoints import Evidence

HAZARDS = Hazard.__table__


# One thing wrong, as the report and `GET /api/v1/audit/verify` name it: a pydantic dataclass (a
# read model that the checks build positionally, naming the hazard afterwards).
@model_dataclass
class Problem:
    # A chain: changed | missing | reordered | inserted | truncated | head_mismatch. The hazard row
    # against its replayed events: row_mismatch. The checkpoints and the evidence outside the
    # database (services/audit/checkpoints.py): checkpoint | signature | checkpoint_deleted |
    # checkpoint_unlogged | checkpoint_log | no_checkpoint.
    kind: str
    hazard_id: int | None
    hazard_code: str | None
    seq: int | None
    event_id: int | None
    message: str
    # An office record's chain (services/audit/records.py): its subject, e.g. `report:141102:2026-11`.
    subject: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class VerifyOut(BaseModel):  # the report as answered: its first problem and at most SHOWN of them
    ok: bool
    hazards_checked: int
    events_checked: int
    records_checked: int = 0  # office records' chains (直报, returns, 黑名单, 通报 …) and their events
    record_events_checked: int = 0
    parts_checked: int = 0  # task list parts (issue 14): each row against its chain `assignment:<id>`
    checkpoint_id: int | None
    first_bad_event: Problem | None
    problems: list[Problem]


SHOWN = 100


@dataclass
class VerifyReport:
    ok: bool = True
    hazards_checked: int = 0
    events_checked: int = 0
    records_checked: int = 0
    record_events_checked: int = 0
    parts_checked: int = 0
    checkpoint_id: int | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def out(self) -> VerifyOut:
        return VerifyOut(ok=self.ok, hazards_checked=self.hazards_checked, events_checked=self.events_checked,
                         records_checked=self.records_checked,
                         record_events_checked=self.record_events_checked, parts_checked=self.parts_checked,
                         checkpoint_id=self.checkpoint_id, first_bad_event=self.first_problem,
                         problems=self.problems[:SHOWN])

    def as_dict(self) -> dict[str, Any]:
        return self.out().model_dump()


def _recomputed(ev: Any) -> str:
    return event_hash(**{name: getattr(ev, name) for name in HASHED_FIELDS})


def _chain_problem(events: list[Any], code: str, version: int, head: str) -> Problem | None:
    """The first thing wrong with one hazard's chain (events ordered by id, as written).

    The chain is walked in seq order and the lowest bad seq is named, with the event now holding
    it. Where seq order and write (id) order first part, the event at that seq was written after
    one that now follows it: forged (`inserted`) if it is valid by itself but its successor does
    not link to it, otherwise moved (`reordered`)."""
    prev = genesis_hash(code)
    expected_seq = 1
    by_seq = sorted(events, key=lambda e: e.seq)
    moved = next((i for i, (a, b) in enumerate(zip(events, by_seq)) if a.id != b.id), None)
    for i, ev in enumerate(by_seq):
        if i == moved:
            nxt = by_seq[i + 1] if i + 1 < len(by_seq) else None
            forged = (ev.seq == expected_seq and ev.prev_hash == prev and _recomputed(ev) == ev.hash
                      and (nxt is None or nxt.prev_hash != ev.hash))
            if forged:
                return Problem("inserted", ev.hazard_id, code, ev.seq, ev.id,
                               f"第 {ev.seq} 号事件是后来插入的（写入晚于其后的事件，后一事件不指向它）")
            return Problem("reordered", ev.hazard_id, code, ev.seq, ev.id,
                           f"事件顺序被改动：第 {ev.seq} 号事件不在原位置")
        if ev.seq != expected_seq:
            kind = "missing" if ev.seq > expected_seq else "inserted"
            return Problem(kind, ev.hazard_id, code, ev.seq, ev.id,
                           f"事件序号不连续：应为 {expected_seq}，实为 {ev.seq}")
        if ev.prev_hash != prev:
            before = by_seq[i - 1] if i else None
            if before is not None and ev.prev_hash == before.prev_hash:
                # Two events claim the same predecessor: the one before this one was slipped in.
                return Problem("inserted", before.hazard_id, code, before.seq, before.id,
                               f"第 {before.seq} 号事件是后来插入的（第 {ev.seq} 号事件与它指向同一前序事件）")
            if any(later.hash == ev.prev_hash for later in by_seq[i + 1:]):
                return Problem("reordered", ev.hazard_id, code, ev.seq, ev.id,
                               f"事件顺序被改动：第 {ev.seq} 号事件不在原位置")
            if before is not None and _recomputed(ev) == ev.hash:
                # This event is intact and points at a predecessor that no longer exists as
                # written: the one before it was changed and its hash recomputed.
                return Problem("changed", before.hazard_id, code, before.seq, before.id,
                               f"第 {before.seq} 号事件内容被改动（哈希被重算，第 {ev.seq} 号事件不再指向它）")
            return Problem("missing", ev.hazard_id, code, ev.seq, ev.id,
                           f"第 {ev.seq} 号事件的前序哈希与链不符（前一事件被删除、插入或改动）")
        recomputed = _recomputed(ev)
        if recomputed != ev.hash:
            return Problem("changed", ev.hazard_id, code, ev.seq, ev.id, f"第 {ev.seq} 号事件内容被改动")
        prev = ev.hash
        expected_seq += 1
    last_seq = expected_seq - 1
    if last_seq != version or prev != head:
        hid = events[-1].hazard_id if events else None
        last = by_seq[-1] if by_seq else None
        return Problem(
            "truncated" if last_seq < version else "head_mismatch", hid, code, last_seq + 1 if last_seq < version else last_seq,
            last.id if last else None,
            f"审计链与隐患记录不符：链长 {last_seq}，隐患版本 {version}",
        )
    return None


def _iter_chains(session: Session, hazard_ids: list[int] | None, batch: int, columns: tuple[str, ...] = (),
                 ) -> Iterator[tuple[Any, list[Any]]]:
    """Yield each hazard's row (id, code, version, audit_head and `columns`) and its chain, both
    streamed, events in (hazard, id) order, to keep memory flat."""
    hz = select(*(HAZARDS.c[name] for name in ("id", "code", "version", "audit_head", *columns)))
    hz = hz.order_by(HAZARDS.c.id)
    # Plain rows, not ORM objects: nothing accumulates in the session's identity map, so memory
    # stays flat however long the trail is.
    ev = select(AuditEvent.__table__).order_by(AuditEvent.hazard_id, AuditEvent.id)
    if hazard_ids is not None:
        hz = hz.where(HAZARDS.c.id.in_(hazard_ids))
        ev = ev.where(AuditEvent.hazard_id.in_(hazard_ids))
    hazards = session.execute(hz.execution_options(yield_per=batch))
    events_iter = iter(session.execute(ev.execution_options(yield_per=batch)))
    pending = next(events_iter, None)
    for h in hazards:
        chain: list[Any] = []
        while pending is not None and pending.hazard_id < h.id:
            pending = next(events_iter, None)  # no hazard row: the foreign key forbids this
        while pending is not None and pending.hazard_id == h.id:
            chain.append(pending)
            pending = next(events_iter, None)
        yield h, chain


def verify(session: Session, *, hazard_ids: list[int] | None = None, limit_problems: int = 100,
           batch: int = 2000, evidence: Evidence | None = None, now: datetime | None = None,
           replay: bool = True) -> VerifyReport:
    """Check the checkpoints, then every chain against itself, its hazard row, the last checkpoint
    and the newest one in the checkpoint log, then replay its events against the row. Problems
    about checkpoints come first, then one per hazard in hazard order, so the first of those names
    the hazard's first bad event.

    `evidence` is what lies outside the database (the verification key, the checkpoint log, the
    checkpoint interval: `services.audit.checkpoints.evidence`); without it those checks are
    skipped. `now` enables the rule that a trail older than one interval must have a checkpoint.
    `replay=False` is for data loaded without its events (the sweep benchmark)."""
    report = VerifyReport()
    checkpoints = list(session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.id)).scalars())
    anchors = _checkpoint_anchors(session, report, hazard_ids, checkpoints)
    logged: dict[int, tuple[int, str]] = {}
    logged_id = None
    if evidence is not None:
        found = evidence.check(session, checkpoints, set(hazard_ids) if hazard_ids is not None else None, now)
        report.problems += found.problems
        logged, logged_id = found.anchors, found.checkpoint_id
    seen: set[int] = set()
    columns = audit_replay.COLUMNS if replay else ()
    for row, chain in _iter_chains(session, hazard_ids, batch, columns):
        hid, code, version = row.id, row.code, row.version
        seen.add(hid)
        report.hazards_checked += 1
        report.events_checked += len(chain)
        problem = _chain_problem(chain, code, version, row.audit_head)
        if problem is None and hid in anchors:
            problem = _anchor_problem(chain, code, version, anchors[hid], f"检查点 {report.checkpoint_id}")
        if problem is None and hid in logged:
            problem = _anchor_problem(chain, code, version, logged[hid], f"检查点日志中的检查点 {logged_id}")
        if problem is None and replay and chain:
            mismatch = audit_replay.row_mismatch(chain, row)
            if mismatch:
                problem = Problem("row_mismatch", hid, code, None, None, mismatch)
        if problem:
            problem.hazard_id = hid
            report.problems.append(problem)
            if len(report.problems) >= limit_problems:
                break
    else:
        for hid in sorted((set(anchors) | set(logged)) - seen):
            report.problems.append(
                Problem("truncated", hid, None, 1, None, "检查点记录的隐患及其审计链已不存在")
            )
    if hazard_ids is None:  # the whole trail: the office records' chains too
        report.records_checked, report.record_events_checked, found = office_records.verify(session, batch=batch)
        report.problems += [Problem(p.kind, None, None, p.seq, p.event_id, f"{p.subject}：{p.message}", p.subject)
                            for p in found[:max(0, limit_problems - len(report.problems))]]
        report.parts_checked, wrong = _verify_parts(session, batch=batch)
        report.problems += wrong[:max(0, limit_problems - len(report.problems))]
    report.ok = not report.problems
    return report


def _anchor_problem(chain: list[Any], code: str, version: int, anchor: tuple[int, str],
                    where: str) -> Problem | None:
    """The chain against a head recorded by a checkpoint (`where` names it for people)."""
    seq, digest = anchor
    if version < seq:
        return Problem("truncated", None, code, version + 1, None,
                       f"审计链被截断：{where} 时已有 {seq} 个事件，现只有 {version} 个")
    at = next((e for e in chain if e.seq == seq), None)
    if at is None or at.hash != digest:
        return Problem("changed", None, code, seq, at.id if at else None,
                       f"第 {seq} 号事件与{where} 的记录不符（链被重写）")
    return None


def _checkpoint_anchors(session: Session, report: VerifyReport, hazard_ids: list[int] | None,
                        cps: list[AuditCheckpoint]) -> dict[int, tuple[int, str]]:
    """Check the checkpoint chain and return the last checkpoint's heads: {hazard id: (seq, hash)}."""
    prev = ZERO
    for cp in cps:
        expected = checkpoint_hash(cp.created_at, cp.leaf_count, cp.merkle_root, cp.prev_hash)
        if cp.prev_hash != prev or expected != cp.hash:
            report.problems.append(Problem("checkpoint", None, None, None, None, f"检查点 {cp.id} 被改动"))
            return {}
        prev = cp.hash
    if not cps:
        return {}
    last = cps[-1]
    report.checkpoint_id = last.id
    rows = session.execute(
        select(AuditCheckpointHead.hazard_id, AuditCheckpointHead.seq, AuditCheckpointHead.hash)
        .where(AuditCheckpointHead.checkpoint_id == last.id)
        .order_by(AuditCheckpointHead.hazard_id)
    ).all()
    root = merkle_root(leaf_hash(r.hazard_id, r.seq, r.hash) for r in rows)
    if root != last.merkle_root or len(rows) != last.leaf_count:
        report.problems.append(
            Problem("checkpoint", None, None, None, None, f"检查点 {last.id} 的链头记录被改动")
        )
        return {}
    wanted = set(hazard_ids) if hazard_ids is not None else None
    return {r.hazard_id: (r.seq, r.hash) for r in rows if wanted is None or r.hazard_id in wanted}


PARTS = TaskAssignment.__table__


def _verify_parts(session: Session, *, batch: int = 2000) -> tuple[int, list[Problem]]:
    """Each task list part's row (issue 14) against its record chain `assignment:<id>` (whose hashes
    `office_records.verify` checks): version, head, state and every column its events wrote, by
    replay. A part edited by hand is a `row_mismatch` naming the part and its chain. Batches of
    parts, each with one query for their events, keep memory flat."""
    query = (select(PARTS.c.id, *(PARTS.c[name] for name in audit_replay.PART_COLUMNS), PlanTask.number, Organisation.name.label("unit"))
             .join(PlanTask, PlanTask.id == PARTS.c.task_id).join(Organisation, Organisation.id == PARTS.c.org_id)
             .order_by(PARTS.c.id))
    checked, problems, last = 0, [], 0
    while True:
        rows = session.execute(query.where(PARTS.c.id > last).limit(batch)).all()
        if not rows:
            return checked, problems
        last = rows[-1].id
        subjects = {f"assignment:{r.id}": r for r in rows}
        chains: dict[str, list[Any]] = {name: [] for name in subjects}
        for ev in session.execute(select(RecordEvent.subject, RecordEvent.seq, RecordEvent.action,
                                         RecordEvent.payload, RecordEvent.hash)
                                  .where(RecordEvent.subject.in_(list(subjects))).order_by(RecordEvent.id)):
            chains[ev.subject].append(ev)
        for subject, row in subjects.items():
            checked += 1
            name = f"任务 {row.number} {row.unit}的承担记录（{subject}）"
            mismatch = audit_replay.part_mismatch(chains[subject], row, name)
            if mismatch:
                problems.append(Problem("row_mismatch", None, None, None, None, mismatch, subject))
