"""The flows against real databases on both backends. The sweep and the outbox flow run for real,
against a Prefect server started for the tests (`prefect_test_harness`), so their task runs and
tags can be read back as the Prefect UI shows them; the audit flows through `.fn()` (DESIGN 5.10).
The flows build their own session factory from settings, as a flow run does."""

from __future__ import annotations

import time

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, TaskRunFilter, TaskRunFilterTags
from prefect.client.schemas.sorting import TaskRunSort
from prefect.testing.utilities import prefect_test_harness
from sqlalchemy import select, update

from db.engine import UnitOfWork, read_only
from db.models import AuditEvent, Hazard, InboxItem, OutboxMessage, User
from flows import audit as audit_flows, context, escalation as escalation_flows, outbox as outbox_flows
from flows.context import HAZARDS_PER_RUN, hazard_tags
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


def task_runs(state, tag: str | None = None, *, count: int = 1, settle: float = 30.0) -> list:
    """The task runs of the flow run that ended in `state` (optionally only those with `tag`), once
    every one of them shows a final state. Prefect 3 records task runs on the server from the
    client's event stream (its recorder retries a batch its SQLite database refused with "database
    is locked"), so right after a run ends they may still show Running: read again until they
    settle (and at least `count` are there), for at most `settle` seconds."""
    flow_runs = FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
    by_tag = TaskRunFilter(tags=TaskRunFilterTags(all_=[tag])) if tag else None
    deadline = time.monotonic() + settle
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(flow_run_filter=flow_runs, task_run_filter=by_tag, limit=200,
                                         sort=TaskRunSort.EXPECTED_START_TIME_ASC)
            if (len(runs) >= count and all(r.state_type is not None and r.state_type.value in FINAL for r in runs)) \
                    or time.monotonic() > deadline:
                return runs
            time.sleep(0.25)


FINAL = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})


def hazard_codes(run) -> set[str]:
    return {t.removeprefix("hazard:") for t in run.tags if t.startswith("hazard:")}


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


def test_sweep_and_outbox_flows_tag_every_hazard_they_work_on(prefect_api, flow_settings, factory, world, clock,
                                                                monkeypatch):
    monkeypatch.setattr(escalation_flows, "HAZARDS_PER_RUN", 2)  # three hazards: two parts
    monkeypatch.setattr(outbox_flows, "HAZARDS_PER_RUN", 2)
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
    assert sorted(len(hazard_codes(r)) for r in parts) == [1, 2]
    assert all(r.name.startswith("escalate 141102-") and r.state_type.value == "COMPLETED" for r in parts)
    assert set().union(*map(hazard_codes, parts)) == codes
    for code in codes:  # what the Prefect UI's tag filter finds
        [run] = task_runs(state, f"hazard:{code}")
        assert code in run.name or run.name.endswith("(+1)")
    assert escalation_sweep(as_of=as_of)["events"] == 0  # at most once

    # the outbox flow stages the three escalations two hazards at a time, each run tagged with its
    # hazards, and each recipient still gets one digest of all three
    state = outbox_delivery(time_budget=60.0, return_state=True)
    assert state.result()["messages"] == 3
    stages = [r for r in task_runs(state) if r.name.startswith("stage")]
    assert sorted(len(hazard_codes(r)) for r in stages) == [1, 2]
    assert set().union(*map(hazard_codes, stages)) == codes
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


def test_hazard_tags_are_sorted_and_never_cut_silently():
    assert hazard_tags(["141102-2026-000002", "141102-2026-000001", "141102-2026-000002"]) == [
        "hazard:141102-2026-000001", "hazard:141102-2026-000002"]
    assert len(hazard_tags([f"c{i}" for i in range(HAZARDS_PER_RUN)])) == HAZARDS_PER_RUN
    with pytest.raises(ValueError, match="at most"):
        hazard_tags([f"c{i}" for i in range(HAZARDS_PER_RUN + 1)])


def test_a_run_with_the_most_hazard_tags_keeps_its_events(prefect_api, caplog):
    """Prefect drops a run's state events when it has more than 100 related resources, tags
    included; a run tagged with `HAZARDS_PER_RUN` hazards, under a deployment's tags, stays clear."""
    from prefect import flow, tags, task

    @task(name="tagged")
    def tagged() -> None:
        return None

    @flow(name="tag-capacity")
    def capacity(n: int, safe: bool) -> None:
        codes = [f"141102-2026-{i:06d}" for i in range(n)]
        with tags("hazard", "outbox", *(hazard_tags(codes) if safe else [f"hazard:{c}" for c in codes])):
            tagged()

    def dropped() -> bool:
        return "maximum number of related resources" in caplog.text

    capacity(110, False)  # the control: too many tags, and the events are refused by the time the run ends
    assert dropped()
    caplog.clear()
    capacity(HAZARDS_PER_RUN, True)
    assert not dropped()
