"""`hazard serve`: the API, a local Prefect server and the served flows, started and stopped as one.

Three child processes (four with a Prefect on several processes), started in this order and
stopped in the reverse one:
1. the Prefect server (UI and API on `--prefect-port`), on SQLite under the data folder, or on
   `HAZARD_PREFECT_DATABASE_URL` (PostgreSQL) when set; with `HAZARD_PREFECT_WORKERS` above 1, its
   API on that many processes and its background services in one more (`prefect-services`), which
   exchange events through Redis (`HAZARD_PREFECT_REDIS_URL`), the database migrated first;
2. the flow runner (`python -m flows.serve`), which serves the deployments of
   `flows/deployments.py` against that server;
3. the HTTP API (`hazard serve --api-only`).

The API never waits on Prefect: it starts once the Prefect server answers or after a bounded
wait, and if the Prefect server or the runner dies it is restarted while the API keeps answering.
Committed work waits in the outbox meanwhile, so nothing is lost. If the API dies, everything
stops. Ctrl-C (SIGINT) or SIGTERM stops all three: SIGTERM first, then SIGKILL after a grace
period, and the exit status is 0.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field

import structlog

from services.kernel.settings import Settings

log = structlog.get_logger("hazard.serve")

GRACE_SECONDS = 15.0
PREFECT_START_TIMEOUT = 90.0


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen | None = None
    restarts: int = 0
    next_start: float = 0.0

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, env=self.env, start_new_session=True)
        log.info("child_started", child=self.name, pid=self.process.pid)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float = GRACE_SECONDS) -> None:
        if not self.alive:
            return
        assert self.process is not None
        try:
            os.killpg(self.process.pid, signal.SIGTERM)  # its own children too (flow runs, workers)
        except ProcessLookupError:
            return
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            log.warning("child_killed", child=self.name, pid=self.process.pid)
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        log.info("child_stopped", child=self.name, code=self.process.returncode)


def prefect_environment(settings: Settings, prefect_port: int) -> dict[str, str]:
    """The Prefect settings shared by the server, the runner and the API's children."""
    home = (settings.data_dir / "prefect").resolve()
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": f"http://127.0.0.1:{prefect_port}/api",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(prefect_port),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_API_URL": f"http://127.0.0.1:{prefect_port}/api",
    }
    if settings.prefect_database_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = settings.prefect_database_url.get_secret_value()
    if not settings.prefect_database_url or settings.prefect_database_url.get_secret_value().startswith("sqlite"):
        env.update(sqlite_environment())
    if settings.prefect_workers > 1 and settings.prefect_redis_url:
        env.update(redis_environment(settings.prefect_redis_url.get_secret_value()))
    env.update(retention_environment(settings))
    return env


def redis_environment(redis_url: str) -> dict[str, str]:
    """Prefect's messaging, causal ordering and lease storage in Redis: what lets its API run on
    several processes (events posted to any of them reach the one process of its services)."""
    return {
        "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
        "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
        "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
        "PREFECT_REDIS_MESSAGING_URL": redis_url,
        "PREFECT_SERVER_REGISTER_BLOCKS_ON_START": "false",  # done once before they start: migrate_prefect
    }


def scaled_refusal(settings: Settings) -> str | None:
    """Why the served Prefect cannot run on `prefect_workers` processes, or None."""
    if settings.prefect_workers == 1:
        return None
    url = settings.prefect_database_url.get_secret_value() if settings.prefect_database_url else ""
    if not url.startswith("postgresql"):
        return ("HAZARD_PREFECT_WORKERS 大于 1 时，Prefect 须使用 PostgreSQL 数据库："
                "请设置 HAZARD_PREFECT_DATABASE_URL（postgresql+asyncpg://…）")
    if settings.prefect_redis_url is None or not settings.prefect_redis_url.get_secret_value().startswith(
            ("redis://", "rediss://")):
        return ("HAZARD_PREFECT_WORKERS 大于 1 时，Prefect 的多个进程须经 Redis 交换事件："
                "请设置 HAZARD_PREFECT_REDIS_URL（redis://主机:6379/库号，专供 Prefect 使用）")
    return None


def prefect_children(py: str, prefect_port: int, workers: int, env: dict[str, str]) -> list[Child]:
    """The Prefect server: one process, or `workers` API processes and one of its services."""
    argv = [py, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(prefect_port)]
    if workers == 1:
        return [Child("prefect-server", argv, env)]
    return [Child("prefect-server", [*argv, "--workers", str(workers)], env),
            Child("prefect-services", [py, "-m", "prefect", "server", "services", "start"], env)]


# Run once before several API processes start: each would otherwise migrate and register Prefect's
# block types at once, and two inserting the same block type make one fail its startup, which stops
# them all (seen on a fresh database).
_PREPARE_PREFECT = """
import asyncio
from prefect.server.database import provide_database_interface
from prefect.server.models.block_registration import run_block_auto_registration

async def prepare():
    db = provide_database_interface()
    await db.create_db()
    async with await db.session() as session:
        await run_block_auto_registration(session=session)

asyncio.run(prepare())
"""


def migrate_prefect(py: str, env: dict[str, str], timeout: float = PREFECT_START_TIMEOUT) -> bool:
    """Bring the Prefect database's schema and block types up to date once, in one process, before
    several API processes start (they are told not to register block types themselves). False,
    logged, when it could not."""
    try:
        done = subprocess.run([py, "-c", _PREPARE_PREFECT], env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        log.warning("prefect_migration_timeout", seconds=timeout)
        return False
    if done.returncode != 0:
        log.warning("prefect_migration_failed", code=done.returncode, detail=done.stderr[-2000:])
    return done.returncode == 0


DAY = 86_400
# Prefect's own busy event types: batch runs' task and flow run states every minute, heartbeats. A
# week of them is plenty; the hazards' events (`hazard.*`, `task.*`) keep the long period.
NOISY_EVENTS = ("prefect.flow-run.heartbeat", "prefect.flow-run.Scheduled", "prefect.flow-run.Pending",
                "prefect.flow-run.Running", "prefect.flow-run.Completed", "prefect.flow-run.Late",
                "prefect.task-run.Pending", "prefect.task-run.Running", "prefect.task-run.Completed",
                "prefect.log.write")


EVENT_BATCH = 500  # events per write of an embedded SQLite Prefect's event persister (sqlite_environment)


def sqlite_environment() -> dict[str, str]:
    """What a Prefect on its embedded SQLite file needs besides: its event persister writing events
    `EVENT_BATCH` at a time (or every 5 s, its flush interval) instead of Prefect's 20. Those
    commits come several times a second while the mirror writes, and each can fail a run creation
    under way (a read, then a write, in one deferred transaction: "database is locked", answered
    503), which Prefect's client retries only after 2 s: the mirror's burst drained at 52-62 acts
    a second with 20, 73-111 with 500 (bench/RESULTS.md, issue 15, third stop). PostgreSQL has no
    such conflict and keeps Prefect's default."""
    return {"PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": str(EVENT_BATCH)}


def retention_environment(settings: Settings) -> dict[str, str]:
    """What the served Prefect keeps and cleans (README "Prefect: each hazard's run"):
    - events `prefect_events_retention_days` (Prefect's default, 7 days, would vacuum a year-long
      lifecycle's transitions), Prefect's busy event types 7 days;
    - finished flow runs deleted `prefect_flow_run_retention_days` after they end (the vacuum of
      `flow_runs` is off by default, and the per-minute batch runs would pile up); a PAUSED run, an
      open hazard's, is never finished, so never deleted;
    - the pause-expiration service off: no run of ours is ever paused by a running flow, and it
      would scan every open item's PAUSED run each loop;
    - automations (the triggers service) off unless `prefect_automations`: it evaluates every event."""
    week = str(7 * DAY)
    return {
        "PREFECT_SERVER_EVENTS_RETENTION_PERIOD": f"P{settings.prefect_events_retention_days}D",  # ISO 8601
        "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": "events,flow_runs",
        "PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD": str(settings.prefect_flow_run_retention_days * DAY),
        "PREFECT_SERVER_SERVICES_DB_VACUUM_EVENT_RETENTION_OVERRIDES": json.dumps({e: int(week) for e in NOISY_EVENTS}),
        "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "true" if settings.prefect_automations else "false",
    }


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - a loopback health check
            return r.status == 200
    except OSError:
        return False


@dataclass
class Supervisor:
    settings: Settings
    host: str
    port: int
    workers: int
    prefect_port: int
    children: list[Child] = field(default_factory=list)
    prefects: list[Child] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    stopping: bool = False

    def build(self) -> None:
        self.env = env = {**os.environ, **prefect_environment(self.settings, self.prefect_port)}
        py = sys.executable
        self.prefects = prefect_children(py, self.prefect_port, self.settings.prefect_workers, env)
        self.prefect = self.prefects[0]
        self.runner = Child("flow-runner", [py, "-m", "flows.serve"], env)
        self.api = Child("api", [py, "-m", "app.cli.main", "serve", "--api-only", "--host", self.host,
                                 "--port", str(self.port), "--workers", str(self.workers)], env)
        self.children = [*self.prefects, self.runner, self.api]

    def prefect_ready(self) -> bool:
        return _answers(f"http://127.0.0.1:{self.prefect_port}/api/health")

    def run(self) -> int:
        self.build()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        try:
            if len(self.prefects) > 1:
                migrate_prefect(sys.executable, self.env)
            for child in self.prefects:
                child.start()
            deadline = time.monotonic() + PREFECT_START_TIMEOUT
            while not self.stopping and not self.prefect_ready() and time.monotonic() < deadline:
                if not self.prefect.alive:
                    break
                time.sleep(0.5)
            if self.prefect_ready():
                self.runner.start()
            else:
                log.warning("prefect_not_ready", port=self.prefect_port,
                            detail="the API starts anyway; flows start once Prefect answers")
            if not self.stopping:
                self.api.start()
                print(banner(self.host, self.port, self.prefect_port), flush=True)
            return self._watch()
        finally:
            self.shutdown()

    def _watch(self) -> int:
        while not self.stopping:
            if not self.api.alive:
                log.error("api_exited", code=self.api.process.returncode if self.api.process else None)
                return 1
            for child in (*self.prefects, self.runner):
                if child.alive:
                    continue
                if child is self.runner and not self.prefect_ready():
                    continue  # the runner needs the server; it starts once the server answers
                now = time.monotonic()
                if now >= child.next_start:
                    if child.process is not None:
                        child.restarts += 1
                        log.warning("child_restarting", child=child.name, restarts=child.restarts)
                    child.start()
                    child.next_start = now + min(60.0, 2.0 ** min(child.restarts, 6))
            time.sleep(0.5)
        return 0

    def _on_signal(self, signum, _frame) -> None:
        self.stopping = True

    def shutdown(self) -> None:
        self.stopping = True
        for child in reversed(self.children):
            child.stop()


def banner(host: str, port: int, prefect_port: int | None = None) -> str:
    """What a person opens first: the web UI's login page, then the API documentation (and the
    Prefect UI when it runs here), each named once."""
    base = f"http://{host}:{port}"
    text = f"事故隐患闭环管理服务已启动。网页界面：{base}/login ；API 文档：{base}/docs"
    return text + (f" ；Prefect 界面：http://127.0.0.1:{prefect_port}" if prefect_port else "")


def serve_all(settings: Settings, *, host: str, port: int, workers: int, prefect_port: int) -> int:
    return Supervisor(settings, host, port, workers, prefect_port).run()
