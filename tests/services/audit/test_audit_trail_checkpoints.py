"""The audit trail against an attacker with database access: what only a checkpoint catches (a
truncated chain, a chain rewritten consistently), tampered checkpoints, and the order in which
problems are reported (DESIGN 3; services/audit/chain.py, services/audit/merkle.py).

As in test_audit_trail.py, the attacker writes plain SQL (tampering.py) and the FIRST problem of
`audit_verification.verify` must name the first bad event. A consistently rewritten chain (every
hash recomputed) is only caught by a checkpoint, which stores chain heads, so it names the event
at the checkpointed head.
"""

from __future__ import annotations

import json

from sqlalchemy import select, update

from services.audit import chain as audit, merkle as audit_merkle
from tests.helpers import drive
from tests.services.audit.tampering import (  # noqa: F401 - chains is a fixture
    CP, CPH, EV, EVENTS_PER_HAZARD, HZ, assert_first, attacker, chains, drop_events, rewrite_from,
    swap_seq, truncate,
)


# --- (e) a truncated chain ------------------------------------------------------------------------


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
        truncate(conn, rows, 4)
        truncate(conn, late_rows, 2)
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
        truncate(conn, rows, 4)
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
        truncate(conn, rows3, 3)
        swap_seq(conn, a, b)
        drop_events(conn, [gone.id])
    report = chains.verify()
    assert [(p.hazard_id, p.kind, p.seq) for p in report.problems] == [
        (h1, "missing", 6), (h2, "reordered", 2), (h3, "truncated", 4)
    ]
