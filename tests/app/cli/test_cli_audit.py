"""`hazard audit verify` and `hazard audit checkpoint` against real databases (both backends).

The CLI runs in-process through `app.cli.main.main` with `HAZARD_DATABASE_URL` pointing at the
test database and `HAZARD_DATA_DIR` at the test's folder (the signing key and the checkpoint log
live there; settings cache cleared around it), and once as the installed `hazard` console script
in a subprocess, the way an operator or the nightly job runs it. Tampering is done as in
tests/services/audit/tampering.py: plain SQL, with the PostgreSQL trigger bypassed for that
transaction.

The CLI verifies with the real clock, long after the tests' events (2026-11-24): a trail that old
without a checkpoint is itself a failure, so the tests take one first, as the hourly flow would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from db.models import AuditCheckpoint, AuditCheckpointHead
from app.cli import database as cli_database, main as cli
from services.kernel.settings import get_settings
from tests.services.audit.tampering import (
    EV,
    EVENTS_PER_HAZARD,
    Chains,
    attacker,
    build_chains,
    truncate,
)

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def chains(engine, factory, world, clock) -> Chains:
    return Chains(engine, factory, build_chains(factory, world, clock))


@pytest.fixture
def run_cli(db_url, tmp_path, monkeypatch, capsys):
    """Run `hazard ...` in-process against the test database; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("HAZARD_DATABASE_URL", db_url)
    monkeypatch.setenv("HAZARD_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HAZARD_ENVIRONMENT", "development")
    get_settings.cache_clear()
    engines = []
    real_make_engine = cli_database.make_engine

    def make_engine(*args, **kw):  # the CLI's own engines, disposed after the test
        engines.append(real_make_engine(*args, **kw))
        return engines[-1]

    monkeypatch.setattr(cli_database, "make_engine", make_engine)

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    for e in engines:
        e.dispose()
    get_settings.cache_clear()


def test_verify_exits_0_when_intact(chains, run_cli):
    # Intact, but never checkpointed although its events are days old: that fails by itself.
    code, out, err = run_cli("audit", "verify")
    assert code == 1
    assert "类型 no_checkpoint：没有任何检查点" in err and "共发现 1 处问题" in err

    assert run_cli("audit", "checkpoint")[0] == 0
    code, out, err = run_cli("audit", "verify")
    assert code == 0, err
    assert f"审计链完整：3 条隐患，{3 * EVENTS_PER_HAZARD} 个事件，检查点 1" in out
    assert err == ""

    code, out, _ = run_cli("audit", "verify", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["ok"] is True and report["first_bad_event"] is None
    assert report["events_checked"] == 3 * EVENTS_PER_HAZARD


def test_checkpoint_creates_a_checkpoint(chains, run_cli, tmp_path):
    code, out, err = run_cli("audit", "checkpoint")
    assert code == 0, err
    with chains.engine.connect() as conn:
        cp = conn.execute(select(AuditCheckpoint)).one()
        heads = conn.execute(
            select(AuditCheckpointHead.hazard_id, AuditCheckpointHead.seq, AuditCheckpointHead.hash)
            .where(AuditCheckpointHead.checkpoint_id == cp.id).order_by(AuditCheckpointHead.hazard_id)
        ).all()
    assert f"已建立检查点 {cp.id}：3 条审计链，Merkle 根 {cp.merkle_root}，签名密钥 {cp.key_id}" in out
    assert cp.leaf_count == 3
    assert [(h.hazard_id, h.seq) for h in heads] == [(hid, EVENTS_PER_HAZARD) for hid in chains.ids]
    # Signed by the key generated on first use (development), and logged outside the database.
    assert len(cp.signature) == 128 and len(cp.key_id) == 16
    assert (tmp_path / "var" / "audit" / "signing.key").exists()
    [entry] = [json.loads(line) for line in
               (tmp_path / "var" / "audit" / "checkpoints.jsonl").read_text(encoding="utf-8").splitlines()]
    assert (entry["id"], entry["hash"], entry["signature"], entry["key_id"]) == (
        cp.id, cp.hash, cp.signature, cp.key_id)
    assert entry["heads"] == [[h.hazard_id, h.seq, h.hash] for h in heads]

    code, out, _ = run_cli("audit", "verify")
    assert code == 0 and f"检查点 {cp.id}" in out

    code, _, _ = run_cli("audit", "checkpoint")  # a second one chains to the first
    assert code == 0
    with chains.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AuditCheckpoint)).scalar_one() == 2
    assert run_cli("audit", "verify")[0] == 0


def test_verify_exits_1_and_names_the_first_bad_event(chains, run_cli):
    assert run_cli("audit", "checkpoint")[0] == 0
    h1, h2, h3 = chains.ids
    late, early = chains.event(h3, 2), chains.event(h2, 4)
    with attacker(chains.engine) as conn:
        conn.execute(update(EV).where(EV.c.id == late.id).values(payload="{}"))
        conn.execute(update(EV).where(EV.c.id == early.id).values(actor_name="篡改者"))

    code, out, err = run_cli("audit", "verify")
    assert code == 1
    assert "审计链校验失败！" in err
    assert (f"第一个问题：隐患 {chains.code(h2)}，事件序号 4，事件 id {early.id}，类型 changed"
            in err), err
    assert "共发现 2 处问题" in err

    code, out, _ = run_cli("audit", "verify", "--json")
    assert code == 1
    first = json.loads(out)["first_bad_event"]
    assert (first["hazard_id"], first["hazard_code"], first["seq"], first["event_id"], first["kind"]) == (
        h2, chains.code(h2), 4, early.id, "changed")


def test_truncation_after_a_cli_checkpoint_is_reported(chains, run_cli):
    assert run_cli("audit", "checkpoint")[0] == 0
    hid = chains.ids[0]
    rows = chains.events(hid)
    with attacker(chains.engine) as conn:
        truncate(conn, rows, 3)
    code, _, err = run_cli("audit", "verify")
    assert code == 1
    assert f"第一个问题：隐患 {chains.code(hid)}，事件序号 4，事件 id None，类型 truncated" in err, err


def test_console_script_in_a_subprocess(chains, db_url, run_cli, tmp_path):
    """The installed `hazard` entry point, as cron or an operator would run it: its exit status
    is what a monitoring job sees. (One run only: starting the CLI costs seconds.)"""
    hazard = Path(sys.executable).with_name("hazard")
    assert hazard.exists(), hazard
    assert run_cli("audit", "checkpoint")[0] == 0
    hid = chains.ids[2]
    target = chains.event(hid, 5)
    with attacker(chains.engine) as conn:
        conn.execute(update(EV).where(EV.c.id == target.id).values(actor_name="篡改者"))
    bad = subprocess.run([str(hazard), "audit", "verify"], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "HAZARD_DATABASE_URL": db_url, "HAZARD_DATA_DIR": str(tmp_path / "var")},
                         timeout=120, check=False)
    assert bad.returncode == 1
    assert f"第一个问题：隐患 {chains.code(hid)}，事件序号 5，事件 id {target.id}，类型 changed" in bad.stderr
