"""The office records' audit trail: one hash chain per record subject, built exactly like a
hazard's chain (services/audit/chain.py) but keyed by a subject string instead of a hazard.

Subjects name what was acted on: `report:<region>:<YYYY-MM>` (a 直报), `return:<enterprise id>:
<YYYY-MM>` (a self-inspection return), `blacklist:<enterprise id>:<YYYY-Qn>`, `bulletin:<region>:
<YYYY-MM>`, `referral:<id>`, `summons:<id>`. Event n of a subject stores event n-1's hash (or the
subject's genesis hash) and its own hash over the canonical JSON of its fields; `(subject, seq)` is
unique, so two writers racing for the same subject cannot fork its chain (the loser's transaction
fails and nothing of it is kept). The table is append-only on PostgreSQL (migration 0012).

`verify` walks every chain and names the first bad event of each subject.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from db.models import RecordEvent
from services.audit.chain import canonical, sha256

HASHED_FIELDS = (
    "subject", "seq", "action", "actor_id", "actor_role", "actor_name", "payload", "occurred_at",
    "prev_hash",
)
EVENTS = RecordEvent.__table__


def genesis_hash(subject: str) -> str:
    return sha256("record-genesis:" + subject)


def event_hash(**fields: Any) -> str:
    return sha256(canonical({name: fields[name] for name in HASHED_FIELDS}))


class Actor:
    """Who acted: anything with `id`, `role` and `display_name` (a Principal)."""

    id: int | None
    role: str
    display_name: str


def append(
    session: Session, *, subject: str, action: str, actor: Actor, payload: dict[str, Any],
    now: datetime,
) -> RecordEvent:
    """Append one event to `subject`'s chain in the caller's transaction and return it."""
    last = session.execute(
        select(EVENTS.c.seq, EVENTS.c.hash).where(EVENTS.c.subject == subject)
        .order_by(EVENTS.c.seq.desc()).limit(1)
    ).first()
    seq, prev = (last.seq + 1, last.hash) if last else (1, genesis_hash(subject))
    values = build_event(subject=subject, seq=seq, prev_hash=prev, action=action, actor=actor,
                         payload=payload, now=now)
    return session.get(RecordEvent, insert_event(session, values))  # type: ignore[return-value]


def build_event(*, subject: str, seq: int, prev_hash: str, action: str, actor: Actor,
                payload: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The column values of one event, its hash included: for a writer that knows its chain's head
    (a task unit's part keeps `version` and `audit_head` on its row, like a hazard, and appends
    through the engine's compare-and-set)."""
    values: dict[str, Any] = dict(
        subject=subject, seq=seq, action=action, actor_id=actor.id, actor_role=str(actor.role),
        actor_name=actor.display_name, payload=canonical(payload),
        occurred_at=now.astimezone(timezone.utc), prev_hash=prev_hash,
    )
    values["hash"] = event_hash(**values)
    return values


_INSERT = insert(EVENTS).returning(EVENTS.c.id)


def insert_event(session: Session, values: dict[str, Any]) -> int:
    return session.connection().execute(_INSERT, values).scalar_one()


def trail(session: Session, subject: str) -> list[RecordEvent]:
    return list(session.scalars(
        select(RecordEvent).where(RecordEvent.subject == subject).order_by(RecordEvent.seq)
    ))


@dataclass(frozen=True)
class RecordProblem:
    subject: str
    seq: int
    event_id: int
    kind: str  # changed | missing | reordered
    message: str


def verify(session: Session, *, batch: int = 5000) -> tuple[int, int, list[RecordProblem]]:
    """Walk every subject's chain in (subject, seq) order: (subjects, events, problems), at most
    the first problem per subject."""
    subjects = events = 0
    problems: list[RecordProblem] = []
    current: str | None = None
    expected_seq, prev, broken = 1, "", False
    rows = session.execute(
        select(EVENTS).order_by(EVENTS.c.subject, EVENTS.c.seq).execution_options(yield_per=batch)
    )
    for row in rows.mappings():
        if row["subject"] != current:
            current, subjects = row["subject"], subjects + 1
            expected_seq, prev, broken = 1, genesis_hash(row["subject"]), False
        events += 1
        if broken:
            continue
        fields = {name: row[name] for name in HASHED_FIELDS}
        occurred = fields["occurred_at"]
        if occurred.tzinfo is None:
            fields["occurred_at"] = occurred.replace(tzinfo=timezone.utc)
        kind = message = None
        if row["seq"] != expected_seq:
            kind, message = "missing", f"第 {expected_seq} 条记录缺失"
        elif row["prev_hash"] != prev:
            kind, message = "reordered", "与前一条记录的哈希不衔接"
        elif event_hash(**fields) != row["hash"]:
            kind, message = "changed", "记录内容与其哈希不符（被改动）"
        if kind:
            problems.append(RecordProblem(row["subject"], row["seq"], row["id"], kind, message))
            broken = True
            continue
        expected_seq, prev = expected_seq + 1, row["hash"]
    return subjects, events, problems
