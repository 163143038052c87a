"""Signed checkpoints and the checkpoint log against the database's owner (DESIGN 3;
services/audit/checkpoints.py, services/audit/keys.py): checkpoints deleted, forged, unlogged or
re-signed, the log missing, cut short, kept as a folder of files or not writable, the key rotated or
missing outside development, and `hazard audit keygen`.

The attacker owns the database (test_audit_tamper.py); the evidence lives outside it, in the test's
tmp_path (signed_trail.py).
"""

from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import delete, func, select, update

from db.engine import read_only, transaction
from app.cli import main as cli
from services.audit import (
    checkpoints as audit_checkpoints, keys as audit_keys, merkle as audit_merkle,
)
from services.audit.checkpoints import CheckpointLog, CheckpointLogError, Evidence
from services.kernel.settings import Settings, get_settings
from tests.helpers import drive
from tests.services.audit.signed_trail import INTERVAL, kinds, trail  # noqa: F401 - trail is a fixture
from tests.services.audit.tampering import CP, CPH, attacker


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
