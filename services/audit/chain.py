"""The tamper-evident audit trail: one hash chain per hazard.

Event n stores `prev_hash` (event n-1's hash, or the hazard's genesis hash) and `hash` = SHA-256
over the canonical JSON of its fields including `prev_hash`. The hazard row's `version` equals its
number of events and `audit_head` its last hash, both written by the same compare-and-set that
appends the event.

The rest of the trail's defence builds on these hashes: checkpoints over every chain head
(services/audit/merkle.py), signed and logged outside the database (services/audit/checkpoints.py),
and verification, which walks each chain and replays its events against the hazard row
(services/audit/verification.py, services/audit/replay.py).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from db.models import AuditEvent


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat(timespec="microseconds")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not serialisable in an audit event: {type(value).__name__}")


def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 text kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def genesis_hash(hazard_code: str) -> str:
    """The `prev_hash` of a chain's first event: binds the chain to its hazard."""
    return sha256("hazard-genesis:" + hazard_code)


HASHED_FIELDS = (
    "hazard_id", "seq", "action", "actor_id", "actor_role", "actor_name", "from_state", "to_state",
    "payload", "occurred_at", "prev_hash",
)


def event_hash(**fields: Any) -> str:
    """SHA-256 over the canonical JSON of exactly the `HASHED_FIELDS` (a missing one is an error)."""
    return sha256(canonical({name: fields[name] for name in HASHED_FIELDS}))


def build_event(
    *,
    hazard_id: int,
    seq: int,
    prev_hash: str,
    action: str,
    actor_id: int | None,
    actor_role: str,
    actor_name: str,
    from_state: str | None,
    to_state: str,
    payload: dict[str, Any],
    occurred_at: datetime,
) -> dict[str, Any]:
    """The column values of one event, its hash included, ready to insert.

    Built before the hazard's compare-and-set so the new head hash goes into that same UPDATE; the
    CAS then guarantees no concurrent writer takes the same `seq` or `prev_hash`."""
    values: dict[str, Any] = dict(
        hazard_id=hazard_id,
        seq=seq,
        action=action,
        actor_id=actor_id,
        actor_role=actor_role,
        actor_name=actor_name,
        from_state=from_state,
        to_state=to_state,
        payload=canonical(payload),
        occurred_at=occurred_at.astimezone(timezone.utc),
        prev_hash=prev_hash,
    )
    values["hash"] = event_hash(**values)
    return values


# Built once: the values travel as parameters, so no statement is compiled per event.
_INSERT_EVENT = insert(AuditEvent.__table__).returning(AuditEvent.__table__.c.id)


def insert_event(session: Session, values: dict[str, Any]) -> int:
    # On the session's connection: Core statements need none of the ORM's execution layer.
    return session.connection().execute(_INSERT_EVENT, values).scalar_one()

