"""The office records' chain (services/audit/records.py): appended in order, verified, and a
changed or removed event is named."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from db.engine import transaction
from services.audit import records

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)


def _append(factory, world, subject, action, payload):
    with transaction(factory) as s:
        return records.append(s, subject=subject, action=action, actor=world.p("county_committee"),
                              payload=payload, now=NOW).id


def test_chain_links_and_verifies(factory, world):
    _append(factory, world, "report:141102:2026-11", "submit", {"sha256": "a" * 64})
    _append(factory, world, "report:141102:2026-11", "accept", {})
    _append(factory, world, "blacklist:1:2026-Q4", "decide", {"decision": "listed"})
    with transaction(factory) as s:
        trail = records.trail(s, "report:141102:2026-11")
        assert [e.seq for e in trail] == [1, 2]
        assert trail[0].prev_hash == records.genesis_hash("report:141102:2026-11")
        assert trail[1].prev_hash == trail[0].hash
        assert trail[0].actor_name == "county_committee"
        assert records.verify(s) == (2, 3, [])


def test_a_taken_seq_is_refused(factory, world):
    """Two writers that read the same head cannot both append: (subject, seq) is unique."""
    _append(factory, world, "return:1:2026-11", "file", {})
    with pytest.raises(IntegrityError), transaction(factory) as s:
        s.execute(text("INSERT INTO record_events (subject, seq, action, actor_role, actor_name, "
                       "payload, occurred_at, prev_hash, hash) VALUES ('return:1:2026-11', 1, 'x', "
                       "'system', 'x', '{}', :t, 'p', 'h')"), {"t": NOW})


def test_a_changed_event_is_named(factory, world, backend):
    _append(factory, world, "report:141102:2026-11", "submit", {"sha256": "a" * 64})
    event_id = _append(factory, world, "report:141102:2026-11", "accept", {})
    if backend == "postgresql":  # the trigger refuses the change itself
        with pytest.raises(DBAPIError, match="append-only"), transaction(factory) as s:
            s.execute(text("UPDATE record_events SET payload = '{}' WHERE seq = 1"))
        return
    with transaction(factory) as s:
        s.execute(text("""UPDATE record_events SET payload = '{"sha256":"b"}' WHERE seq = 1"""))
    with transaction(factory) as s:
        subjects, events, problems = records.verify(s)
    assert (subjects, events) == (1, 2)
    assert [(p.seq, p.kind) for p in problems] == [(1, "changed")]
    with transaction(factory) as s:
        s.execute(text("DELETE FROM record_events WHERE seq = 1"))
        assert records.verify(s)[2][0].kind == "missing"
        assert records.verify(s)[2][0].event_id == event_id


def test_the_whole_trail_verification_covers_the_records(factory, world, backend):
    """`hazard audit verify` (services.audit.verification.verify) walks the office records' chains
    too, and names the subject of a changed one."""
    from services.audit import verification

    _append(factory, world, "report:141102:2026-11", "submit", {"sha256": "a" * 64})
    with transaction(factory) as s:
        report = verification.verify(s)
    assert report.ok and (report.records_checked, report.record_events_checked) == (1, 1)
    if backend == "postgresql":
        return  # the trigger refuses the change (test_a_changed_event_is_named)
    with transaction(factory) as s:
        s.execute(text("UPDATE record_events SET actor_name = 'someone else'"))
    with transaction(factory) as s:
        report = verification.verify(s)
    assert not report.ok
    first = report.first_problem
    assert (first.kind, first.subject, first.seq) == ("changed", "report:141102:2026-11", 1)
    assert report.out().model_dump()["records_checked"] == 1
