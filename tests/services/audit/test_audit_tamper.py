"""The audit trail against the database's owner (DESIGN 3; services/audit/checkpoints.py,
services/audit/keys.py, services/audit/replay.py): events and whole chains rewritten, and the
hazard rows against their events.

tests/services/audit/test_audit_trail.py tampers with events. Here the attacker owns the database:
they also rewrite or delete checkpoints, recompute every hash, and update hazard rows directly.
What stops them is outside the database: checkpoints signed with a key the database does not hold,
appended with their chain heads to a checkpoint log on other storage (signed_trail.py), and the
replay of each hazard's events against its row. Where that is the point, a scenario first shows
that the database alone no longer tells (verify without the evidence is ok), then that
verification with it names the damage. The checkpoints and the log themselves are
test_audit_checkpoint_log.py; the owner and the application role on PostgreSQL,
test_audit_owner_role.py.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from db.engine import read_only, transaction
from services.accounts.auth import SYSTEM
from services.audit import (
    chain as audit, keys as audit_keys, merkle as audit_merkle, replay as audit_replay,
    verification as audit_verification,
)
from services.engine import transitions
from tests.helpers import drive
from tests.services.audit.signed_trail import kinds, log_lines, trail  # noqa: F401 - trail is a fixture
from tests.services.audit.tampering import (
    CP, CPH, EV, EVENTS_PER_HAZARD, HZ, attacker, drop_events, rewrite_from,
)


# --- intact ---------------------------------------------------------------------------------------


def test_signed_checkpoints_are_logged_and_verify(trail, world):
    first = trail.checkpoint()
    trail.act(world, trail.chains.ids[0], "comment", "inspector")
    second = trail.checkpoint()
    report = trail.verify()
    assert report.ok and report.checkpoint_id == second, report.as_dict()

    entries = log_lines(trail)
    assert [e["id"] for e in entries] == [first, second]
    assert entries[1]["prev_hash"] == entries[0]["hash"]
    with trail.chains.engine.connect() as conn:
        rows = conn.execute(select(CP).order_by(CP.c.id)).all()
        heads = conn.execute(select(CPH.c.hazard_id, CPH.c.seq, CPH.c.hash)
                             .where(CPH.c.checkpoint_id == second).order_by(CPH.c.hazard_id)).all()
    assert [(r.hash, r.signature, r.key_id) for r in rows] == [
        (e["hash"], e["signature"], e["key_id"]) for e in entries]
    # The first entry holds every head; the next only what changed since (the one commented hazard).
    assert entries[0]["base"] is None and len(entries[0]["heads"]) == len(heads)
    assert entries[1]["base"] == first
    assert entries[1]["heads"] == [list(h) for h in heads if h.hazard_id == trail.chains.ids[0]]
    assert heads[0].seq == EVENTS_PER_HAZARD + 1
    assert all(r.key_id == trail.signer.key_id and trail.evidence.keyring.verify(r.key_id, r.hash, r.signature)
               for r in rows)


# --- events ---------------------------------------------------------------------------------------


def test_edited_payload_is_named(trail):
    hid = trail.chains.ids[1]
    trail.checkpoint()
    target = trail.chains.event(hid, 3)
    body = json.loads(target.payload)
    body["changes"]["plan_funds_wan"] = "3.00"
    with attacker(trail.chains.engine) as conn:
        conn.execute(update(EV).where(EV.c.id == target.id).values(payload=audit.canonical(body)))
    report = trail.verify()
    assert kinds(report) == [("changed", hid)]
    assert (report.first_problem.seq, report.first_problem.event_id) == (3, target.id)


def test_event_deleted_before_the_last_checkpoint_is_named(trail):
    hid = trail.chains.ids[1]
    trail.checkpoint()
    gone, after = trail.chains.event(hid, 3), trail.chains.event(hid, 4)
    with attacker(trail.chains.engine) as conn:
        drop_events(conn, [gone.id])
    report = trail.verify()
    assert kinds(report) == [("missing", hid)]
    assert (report.first_problem.seq, report.first_problem.event_id) == (4, after.id)


def _undo_acceptance(conn, hid: int, seventh: Any, sixth: Any) -> None:
    """Delete the `accept` event (seq 7) and, for the thorough attacker, the row's traces of it."""
    drop_events(conn, [seventh.id])
    conn.execute(update(HZ).where(HZ.c.id == hid).values(version=6, audit_head=sixth.hash))


def test_event_deleted_after_the_last_checkpoint_is_caught_by_the_replay(trail, world):
    """No checkpoint covers seq 7 yet; its version and head are rolled back, but the row still
    says what the deleted `accept` did."""
    hid = trail.chains.ids[1]
    trail.checkpoint()
    trail.act(world, hid, "accept", "inspector")
    seventh, sixth = trail.chains.event(hid, 7), trail.chains.event(hid, 6)
    with attacker(trail.chains.engine) as conn:
        _undo_acceptance(conn, hid, seventh, sixth)
    report = trail.verify(evidence=None)
    assert kinds(report) == [("row_mismatch", hid)]
    message = report.first_problem.message
    assert trail.chains.code(hid) in message
    assert "状态（state）为 closed，按审计事件应为 acceptance_requested" in message
    assert "销号时间（closed_at）" in message


def test_events_deleted_with_the_newer_checkpoint_are_caught_by_the_log(trail, world):
    """The thorough attacker deletes seq 7, puts the row back as it was before it, and deletes the
    checkpoint that covered it: the database is consistent again, the log is not."""
    hid = trail.chains.ids[1]
    trail.checkpoint()
    trail.act(world, hid, "accept", "inspector")
    newer = trail.checkpoint()
    seventh, sixth = trail.chains.event(hid, 7), trail.chains.event(hid, 6)
    with attacker(trail.chains.engine) as conn:
        _undo_acceptance(conn, hid, seventh, sixth)
        conn.execute(update(HZ).where(HZ.c.id == hid).values(
            state="acceptance_requested", accepted_by_id=None, accepted_at=None, closed_at=None))
        conn.execute(delete(CPH).where(CPH.c.checkpoint_id == newer))
        conn.execute(delete(CP).where(CP.c.id == newer))
    assert trail.verify(evidence=None).ok  # the database alone no longer tells

    report = trail.verify()
    assert kinds(report) == [("checkpoint_deleted", None), ("truncated", hid)]
    assert f"检查点 {newer}" in report.problems[0].message and "被删除" in report.problems[0].message
    truncated = report.problems[1]
    assert truncated.seq == 7 and f"检查点日志中的检查点 {newer} 时已有 7 个事件，现只有 6 个" in truncated.message


# --- a chain rehashed, checkpoints rewritten ------------------------------------------------------


def _rewrite_checkpoints(conn, new_heads: dict[int, tuple[int, str]], signer: audit_keys.Signer | None) -> None:
    """Put new heads into every checkpoint and recompute roots and hashes down the chain (signed
    with the attacker's own key when given, else keeping the now wrong signatures)."""
    prev = audit_merkle.ZERO
    for cp in conn.execute(select(CP).order_by(CP.c.id)).all():
        for hid, (seq, digest) in new_heads.items():
            conn.execute(update(CPH).where(CPH.c.checkpoint_id == cp.id, CPH.c.hazard_id == hid)
                         .values(seq=seq, hash=digest))
        heads = conn.execute(select(CPH).where(CPH.c.checkpoint_id == cp.id).order_by(CPH.c.hazard_id)).all()
        root = audit_merkle.merkle_root(audit_merkle.leaf_hash(h.hazard_id, h.seq, h.hash) for h in heads)
        digest = audit_merkle.checkpoint_hash(cp.created_at, len(heads), root, prev)
        values: dict[str, Any] = {"merkle_root": root, "prev_hash": prev, "hash": digest}
        if signer is not None:
            values["signature"], values["key_id"] = signer.sign(digest)
        conn.execute(update(CP).where(CP.c.id == cp.id).values(**values))
        prev = digest


@pytest.mark.parametrize("resign", [False, True], ids=["old_signatures", "attackers_key"])
def test_rehashed_chain_with_rewritten_checkpoints_is_caught(trail, world, tmp_path, resign):
    """Every event of hazard 2 rewritten (its report's title changed) with recomputed hashes, the
    row's head and title to match, every checkpoint's heads, roots and hashes recomputed."""
    hid = trail.chains.ids[1]
    first = trail.checkpoint()
    trail.act(world, trail.chains.ids[0], "comment", "inspector")
    second = trail.checkpoint()
    rows = trail.chains.events(hid)
    body = json.loads(rows[0].payload)
    body["body"]["title"] = "无隐患"
    own = audit_keys.keygen(tmp_path / "attacker.key") if resign else None
    with attacker(trail.chains.engine) as conn:
        head = rewrite_from(conn, rows, 1, {"payload": audit.canonical(body)})
        conn.execute(update(HZ).where(HZ.c.id == hid).values(audit_head=head, title="无隐患"))
        _rewrite_checkpoints(conn, {hid: (EVENTS_PER_HAZARD, head)}, own)
    assert trail.verify(evidence=None).ok  # consistent, replay included: the database alone is fooled

    report = trail.verify()
    why = "不在验证公钥中" if resign else "签名无效"
    assert kinds(report) == [("signature", None), ("signature", None), ("checkpoint", None), ("checkpoint", None),
                             ("changed", hid)], report.as_dict()
    assert all(why in p.message for p in report.problems[:2])
    assert f"数据库中的检查点 {first} 与检查点日志中的记录不符" in report.problems[2].message
    assert f"数据库中的检查点 {second} " in report.problems[3].message
    changed = report.problems[4]
    assert (changed.seq, changed.event_id) == (EVENTS_PER_HAZARD, trail.chains.event(hid, EVENTS_PER_HAZARD).id)
    assert f"检查点日志中的检查点 {second}" in changed.message


# --- the row against its events -------------------------------------------------------------------


@pytest.mark.parametrize("column,value,label", [
    ("state", "closed", "状态（state）为 closed"),
    ("deadline", "later", "整改期限（deadline）"),
    ("suspended", True, "停产整顿（suspended）为 是，按审计事件应为 否"),
    ("level", "major", "隐患等级（level）为 major，按审计事件应为 general"),
    ("funds_spent_wan", Decimal("3.00"), "实际投入资金（funds_spent_wan）为 3.00，按审计事件应为 33"),
])
def test_row_changed_without_an_event_names_the_hazard_and_the_column(trail, column, value, label):
    hid = trail.chains.ids[1]
    if value == "later":
        with trail.chains.engine.connect() as conn:
            value = conn.execute(select(HZ.c.deadline).where(HZ.c.id == hid)).scalar_one() + timedelta(days=90)
    with trail.chains.engine.begin() as conn:  # the hazards table has no trigger: any writer can
        conn.execute(update(HZ).where(HZ.c.id == hid).values({column: value}))
    report = trail.verify(evidence=None)
    assert kinds(report) == [("row_mismatch", hid)]
    problem = report.first_problem
    assert problem.hazard_code == trail.chains.code(hid) and trail.chains.code(hid) in problem.message
    assert label in problem.message, problem.message


def test_replay_follows_the_escalation_ladder_and_the_listing(factory, world, clock):
    hid = drive(factory, world, clock(), "supervised", level="major")
    with transaction(factory) as s:
        transitions.perform(s, SYSTEM, hid, "escalate", {"step": "elevate"}, now=clock())
    with read_only(factory) as s:
        row = s.execute(select(HZ.c.listing_level, HZ.c.listing_body).where(HZ.c.id == hid)).one()
        assert row.listing_level == "province" and audit_verification.verify(s).ok
    with factory.kw["bind"].begin() as conn:
        conn.execute(update(HZ).where(HZ.c.id == hid).values(listing_level="city"))
    with read_only(factory) as s:
        report = audit_verification.verify(s)
    assert kinds(report) == [("row_mismatch", hid)]
    assert "挂牌层级（listing_level）为 city，按审计事件应为 province" in report.first_problem.message


def _event(seq: int, action: str, to_state: str, payload: dict[str, Any]) -> SimpleNamespace:
    return SimpleNamespace(seq=seq, action=action, to_state=to_state, payload=json.dumps(payload),
                           actor_id=7, occurred_at=None)


def test_replay_treats_an_action_it_does_not_know_generically():
    """An `attach` (no state change, no changes) or any later action: its to_state is the state,
    its seq the version, and only the columns its changes name move."""
    events = [
        _event(1, "report", "reported", {"body": {"title": "顶板离层", "region_code": "141102"}}),
        _event(2, "register", "registered", {"body": {}, "changes": {
            "level": "general", "deadline": "2027-01-23", "plan_funds_wan": "35.5", "no_such_column": 1}}),
        _event(3, "attach", "registered", {"body": {"attachment_id": 4}, "changes": {}}),
        _event(4, "something_new", "registered", {"body": {}}),
    ]
    row = audit_replay.expected_row(events)
    assert (row["state"], row["version"], row["level"], row["deadline"]) == ("registered", 4, "general", "2027-01-23")
    assert row["title"] == "顶板离层" and row["reported_by_id"] == 7 and "no_such_column" not in row
    assert "enterprise_id" not in row  # not known from the events until a registration says it
    assert audit_replay._same("35.5", Decimal("35.50")) and not audit_replay._same("35.5", Decimal("35.51"))
    assert audit_replay._same(False, False) and not audit_replay._same(0, False)
