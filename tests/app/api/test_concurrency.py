"""Real concurrency through the HTTP API, on PostgreSQL only (DESIGN 3: one transaction per state
change, compare-and-set on the version): one action raced by 50 callers has one winner, 50 actions
on 50 hazards all land, 50 comments on one hazard all land, and the overlap is real without the
barrier too. How overlap is proven: race_rig.py.
"""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import text

from services.kernel.clock import local_date
from tests.app.api.race_rig import (  # noqa: F401 - rig is a fixture
    API, N, Rig, assert_overlap, expect_statuses, hazard_row, rig, stored_events, verify_ok,
)
from tests.helpers import body_for, new_hazard

pytestmark = pytest.mark.pg_only


def _assert_registered_once(rig, hid: int) -> None:
    """Registered exactly once: version 2, events report + register, the head is the last hash."""
    h = hazard_row(rig.factory, hid)
    assert (h.state, h.version) == ("registered", 2)
    events = stored_events(rig.factory, hid)
    assert [(e.seq, e.action) for e in events] == [(1, "report"), (2, "register")]
    assert events[-1].hash == h.audit_head


def test_postgresql_backend_is_used(rig: Rig):
    assert rig.app.state.engine.dialect.name == "postgresql"
    assert rig.app.state.engine.dialect.driver == "psycopg"
    with rig.app.state.engine.connect() as conn:
        assert conn.execute(text("select version()")).scalar_one().startswith("PostgreSQL")
        max_conn = int(conn.execute(text("show max_connections")).scalar_one())
    assert max_conn > N + 20  # room for the app's N connections and the test's own
    assert rig.app.state.engine.pool.size() >= N


def test_same_register_by_50_inspectors_one_wins(rig: Rig):
    hid = new_hazard(rig.factory, rig.world, rig.clock())
    body = body_for("register", today=local_date(rig.clock()), level="general",
                    uscc=rig.world.enterprises["coal"])
    gate = rig.gate("perform_action", N)

    responses = rig.race([
        ("POST", f"{API}/hazards/{hid}/actions/register", body, rig.auth(token))
        for token in rig.inspectors
    ])

    assert_overlap(rig, gate, N)
    expect_statuses(responses, {200: 1, 409: N - 1})
    winner = next(r for r in responses if r.status_code == 200)
    assert winner.json()["state"] == "registered" and winner.json()["version"] == 2
    assert winner.headers["ETag"] == '"2"'
    for r in responses:
        if r.status_code == 409:
            assert r.json()["error"]["code"], r.text
    _assert_registered_once(rig, hid)
    report = verify_ok(rig.factory)
    assert report.events_checked == 2


def test_same_comment_with_one_if_match_one_wins(rig: Rig):
    hid = new_hazard(rig.factory, rig.world, rig.clock())
    gate = rig.gate("perform_action", N)

    responses = rig.race([
        ("POST", f"{API}/hazards/{hid}/actions/comment", {"text": f"第{i:02d}号检查员的备注"},
         rig.auth(token, **{"If-Match": '"1"'}))
        for i, token in enumerate(rig.inspectors)
    ])

    assert_overlap(rig, gate, N)
    expect_statuses(responses, {200: 1, 409: N - 1})
    assert all(r.json()["error"]["code"] in {"stale_version", "concurrent_update"}
               for r in responses if r.status_code == 409)
    winner_index = next(i for i, r in enumerate(responses) if r.status_code == 200)
    h = hazard_row(rig.factory, hid)
    assert (h.state, h.version) == ("reported", 2)
    events = stored_events(rig.factory, hid)
    assert [(e.seq, e.action) for e in events] == [(1, "report"), (2, "comment")]
    assert f"第{winner_index:02d}号检查员的备注" in events[1].payload
    verify_ok(rig.factory)


def test_50_actions_on_50_hazards_all_succeed(rig: Rig):
    hids = [new_hazard(rig.factory, rig.world, rig.clock()) for _ in range(N)]
    body = body_for("register", today=local_date(rig.clock()), level="general",
                    uscc=rig.world.enterprises["coal"])
    gate = rig.gate("perform_action", N)

    responses = rig.race([
        ("POST", f"{API}/hazards/{hid}/actions/register", body, rig.auth(token))
        for hid, token in zip(hids, rig.inspectors, strict=True)
    ])

    assert_overlap(rig, gate, N)
    expect_statuses(responses, {200: N})
    for hid, r in zip(hids, responses, strict=True):
        assert (r.json()["id"], r.json()["version"], r.json()["state"]) == (hid, 2, "registered")
        _assert_registered_once(rig, hid)
    report = verify_ok(rig.factory)
    assert (report.hazards_checked, report.events_checked) == (N, 2 * N)


def test_overlap_is_real_without_a_gate(rig: Rig):
    """Without the barrier, the threadpool still runs the requests side by side: the pool had many
    connections out at once (each one a PostgreSQL backend) and the race still has one winner."""
    hid = new_hazard(rig.factory, rig.world, rig.clock())
    started = time.perf_counter()
    responses = rig.race([
        ("POST", f"{API}/hazards/{hid}/actions/comment", {"text": f"无闸门{i}"},
         rig.auth(token, **{"If-Match": '"1"'}))
        for i, token in enumerate(rig.inspectors)
    ])
    elapsed = time.perf_counter() - started
    print(f"overlap without gate: connections out at once={rig.probe.high_water}, "
          f"backends={len(rig.probe.pids)}, "
          f"busy backends seen by the server={rig.server_max_busy}, race took {elapsed:.3f}s")
    expect_statuses(responses, {200: 1, 409: N - 1})
    assert rig.probe.high_water >= 10, (rig.probe.high_water, elapsed)
    assert rig.server_max_busy >= 5, rig.server_max_busy
    assert len(stored_events(rig.factory, hid)) == 2
    verify_ok(rig.factory)


def test_50_comments_at_once_all_land(rig: Rig):
    """No-state-change actions without If-Match wait for each other on the row lock instead of
    losing the compare-and-set (issue 10 item 7): 50 comments, 50 events, one chain."""
    hid = new_hazard(rig.factory, rig.world, rig.clock())
    gate = rig.gate("perform_action", N)

    responses = rig.race([
        ("POST", f"{API}/hazards/{hid}/actions/comment", {"text": f"第{i:02d}条备注"}, rig.auth(token))
        for i, token in enumerate(rig.inspectors)
    ])

    assert_overlap(rig, gate, N)
    expect_statuses(responses, {200: N})
    assert sorted(r.json()["version"] for r in responses) == list(range(2, N + 2))
    events = stored_events(rig.factory, hid)
    assert [e.action for e in events] == ["report"] + ["comment"] * N
    assert {f"第{i:02d}条备注" for i in range(N)} == {json.loads(e.payload)["body"]["text"] for e in events[1:]}
    assert hazard_row(rig.factory, hid).version == N + 1
    verify_ok(rig.factory)
