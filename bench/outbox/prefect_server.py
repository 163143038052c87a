"""A Prefect server for a benchmark: on a fresh PostgreSQL database (dropped after) as in
production, or on its embedded SQLite file in a temporary home (the one-command default), with the
settings `hazard serve` gives the served one (`app.serve.retention_environment`, and on SQLite
`app.serve.sqlite_environment`). On PostgreSQL it may run as `hazard serve` runs it with
`HAZARD_PREFECT_WORKERS`: several API processes and one of its services, exchanging events through
a Redis database (emptied before, since it would otherwise replay the events a previous run left in
its streams)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from bench.transitions import machine
from bench.transitions.world import libpq_url

START_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - loopback
            return r.status == 200
    except OSError:
        return False


@contextmanager
def database(server_url: str, kind: str) -> Iterator[dict[str, str]]:
    """The server's database settings: an empty PostgreSQL database, dropped after, or none (SQLite
    under PREFECT_HOME)."""
    if kind == "sqlite":
        yield {}
        return
    name = f"prefect_bench_{uuid.uuid4().hex[:10]}"
    admin = libpq_url(server_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {"PREFECT_SERVER_DATABASE_CONNECTION_URL": make_url(server_url).set(
            drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)}
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def empty_redis(redis_url: str) -> None:
    import redis

    with redis.Redis.from_url(redis_url) as r:
        r.flushdb()


@dataclass(frozen=True)
class Server:
    """A started Prefect server: its API's URL and its processes."""

    api: str
    procs: tuple[subprocess.Popen, ...]

    def cpu(self) -> float:
        """CPU seconds its processes have used so far (uvicorn's worker processes included)."""
        pids = [p.pid for p in self.procs]
        pids += [child for pid in pids for child in machine.descendants(pid)]
        return sum(machine.process_cpu(pid) for pid in pids)


@contextmanager
def prefect_server(server_url: str, kind: str, workers: int = 1, redis_url: str | None = None) -> Iterator[Server]:
    """Start it, wait until it answers, yield it, stop it."""
    from app.serve import (migrate_prefect, prefect_children, redis_environment, retention_environment,
                           sqlite_environment)
    from services.kernel.settings import Settings

    if workers > 1 and (kind != "postgresql" or not redis_url):
        raise ValueError("a Prefect on several workers needs PostgreSQL and a Redis URL")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-prefect-") as home, database(server_url, kind) as db_env:
        env = {**os.environ, **retention_environment(Settings()),
               **(sqlite_environment() if kind == "sqlite" else {}), **db_env, "PREFECT_HOME": home,
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}
        if workers > 1:
            env.update(redis_environment(redis_url))
            empty_redis(redis_url)
            if not migrate_prefect(sys.executable, env):
                raise RuntimeError("the Prefect database could not be migrated")
        log = Path(home) / "server.log"
        procs = [subprocess.Popen(child.argv, env=env, start_new_session=True, stdout=log.open("a"),
                                  stderr=subprocess.STDOUT)
                 for child in prefect_children(sys.executable, port, workers, env)]
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not answers(f"http://127.0.0.1:{port}/api/health"):
                if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
                    raise RuntimeError(f"the Prefect server did not start: {log.read_text()[-2000:]}")
                time.sleep(0.5)
            yield Server(f"http://127.0.0.1:{port}/api", tuple(procs))
        finally:
            for proc in procs:
                stop(proc)
