"""The audit trail with its evidence outside the database (DESIGN 3; services/audit/checkpoints.py,
services/audit/keys.py): `Trail` is three hazards' chains (tampering.py) plus a signing key and a
checkpoint log in the test's tmp_path, on the injected clock. Used by test_audit_tamper.py,
test_audit_checkpoint_log.py and test_audit_owner_role.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from db.engine import read_only, transaction
from services.audit import (
    checkpoints as audit_checkpoints, keys as audit_keys, verification as audit_verification,
)
from services.audit.checkpoints import CheckpointLog, Evidence
from services.engine import transitions
from services.kernel.clock import local_date
from tests.helpers import body_for
from tests.services.audit.tampering import Chains, build_chains

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
