"""Real concurrency through the HTTP API, on PostgreSQL only (DESIGN 3: one transaction per state
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
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Self

import anyio.to_thread
import httpx
import pytest
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from db.engine import make_engine, make_session_factory, read_only, transaction
from db.models import AuditEvent, Hazard, HazardSequence, IdempotencyKey
from services.accounts import admin
from services.audit import verification as audit
from services.engine import commands
from app.api.app import create_app
from services.kernel.clock import local_date
from services.kernel.settings import Settings
from tests.conftest import FakeClock, World, build_world
from tests.helpers import body_for, new_hazard, report_body

pytestmark = pytest.mark.pg_only

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


def _events(factory: sessionmaker[Session], hazard_id: int) -> list[Ev]:
    with read_only(factory) as s:
        return [Ev(e.seq, e.action, e.payload, e.hash) for e in s.execute(
            select(AuditEvent).where(AuditEvent.hazard_id == hazard_id).order_by(AuditEvent.seq)
        ).scalars()]


def _hazard(factory: sessionmaker[Session], hazard_id: int) -> Row:
    with read_only(factory) as s:
        h = s.get(Hazard, hazard_id)
        return Row(h.state, h.version, h.audit_head)


def _verify_ok(factory: sessionmaker[Session]) -> audit.VerifyReport:
    with read_only(factory) as s:
        report = audit.verify(s)
    assert report.ok, report.as_dict()
    return report


def _assert_overlap(rig: Rig, gate: Gate, parties: int) -> None:
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


def _expect_statuses(responses: list[httpx.Response], expected: dict[int, int]) -> None:
    got = _statuses(responses)
    usual = max(expected, key=expected.__getitem__)
    assert got == expected, (got, [r.text for r in responses if r.status_code != usual][:5])


# --- tests --------------------------------------------------------------------------------


def _assert_registered_once(rig, hid: int) -> None:
    """Registered exactly once: version 2, events report + register, the head is the last hash."""
    h = _hazard(rig.factory, hid)
    assert (h.state, h.version) == ("registered", 2)
    events = _events(rig.factory, hid)
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

    _assert_overlap(rig, gate, N)
    _expect_statuses(responses, {200: 1, 409: N - 1})
    winner = next(r for r in responses if r.status_code == 200)
    assert winner.json()["state"] == "registered" and winner.json()["version"] == 2
    assert winner.headers["ETag"] == '"2"'
    for r in responses:
        if r.status_code == 409:
            assert r.json()["error"]["code"], r.text
    _assert_registered_once(rig, hid)
    report = _verify_ok(rig.factory)
    assert report.events_checked == 2


def test_same_comment_with_one_if_match_one_wins(rig: Rig):
    hid = new_hazard(rig.factory, rig.world, rig.clock())
    gate = rig.gate("perform_action", N)

    responses = rig.race([
        ("POST", f"{API}/hazards/{hid}/actions/comment", {"text": f"第{i:02d}号检查员的备注"},
         rig.auth(token, **{"If-Match": '"1"'}))
        for i, token in enumerate(rig.inspectors)
    ])

    _assert_overlap(rig, gate, N)
    _expect_statuses(responses, {200: 1, 409: N - 1})
    assert all(r.json()["error"]["code"] in {"stale_version", "concurrent_update"}
               for r in responses if r.status_code == 409)
    winner_index = next(i for i, r in enumerate(responses) if r.status_code == 200)
    h = _hazard(rig.factory, hid)
    assert (h.state, h.version) == ("reported", 2)
    events = _events(rig.factory, hid)
    assert [(e.seq, e.action) for e in events] == [(1, "report"), (2, "comment")]
    assert f"第{winner_index:02d}号检查员的备注" in events[1].payload
    _verify_ok(rig.factory)


def test_50_actions_on_50_hazards_all_succeed(rig: Rig):
    hids = [new_hazard(rig.factory, rig.world, rig.clock()) for _ in range(N)]
    body = body_for("register", today=local_date(rig.clock()), level="general",
                    uscc=rig.world.enterprises["coal"])
    gate = rig.gate("perform_action", N)

    responses = rig.race([
        ("POST", f"{API}/hazards/{hid}/actions/register", body, rig.auth(token))
        for hid, token in zip(hids, rig.inspectors, strict=True)
    ])

    _assert_overlap(rig, gate, N)
    _expect_statuses(responses, {200: N})
    for hid, r in zip(hids, responses, strict=True):
        assert (r.json()["id"], r.json()["version"], r.json()["state"]) == (hid, 2, "registered")
        _assert_registered_once(rig, hid)
    report = _verify_ok(rig.factory)
    assert (report.hazards_checked, report.events_checked) == (N, 2 * N)


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
    assert [e.action for e in _events(rig.factory, hid)] == ["report", "comment"]
    assert _hazard(rig.factory, hid).version == 2

    # The same key with another body is refused, and still has no effect.
    other = rig.send("POST", url, {"text": "另一条备注"}, headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert len(_events(rig.factory, hid)) == 2
    _verify_ok(rig.factory)


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

    _assert_overlap(rig, gate, COPIES)
    _expect_statuses(responses, {200: COPIES})
    first = responses[0].json()
    assert all(r.json() == first for r in responses)
    assert first["version"] == 2
    fresh = [r for r in responses if r.headers.get("Idempotent-Replayed") != "true"]
    assert len(fresh) == 1  # one answer did the work, every other one is the stored answer
    assert [e.action for e in _events(rig.factory, hid)] == ["report", "comment"]
    assert _hazard(rig.factory, hid).version == 2
    with read_only(rig.factory) as s:
        assert s.execute(select(func.count()).select_from(IdempotencyKey)).scalar_one() == 1
    _verify_ok(rig.factory)


def test_idempotent_concurrent_copies_of_a_report_one_hazard(rig: Rig):
    headers = rig.auth(rig.inspectors[0], **{"Idempotency-Key": "burst-report-1"})
    gate = rig.gate("report_hazard", COPIES)

    responses = rig.race([("POST", f"{API}/hazards", report_body(), headers)] * COPIES)

    _assert_overlap(rig, gate, COPIES)
    _expect_statuses(responses, {201: COPIES})
    first = responses[0].json()
    assert all(r.json() == first for r in responses)
    assert len([r for r in responses if r.headers.get("Idempotent-Replayed") != "true"]) == 1
    with read_only(rig.factory) as s:
        codes = list(s.execute(select(Hazard.code)).scalars())
        last = s.execute(select(HazardSequence.last_value)).scalar_one()
    assert codes == [first["code"]]
    assert last == 1  # the losers' sequence bumps were rolled back with the rest of their work
    _verify_ok(rig.factory)


def test_50_reports_in_one_county_get_gapless_codes(rig: Rig):
    gate = rig.gate("report_hazard", N)

    responses = rig.race([
        ("POST", f"{API}/hazards", report_body(title=f"并发报告的隐患{i:02d}"), rig.auth(token))
        for i, token in enumerate(rig.inspectors)
    ])

    _assert_overlap(rig, gate, N)
    _expect_statuses(responses, {201: N})
    year = local_date(rig.clock()).year
    codes = [r.json()["code"] for r in responses]
    assert len(set(codes)) == N
    pattern = re.compile(rf"^141102-{year}-(\d{{6}})$")
    seqs = sorted(int(pattern.match(c).group(1)) for c in codes)
    assert seqs == list(range(1, N + 1))
    with read_only(rig.factory) as s:
        stored = sorted(s.execute(select(Hazard.code)).scalars())
        last = s.execute(
            select(HazardSequence.last_value).where(HazardSequence.region_code == "141102",
                                                    HazardSequence.year == year)
        ).scalar_one()
    assert stored == sorted(codes)
    assert last == N
    report = _verify_ok(rig.factory)
    assert (report.hazards_checked, report.events_checked) == (N, N)


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
    _expect_statuses(responses, {200: 1, 409: N - 1})
    assert rig.probe.high_water >= 10, (rig.probe.high_water, elapsed)
    assert rig.server_max_busy >= 5, rig.server_max_busy
    assert len(_events(rig.factory, hid)) == 2
    _verify_ok(rig.factory)


def test_50_comments_at_once_all_land(rig: Rig):
    """No-state-change actions without If-Match wait for each other on the row lock instead of
    losing the compare-and-set (issue 10 item 7): 50 comments, 50 events, one chain."""
    hid = new_hazard(rig.factory, rig.world, rig.clock())
    gate = rig.gate("perform_action", N)

    responses = rig.race([
        ("POST", f"{API}/hazards/{hid}/actions/comment", {"text": f"第{i:02d}条备注"}, rig.auth(token))
        for i, token in enumerate(rig.inspectors)
    ])

    _assert_overlap(rig, gate, N)
    _expect_statuses(responses, {200: N})
    assert sorted(r.json()["version"] for r in responses) == list(range(2, N + 2))
    events = _events(rig.factory, hid)
    assert [e.action for e in events] == ["report"] + ["comment"] * N
    assert {f"第{i:02d}条备注" for i in range(N)} == {json.loads(e.payload)["body"]["text"] for e in events[1:]}
    assert _hazard(rig.factory, hid).version == N + 1
    _verify_ok(rig.factory)


def test_public_reports_race_from_one_client(rig: Rig):
    """20 reports at once from one address: at most the hourly limit get through (issue 10 item 4);
    the count and the insert are serialised per client."""
    limit = rig.app.state.ctx.settings.public_reports_per_hour
    body = {"title": "小区车库堆放液化气钢瓶", "description": "二十余个钢瓶无人看管。", "location": "滨河北路某小区",
            "region_code": "141102", "industry": "燃气"}
    gate = rig.gate("public_report", 20)

    responses = rig.race([("POST", f"{API}/public/reports", body, {}) for _ in range(20)])

    assert gate.max_in_flight == 20
    _expect_statuses(responses, {201: limit, 429: 20 - limit})
    with read_only(rig.factory) as s:
        assert s.execute(select(func.count()).select_from(Hazard)).scalar_one() == limit
