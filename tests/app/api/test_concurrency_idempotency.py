"""Idempotency-Key under real concurrency through the HTTP API, on PostgreSQL only (DESIGN 4): a
retry in sequence replays the stored answer, and concurrent copies of an action or of a report have
one effect. How overlap is proven: race_rig.py.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from db.engine import read_only
from db.models import Hazard, HazardSequence, IdempotencyKey
from tests.app.api.race_rig import (  # noqa: F401 - rig is a fixture
    API, Rig, assert_overlap, expect_statuses, hazard_row, rig, stored_events, verify_ok,
)
from tests.helpers import new_hazard, report_body

pytestmark = pytest.mark.pg_only


def test_idempotent_retry_in_sequence_replays(rig: Rig):
    hid = new_hazard(rig.factory, rig.world, rig.clock())
    headers = rig.auth(rig.inspectors[0], **{"Idempotency-Key": "retry-comment-1"})
    url = f"{API}/hazards/{hid}/actions/comment"

    first = rig.send("POST", url, {"text": "重试的备注"}, headers)
    second = rig.send("POST", url, {"text": "重试的备注"}, headers)

    assert first.status_code == 200, first.text
    assert "Idempotent-Replayed" not in first.headers
    assert second.status_code == 200, second.text
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert second.headers["ETag"] == first.headers["ETag"] == '"2"'
    assert [e.action for e in stored_events(rig.factory, hid)] == ["report", "comment"]
    assert hazard_row(rig.factory, hid).version == 2

    # The same key with another body is refused, and still has no effect.
    other = rig.send("POST", url, {"text": "另一条备注"}, headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert len(stored_events(rig.factory, hid)) == 2
    verify_ok(rig.factory)


COPIES = 20


def test_idempotent_concurrent_copies_of_an_action_one_effect(rig: Rig):
    """`comment` is allowed in every state, so without the key each copy would add a comment."""
    hid = new_hazard(rig.factory, rig.world, rig.clock())
    headers = rig.auth(rig.inspectors[0], **{"Idempotency-Key": "burst-comment-1"})
    gate = rig.gate("perform_action", COPIES)

    responses = rig.race([
        ("POST", f"{API}/hazards/{hid}/actions/comment", {"text": "同一条备注"}, headers)
        for _ in range(COPIES)
    ])

    assert_overlap(rig, gate, COPIES)
    expect_statuses(responses, {200: COPIES})
    first = responses[0].json()
    assert all(r.json() == first for r in responses)
    assert first["version"] == 2
    fresh = [r for r in responses if r.headers.get("Idempotent-Replayed") != "true"]
    assert len(fresh) == 1  # one answer did the work, every other one is the stored answer
    assert [e.action for e in stored_events(rig.factory, hid)] == ["report", "comment"]
    assert hazard_row(rig.factory, hid).version == 2
    with read_only(rig.factory) as s:
        assert s.execute(select(func.count()).select_from(IdempotencyKey)).scalar_one() == 1
    verify_ok(rig.factory)


def test_idempotent_concurrent_copies_of_a_report_one_hazard(rig: Rig):
    headers = rig.auth(rig.inspectors[0], **{"Idempotency-Key": "burst-report-1"})
    gate = rig.gate("report_hazard", COPIES)

    responses = rig.race([("POST", f"{API}/hazards", report_body(), headers)] * COPIES)

    assert_overlap(rig, gate, COPIES)
    expect_statuses(responses, {201: COPIES})
    first = responses[0].json()
    assert all(r.json() == first for r in responses)
    assert len([r for r in responses if r.headers.get("Idempotent-Replayed") != "true"]) == 1
    with read_only(rig.factory) as s:
        codes = list(s.execute(select(Hazard.code)).scalars())
        last = s.execute(select(HazardSequence.last_value)).scalar_one()
    assert codes == [first["code"]]
    assert last == 1  # the losers' sequence bumps were rolled back with the rest of their work
    verify_ok(rig.factory)
