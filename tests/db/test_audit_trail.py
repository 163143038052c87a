"""The audit trail against an attacker with database access (DESIGN 3; services/audit/chain.py).

Every test builds several hazards whose chains are written through the real transaction path
(`creation.report` / `transitions.perform`), advanced round-robin so their events interleave in
`audit_events` the way they do in production. It then tampers with the tables the way someone
holding database credentials would (plain SQL on a separate connection, never through the
service), and checks that `audit_verification.verify` is no longer ok and that its FIRST problem names the
first bad event: hazard id and code, `seq`, event id and kind.

"First bad event" means the lowest `seq` of the earliest hazard (by id) at which the stored trail
stops being the one that was written; `event_id` is the row that now holds that `seq` (None when
that event no longer exists). Two kinds of tampering cannot be pinned further than the evidence
allows, and the tests say so where they occur: a deleted event is named by the event that follows
the gap, and a chain rewritten consistently (every hash recomputed) is only caught by a checkpoint,
which stores chain heads, so it names the event at the checkpointed head.

On PostgreSQL the trigger `audit_events_append_only` refuses UPDATE and DELETE, so the attacker
first bypasses it as someone with DDL (or superuser) rights would: `ALTER TABLE ... DISABLE
TRIGGER` or `SET LOCAL session_replication_role = replica`, inside the tampering transaction, and
the trigger is checked to be active again afterwards. SQLite has no such trigger.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from db.engine import read_only, transaction
from db.models import AuditCheckpoint, AuditCheckpointHead, AuditEvent, Hazard, OutboxMessage
from services.audit import (
    chain as audit, merkle as audit_merkle, verification as audit_verification,
)
from services.engine import transitions
from services.kernel.clock import local_date
from tests.helpers import add_attachment, body_for, drive, new_hazard

TRIGGER = "audit_events_append_only"
APPEND_ONLY = ("audit_events", "audit_checkpoints", "audit_checkpoint_heads")
EV = AuditEvent.__table__
HZ = Hazard.__table__
CP = AuditCheckpoint.__table__
CPH = AuditCheckpointHead.__table__
OUTBOX = OutboxMessage.__table__

# After `report`: six events per hazard, some with outbox rows pointing at them, some without.
STEPS = [
    ("register", "inspector"),
    ("file_plan", "ent_coal"),
    ("report_progress", "ent_coal"),
    ("comment", "inspector"),
    ("request_acceptance", "ent_coal"),
]
EVENTS_PER_HAZARD = 1 + len(STEPS)
HASHED = ("hazard_id", "seq", "action", "actor_id", "actor_role", "actor_name", "from_state",
          "to_state", "payload", "occurred_at", "prev_hash")
CONTENT = HASHED[1:] + ("hash",)  # everything of an event but its id and hazard


# --- building chains ------------------------------------------------------------------------------


def build_chains(factory: sessionmaker[Session], world, clock, n: int = 3) -> list[int]:
    """`n` hazards with six events each, interleaved: hazard 1's events are not contiguous ids."""
    ids = []
    for _ in range(n):
        clock.advance(minutes=1)
        ids.append(new_hazard(factory, world, clock()))
    for action, actor in STEPS:
        for hid in ids:
            clock.advance(minutes=1)
            evidence = [add_attachment(factory, hid, clock())] if action == "request_acceptance" else None
            body = body_for(action, today=local_date(clock()), level="general",
                            uscc=world.enterprises["coal"], evidence=evidence)
            with transaction(factory) as s:
                transitions.perform(s, world.p(actor), hid, action, body, now=clock())
    return ids


@dataclass
class Chains:
    engine: Engine
    factory: sessionmaker[Session]
    ids: list[int]

    def code(self, hid: int) -> str:
        with self.engine.connect() as conn:
            return conn.execute(select(HZ.c.code).where(HZ.c.id == hid)).scalar_one()

    def events(self, hid: int) -> list[Any]:
        """The hazard's stored events, by seq (rows of audit_events)."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(EV).where(EV.c.hazard_id == hid).order_by(EV.c.seq)))

    def event(self, hid: int, seq: int) -> Any:
        return next(e for e in self.events(hid) if e.seq == seq)

    def verify(self, **kw: Any) -> audit_verification.VerifyReport:
        with read_only(self.factory) as s:
            return audit_verification.verify(s, **kw)

    def checkpoint(self, clock) -> int:
        with transaction(self.factory) as s:
            return audit_merkle.create_checkpoint(s, now=clock()).id


@pytest.fixture
def chains(engine, factory, world, clock) -> Chains:
    c = Chains(engine, factory, build_chains(factory, world, clock))
    report = c.verify()
    assert report.ok, report.as_dict()
    return c


# --- the attacker ---------------------------------------------------------------------------------


def trigger_enabled(engine: Engine) -> bool:
    with engine.connect() as conn:
        state = conn.execute(
            text("SELECT tgenabled FROM pg_trigger WHERE tgname = :n AND NOT tgisinternal"),
            {"n": TRIGGER},
        ).scalar_one()
        role = conn.execute(text("SHOW session_replication_role")).scalar_one()
    return state == "O" and role == "origin"


@contextmanager
def attacker(engine: Engine, bypass: str = "disable_trigger") -> Iterator[Connection]:
    """One transaction of someone writing to the database directly, bypassing the service.

    On PostgreSQL the append-only trigger is bypassed for this transaction only and is active
    again once it commits (or rolls back)."""
    pg = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        if pg and bypass == "disable_trigger":
            for table in APPEND_ONLY:
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        elif pg and bypass == "replica":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        yield conn
        if pg and bypass == "disable_trigger":
            for table in APPEND_ONLY:
                conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
    if pg:
        assert trigger_enabled(engine), "the append-only trigger was not restored"


def content(row: Any, *, keep_seq: bool = False) -> dict[str, Any]:
    cols = [c for c in CONTENT if not (keep_seq and c == "seq")]
    return {c: getattr(row, c) for c in cols}


def rehash(values: dict[str, Any]) -> str:
    return audit.event_hash(**{k: values[k] for k in HASHED})


def drop_events(conn: Connection, event_ids: list[int]) -> None:
    """Delete events, first unhooking the outbox rows that reference them (the foreign key)."""
    conn.execute(update(OUTBOX).where(OUTBOX.c.event_id.in_(event_ids)).values(event_id=None))
    conn.execute(delete(EV).where(EV.c.id.in_(event_ids)))


def rewrite_from(conn: Connection, rows: list[Any], start: int, change: dict[str, Any]) -> str:
    """Apply `change` to the event at seq `start` and recompute every hash from there on, so the
    chain is consistent again; returns the new head hash."""
    prev = next(r.hash for r in rows if r.seq == start - 1) if start > 1 else None
    for r in rows:
        if r.seq < start:
            continue
        values = {c: getattr(r, c) for c in HASHED}
        if r.seq == start:
            values.update(change)
        if prev is not None:
            values["prev_hash"] = prev
        values["hash"] = prev = rehash(values)
        conn.execute(update(EV).where(EV.c.id == r.id).values(**values))
    assert prev is not None
    return prev


def assert_first(report: audit_verification.VerifyReport, *, kind: str, hazard_id: int | None,
                 code: str | None, seq: int | None, event_id: int | None) -> audit_verification.Problem:
    assert not report.ok
    first = report.first_problem
    assert first is not None
    got = (first.kind, first.hazard_id, first.hazard_code, first.seq, first.event_id)
    assert got == (kind, hazard_id, code, seq, event_id), report.as_dict()
    assert report.as_dict()["first_bad_event"] == first.as_dict()
    return first


# --- intact ---------------------------------------------------------------------------------------


def test_intact_chains_verify_ok(chains, clock):
    report = chains.verify()
    assert report.ok and not report.problems and report.first_problem is None
    assert report.hazards_checked == 3
    assert report.events_checked == 3 * EVENTS_PER_HAZARD
    for hid in chains.ids:
        rows = chains.events(hid)
        assert [r.seq for r in rows] == list(range(1, EVENTS_PER_HAZARD + 1))
        assert rows[0].prev_hash == audit.genesis_hash(chains.code(hid))
        assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:]))
    # The chains interleave in the table, so "in id order" is not the same as "contiguous ids".
    first_rows = chains.events(chains.ids[0])
    assert first_rows[1].id - first_rows[0].id > 1

    cp = chains.checkpoint(clock)
    report = chains.verify()
    assert report.ok, report.as_dict()
    assert report.checkpoint_id == cp


# --- (a) a changed event --------------------------------------------------------------------------


def _changed_value(field: str, row: Any, world) -> Any:
    if field == "payload":
        body = json.loads(row.payload)
        body["body"]["responsible_person"] = "李四"
        return audit.canonical(body)
    if field == "actor_id":
        return world.p("inspector2").id
    if field == "actor_name":
        return "inspector2"
    if field == "occurred_at":
        return row.occurred_at.replace(microsecond=1)
    raise AssertionError(field)


@pytest.mark.parametrize("field", ["payload", "actor_id", "actor_name", "occurred_at"])
def test_changed_event_is_named(chains, world, field):
    hid = chains.ids[1]
    target = chains.event(hid, 3)  # file_plan
    assert target.action == "file_plan"
    new = _changed_value(field, target, world)
    with attacker(chains.engine) as conn:
        conn.execute(update(EV).where(EV.c.id == target.id).values({field: new}))
    assert getattr(chains.event(hid, 3), field) == new
    assert_first(chains.verify(), kind="changed", hazard_id=hid, code=chains.code(hid), seq=3,
                 event_id=target.id)


def test_changed_event_with_its_hash_recomputed_is_named(chains):
    """The attacker changes seq 3 and recomputes its hash so the row looks valid by itself: the
    next event's `prev_hash` still points at the original, so seq 3 is named, not seq 4."""
    hid = chains.ids[1]
    target = chains.event(hid, 3)
    values = {c: getattr(target, c) for c in HASHED}
    values["actor_name"] = "someone else"
    with attacker(chains.engine) as conn:
        conn.execute(update(EV).where(EV.c.id == target.id)
                     .values(actor_name="someone else", hash=rehash(values)))
    assert_first(chains.verify(), kind="changed", hazard_id=hid, code=chains.code(hid), seq=3,
                 event_id=target.id)


def test_postgresql_refuses_the_tampering_without_the_bypass(chains, backend):
    """Without bypassing the trigger the same UPDATE fails on PostgreSQL (SQLite has no trigger),
    and the chain is untouched."""
    if backend == "sqlite":
        return  # nothing to refuse on SQLite: there is no trigger there (see test_audit_trigger)
    target = chains.event(chains.ids[1], 3)
    with pytest.raises(DBAPIError, match="append-only"):
        with chains.engine.begin() as conn:
            conn.execute(update(EV).where(EV.c.id == target.id).values(actor_name="x"))
    assert chains.event(chains.ids[1], 3).actor_name == target.actor_name
    assert chains.verify().ok


# --- (b) a deleted event --------------------------------------------------------------------------


@pytest.mark.parametrize("bypass", ["disable_trigger", "replica"])
def test_deleted_event_is_named_by_the_event_after_the_gap(chains, bypass):
    """seq 3 is gone: the first bad event still stored is seq 4, whose predecessor is missing."""
    hid = chains.ids[1]
    gone, after = chains.event(hid, 3), chains.event(hid, 4)
    with attacker(chains.engine, bypass) as conn:
        drop_events(conn, [gone.id])
    assert [e.seq for e in chains.events(hid)] == [1, 2, 4, 5, 6]
    first = assert_first(chains.verify(), kind="missing", hazard_id=hid, code=chains.code(hid),
                         seq=4, event_id=after.id)
    assert "应为 3" in first.message


def test_deleted_event_with_later_seqs_renumbered_is_found(chains):
    """The attacker closes the gap (seq 4..6 become 3..5) and fixes the hazard's version: the
    event now at seq 3 does not link to seq 2."""
    hid = chains.ids[1]
    rows = chains.events(hid)
    with attacker(chains.engine) as conn:
        drop_events(conn, [rows[2].id])
        for r in rows[3:]:
            conn.execute(update(EV).where(EV.c.id == r.id).values(seq=r.seq - 1))
        conn.execute(update(HZ).where(HZ.c.id == hid).values(version=EVENTS_PER_HAZARD - 1))
    assert_first(chains.verify(), kind="missing", hazard_id=hid, code=chains.code(hid), seq=3,
                 event_id=rows[3].id)


# --- (c) reordered events -------------------------------------------------------------------------


def _swap_seq(conn: Connection, a: Any, b: Any) -> None:
    conn.execute(update(EV).where(EV.c.id == a.id).values(seq=-1))  # (hazard_id, seq) is unique
    conn.execute(update(EV).where(EV.c.id == b.id).values(seq=a.seq))
    conn.execute(update(EV).where(EV.c.id == a.id).values(seq=b.seq))


def _swap_contents(conn: Connection, a: Any, b: Any) -> None:
    conn.execute(update(EV).where(EV.c.id == a.id).values(seq=-1))
    conn.execute(update(EV).where(EV.c.id == b.id).values(**content(a)))
    conn.execute(update(EV).where(EV.c.id == a.id).values(**content(b)))


def _swap_contents_keep_seq(conn: Connection, a: Any, b: Any) -> None:
    conn.execute(update(EV).where(EV.c.id == a.id).values(**content(b, keep_seq=True)))
    conn.execute(update(EV).where(EV.c.id == b.id).values(**content(a, keep_seq=True)))


@pytest.mark.parametrize("how", ["swap_seq", "swap_contents", "swap_contents_keep_seq"])
def test_reordered_events_are_named(chains, how):
    """Events 3 and 4 trade places: their seq numbers, their whole contents (each event stays
    valid and linked, only which row holds which event, i.e. write order, gives it away), or
    everything but seq. The event now at seq 3 is named."""
    hid = chains.ids[1]
    a, b = chains.event(hid, 3), chains.event(hid, 4)
    swap = {"swap_seq": _swap_seq, "swap_contents": _swap_contents,
            "swap_contents_keep_seq": _swap_contents_keep_seq}[how]
    with attacker(chains.engine) as conn:
        swap(conn, a, b)
    now_at_3 = chains.event(hid, 3)
    # Read by seq the whole-contents swap leaves the story intact; the others put seq 4's first.
    assert now_at_3.action == ("file_plan" if how == "swap_contents" else "report_progress")
    assert now_at_3.id == (a.id if how == "swap_contents_keep_seq" else b.id)
    assert_first(chains.verify(), kind="reordered", hazard_id=hid, code=chains.code(hid), seq=3,
                 event_id=now_at_3.id)


# --- (d) an inserted event ------------------------------------------------------------------------


def _forged(chains: Chains, world, hid: int, seq: int, prev: Any) -> dict[str, Any]:
    """A plausible event at `seq`, linked to `prev` with a correct hash: valid by itself."""
    return audit.build_event(
        hazard_id=hid, seq=seq, prev_hash=prev.hash, action="comment",
        actor_id=world.p("inspector").id, actor_role="inspector", actor_name="inspector",
        from_state=prev.to_state, to_state=prev.to_state,
        payload={"body": {"text": "企业已于当日完成整改"}, "changes": {}},
        occurred_at=prev.occurred_at,
    )


def test_inserted_event_is_named(chains, world):
    """A forged event goes in at seq 3 (later seqs renumbered, the hazard's version bumped): it
    is the one named, although its own hash is correct."""
    hid = chains.ids[1]
    rows = chains.events(hid)
    forged = _forged(chains, world, hid, 3, rows[1])
    assert forged["hash"] == rehash(forged)
    with attacker(chains.engine) as conn:
        for r in reversed(rows[2:]):
            conn.execute(update(EV).where(EV.c.id == r.id).values(seq=r.seq + 1))
        forged_id = conn.execute(insert(EV).values(**forged).returning(EV.c.id)).scalar_one()
        conn.execute(update(HZ).where(HZ.c.id == hid).values(version=EVENTS_PER_HAZARD + 1))
    assert chains.event(hid, 3).id == forged_id
    assert_first(chains.verify(), kind="inserted", hazard_id=hid, code=chains.code(hid), seq=3,
                 event_id=forged_id)


def test_inserted_event_with_ids_kept_in_order_is_named(chains, world):
    """A careful attacker keeps ids in seq order: every event from seq 3 on moves one row down
    (the last into a new row) and the forged event takes seq 3's row. Two events now claim seq 2
    as their predecessor; the forged one, in the row that held seq 3, is named."""
    hid = chains.ids[1]
    rows = chains.events(hid)
    forged = _forged(chains, world, hid, 3, rows[1])
    with attacker(chains.engine) as conn:
        last = rows[-1]
        conn.execute(update(EV).where(EV.c.id == last.id).values(seq=-1))
        conn.execute(insert(EV).values(hazard_id=hid, **{**content(last), "seq": last.seq + 1}))
        for src, dst in reversed(list(zip(rows[2:-1], rows[3:]))):
            conn.execute(update(EV).where(EV.c.id == dst.id).values(**{**content(src), "seq": dst.seq}))
        conn.execute(update(EV).where(EV.c.id == rows[2].id).values(**content_of(forged)))
        conn.execute(update(HZ).where(HZ.c.id == hid).values(version=EVENTS_PER_HAZARD + 1))
    stored = chains.events(hid)
    assert [e.id for e in stored] == sorted(e.id for e in stored)  # no id out of order
    assert stored[2].hash == forged["hash"]
    assert_first(chains.verify(), kind="inserted", hazard_id=hid, code=chains.code(hid), seq=3,
                 event_id=rows[2].id)


def content_of(values: dict[str, Any]) -> dict[str, Any]:
    return {c: values[c] for c in CONTENT}


# --- (e) a truncated chain ------------------------------------------------------------------------


def _truncate(conn: Connection, rows: list[Any], keep: int) -> None:
    """Delete every event after `keep` and make the hazard row agree (version, audit_head)."""
    drop_events(conn, [r.id for r in rows[keep:]])
    conn.execute(update(HZ).where(HZ.c.id == rows[0].hazard_id)
                 .values(version=keep, audit_head=rows[keep - 1].hash))


def test_truncated_chain_is_caught_by_the_checkpoint_only(chains, world, clock, factory):
    """After a checkpoint the last two events of hazard 2 are deleted and its version and head
    rewritten to match: the chain is consistent by itself, only the checkpoint shows seq 5 missing.
    The same truncation of a hazard created after the checkpoint is consistent too; only the
    replay of its events shows its row still in the state the deleted events put it in."""
    hid = chains.ids[1]
    cp = chains.checkpoint(clock)
    clock.advance(minutes=5)
    late = drive(factory, world, clock(), "acceptance_requested")  # not covered by the checkpoint
    rows, late_rows = chains.events(hid), chains.events(late)
    with attacker(chains.engine) as conn:
        _truncate(conn, rows, 4)
        _truncate(conn, late_rows, 2)
    report = chains.verify()
    first = assert_first(report, kind="truncated", hazard_id=hid, code=chains.code(hid), seq=5,
                         event_id=None)
    assert report.checkpoint_id == cp and str(cp) in first.message
    assert [(p.kind, p.hazard_id) for p in report.problems] == [("truncated", hid), ("row_mismatch", late)]
    assert "状态（state）为 acceptance_requested，按审计事件应为 registered" in report.problems[1].message


# --- (f) a chain rewritten consistently -----------------------------------------------------------


def test_rewritten_chain_is_caught_by_the_checkpoint(chains, world, clock, factory):
    """After a checkpoint the attacker changes hazard 2's first event and recomputes every hash
    and the hazard's audit_head. The chain is consistent by itself; the checkpoint holds only the
    head (seq 6), so that is the event it can prove changed. The same rewrite of a hazard created
    after the checkpoint is consistent too; the replay shows the row's title is not the one the
    rewritten report gives (an attacker who rewrites the row as well is caught by the log only)."""
    hid = chains.ids[1]
    cp = chains.checkpoint(clock)
    clock.advance(minutes=5)
    late = drive(factory, world, clock(), "acceptance_requested")
    chains_rows = {h: chains.events(h) for h in (hid, late)}
    with attacker(chains.engine) as conn:
        for h, rows in chains_rows.items():
            body = json.loads(rows[0].payload)
            body["body"]["title"] = "无隐患"
            head = rewrite_from(conn, rows, 1, {"payload": audit.canonical(body)})
            conn.execute(update(HZ).where(HZ.c.id == h).values(audit_head=head))
    head_event = chains.event(hid, EVENTS_PER_HAZARD)
    report = chains.verify()
    first = assert_first(report, kind="changed", hazard_id=hid, code=chains.code(hid),
                         seq=EVENTS_PER_HAZARD, event_id=head_event.id)
    assert report.checkpoint_id == cp and str(cp) in first.message
    assert [(p.kind, p.hazard_id) for p in report.problems] == [("changed", hid), ("row_mismatch", late)]
    assert "隐患名称（title）" in report.problems[1].message


# --- (g) a tampered checkpoint --------------------------------------------------------------------


def test_changed_checkpoint_row_is_caught(chains, clock):
    cp = chains.checkpoint(clock)
    with attacker(chains.engine) as conn:
        conn.execute(update(CP).where(CP.c.id == cp).values(leaf_count=2))
    report = chains.verify()
    first = assert_first(report, kind="checkpoint", hazard_id=None, code=None, seq=None, event_id=None)
    assert f"检查点 {cp} " in first.message
    assert len(report.problems) == 1  # the chains themselves are still checked, and intact


def test_checkpoint_heads_rewritten_to_hide_a_truncation_are_caught(chains, clock):
    """The attacker truncates hazard 2 and rewrites its head in the checkpoint to match: the
    checkpoint's Merkle root no longer covers its heads."""
    hid = chains.ids[1]
    cp = chains.checkpoint(clock)
    rows = chains.events(hid)
    with attacker(chains.engine) as conn:
        _truncate(conn, rows, 4)
        conn.execute(update(CPH).where(CPH.c.checkpoint_id == cp, CPH.c.hazard_id == hid)
                     .values(seq=4, hash=rows[3].hash))
    report = chains.verify()
    first = assert_first(report, kind="checkpoint", hazard_id=None, code=None, seq=None, event_id=None)
    assert str(cp) in first.message
    # The chain is consistent again; its row, still in the state the deleted events left, is not.
    assert [(p.kind, p.hazard_id) for p in report.problems] == [("checkpoint", None), ("row_mismatch", hid)]


def test_earlier_checkpoint_rewritten_with_its_own_hash_is_caught(chains, clock):
    """Checkpoints are chained: recomputing a changed checkpoint's own hash breaks the next one's
    link to it."""
    first_cp = chains.checkpoint(clock)
    clock.advance(hours=1)
    chains.checkpoint(clock)
    with chains.engine.connect() as conn:
        row = conn.execute(select(CP).where(CP.c.id == first_cp)).one()
    forged_root = audit_merkle.ZERO
    with attacker(chains.engine) as conn:
        conn.execute(update(CP).where(CP.c.id == first_cp).values(
            merkle_root=forged_root,
            hash=audit_merkle.checkpoint_hash(row.created_at, row.leaf_count, forged_root,
                                       row.prev_hash)))
    report = chains.verify()
    assert_first(report, kind="checkpoint", hazard_id=None, code=None, seq=None, event_id=None)


# --- order of the problems ------------------------------------------------------------------------


def test_problems_come_in_hazard_order(chains, clock):
    """The last hazard is tampered first, the first hazard later: the first problem is still the
    earliest hazard's, each hazard is reported once (its first bad event), intact ones not at all."""
    h1, h2, h3 = chains.ids
    late_target = chains.event(h3, 2)
    early_target, also = chains.event(h1, 5), chains.event(h1, 6)
    with attacker(chains.engine) as conn:
        conn.execute(update(EV).where(EV.c.id == late_target.id).values(actor_name="x"))
    clock.advance(minutes=5)
    with attacker(chains.engine) as conn:
        conn.execute(update(EV).where(EV.c.id == early_target.id).values(actor_name="x"))
        conn.execute(update(EV).where(EV.c.id == also.id).values(actor_name="x"))

    report = chains.verify()
    assert_first(report, kind="changed", hazard_id=h1, code=chains.code(h1), seq=5,
                 event_id=early_target.id)
    assert [(p.hazard_id, p.seq) for p in report.problems] == [(h1, 5), (h3, 2)]
    assert report.hazards_checked == 3

    only = chains.verify(limit_problems=1)
    assert [(p.hazard_id, p.seq) for p in only.problems] == [(h1, 5)]
    subset = chains.verify(hazard_ids=[h2, h3])
    assert_first(subset, kind="changed", hazard_id=h3, code=chains.code(h3), seq=2,
                 event_id=late_target.id)


def test_earlier_hazards_problem_comes_first_whatever_its_kind(chains, clock):
    """Hazard 1 has an event deleted, hazard 2 a reorder, hazard 3 a truncation under the
    checkpoint: the problems come in hazard order, one per hazard."""
    h1, h2, h3 = chains.ids
    chains.checkpoint(clock)
    rows3, a, b, gone = chains.events(h3), chains.event(h2, 2), chains.event(h2, 3), chains.event(h1, 5)
    with attacker(chains.engine) as conn:
        _truncate(conn, rows3, 3)
        _swap_seq(conn, a, b)
        drop_events(conn, [gone.id])
    report = chains.verify()
    assert [(p.hazard_id, p.kind, p.seq) for p in report.problems] == [
        (h1, "missing", 6), (h2, "reordered", 2), (h3, "truncated", 4)
    ]
