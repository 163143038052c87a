"""The rig for real concurrency through the HTTP API, on PostgreSQL only (DESIGN 3: one transaction per state
change, compare-and-set on the version; DESIGN 4: If-Match and Idempotency-Key).

The requests go through the ASGI app with `httpx.ASGITransport` and `asyncio.gather`. The
endpoints are sync, so each request runs in AnyIO's worker threads; the limiter is raised above
the number of requests so none of them queue behind the default 40 threads.

Overlap is proven, not assumed, three ways:

- `Gate` wraps the service call the router makes (`commands.perform_action` /
  `commands.report_hazard`) with a `threading.Barrier` sized to the number of requests. The barrier
  only opens when every request is inside a worker thread at the same time, so passing it proves
  N requests were in flight together (and it releases them all at once, which makes the race as
  tight as it can be). If they did not overlap the barrier times out and the requests answer 500.
- `PoolProbe` listens to the app engine's pool: the high-water mark of connections checked out at
  once, and the distinct PostgreSQL backend pids behind them, show that many transactions were
  open concurrently.
- `ServerSampler` asks PostgreSQL itself (`pg_stat_activity`, from a separate connection) during
  each race how many backends of the test database were busy at once.
One test runs a race without the barrier, to show the overlap is not an artefact of it.

The races themselves are test_concurrency.py (actions), test_concurrency_idempotency.py
(Idempotency-Key) and test_concurrency_reports.py (reports).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Self

import anyio.to_thread
import httpx
import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from db.engine import make_engine, make_session_factory, read_only, transaction
from db.models import AuditEvent, Hazard
from services.accounts import admin
from services.audit import verification as audit
from services.engine import commands
from app.api.app import create_app
from services.kernel.settings import Settings
from tests.conftest import FakeClock, World, build_world

N = 50  # concurrent requests per race
THREADS = 64  # AnyIO worker threads: above N, so no request waits for a thread
BARRIER_TIMEOUT = 30.0
API = "/api/v1"
Request = tuple[str, str, dict[str, Any], dict[str, str]]  # method, url, JSON body, headers


# --- instruments --------------------------------------------------------------------------


class PoolProbe:
    """Counts connections checked out of the app's pool at once and the backends behind them."""

    def __init__(self, engine: Engine) -> None:
        self._lock = threading.Lock()
        self.out = 0
        self.high_water = 0
        self.pids: set[int] = set()
        event.listen(engine, "checkout", self._checkout)
        event.listen(engine, "checkin", self._checkin)

    def reset(self) -> None:
        with self._lock:
            self.high_water = self.out
            self.pids = set()

    def _checkout(self, dbapi_conn, _record, _proxy) -> None:
        with self._lock:
            self.out += 1
            self.high_water = max(self.high_water, self.out)
            self.pids.add(dbapi_conn.info.backend_pid)

    def _checkin(self, _dbapi_conn, _record) -> None:
        with self._lock:
            self.out -= 1


class ServerSampler:
    """Asks PostgreSQL itself, from its own connection, how many backends of this database are
    busy (in a statement or a transaction) while a race runs; keeps the highest count seen."""

    QUERY = text(
        "select count(*) from pg_stat_activity where datname = current_database() "
        "and pid <> pg_backend_pid() and state in ('active', 'idle in transaction')"
    )

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.max_busy = 0
        self.samples = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                while not self._stop.is_set():
                    self.max_busy = max(self.max_busy, conn.execute(self.QUERY).scalar_one())
                    self.samples += 1
        except Exception as exc:  # reported by __exit__, not lost in the thread
            self.error = exc

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self.error is not None and exc[0] is None:
            raise RuntimeError("the pg_stat_activity sampler failed") from self.error


class Gate:
    """Wraps a service function so that `parties` calls must be inside it at once to go on."""

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=BARRIER_TIMEOUT)
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.threads: set[int] = set()

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def gated(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                self.threads.add(threading.get_ident())
            try:
                self.barrier.wait()
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self.in_flight -= 1

        return gated


# --- the rig: engine, world, app, all on the test's own PostgreSQL database -------------------


@dataclass
class Rig:
    app: Any
    engine: Engine  # the test's own engine (reads, the server-side sampler)
    factory: sessionmaker[Session]
    world: World
    clock: FakeClock
    probe: PoolProbe
    monkeypatch: pytest.MonkeyPatch
    inspectors: list[str] = field(default_factory=list)  # tokens of N inspectors of 141102
    server_max_busy: int = 0  # busy backends PostgreSQL reported during the last race

    def auth(self, token: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", **extra}

    def gate(self, name: str, parties: int) -> Gate:
        """Put a barrier in front of `commands.<name>` for the next race."""
        gate = Gate(parties)
        self.monkeypatch.setattr(commands, name, gate.wrap(getattr(commands, name)))
        return gate

    def race(self, requests: list[Request]) -> list[httpx.Response]:
        """Send all requests at once; returns the responses in the order given."""
        self.probe.reset()

        async def main() -> list[httpx.Response]:
            anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hazard.test",
                                         timeout=120) as client:
                return list(await asyncio.gather(*(
                    client.request(method, url, json=body, headers=headers)
                    for method, url, body, headers in requests
                )))

        with ServerSampler(self.engine) as server:
            responses = asyncio.run(main())
        self.server_max_busy = server.max_busy
        return responses

    def send(self, method: str, url: str, body: dict[str, Any],
             headers: dict[str, str]) -> httpx.Response:
        return self.race([(method, url, body, headers)])[0]


@pytest.fixture
def rig(pg_url, tmp_path, monkeypatch) -> Iterator[Rig]:
    engine = make_engine(pg_url, pool_size=2, max_overflow=3)  # the test's own reads, one at a time
    assert engine.dialect.name == "postgresql"
    factory = make_session_factory(engine)
    with monkeypatch.context() as m:
        # These tests authenticate by token only; argon2 for build_world's 15 passwords would
        # cost seconds per test on a busy machine and prove nothing here.
        m.setattr(admin, "hash_password", lambda password: "unused-in-these-tests")
        world = build_world(factory)
    clock = FakeClock()
    tokens = []
    with transaction(factory) as s:
        for i in range(N):
            _, token = admin.add_user(s, f"race_inspector_{i:02d}", "inspector", "141102",
                                      now=clock(), display_name=f"检查员{i:02d}")
            tokens.append(token)
    settings = Settings(database_url=pg_url, data_dir=tmp_path / "var", token_cache_seconds=60.0,
                        db_pool_size=N + 5, db_max_overflow=5)
    app = create_app(settings, clock=clock)
    assert app.state.engine.dialect.name == "postgresql"
    _warm_up(app.state.engine, N)
    rig = Rig(app=app, engine=engine, factory=factory, world=world, clock=clock,
              probe=PoolProbe(app.state.engine),
              monkeypatch=monkeypatch, inspectors=tokens)
    try:
        yield rig
    finally:
        app.state.engine.dispose()
        engine.dispose()


def _warm_up(engine: Engine, n: int, *, patience: float = 60.0) -> None:
    """Open the app's N connections before any race, so a race never waits on connection set-up.

    The PostgreSQL server may be shared with other test sessions; when it is momentarily full
    ("too many clients"), give the connections back and wait for room instead of failing a race
    half-way with a 500.
    """
    deadline = time.monotonic() + patience
    while True:
        held = []
        try:
            for _ in range(n):
                held.append(engine.connect())
            return
        except OperationalError as exc:
            if "too many clients" not in str(exc) or time.monotonic() > deadline:
                raise
        finally:
            for conn in held:
                conn.close()
        time.sleep(0.5)


# --- helpers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ev:
    seq: int
    action: str
    payload: str
    hash: str


@dataclass(frozen=True)
class Row:
    state: str
    version: int
    audit_head: str


def stored_events(factory: sessionmaker[Session], hazard_id: int) -> list[Ev]:
    with read_only(factory) as s:
        return [Ev(e.seq, e.action, e.payload, e.hash) for e in s.execute(
            select(AuditEvent).where(AuditEvent.hazard_id == hazard_id).order_by(AuditEvent.seq)
        ).scalars()]


def hazard_row(factory: sessionmaker[Session], hazard_id: int) -> Row:
    with read_only(factory) as s:
        h = s.get(Hazard, hazard_id)
        return Row(h.state, h.version, h.audit_head)


def verify_ok(factory: sessionmaker[Session]) -> audit.VerifyReport:
    with read_only(factory) as s:
        report = audit.verify(s)
    assert report.ok, report.as_dict()
    return report


def assert_overlap(rig: Rig, gate: Gate, parties: int) -> None:
    """Every request was inside a worker thread at once, and PostgreSQL served many together."""
    print(f"overlap: requests in flight at once={gate.max_in_flight}/{parties}, "
          f"connections out at once={rig.probe.high_water}, backends={len(rig.probe.pids)}, "
          f"busy backends seen by the server={rig.server_max_busy}")
    assert gate.max_in_flight == parties, (gate.max_in_flight, parties)
    assert len(gate.threads) == parties  # one worker thread per request, none reused in series
    assert rig.probe.high_water >= min(parties, 10), rig.probe.high_water
    assert len(rig.probe.pids) >= rig.probe.high_water
    assert rig.server_max_busy >= 5, rig.server_max_busy


def _statuses(responses: list[httpx.Response]) -> Counter[int]:
    return Counter(r.status_code for r in responses)


def expect_statuses(responses: list[httpx.Response], expected: dict[int, int]) -> None:
    got = _statuses(responses)
    usual = max(expected, key=expected.__getitem__)
    assert got == expected, (got, [r.text for r in responses if r.status_code != usual][:5])
