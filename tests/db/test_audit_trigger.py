"""The append-only trigger on `audit_events` (DESIGN 3; migration 0001), PostgreSQL only.

The migration creates `audit_events_append_only` (BEFORE UPDATE OR DELETE, FOR EACH ROW) on
PostgreSQL only. SQLite gets no trigger: there, audit events are as mutable as any other row and
the hash chain plus checkpoints (tests/services/audit/test_audit_trail.py) are the only protection,
so nothing is asserted about SQLite here. Superusers are not exempt from triggers, so the refusals
below hold for the test's superuser connection too; bypassing the trigger takes DDL (`ALTER TABLE
... DISABLE TRIGGER`) or `session_replication_role`, as the audit-trail tests do.
"""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError

from db.engine import read_only, transaction
from db.models import AuditEvent
from services.audit import (
    chain as audit, merkle as audit_merkle, verification as audit_verification,
)
from services.engine import transitions
from services.kernel.clock import local_date
from tests.helpers import body_for, drive

EV = AuditEvent.__table__


@pytest.fixture
def db_url(pg_url) -> str:
    """Every fixture built on `db_url` (engine, factory, world) runs on PostgreSQL only here."""
    return pg_url


@pytest.fixture
def hazard(factory, world, clock) -> int:
    return drive(factory, world, clock(), "rectifying")  # three events


def _events(engine, hid):
    with engine.connect() as conn:
        return list(conn.execute(select(EV).where(EV.c.hazard_id == hid).order_by(EV.c.seq)))


def _assert_refused(engine, statement, op: str) -> None:
    """Run `statement` in its own transaction: the trigger must refuse it."""
    with pytest.raises(DBAPIError) as exc:
        with engine.begin() as conn:
            conn.execute(statement)
    _refused(exc, op)


def _refused(exc: pytest.ExceptionInfo, op: str) -> None:
    assert isinstance(exc.value.orig, psycopg.errors.InsufficientPrivilege), exc.value
    assert f"audit_events is append-only: {op} refused" in str(exc.value.orig)


def test_trigger_is_installed_and_enabled(engine):
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT t.tgenabled, pg_get_triggerdef(t.oid) AS definition FROM pg_trigger t "
            "WHERE t.tgrelid = 'audit_events'::regclass AND t.tgname = 'audit_events_append_only'"
        )).one()
    assert row.tgenabled == "O"
    assert "BEFORE DELETE OR UPDATE ON public.audit_events FOR EACH ROW" in row.definition


def test_update_is_refused_and_the_row_is_unchanged(engine, hazard):
    before = _events(engine, hazard)
    target = before[1]
    _assert_refused(engine, update(EV).where(EV.c.id == target.id).values(actor_name="篡改者"), "UPDATE")
    # Even an UPDATE that changes nothing, over every row, is refused.
    _assert_refused(engine, text("UPDATE audit_events SET seq = seq"), "UPDATE")
    assert _events(engine, hazard) == before


def test_update_through_the_orm_is_refused(factory, engine, hazard):
    before = _events(engine, hazard)
    with pytest.raises(DBAPIError) as exc:
        with transaction(factory) as s:
            ev = s.execute(select(AuditEvent).where(AuditEvent.hazard_id == hazard,
                                                     AuditEvent.seq == 1)).scalar_one()
            ev.payload = "{}"
    _refused(exc, "UPDATE")
    assert _events(engine, hazard) == before


def test_delete_is_refused_and_the_row_stays(engine, hazard):
    before = _events(engine, hazard)
    _assert_refused(engine, delete(EV).where(EV.c.id == before[-1].id), "DELETE")
    _assert_refused(engine, text("DELETE FROM audit_events"), "DELETE")
    assert _events(engine, hazard) == before


def test_insert_works(engine, factory, world, clock, hazard):
    """Appending is what the service does; through the real path and as a plain INSERT."""
    body = body_for("report_progress", today=local_date(clock()), level="general",
                    uscc=world.enterprises["coal"])
    with transaction(factory) as s:
        transitions.perform(s, world.p("ent_coal"), hazard, "report_progress", body, now=clock())
    rows = _events(engine, hazard)
    assert [e.seq for e in rows] == [1, 2, 3, 4]

    # A plain INSERT is accepted by the trigger (it only guards UPDATE and DELETE).
    forged = audit.build_event(
        hazard_id=hazard, seq=5, prev_hash=rows[-1].hash, action="comment", actor_id=None,
        actor_role="system", actor_name="system", from_state="rectifying", to_state="rectifying",
        payload={"body": {"text": "x"}}, occurred_at=clock(),
    )
    with engine.begin() as conn:
        new_id = conn.execute(insert(EV).values(**forged).returning(EV.c.id)).scalar_one()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).where(EV.c.id == new_id)).scalar_one() == 1
    with read_only(factory) as s:
        report = audit_verification.verify(s)
    # The chain itself is intact; the hazard row (version 4) does not know about seq 5.
    assert report.first_problem is not None and report.first_problem.kind == "head_mismatch"


def test_truncate_is_refused(engine, hazard):
    before = _events(engine, hazard)
    _assert_refused(engine, text("TRUNCATE audit_events CASCADE"), "TRUNCATE")
    assert _events(engine, hazard) == before


def test_checkpoints_are_append_only_too(engine, factory, hazard, clock):
    with transaction(factory) as s:
        cp_id = audit_merkle.create_checkpoint(s, now=clock()).id
    for statement in (
        f"UPDATE audit_checkpoints SET merkle_root = repeat('0', 64) WHERE id = {cp_id}",
        f"DELETE FROM audit_checkpoints WHERE id = {cp_id}",
        f"UPDATE audit_checkpoint_heads SET seq = 1 WHERE checkpoint_id = {cp_id}",
        f"DELETE FROM audit_checkpoint_heads WHERE checkpoint_id = {cp_id}",
        "TRUNCATE audit_checkpoint_heads",
    ):
        with pytest.raises(DBAPIError) as exc:
            with engine.begin() as conn:
                conn.execute(text(statement))
        assert isinstance(exc.value.orig, psycopg.errors.InsufficientPrivilege), statement
        assert "is append-only" in str(exc.value.orig)
    with read_only(factory) as s:
        assert audit_verification.verify(s).ok
