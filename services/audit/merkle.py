"""Checkpoints: every chain head (services/audit/chain.py) at one moment and a Merkle root over
them, each checkpoint chained to the previous one, so truncating a chain below a checkpoint, or
rewriting a whole chain, is detected (services/audit/verification.py). The signature and the log
outside the database are services/audit/checkpoints.py's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from db.models import AuditCheckpoint, AuditCheckpointHead, Hazard
from services.audit.chain import canonical, sha256

ZERO = "0" * 64  # the `prev_hash` of the first checkpoint, and the root of none
CHECKPOINT_LOCK = 0x4A5A_0001  # advisory lock key serialising checkpoints


def leaf_hash(hazard_id: int, seq: int, head: str) -> str:
    return sha256(f"leaf:{hazard_id}:{seq}:{head}")


def merkle_root(leaves: Iterable[str]) -> str:
    level = list(leaves)
    if not level:
        return ZERO
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256("node:" + level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def checkpoint_hash(created_at: datetime, leaf_count: int, root: str, prev: str) -> str:
    """Checkpoints chain by `prev` (the previous checkpoint's hash); the row id is not hashed so
    the row is written once, complete, into an append-only table."""
    return sha256(canonical([created_at, leaf_count, root, prev]))


def create_checkpoint(session: Session, *, now: datetime,
                      sign: Callable[[str], tuple[str, str]] | None = None) -> AuditCheckpoint:
    """Record every chain head now and their Merkle root. Checkpoints are taken one at a time (an
    advisory lock on PostgreSQL, the write lock on SQLite), so their chain cannot fork.

    `sign` turns the checkpoint's hash into (signature, key id); the row is written once, signed,
    since the table is append-only. The signed checkpoint that also goes to the log outside the
    database is `services.audit.checkpoints.take_checkpoint`."""
    return record_checkpoint(session, now=now, sign=sign)[0]


def record_checkpoint(session: Session, *, now: datetime, sign: Callable[[str], tuple[str, str]] | None = None,
                      ) -> tuple[AuditCheckpoint, list[Any]]:
    """`create_checkpoint`, returning the heads too (rows of hazard id, seq, hash, by hazard id)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHECKPOINT_LOCK})
    heads = session.execute(
        select(Hazard.id, Hazard.version, Hazard.audit_head).where(Hazard.version > 0).order_by(Hazard.id)
    ).all()
    root = merkle_root(leaf_hash(h.id, h.version, h.audit_head) for h in heads)
    prev = session.execute(
        select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)
    ).scalar_one_or_none()
    prev_hash = prev.hash if prev else ZERO
    digest = checkpoint_hash(now, len(heads), root, prev_hash)
    signature, key_id = sign(digest) if sign is not None else (None, None)
    cp = AuditCheckpoint(created_at=now, leaf_count=len(heads), merkle_root=root, prev_hash=prev_hash,
                         hash=digest, signature=signature, key_id=key_id)
    session.add(cp)
    session.flush()
    if heads:
        session.execute(
            insert(AuditCheckpointHead),
            [{"checkpoint_id": cp.id, "hazard_id": h.id, "seq": h.version, "hash": h.audit_head} for h in heads],
        )
    session.flush()
    return cp, heads

