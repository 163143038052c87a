"""The audit trail against an attacker with database access: changed, deleted, reordered and
inserted events (DESIGN 3; services/audit/chain.py).

Every test builds several hazards whose chains interleave in `audit_events` (`chains`, from
tampering.py), tampers with the tables the way someone holding database credentials would (plain
SQL on a separate connection, never through the service), and checks that
`audit_verification.verify` is no longer ok and that its FIRST problem names the first bad event:
hazard id and code, `seq`, event id and kind.

"First bad event" means the lowest `seq` of the earliest hazard (by id) at which the stored trail
stops being the one that was written; `event_id` is the row that now holds that `seq` (None when
that event no longer exists). A deleted event is named by the event that follows the gap, as far
as the evidence allows. Truncated and consistently rewritten chains, which only a checkpoint
catches, are test_audit_trail_checkpoints.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Connection, insert, update
from sqlalchemy.exc import DBAPIError

from services.audit import chain as audit
from tests.services.audit.tampering import (  # noqa: F401 - chains is a fixture
    CONTENT, EV, EVENTS_PER_HAZARD, HASHED, HZ, Chains, assert_first, attacker, chains, content,
    drop_events, rehash, swap_seq,
)


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
    swap = {"swap_seq": swap_seq, "swap_contents": _swap_contents,
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
