"""Support for the tests of the lifecycle mirror against a real Prefect server: the server, the flow
process's settings pointed at the test database, a hazard walked through its lifecycle with time
moving between the acts, and reading back what the Prefect UI would show (a run's states, logs,
artifact and events).

What the mirror writes is read back through the Prefect client and REST API, never through the
mirror's own code, so a test fails when Prefect does not show what `services.mirror.render` meant.
Events are persisted by the server a moment after they arrive: `events_of` reads again until the
expected number is there or a deadline passes (the assert then fails on the count)."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import select

from db.engine import read_only, transaction
from db.models import AuditEvent, Hazard, MirrorItem
from flows import context
from services.engine import transitions
from services.kernel.clock import local_date
from services.kernel.settings import get_settings
from services.lifecycle.states import STATE_LABELS
from tests.helpers import ACTOR_OF, PATHS, add_attachment, body_for, new_hazard

STEP = timedelta(hours=3)  # between two acts of a walk: each state and line has its own time


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    """A real Prefect server (SQLite in a temporary folder) for this test process; its API URL."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_API_URL.value()


@pytest.fixture
def prefect(prefect_server) -> str:
    """The session's Prefect server with no hazard's run in it: every test's database numbers its
    hazards from 1, and a run is keyed by its item (`hazard:1`), so an earlier test's run would
    otherwise be found under this test's key (and a resumed pass would take it for its own). The
    units' parts' runs stay (deleting a run takes Prefect most of a second; the task-list test,
    the only one to make them, starts its parts with fresh markers, which replace a run found)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterTags
    from prefect.client.schemas.sorting import FlowRunSort

    from services.mirror.render import FLOW_NAME, HAZARD

    with get_client(sync_client=True) as client:
        while True:
            old = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])),
                                        flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[HAZARD.tag])),
                                        limit=200, sort=FlowRunSort.ID_DESC)
            if not old:
                return prefect_server
            for flow_run in old:
                client.delete_flow_run(flow_run.id)


@pytest.fixture
def mirror_env(db_url, tmp_path, monkeypatch) -> Iterator[str]:
    """The flow process's settings (`flows.context.session_factory`) on this test's database."""
    monkeypatch.setenv("HAZARD_DATABASE_URL", db_url)
    monkeypatch.setenv("HAZARD_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    context.session_factory.cache_clear()
    yield db_url
    context.session_factory().kw["bind"].dispose()
    context.session_factory.cache_clear()
    get_settings.cache_clear()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def prefect_at(url: str) -> Iterator[None]:
    """Point this process's Prefect client at `url`, in this thread and in the fresh threads the
    mirror's sink runs its event loop in (they see Prefect's process-global settings context, which
    `prefect_test_harness` replaces the same way)."""
    from prefect.context import _temporary_global_settings_context, get_settings_context
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: url}):
        with _temporary_global_settings_context(get_settings_context()):
            yield


def walk(factory, world, clock, state: str = "closed", *, title: str | None = None) -> int:
    """Report a hazard and walk it to `state` through the real actions, the clock moving `STEP`
    before each act. The title is unique unless given: the Prefect event ids derive from the audit
    events' hashes, so two tests' identical hazards would share them in one Prefect server."""
    title = title or f"主运输巷道顶板离层 {uuid.uuid4().hex[:6]}"
    hazard_id = new_hazard(factory, world, clock(), title=title)
    for action in PATHS[state]:
        clock.advance(seconds=STEP.total_seconds())
        now = clock()
        evidence = [add_attachment(factory, hazard_id, now)] if action == "request_acceptance" else None
        body = body_for(action, today=local_date(now), level="general", uscc=world.enterprises["coal"],
                        evidence=evidence)
        with transaction(factory) as s:
            transitions.perform(s, world.p(ACTOR_OF[action]), hazard_id, action, body, now=now)
    return hazard_id


def chain(factory, hazard_id: int) -> list:
    """The hazard's audit events (seq, action, from_state, to_state, hash), oldest first."""
    E = AuditEvent
    with read_only(factory) as s:
        return s.execute(select(E.seq, E.action, E.from_state, E.to_state, E.hash).where(E.hazard_id == hazard_id)
                         .order_by(E.seq)).all()


def lifecycle_labels(events: list) -> list[str]:
    """The state names a run must show: the first event's state, then each change, by label."""
    labels, current = [], None
    for ev in events:
        if ev.to_state != current:
            labels.append(STATE_LABELS[ev.to_state])
            current = ev.to_state
    return labels


def code_and_title(factory, hazard_id: int) -> tuple[str, str]:
    with read_only(factory) as s:
        h = s.get(Hazard, hazard_id)
        return h.code, h.title


def marker(factory, item: str):
    with read_only(factory) as s:
        return s.execute(select(MirrorItem.__table__).where(MirrorItem.item == item)).one_or_none()


# --- reading Prefect back ---------------------------------------------------------------------------


def runs_named(name: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])), limit=10,
                                     sort=FlowRunSort.ID_DESC)


def run(run_id: str):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id)


def states(run_id: str) -> list:
    """The run's state history, oldest first."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return sorted(client.read_flow_run_states(run_id), key=lambda st: st.timestamp)


def logs(run_id: str) -> list[str]:
    """The run's log messages in the order the UI lists them (by timestamp)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort

    out, offset = [], 0
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])), limit=200,
                                    offset=offset, sort=LogSort.TIMESTAMP_ASC)
            out += [log.message for log in page]
            if len(page) < 200:
                return out
            offset += 200


def artifact(key: str) -> dict | None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        response = client.request("POST", "/artifacts/latest/filter",
                                  json={"artifacts": {"key": {"any_": [key]}}, "limit": 5})
        found = response.json()
    return found[0] if found else None


def event_ids(events: list) -> list[str]:
    """The ids the mirror gives the Prefect events of these audit events (from their hashes)."""
    from services.mirror.render import EVENT_NAMESPACE

    return [str(uuid.uuid5(EVENT_NAMESPACE, ev.hash)) for ev in events]


def events_of(code: str, run_id: str | None = None, *, expect: int, ids: list[str] | None = None,
              settle: float = 30.0) -> list[dict]:
    """The events on resource `hazard.<code>` as the UI's event feed reads them (POST
    /api/events/filter), oldest first: those relating to this run, or those with these ids (an
    earlier test's hazard may have had the same code); read again until `expect` are there, for at
    most `settle` seconds."""
    from prefect.client.orchestration import get_client

    query: dict = {"resource": {"id": [f"hazard.{code}"]}, "occurred": {"since": "2000-01-01T00:00:00Z"},
                   "order": "ASC"}
    if run_id is not None:
        query["related"] = {"id": [f"prefect.flow-run.{run_id}"]}
    if ids is not None:
        query["id"] = {"id": ids}
    deadline = time.monotonic() + settle
    with get_client(sync_client=True) as client:
        while True:
            page = client.request("POST", "/events/filter", json={"filter": query, "limit": 50}).json()
            found = page["events"]
            if len(found) >= expect or time.monotonic() > deadline:
                return found
            time.sleep(0.25)
