"""The flows against real databases on both backends. The sweep and the outbox flow run for real,
against a Prefect server started for the tests (`prefect_test_harness`), so their task runs and
the events relating them to their hazards can be read back as the Prefect UI shows them; the
audit flows through `.fn()` (DESIGN 5.10).
The flows build their own session factory from settings, as a flow run does."""

from __future__ import annotations

import time

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.sorting import TaskRunSort
from prefect.testing.utilities import prefect_test_harness
from sqlalchemy import select, update

from db.engine import UnitOfWork, read_only
from db.models import AuditEvent, Hazard, InboxItem, OutboxMessage, User
from flows import audit as audit_flows, context, escalation as escalation_flows
from flows.context import HAZARDS_PER_EVENT, relate_hazards
from flows.escalation import escalation_sweep
from flows.outbox import outbox_delivery
from services.outbox.deliver import run_once
from services.calendar.workdays import WorkCalendar
from services.kernel.clock import cn_date, utcnow
from services.kernel.settings import get_settings
from tests.services.audit.tampering import attacker
from tests.helpers import drive


@pytest.fixture(scope="session")
def prefect_api():
    """A real Prefect server (SQLite in a temporary folder) for this test process."""
    with prefect_test_harness(server_startup_timeout=120):
        yield


def task_runs(state, *, count: int = 1, settle: float = 30.0) -> list:
    """The task runs of the flow run that ended in `state`, once every one of them shows a final
    state. Prefect 3 records task runs on the server from the client's event stream (its recorder
    retries a batch its SQLite database refused with "database is locked"), so right after a run
    ends they may still show Running: read again until they settle (and at least `count` are
    there), for at most `settle` seconds."""
    flow_runs = FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
    deadline = time.monotonic() + settle
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(flow_run_filter=flow_runs, limit=200, sort=TaskRunSort.EXPECTED_START_TIME_ASC)
            if (len(runs) >= count and all(r.state_type is not None and r.state_type.value in FINAL for r in runs)) \
                    or time.monotonic() > deadline:
                return runs
            time.sleep(0.25)


FINAL = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})


def hazard_events(name: str, runs: list, *, hazards: int, settle: float = 30.0) -> dict[str, list[set[str]]]:
    """The `name` events on these task runs, read back as the Prefect UI's event feed shows them
    (`POST /api/events/filter`): per task run id, the hazard codes each event relates. The server
    stores events a moment after they arrive: read again until they relate `hazards` hazards in
    all, for at most `settle` seconds."""
    ids = [f"prefect.task-run.{r.id}" for r in runs]
    deadline = time.monotonic() + settle
    with get_client(sync_client=True) as client:
        while True:
            page = client.request("POST", "/events/filter", json={
                "filter": {"event": {"name": [name]}, "resource": {"id": ids}, "occurred": {"since": "2000-01-01T00:00:00Z"}},
                "limit": 50}).json()
            found: dict[str, list[set[str]]] = {}
            for event in page["events"]:
                codes = {r["prefect.resource.id"].removeprefix("hazard.") for r in event["related"]
                         if r.get("prefect.resource.role") == "hazard"}
                found.setdefault(event["resource"]["prefect.resource.id"].removeprefix("prefect.task-run."), []).append(codes)
            if sum(len(c) for events in found.values() for c in events) >= hazards or time.monotonic() > deadline:
                return found
            time.sleep(0.25)


def hazard_tags(run) -> list[str]:
    return [t for t in run.tags if t.startswith("hazard:")]


@pytest.fixture
def flow_settings(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("HAZARD_DATABASE_URL", db_url)
    monkeypatch.setenv("HAZARD_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    context.session_factory.cache_clear()
    yield
    context.session_factory().kw["bind"].dispose()
    context.session_factory.cache_clear()
    get_settings.cache_clear()


def test_sweep_and_outbox_flows_relate_every_hazard_they_work_on_by_events_not_tags(
        prefect_api, flow_settings, factory, world, clock, monkeypatch):
    monkeypatch.setattr(escalation_flows, "HAZARDS_PER_PART", 2)  # three hazards: two parts
    monkeypatch.setattr(context, "HAZARDS_PER_EVENT", 2)  # one stage run of three hazards: two events
    ids = [drive(factory, world, clock(), "rectifying") for _ in range(3)]
    with read_only(factory) as s:
        codes = {s.get(Hazard, hid).code for hid in ids}
        deadline = max(s.get(Hazard, hid).deadline for hid in ids)
    as_of = WorkCalendar().add_working_days(deadline, 5)
    outbox_delivery(time_budget=60.0)  # the notices of the actions so far, out of the way

    dry = escalation_sweep(as_of=as_of, dry_run=True)
    # three steps due on each at once (remind, overdue, urge): the 督办函 alone goes out (catch-up)
    assert (dry["hazards"], dry["events"], dry["skipped"], dry["dry_run"]) == (3, 3, 6, True)
    state = escalation_sweep(as_of=as_of, return_state=True)
    result = state.result()
    assert result["as_of"] == as_of.isoformat() and result["hazards"] == 3
    assert result["by_step"] == {"urge": 3} and result["skipped"] == 6
    parts = task_runs(state, count=2)
    assert len(parts) == 2 and not any(map(hazard_tags, parts))  # no per-hazard tag on a batch run
    assert all(r.name.startswith("escalate 141102-") and r.state_type.value == "COMPLETED" for r in parts)
    # each part relates to its hazards through one event, on its own task run
    events = hazard_events("hazard.batch.escalated", parts, hazards=3)
    assert sorted(len(c) for evs in events.values() for c in evs) == [1, 2]
    assert set(events) == {str(r.id) for r in parts}
    assert set().union(*(c for evs in events.values() for c in evs)) == codes
    for run in parts:  # the run is named after the first of its hazards
        assert run.name.split()[1] in set().union(*events[str(run.id)])
    assert escalation_sweep(as_of=as_of)["events"] == 0  # at most once

    # the outbox flow stages the three escalations in one untagged run that relates to its three
    # hazards in two events, and each recipient still gets one digest of all three
    state = outbox_delivery(time_budget=60.0, return_state=True)
    assert state.result()["messages"] == 3
    stages = [r for r in task_runs(state) if r.name.startswith("stage")]
    assert len(stages) == 1 and not hazard_tags(stages[0]) and stages[0].name.endswith("(+2)")
    events = hazard_events("hazard.batch.staged", stages, hazards=3)
    assert sorted(len(c) for c in events[str(stages[0].id)]) == [1, 2]
    assert set().union(*events[str(stages[0].id)]) == codes
    with read_only(factory) as s:
        digests = s.execute(select(InboxItem.user_id, InboxItem.body)
                            .where(InboxItem.title.startswith(f"督办提醒（{cn_date(as_of)}）"))).all()
    users = [u for u, _ in digests]
    assert users and len(users) == len(set(users))
    assert all(code in text for _, text in digests for code in codes)


def test_checkpoint_flow(flow_settings, factory, world, clock):
    drive(factory, world, clock(), "registered")
    drive(factory, world, clock(), "reported")
    result = audit_flows.audit_checkpoint.fn()
    assert result["leaf_count"] == 2 and len(result["merkle_root"]) == 64
    assert len(result["key_id"]) == 16  # signed with the key generated on first use (development)
    assert audit_flows.audit_verify.fn()["ok"] is True  # against the checkpoint log it also wrote


def test_nightly_verification_alerts_once_when_the_trail_is_broken(flow_settings, engine, factory, world, clock):
    hid = drive(factory, world, clock(), "registered")
    # The flow verifies with the real clock, days after these events: without a checkpoint that
    # alone is a failure, so take one as the hourly flow would have.
    audit_flows.audit_checkpoint.fn()
    assert audit_flows.audit_verify.fn()["ok"] is True
    with attacker(engine) as conn:
        conn.execute(update(AuditEvent).where(AuditEvent.hazard_id == hid, AuditEvent.seq == 2)
                     .values(actor_name="别人"))
    for _ in range(2):
        with pytest.raises(audit_flows.AuditTrailBroken, match="审计链校验失败"):
            audit_flows.audit_verify.fn()
    with read_only(factory) as s:
        alerts = s.execute(select(OutboxMessage.hazard_id, OutboxMessage.payload)
                           .where(OutboxMessage.kind == "alert.audit")).all()
    assert len(alerts) == 1  # one alert a day per break, however often the check runs
    assert alerts[0].hazard_id is None and '"ok":false' in alerts[0].payload

    # ... and it reaches the admins and auditors through the channels
    run_once(UnitOfWork(factory), now=utcnow(), settings=get_settings())  # the flow stamps it with real time
    with read_only(factory) as s:
        told = s.execute(select(User.username, InboxItem.title, InboxItem.body)
                         .join(InboxItem, InboxItem.user_id == User.id)
                         .where(InboxItem.title.startswith("【告警】"))).all()
    assert sorted(u for u, _, _ in told) == ["admin", "auditor"]
    assert all(t == "【告警】审计链校验失败" and "141102-2026-000001" in b for _, t, b in told)


def test_outside_a_task_run_nothing_is_related_and_no_prefect_is_needed(monkeypatch):
    """`.fn()`, the CLI: no task run to relate, so no event (and no ephemeral Prefect server)."""
    import prefect.events

    def refuse(*args, **kwargs):
        raise AssertionError("emit_event called outside a task run")

    monkeypatch.setattr(prefect.events, "emit_event", refuse)
    assert relate_hazards("hazard.batch.staged", ["141102-2026-000001"]) == 0


def test_a_run_relates_any_number_of_hazards_in_events_prefect_accepts(prefect_api, caplog):
    """Prefect drops an event with more than 100 related resources (the run context's included):
    a run of 200 hazards relates them in events of at most `HAZARDS_PER_EVENT`, under a run with
    tags of its own, and none is refused."""
    from prefect import flow, tags, task

    codes = [f"141102-2026-{i:06d}" for i in range(200)]

    @task(name="batch")
    def batch() -> int:
        return relate_hazards("hazard.batch.test", codes + codes[:5], {"messages": 1})  # repeats count once

    @flow(name="relate-capacity")
    def capacity() -> int:
        with tags("hazard", "outbox"):
            return batch()

    state = capacity(return_state=True)
    assert state.result() == 3
    [run] = task_runs(state)
    events = hazard_events("hazard.batch.test", [run], hazards=200)
    assert sorted(len(c) for c in events[str(run.id)]) == [200 - 2 * HAZARDS_PER_EVENT, HAZARDS_PER_EVENT,
                                                             HAZARDS_PER_EVENT]
    assert set().union(*events[str(run.id)]) == set(codes)
    assert "maximum number of related resources" not in caplog.text


def test_an_event_prefect_refuses_never_fails_the_task_run(prefect_api, monkeypatch):
    """The events are a view: the work is committed before they are sent, and a refusal (here the
    client raising as it does for an oversized event) is logged, not raised."""
    import prefect.events
    from prefect import flow, task

    def refuse(*args, **kwargs):
        raise prefect.exceptions.EventTooLarge(10**7, 1500000)

    monkeypatch.setattr(prefect.events, "emit_event", refuse)

    @task(name="batch")
    def batch() -> int:
        return relate_hazards("hazard.batch.test", ["141102-2026-000001"])

    @flow(name="relate-refused")
    def refused() -> int:
        return batch()

    state = refused(return_state=True)
    assert state.is_completed() and state.result() == 0  # nothing sent, and the run completed


def test_the_delivery_channels_are_built_once_per_settings_and_shared(monkeypatch):
    """The flow's delivery threads share one set of channels, so the webhook transport keeps its
    connections from batch to batch; new settings (a reloaded process's) replace them, and the
    old ones are closed."""
    from services.notify.channels import WebhookChannel

    closed: list[object] = []
    monkeypatch.setattr(WebhookChannel, "close", lambda self: closed.append(self))
    monkeypatch.setattr(context, "_channels", None)
    get_settings.cache_clear()
    try:
        first = context.channels()
        assert context.channels() is first and {c.name for c in first} == {"inbox", "email", "webhook"}
        get_settings.cache_clear()
        second = context.channels()
        assert second is not first and context.channels() is second
        assert closed == [c for c in first if c.name == "webhook"]
    finally:
        get_settings.cache_clear()
