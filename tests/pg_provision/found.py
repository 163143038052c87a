"""The ways that find or borrow a server: ``HAZARD_TEST_DATABASE_URL`` (1), a testcontainers
container when a Docker engine answers (2), and a server already listening locally (3)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess

import psycopg
from sqlalchemy.engine import URL

from tests.pg_provision.common import (
    CONNECT_TIMEOUT, DEFAULT_IMAGE, DOCKER_TIMEOUT, ENV, ENV_VAR, IMAGE_ENV_VAR, LOCAL_DATABASES,
    LOCAL_SERVER, LOCAL_USERS, TESTCONTAINERS, ProvisionError, Provisioned, StepFailed, check_answers,
    connect, normalise_url, one_line,
)


# --------------------------------------------------------------------------------------------
# Way 1: HAZARD_TEST_DATABASE_URL
# --------------------------------------------------------------------------------------------


def from_env() -> Provisioned | None:
    """Use the URL the user asked for; None means "not set", failures raise ProvisionError.

    Failing loudly here rather than falling through is the point: someone who sets the variable
    wants *that* server, and testing against a different one would hide their misconfiguration.
    """
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return None
    try:
        url = normalise_url(raw)
        check_answers(url)
    except (ValueError, StepFailed) as exc:
        reason = str(exc)
        raise ProvisionError(
            f"{ENV_VAR} is set but unusable: {reason}\n"
            f"Because {ENV_VAR} was set explicitly, no other way was tried.\n"
            f"Fix the server or the URL, or unset {ENV_VAR} to let the tests find/start one.",
            [(ENV, reason)],
        ) from exc
    return Provisioned(url=url, how=ENV)


# --------------------------------------------------------------------------------------------
# Way 2: testcontainers
# --------------------------------------------------------------------------------------------


def _docker_socket_path() -> str | None:
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        return host[len("unix://") :]
    if host:
        return None  # tcp:// or ssh:// engines are left to `docker info`
    return "/var/run/docker.sock"


def _docker_engine_answers() -> tuple[bool, str]:
    """Is a Docker engine really reachable? Returns (answers, reason-if-not).

    Checked before testcontainers tries to start anything, because its own failure mode on a
    Docker-less machine is slow and noisy. The socket ping is cheapest; `docker info` covers
    remote engines and contexts.
    """
    reasons = []
    path = _docker_socket_path()
    if path and os.path.exists(path):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(DOCKER_TIMEOUT)
                sock.connect(path)
                sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                head = sock.recv(64)
            if re.match(rb"HTTP/1\.[01] 200", head):
                return True, ""
            reasons.append(f"{path} answered {head[:20]!r}")
        except OSError as exc:
            reasons.append(f"{path}: {one_line(exc)}")
    elif path:
        reasons.append(f"no socket at {path}")

    docker = shutil.which("docker")
    if docker is None:
        reasons.append("no docker CLI on PATH")
    else:
        try:
            proc = subprocess.run(
                [docker, "info"],
                capture_output=True,
                text=True,
                timeout=DOCKER_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            reasons.append(f"`docker info` did not finish within {DOCKER_TIMEOUT}s")
        except OSError as exc:
            reasons.append(f"`docker info`: {one_line(exc)}")
        else:
            if proc.returncode == 0:
                return True, ""
            tail = " ".join((proc.stderr or proc.stdout).split())[-200:]
            reasons.append(f"`docker info` exited {proc.returncode}: {tail}")
    return False, "; ".join(reasons)


def from_testcontainers() -> Provisioned:
    """Start a throwaway PostgreSQL container. The package is optional, hence the lazy import."""
    try:
        from testcontainers.postgres import PostgresContainer  # type: ignore[import-not-found]
    except ImportError as exc:
        raise StepFailed(f"testcontainers is not installed ({one_line(exc)})") from exc
    answers, why = _docker_engine_answers()
    if not answers:
        raise StepFailed(f"no Docker engine answered ({why})")

    image = os.environ.get(IMAGE_ENV_VAR, DEFAULT_IMAGE)
    # dbname="postgres" so the URL is server-level; the image's POSTGRES_USER is a superuser.
    container = PostgresContainer(image, dbname="postgres", driver="psycopg")
    try:
        container.start()
        url = normalise_url(container.get_connection_url())
        check_answers(url)
    except Exception as exc:
        with contextlib.suppress(Exception):  # the original failure is the one worth reporting
            container.stop()
        raise StepFailed(f"container {image} did not come up: {one_line(exc)}") from exc
    return Provisioned(url=url, how=TESTCONTAINERS, _release=container.stop)


# --------------------------------------------------------------------------------------------
# Way 3: a server already listening locally
# --------------------------------------------------------------------------------------------


def from_local_server(host: str, port: int) -> Provisioned:
    """Use an existing server on host:port with trust auth, as postgres or root.

    A plain TCP probe comes first so "nothing listening" costs one refused connect instead of
    four libpq timeouts. Each login must also be allowed to CREATE DATABASE, because that is
    what the caller needs the server URL for.
    """
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise StepFailed(f"nothing listening on {host}:{port} ({one_line(exc)})") from exc

    failures = []
    for user in LOCAL_USERS:
        for dbname in LOCAL_DATABASES:
            url = URL.create(
                "postgresql+psycopg", username=user, host=host, port=port, database=dbname
            )
            try:
                with connect(url) as conn:
                    row = conn.execute(
                        "select rolsuper or rolcreatedb from pg_roles where rolname = current_user"
                    ).fetchone()
            except psycopg.Error as exc:
                failures.append(f"{user}@{dbname}: {one_line(exc)}")
                continue
            if not (row and row[0]):
                failures.append(f"{user}@{dbname}: connected, but may not CREATE DATABASE")
                continue
            return Provisioned(url=url.render_as_string(hide_password=False), how=LOCAL_SERVER)
    raise StepFailed(f"{host}:{port} refused every login: " + "; ".join(failures))
