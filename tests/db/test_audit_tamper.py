"""The audit trail against the database's owner (DESIGN 3; services/audit/checkpoints.py,
services/audit/keys.py, services/audit/replay.py, db/migrate.py).

tests/db/test_audit_trail.py tampers with events. Here the attacker owns the database: they also
rewrite or delete checkpoints, recompute every hash, and update hazard rows directly. What stops
them is outside the database: checkpoints signed with a key the database does not hold, appended
with their chain heads to a checkpoint log on other storage, and the replay of each hazard's events
against its row. Where that is the point, a scenario first shows that the database alone no longer
tells (verify without the evidence is ok), then that verification with it names the damage.

On PostgreSQL the attacker bypasses the append-only triggers as the tables' owner (`attacker`);
the last tests show that the application role, which does not own the tables, cannot.
Keys and logs live in the test's tmp_path; the clock is the injected one.
"""

from __future__ import annotations

import json
import os
import stat
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from db.engine import make_engine, make_session_factory, read_only, transaction
from db.migrate import downgrade, grant_application_role, schema_at_head
from services.audit import (
    chain as audit, checkpoints as audit_checkpoints, keys as audit_keys, merkle as audit_merkle,
    replay as audit_replay, verification as audit_verification,
)
from app.cli import database as cli_database, main as cli
from services.engine import transitions
from services.audit.checkpoints import CheckpointLog, CheckpointLogError, Evidence
from services.accounts.auth import SYSTEM
from services.kernel.clock import local_date
from services.kernel.settings import Settings, get_settings
from tests import pg_provision
from tests.conftest import build_world
from tests.db.test_audit_trail import (
    CP, CPH, EV, EVENTS_PER_HAZARD, HZ, Chains, attacker, build_chains, drop_events, rewrite_from,
)
from tests.helpers import body_for, drive

INTERVAL = timedelta(hours=1)


@dataclass
class Trail:
    """Three hazards' chains plus the evidence kept outside the database."""

    chains: Chains
    clock: Any
    signer: audit_keys.Signer
    key_path: Path
    log_to: CheckpointLog

    @property
    def evidence(self) -> Evidence:
        return Evidence(audit_keys.load_keyring(self.key_path, None), self.log_to, INTERVAL)

    def checkpoint(self) -> int:
        with transaction(self.chains.factory) as s:
            return audit_checkpoints.take_checkpoint(s, now=self.clock(), signer=self.signer,
                                                     log_to=self.log_to).id

    def verify(self, evidence: Evidence | None | bool = True) -> audit_verification.VerifyReport:
        ev = self.evidence if evidence is True else (evidence or None)
        with read_only(self.chains.factory) as s:
            return audit_verification.verify(s, evidence=ev, now=self.clock())

    def act(self, world, hid: int, action: str, actor: str) -> None:
        self.clock.advance(minutes=1)
        body = body_for(action, today=local_date(self.clock()), level="general", uscc=world.enterprises["coal"])
        with transaction(self.chains.factory) as s:
            transitions.perform(s, world.p(actor), hid, action, body, now=self.clock())


def kinds(report: audit_verification.VerifyReport) -> list[tuple[str, int | None]]:
    return [(p.kind, p.hazard_id) for p in report.problems]


@pytest.fixture
def trail(engine, factory, world, clock, tmp_path) -> Trail:
    key_path = tmp_path / "keys" / "signing.key"
    t = Trail(Chains(engine, factory, build_chains(factory, world, clock)), clock, audit_keys.keygen(key_path),
              key_path, CheckpointLog.at(tmp_path / "log" / "checkpoints.jsonl"))
    assert t.verify().ok, t.verify().as_dict()
    return t


def log_lines(trail: Trail) -> list[dict[str, Any]]:
    return [json.loads(line) for line in trail.log_to.path.read_text(encoding="utf-8").splitlines()]


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


# --- checkpoints deleted, forged, unlogged; the log -----------------------------------------------


def test_checkpoints_deleted_from_the_database_are_named(trail):
    first = trail.checkpoint()
    trail.clock.advance(minutes=30)
    second = trail.checkpoint()
    with attacker(trail.chains.engine) as conn:
        conn.execute(delete(CPH))
        conn.execute(delete(CP))
    assert trail.verify(evidence=None).ok
    trail.clock.advance(hours=3)  # the log has entries: this is deletion, not a missing checkpoint
    report = trail.verify()
    assert kinds(report) == [("checkpoint_deleted", None), ("checkpoint_deleted", None)]
    assert [f"检查点 {cid}" in p.message for cid, p in zip((first, second), report.problems)] == [True, True]


def test_no_checkpoint_at_all_fails_once_the_trail_is_older_than_the_interval(trail):
    assert trail.verify().ok  # the oldest event is younger than an hour
    trail.clock.advance(hours=1)
    report = trail.verify()
    assert kinds(report) == [("no_checkpoint", None)]
    assert "没有任何检查点" in report.first_problem.message and "3600 秒" in report.first_problem.message
    assert trail.verify(evidence=None).ok  # the rule needs the evidence's interval
    trail.checkpoint()
    assert trail.verify().ok


def test_missing_log_with_signed_checkpoints_fails(trail):
    trail.checkpoint()
    trail.log_to.path.unlink()
    report = trail.verify()
    assert kinds(report) == [("checkpoint_log", None)]
    assert "检查点日志不存在" in report.first_problem.message


def test_signed_checkpoint_missing_from_the_log_is_named(trail):
    trail.checkpoint()
    trail.clock.advance(minutes=10)
    second = trail.checkpoint()
    lines = trail.log_to.path.read_text(encoding="utf-8").splitlines(keepends=True)
    trail.log_to.path.write_text(lines[0], encoding="utf-8")
    report = trail.verify()
    assert kinds(report) == [("checkpoint_unlogged", None)]
    assert f"检查点 {second} 不在检查点日志中" in report.first_problem.message


@pytest.mark.parametrize("forged_with", ["attackers_key", "no_signature"])
def test_forged_checkpoint_in_the_database_is_named(trail, tmp_path, forged_with):
    """A checkpoint written straight into the database (to anchor a rewritten trail): it is not
    signed by a known key, and not in the log."""
    trail.checkpoint()
    trail.clock.advance(minutes=10)
    sign = audit_keys.keygen(tmp_path / "attacker.key").sign if forged_with == "attackers_key" else None
    with transaction(trail.chains.factory) as s:
        forged = audit_merkle.create_checkpoint(s, now=trail.clock(), sign=sign).id
    report = trail.verify()
    if forged_with == "attackers_key":
        assert kinds(report) == [("signature", None), ("checkpoint_unlogged", None)]
        assert "不在验证公钥中" in report.first_problem.message
    else:
        assert kinds(report) == [("signature", None)]
        assert f"检查点 {forged} 没有签名" in report.first_problem.message


def test_changed_signature_is_named(trail):
    cp = trail.checkpoint()
    with attacker(trail.chains.engine) as conn:
        conn.execute(update(CP).where(CP.c.id == cp).values(signature="00" * 64))
    assert kinds(trail.verify()) == [("signature", None), ("checkpoint", None)]


def test_log_as_a_folder_of_files(trail, tmp_path):
    """A target ending in "/" (or an existing folder): one file per checkpoint, e.g. on WORM storage."""
    trail.log_to = CheckpointLog.at(f"{tmp_path / 'worm'}/")
    assert trail.log_to.per_file
    first = trail.checkpoint()
    trail.clock.advance(minutes=10)
    trail.checkpoint()
    files = sorted(p.name for p in (tmp_path / "worm").iterdir())
    assert len(files) == 2 and files[0].startswith(f"checkpoint-{first:012d}-")
    assert CheckpointLog.at(tmp_path / "worm").per_file
    assert trail.verify().ok
    (tmp_path / "worm" / files[0]).unlink()
    report = trail.verify()  # the second file no longer follows anything logged, and the first is gone
    assert set(kinds(report)) == {("checkpoint_log", None), ("checkpoint_unlogged", None)}
    messages = [p.message for p in report.problems]
    assert "不接续" in messages[0]
    assert any("所依据的检查点" in m for m in messages)  # its heads were a change on the deleted one


def test_a_log_that_cannot_be_written_fails_the_checkpoint(trail, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    trail.log_to = CheckpointLog.at(blocker / "checkpoints.jsonl")
    with pytest.raises(CheckpointLogError, match="检查点日志写入失败"):
        trail.checkpoint()
    with trail.chains.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(CP)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(CPH)).scalar_one() == 0


def test_rotated_key_needs_the_old_public_key_to_verify_old_checkpoints(trail, tmp_path):
    trail.checkpoint()
    old_public = audit_keys.public_path(trail.key_path).read_text()
    trail.signer = audit_keys.keygen(trail.key_path, force=True)
    trail.clock.advance(minutes=10)
    trail.checkpoint()
    report = trail.verify()  # derived from the new private key alone
    assert [p.kind for p in report.problems].count("signature") == 1
    both = tmp_path / "auditor.pub"  # what an auditor keeps: no private key at all
    both.write_text("# before the rotation\n" + old_public + audit_keys.public_path(trail.key_path).read_text())
    auditor = Evidence(audit_keys.load_keyring(tmp_path / "absent.key", both), trail.log_to, INTERVAL)
    assert trail.verify(auditor).ok


def test_checkpoint_key_outside_development(db_url, factory, world, clock, tmp_path):
    """Production without a key: refused with a clear message, nothing written. Development: the
    key is made on first use."""
    def settings(environment: str) -> Settings:
        return Settings(environment=environment, secret_key="s" * 40, database_url=db_url,
                        data_dir=tmp_path / environment)

    drive(factory, world, clock(), "registered")
    with pytest.raises(audit_keys.AuditKeyError, match="hazard audit keygen"):
        with transaction(factory) as s:
            audit_checkpoints.checkpoint(s, settings("production"), now=clock())
    assert not (tmp_path / "production").exists()
    with read_only(factory) as s:
        assert s.execute(select(func.count()).select_from(CP)).scalar_one() == 0
    with transaction(factory) as s:
        cp = audit_checkpoints.checkpoint(s, settings("development"), now=clock())
    key = tmp_path / "development" / "audit" / "signing.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and cp.key_id
    assert (tmp_path / "development" / "audit" / "checkpoints.jsonl").exists()


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


# --- PostgreSQL: the owner and the application role -----------------------------------------------


def test_trigger_disabled_by_the_owner_is_detected(trail, backend):
    if backend == "sqlite":
        return  # no trigger on SQLite
    hid = trail.chains.ids[0]
    trail.checkpoint()
    target = trail.chains.event(hid, 2)
    with trail.chains.engine.begin() as conn:  # the tables' owner, outside the service
        conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        conn.execute(update(EV).where(EV.c.id == target.id).values(actor_name="别人"))
        conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
    report = trail.verify()
    assert kinds(report) == [("changed", hid)] and report.first_problem.seq == 2


def _psql(url: str) -> psycopg.Connection:
    u = make_url(url)
    return psycopg.connect(host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database,
                           autocommit=True)


REFUSED_TO_THE_APPLICATION = [
    "UPDATE audit_events SET actor_name = 'x'",
    "DELETE FROM audit_events",
    "TRUNCATE audit_events CASCADE",
    "UPDATE audit_checkpoints SET merkle_root = repeat('0', 64)",
    "DELETE FROM audit_checkpoint_heads",
    "ALTER TABLE audit_events DISABLE TRIGGER USER",
    "DROP TRIGGER audit_events_append_only ON audit_events",
    "ALTER TABLE audit_events OWNER TO CURRENT_USER",
    "SET session_replication_role = replica",
    "UPDATE alembic_version SET version_num = '0001'",
]


def test_application_role_cannot_undo_the_trail(pg_server, tmp_path, monkeypatch, capsys, clock):
    """`hazard db upgrade` as the owner (HAZARD_MIGRATION_DATABASE_URL) grants the service's role
    (HAZARD_DATABASE_URL); `hazard serve` as that role only checks the schema, never migrates. The
    service works as the role; the role can neither rewrite nor delete the trail nor switch off
    the trigger, refused by its privileges before any trigger runs."""
    suffix = uuid.uuid4().hex[:10]
    owner, app, name, password = f"hz_owner_{suffix}", f"hz_app_{suffix}", f"hazard_roles_{suffix}", "pw-" + suffix
    server = make_url(pg_server.url)
    owner_url, app_url = (server.set(username=u, password=password, database=name).render_as_string(hide_password=False)
                          for u in (owner, app))
    engine = None
    cli_engines: list = []
    real_make_engine = cli_database.make_engine

    def tracked_make_engine(*args: Any, **kw: Any):  # the CLI's own engines, disposed at the end
        cli_engines.append(real_make_engine(*args, **kw))
        return cli_engines[-1]

    monkeypatch.setattr(cli_database, "make_engine", tracked_make_engine)
    try:
        with _psql(pg_server.url) as conn:
            for role in (owner, app):
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)))
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))
        for key, value in {"HAZARD_DATABASE_URL": app_url, "HAZARD_MIGRATION_DATABASE_URL": owner_url,
                           "HAZARD_DATA_DIR": str(tmp_path / "var"), "HAZARD_ENVIRONMENT": "development"}.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()

        # Before any migration `hazard serve` refuses, and migrates nothing.
        refusal = cli_database.prepare_schema(get_settings())
        assert refusal and "hazard db upgrade" in refusal and not schema_at_head(app_url)
        assert cli.main(["serve", "--api-only"]) == 2
        assert "不能自行迁移" in capsys.readouterr().err

        assert cli.main(["db", "upgrade"]) == 0
        assert f"已授权应用角色 {app}" in capsys.readouterr().out
        assert cli_database.prepare_schema(get_settings()) is None and schema_at_head(app_url)
        grant_application_role(owner_url, app)  # again: it converges

        # The service, as the application role.
        engine = make_engine(app_url, pool_size=2, max_overflow=2)
        factory = make_session_factory(engine)
        world = build_world(factory)
        hid = drive(factory, world, clock(), "rectifying")
        assert cli.main(["audit", "checkpoint"]) == 0
        assert cli.main(["audit", "verify"]) == 0, capsys.readouterr().err
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_user")).scalar_one() == app
            assert conn.execute(select(func.count()).select_from(EV).where(EV.c.hazard_id == hid)).scalar_one() == 3

        for statement in REFUSED_TO_THE_APPLICATION:
            with pytest.raises(DBAPIError) as exc:
                with engine.begin() as conn:
                    conn.execute(text(statement))
            assert isinstance(exc.value.orig, psycopg.errors.InsufficientPrivilege), (statement, exc.value)
            assert "append-only" not in str(exc.value.orig), statement
        with engine.begin() as conn:  # appending is what the service does, and may
            conn.execute(insert(EV).values(**audit.build_event(
                hazard_id=hid, seq=4, prev_hash=trail_head(conn, hid), action="comment", actor_id=None,
                actor_role="system", actor_name="系统", from_state="rectifying", to_state="rectifying",
                payload={"body": {"text": "x"}, "changes": {}}, occurred_at=clock())))
        with _psql(owner_url) as conn:
            assert conn.execute("SELECT tgenabled FROM pg_trigger WHERE tgname = 'audit_events_append_only'"
                                ).fetchone() == ("O",)

        # A schema behind head: `hazard serve` as the application role refuses to migrate it.
        engine.dispose()
        downgrade(owner_url, "0006")
        assert cli_database.prepare_schema(get_settings()) is not None
        assert cli.main(["serve", "--api-only"]) == 2
        assert not schema_at_head(app_url)
    finally:
        for e in [engine, *cli_engines]:
            if e is not None:
                e.dispose()
        get_settings.cache_clear()
        pg_provision.drop_database(pg_server.url, name)
        with _psql(pg_server.url) as conn:
            for role in (app, owner):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def trail_head(conn, hid: int) -> str:
    return conn.execute(select(HZ.c.audit_head).where(HZ.c.id == hid)).scalar_one()


# --- keygen ---------------------------------------------------------------------------------------


def test_keygen_writes_a_private_key_for_the_service_alone(tmp_path, monkeypatch, capsys):
    path = tmp_path / "keys" / "signing.key"
    monkeypatch.setenv("HAZARD_AUDIT_SIGNING_KEY", str(path))
    get_settings.cache_clear()
    try:
        assert cli.main(["audit", "keygen"]) == 0
        out = capsys.readouterr().out
        public = out.strip().splitlines()[-1]
        assert len(public) == 64 and int(public, 16) >= 0 and str(path) in out
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert audit_keys.public_path(path).read_text().strip() == public
        signer = audit_keys.load_signer(path, development=False)
        assert audit_keys.public_bytes(signer.private.public_key()).hex() == public
        assert f"密钥编号 {signer.key_id}" in out

        before = path.read_bytes()
        assert cli.main(["audit", "keygen"]) == 2
        assert "签名密钥已存在" in capsys.readouterr().err and path.read_bytes() == before
        assert cli.main(["audit", "keygen", "--force"]) == 0
        assert capsys.readouterr().out.strip().splitlines()[-1] != public and path.read_bytes() != before
        assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
        assert os.stat(path).st_mode & 0o077 == 0
    finally:
        get_settings.cache_clear()
