"""Tampering with the audit trail as someone holding database credentials would (DESIGN 3;
services/audit/chain.py): the chains to tamper with, the attacker, and the checks of what
`audit_verification.verify` then names. Used by test_audit_trail.py, test_audit_trail_checkpoints.py,
test_audit_tamper.py, tests/app/cli/test_cli_audit.py and tests/flows/test_flows.py.

`build_chains` writes several hazards' chains through the real transaction path
(`creation.report` / `transitions.perform`), advanced round-robin so their events interleave in
`audit_events` the way they do in production. `attacker` is one transaction of plain SQL on a
separate connection, never through the service.

On PostgreSQL the trigger `audit_events_append_only` refuses UPDATE and DELETE, so the attacker
first bypasses it as someone with DDL (or superuser) rights would: `ALTER TABLE ... DISABLE
TRIGGER` or `SET LOCAL session_replication_role = replica`, inside the tampering transaction, and
the trigger is checked to be active again afterwards. SQLite has no such trigger.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, delete, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from db.engine import read_only, transaction
from db.models import AuditCheckpoint, AuditCheckpointHead, AuditEvent, Hazard, OutboxMessage
from services.audit import (
    chain as audit, merkle as audit_merkle, verification as audit_verification,
)
from services.engine import transitions
from services.kernel.clock import local_date
from tests.helpers import add_attachment, body_for, new_hazard

TRIGGER = "audit_events_append_only"
APPEND_ONLY = ("audit_events", "audit_checkpoints", "audit_checkpoint_heads", "record_events")
EV = AuditEvent.__table__
HZ = Hazard.__table__
CP = AuditCheckpoint.__table__
CPH = AuditCheckpointHead.__table__
OUTBOX = OutboxMessage.__table__

# After `report`: six events per hazard, some with outbox rows pointing at them, some without.
STEPS = [
    ("register", "inspector"),
    ("file_plan", "ent_coal"),
    ("report_progress", "ent_coal"),
    ("comment", "inspector"),
    ("request_acceptance", "ent_coal"),
]
EVENTS_PER_HAZARD = 1 + len(STEPS)
HASHED = ("hazard_id", "seq", "action", "actor_id", "actor_role", "actor_name", "from_state",
          "to_state", "payload", "occurred_at", "prev_hash")
CONTENT = HASHED[1:] + ("hash",)  # everything of an event but its id and hazard


# --- building chains ------------------------------------------------------------------------------


def build_chains(factory: sessionmaker[Session], world, clock, n: int = 3) -> list[int]:
    """`n` hazards with six events each, interleaved: hazard 1's events are not contiguous ids."""
    ids = []
    for _ in range(n):
        clock.advance(minutes=1)
        ids.append(new_hazard(factory, world, clock()))
    for action, actor in STEPS:
        for hid in ids:
            clock.advance(minutes=1)
            evidence = [add_attachment(factory, hid, clock())] if action == "request_acceptance" else None
            body = body_for(action, today=local_date(clock()), level="general",
                            uscc=world.enterprises["coal"], evidence=evidence)
            with transaction(factory) as s:
                transitions.perform(s, world.p(actor), hid, action, body, now=clock())
    return ids


@dataclass
class Chains:
    engine: Engine
    factory: sessionmaker[Session]
    ids: list[int]

    def code(self, hid: int) -> str:
        with self.engine.connect() as conn:
            return conn.execute(select(HZ.c.code).where(HZ.c.id == hid)).scalar_one()

    def events(self, hid: int) -> list[Any]:
        """The hazard's stored events, by seq (rows of audit_events)."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(EV).where(EV.c.hazard_id == hid).order_by(EV.c.seq)))

    def event(self, hid: int, seq: int) -> Any:
        return next(e for e in self.events(hid) if e.seq == seq)

    def verify(self, **kw: Any) -> audit_verification.VerifyReport:
        with read_only(self.factory) as s:
            return audit_verification.verify(s, **kw)

    def checkpoint(self, clock) -> int:
        with transaction(self.factory) as s:
            return audit_merkle.create_checkpoint(s, now=clock()).id


@pytest.fixture
def chains(engine, factory, world, clock) -> Chains:
    c = Chains(engine, factory, build_chains(factory, world, clock))
    report = c.verify()
    assert report.ok, report.as_dict()
    return c


# --- the attacker ---------------------------------------------------------------------------------


def trigger_enabled(engine: Engine) -> bool:
    with engine.connect() as conn:
        state = conn.execute(
            text("SELECT tgenabled FROM pg_trigger WHERE tgname = :n AND NOT tgisinternal"),
            {"n": TRIGGER},
        ).scalar_one()
        role = conn.execute(text("SHOW session_replication_role")).scalar_one()
    return state == "O" and role == "origin"


@contextmanager
def attacker(engine: Engine, bypass: str = "disable_trigger") -> Iterator[Connection]:
    """One transaction of someone writing to the database directly, bypassing the service.

    On PostgreSQL the append-only trigger is bypassed for this transaction only and is active
    again once it commits (or rolls back)."""
    pg = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        if pg and bypass == "disable_trigger":
            for table in APPEND_ONLY:
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        elif pg and bypass == "replica":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        yield conn
        if pg and bypass == "disable_trigger":
            for table in APPEND_ONLY:
                conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
    if pg:
        assert trigger_enabled(engine), "the append-only trigger was not restored"


def content(row: Any, *, keep_seq: bool = False) -> dict[str, Any]:
    cols = [c for c in CONTENT if not (keep_seq and c == "seq")]
    return {c: getattr(row, c) for c in cols}


def rehash(values: dict[str, Any]) -> str:
    return audit.event_hash(**{k: values[k] for k in HASHED})


def drop_events(conn: Connection, event_ids: list[int]) -> None:
    """Delete events, first unhooking the outbox rows that reference them (the foreign key)."""
    conn.execute(update(OUTBOX).where(OUTBOX.c.event_id.in_(event_ids)).values(event_id=None))
    conn.execute(delete(EV).where(EV.c.id.in_(event_ids)))


def rewrite_from(conn: Connection, rows: list[Any], start: int, change: dict[str, Any]) -> str:
    """Apply `change` to the event at seq `start` and recompute every hash from there on, so the
    chain is consistent again; returns the new head hash."""
    prev = next(r.hash for r in rows if r.seq == start - 1) if start > 1 else None
    for r in rows:
        if r.seq < start:
            continue
        values = {c: getattr(r, c) for c in HASHED}
        if r.seq == start:
            values.update(change)
        if prev is not None:
            values["prev_hash"] = prev
        values["hash"] = prev = rehash(values)
        conn.execute(update(EV).where(EV.c.id == r.id).values(**values))
    assert prev is not None
    return prev


def assert_first(report: audit_verification.VerifyReport, *, kind: str, hazard_id: int | None,
                 code: str | None, seq: int | None, event_id: int | None) -> audit_verification.Problem:
    assert not report.ok
    first = report.first_problem
    assert first is not None
    got = (first.kind, first.hazard_id, first.hazard_code, first.seq, first.event_id)
    assert got == (kind, hazard_id, code, seq, event_id), report.as_dict()
    assert report.as_dict()["first_bad_event"] == first.as_dict()
    return first



def truncate(conn: Connection, rows: list[Any], keep: int) -> None:
    """Delete every event after `keep` and make the hazard row agree (version, audit_head)."""
    drop_events(conn, [r.id for r in rows[keep:]])
    conn.execute(update(HZ).where(HZ.c.id == rows[0].hazard_id)
                 .values(version=keep, audit_head=rows[keep - 1].hash))


def swap_seq(conn: Connection, a: Any, b: Any) -> None:
    """Events `a` and `b` trade their seq numbers."""
    conn.execute(update(EV).where(EV.c.id == a.id).values(seq=-1))  # (hazard_id, seq) is unique
    conn.execute(update(EV).where(EV.c.id == b.id).values(seq=a.seq))
    conn.execute(update(EV).where(EV.c.id == a.id).values(seq=b.seq))
