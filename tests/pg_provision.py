"""Find or start a PostgreSQL server for the test suite.

The PostgreSQL-only tests (row locks, triggers, concurrency) are worthless if they quietly skip,
so this module always either hands back a server URL or raises :class:`ProvisionError` with a
message explaining every way it tried and why each one failed. It never returns ``None``.

The ways are tried in a fixed order, cheapest and most explicit first:

1. ``env`` -- ``HAZARD_TEST_DATABASE_URL``. An explicit request wins and is never second-guessed:
   if it is set but does not answer we raise instead of silently testing against something else.
2. ``testcontainers`` -- a disposable container, but only when the package is importable *and* a
   Docker engine answers (so a machine without Docker pays a fast check, not a long timeout).
3. ``local-server`` -- whatever already listens on 127.0.0.1:5432 with trust auth (a dev box or a
   CI service container).
4. ``throwaway-cluster`` -- ``initdb`` + ``pg_ctl`` from the machine's PostgreSQL binaries, in a
   temporary directory, on a free port; removed again by :meth:`Provisioned.stop`.

The URL handed back points at a *server-level* database (normally ``postgres``) so the caller can
``CREATE DATABASE`` per test session/worker with :func:`create_database` and clean up with
:func:`drop_database`.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

ENV_VAR = "HAZARD_TEST_DATABASE_URL"
#: Image for the testcontainers path; overridable so CI can pin the production major version.
IMAGE_ENV_VAR = "HAZARD_TEST_PG_IMAGE"
DEFAULT_IMAGE = "postgres:16-alpine"

ENV = "env"
TESTCONTAINERS = "testcontainers"
LOCAL_SERVER = "local-server"
THROWAWAY_CLUSTER = "throwaway-cluster"
DEFAULT_ORDER: tuple[str, ...] = (ENV, TESTCONTAINERS, LOCAL_SERVER, THROWAWAY_CLUSTER)

CONNECT_TIMEOUT = 3  # seconds; a server that takes longer than this to accept is not "answering"
DOCKER_TIMEOUT = 5  # seconds for `docker info`; a wedged daemon must not hang the test session

DEFAULT_LOCAL_HOST = "127.0.0.1"
DEFAULT_LOCAL_PORT = 5432
LOCAL_USERS = ("postgres", "root")
LOCAL_DATABASES = ("postgres", "test")

DEFAULT_BIN_GLOB = "/usr/lib/postgresql/*/bin"


class ProvisionError(RuntimeError):
    """No PostgreSQL server could be provided; the message lists every attempt and its reason.

    ``attempts`` keeps the same information as ``(how, reason)`` pairs for programmatic checks.
    """

    def __init__(self, message: str, attempts: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.attempts = list(attempts)


class _StepFailed(Exception):
    """A provisioning way did not work; the message is the one-line reason shown to the user."""


@dataclass
class Provisioned:
    """A usable server: ``url`` is a ``postgresql+psycopg://`` URL to a server-level database.

    ``how`` says which way produced it. ``stop()`` releases whatever *this module* started (a
    container or a throwaway cluster); for servers it merely found, it does nothing. It is
    idempotent and also registered with :mod:`atexit`, so a crashed session does not leave a
    cluster running behind it.
    """

    url: str
    how: str
    #: The temporary directory holding a throwaway cluster (None for the other ways).
    workdir: str | None = None
    _release: Callable[[], None] | None = field(default=None, repr=False)

    def stop(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()


# --------------------------------------------------------------------------------------------
# URL helpers
# --------------------------------------------------------------------------------------------


def normalise_url(raw: str) -> str:
    """Return ``raw`` as a ``postgresql+psycopg://`` URL (psycopg 3 is the only driver we ship).

    Accepts ``postgresql://``, ``postgres://`` (the libpq/Heroku spelling) and other PostgreSQL
    driver suffixes; anything that is not PostgreSQL is rejected with ValueError.
    """
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw[len("postgres://") :]
    url = make_url(raw)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {url.render_as_string(hide_password=True)}")
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _conninfo(url: str | URL) -> str:
    """libpq understands ``postgresql://`` URIs but not SQLAlchemy's ``+driver`` suffix."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _shown(url: str | URL) -> str:
    """URL for messages and logs, with any password masked."""
    return make_url(url).render_as_string(hide_password=True)


def _connect(url: str | URL) -> psycopg.Connection:
    return psycopg.connect(_conninfo(url), connect_timeout=CONNECT_TIMEOUT, autocommit=True)


def _one_line(exc: BaseException) -> str:
    """Errors from libpq span several lines; a list of attempts reads better with one each."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _check_answers(url: str) -> None:
    """Raise _StepFailed unless ``select 1`` works on ``url``."""
    try:
        with _connect(url) as conn:
            conn.execute("select 1").fetchone()
    except psycopg.Error as exc:
        raise _StepFailed(f"{_shown(url)} did not answer: {_one_line(exc)}") from exc


# --------------------------------------------------------------------------------------------
# Public database helpers
# --------------------------------------------------------------------------------------------


def create_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server and return a URL pointing at it.

    Runs in autocommit because CREATE DATABASE cannot run inside a transaction. It deliberately
    fails if the database already exists: a "fresh" database that secretly holds a previous run's
    rows would make tests lie. Pick unique names (e.g. with the xdist worker id and a pid).
    """
    with _connect(server_url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return (
        make_url(normalise_url(server_url)).set(database=name).render_as_string(hide_password=False)
    )


def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name`` if it exists, kicking out any connections still attached to it.

    A test that leaked a pooled connection would otherwise make DROP DATABASE fail with "is being
    accessed by other users". We terminate those backends first (works on every version) and on
    PostgreSQL 13+ also say ``WITH (FORCE)`` to close the race with a connection arriving late.
    """
    if make_url(server_url).database == name:
        raise ValueError(f"refusing to drop {name!r}: it is the database the server URL uses")
    with _connect(server_url) as conn:
        conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity"
            " where datname = %s and pid <> pg_backend_pid()",
            (name,),
        )
        force = sql.SQL(" WITH (FORCE)") if conn.info.server_version >= 130000 else sql.SQL("")
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)) + force)


# --------------------------------------------------------------------------------------------
# Way 1: HAZARD_TEST_DATABASE_URL
# --------------------------------------------------------------------------------------------


def _from_env() -> Provisioned | None:
    """Use the URL the user asked for; None means "not set", failures raise ProvisionError.

    Failing loudly here rather than falling through is the point: someone who sets the variable
    wants *that* server, and testing against a different one would hide their misconfiguration.
    """
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return None
    try:
        url = normalise_url(raw)
        _check_answers(url)
    except (ValueError, _StepFailed) as exc:
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
            reasons.append(f"{path}: {_one_line(exc)}")
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
            reasons.append(f"`docker info`: {_one_line(exc)}")
        else:
            if proc.returncode == 0:
                return True, ""
            tail = " ".join((proc.stderr or proc.stdout).split())[-200:]
            reasons.append(f"`docker info` exited {proc.returncode}: {tail}")
    return False, "; ".join(reasons)


def _from_testcontainers() -> Provisioned:
    """Start a throwaway PostgreSQL container. The package is optional, hence the lazy import."""
    try:
        from testcontainers.postgres import PostgresContainer  # type: ignore[import-not-found]
    except ImportError as exc:
        raise _StepFailed(f"testcontainers is not installed ({_one_line(exc)})") from exc
    answers, why = _docker_engine_answers()
    if not answers:
        raise _StepFailed(f"no Docker engine answered ({why})")

    image = os.environ.get(IMAGE_ENV_VAR, DEFAULT_IMAGE)
    # dbname="postgres" so the URL is server-level; the image's POSTGRES_USER is a superuser.
    container = PostgresContainer(image, dbname="postgres", driver="psycopg")
    try:
        container.start()
        url = normalise_url(container.get_connection_url())
        _check_answers(url)
    except Exception as exc:
        with contextlib.suppress(Exception):  # the original failure is the one worth reporting
            container.stop()
        raise _StepFailed(f"container {image} did not come up: {_one_line(exc)}") from exc
    return Provisioned(url=url, how=TESTCONTAINERS, _release=container.stop)


# --------------------------------------------------------------------------------------------
# Way 3: a server already listening locally
# --------------------------------------------------------------------------------------------


def _from_local_server(host: str, port: int) -> Provisioned:
    """Use an existing server on host:port with trust auth, as postgres or root.

    A plain TCP probe comes first so "nothing listening" costs one refused connect instead of
    four libpq timeouts. Each login must also be allowed to CREATE DATABASE, because that is
    what the caller needs the server URL for.
    """
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise _StepFailed(f"nothing listening on {host}:{port} ({_one_line(exc)})") from exc

    failures = []
    for user in LOCAL_USERS:
        for dbname in LOCAL_DATABASES:
            url = URL.create(
                "postgresql+psycopg", username=user, host=host, port=port, database=dbname
            )
            try:
                with _connect(url) as conn:
                    row = conn.execute(
                        "select rolsuper or rolcreatedb from pg_roles where rolname = current_user"
                    ).fetchone()
            except psycopg.Error as exc:
                failures.append(f"{user}@{dbname}: {_one_line(exc)}")
                continue
            if not (row and row[0]):
                failures.append(f"{user}@{dbname}: connected, but may not CREATE DATABASE")
                continue
            return Provisioned(url=url.render_as_string(hide_password=False), how=LOCAL_SERVER)
    raise _StepFailed(f"{host}:{port} refused every login: " + "; ".join(failures))


# --------------------------------------------------------------------------------------------
# Way 4: a throwaway cluster from the machine's binaries
# --------------------------------------------------------------------------------------------


def _version_key(bin_dir: str) -> tuple[int, ...]:
    """/usr/lib/postgresql/15/bin -> (15,); sorts 9.6 below 10 below 16, unlike string order."""
    version = os.path.basename(os.path.dirname(bin_dir.rstrip("/")))
    return tuple(int(part) for part in re.findall(r"\d+", version))


def find_pg_binaries(bin_dirs: Sequence[str] | None = None) -> tuple[str, str]:
    """Return (initdb, pg_ctl) paths from one directory, or raise _StepFailed.

    Both must come from the *same* directory: mixing an initdb of one major version with a
    pg_ctl/postgres of another produces a cluster the server refuses to start. PATH wins (the
    user chose it); Debian-style /usr/lib/postgresql/<ver>/bin follow, highest version first.
    ``bin_dirs`` replaces that whole search (tests use it to simulate a machine without them).
    """
    if bin_dirs is None:
        candidates = []
        on_path = shutil.which("initdb")
        if on_path:
            # Resolve symlinks such as /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb
            # so the pg_ctl we pair with it is the real sibling, not whatever else is on PATH.
            candidates.append(os.path.dirname(os.path.realpath(on_path)))
        candidates += sorted(glob.glob(DEFAULT_BIN_GLOB), key=_version_key, reverse=True)
        searched = f"PATH and {DEFAULT_BIN_GLOB}"
    else:
        candidates = list(bin_dirs)
        searched = ", ".join(candidates) or "no directories"
    for directory in candidates:
        initdb = os.path.join(directory, "initdb")
        pg_ctl = os.path.join(directory, "pg_ctl")
        if os.access(initdb, os.X_OK) and os.access(pg_ctl, os.X_OK):
            return initdb, pg_ctl
    raise _StepFailed(f"no initdb/pg_ctl pair found (searched {searched})")


def _unprivileged_user() -> pwd.struct_passwd:
    """The account to run the cluster as when we are root (postgres refuses to run as root)."""
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise _StepFailed("running as root and neither a 'postgres' nor a 'nobody' user exists")


def _as_user(argv: list[str], user: pwd.struct_passwd | None) -> list[str]:
    """Wrap argv so it runs as ``user`` (None: as ourselves)."""
    if user is None:
        return argv
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", user.pw_name, "--", *argv]
    su = shutil.which("su")
    if su:
        return [su, user.pw_name, "-s", "/bin/sh", "-c", shlex.join(argv)]
    raise _StepFailed("running as root but neither runuser nor su is available to drop privileges")


def _free_port(host: str) -> int:
    """Ask the kernel for an unused port. Racy in theory; the start is retried if it loses."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _port_answers(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


def _run(argv: list[str], user: pwd.struct_passwd | None, cwd: str, what: str) -> None:
    """Run a PostgreSQL tool, turning a failure into a _StepFailed carrying its output's tail."""
    try:
        proc = subprocess.run(
            _as_user(argv, user), cwd=cwd, capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _StepFailed(f"{what} failed: {_one_line(exc)}") from exc
    if proc.returncode != 0:
        tail = " ".join((proc.stderr + proc.stdout).split())[-400:]
        raise _StepFailed(f"{what} exited {proc.returncode}: {tail}")


@dataclass
class _Cluster:
    """Everything needed to stop and delete a throwaway cluster."""

    pg_ctl: str
    base: str
    user: pwd.struct_passwd | None

    @property
    def data(self) -> str:
        return os.path.join(self.base, "data")

    def halt(self) -> None:
        """Fast shutdown (no waiting for clients) if a server is running; keeps the files."""
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            subprocess.run(
                _as_user([self.pg_ctl, "-D", self.data, "-w", "stop", "-m", "fast"], self.user),
                cwd=self.base,
                capture_output=True,
                timeout=60,
                check=False,  # best effort: the directory is removed either way
            )

    def stop(self) -> None:
        """Halt the server, then delete the directory whatever happened; safe to call twice."""
        atexit.unregister(self.stop)
        try:
            self.halt()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


def _from_throwaway_cluster(
    host: str = DEFAULT_LOCAL_HOST, bin_dirs: Sequence[str] | None = None
) -> Provisioned:
    """initdb a new cluster in a temp dir and start it on a free port of ``host``.

    As root, PostgreSQL refuses to run, so both tools run as an unprivileged account that owns
    the temp dir. The cluster is tuned for throwaway use (trust auth, fsync off, --no-sync) and
    initialised as UTF8 with the C locale so text behaves the same on every machine, whatever
    locale the account's environment happens to have (an unset LANG would give SQL_ASCII).
    """
    initdb, pg_ctl = find_pg_binaries(bin_dirs)
    user = _unprivileged_user() if os.geteuid() == 0 else None

    base = tempfile.mkdtemp(prefix="hazard-pg-")
    cluster = _Cluster(pg_ctl=pg_ctl, base=base, user=user)
    try:
        sockdir = os.path.join(base, "sock")
        os.mkdir(sockdir)
        if user is not None:
            for path in (base, sockdir):
                os.chown(path, user.pw_uid, user.pw_gid)
        _run(
            [
                initdb,
                "-D",
                cluster.data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            user,
            base,
            "initdb",
        )
        last_error: _StepFailed | None = None
        for _ in range(3):  # another process may grab the "free" port before we bind it
            port = _free_port(host)
            # pg_ctl hands -o to the server through /bin/sh, hence the quoting.
            options = f"-p {port} -k {shlex.quote(sockdir)} -c listen_addresses={host} -c fsync=off"
            log = os.path.join(base, "server.log")
            try:
                _run(
                    [
                        pg_ctl,
                        "-D",
                        cluster.data,
                        "-l",
                        log,
                        "-w",
                        "-t",
                        "60",
                        "-o",
                        options,
                        "start",
                    ],
                    user,
                    base,
                    "pg_ctl start",
                )
            except _StepFailed as exc:
                last_error = _StepFailed(f"{exc}; server log: {_log_tail(log)}")
                cluster.halt()  # a start that timed out may still be running; clear the way
                continue
            url = URL.create(
                "postgresql+psycopg",
                username="postgres",
                host=host,
                port=port,
                database="postgres",
            ).render_as_string(hide_password=False)
            _check_answers(url)
            atexit.register(cluster.stop)
            return Provisioned(url=url, how=THROWAWAY_CLUSTER, workdir=base, _release=cluster.stop)
        assert last_error is not None
        raise last_error
    except BaseException:
        cluster.stop()
        raise


def _log_tail(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return " ".join(fh.read().split())[-400:] or "(empty)"
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def provision(
    order: Sequence[str] = DEFAULT_ORDER,
    *,
    local_host: str = DEFAULT_LOCAL_HOST,
    local_port: int = DEFAULT_LOCAL_PORT,
    bin_dirs: Sequence[str] | None = None,
) -> Provisioned:
    """Return a running PostgreSQL server for the tests, or raise ProvisionError.

    ``order`` selects which ways may be used; it is filtered through DEFAULT_ORDER, so callers
    can *disable* ways but never reorder them (the order is a requirement: an explicit env URL
    must always beat anything found or started). Disabled ways are still listed in the error, so
    a failure message never hides that something was switched off. ``local_host``/``local_port``
    and ``bin_dirs`` exist so tests can point the later ways at places that are known to fail.
    """
    unknown = set(order) - set(DEFAULT_ORDER)
    if unknown:
        raise ValueError(f"unknown provisioning ways {sorted(unknown)}; known: {DEFAULT_ORDER}")

    ways: dict[str, Callable[[], Provisioned | None]] = {
        ENV: _from_env,
        TESTCONTAINERS: _from_testcontainers,
        LOCAL_SERVER: lambda: _from_local_server(local_host, local_port),
        THROWAWAY_CLUSTER: lambda: _from_throwaway_cluster(local_host, bin_dirs),
    }
    attempts: list[tuple[str, str]] = []
    for how in DEFAULT_ORDER:
        if how not in order:
            attempts.append((how, "skipped: disabled by the caller"))
            continue
        try:
            found = ways[how]()
        except _StepFailed as exc:
            attempts.append((how, str(exc)))
            continue
        if found is None:  # only the env way: variable not set
            attempts.append((how, f"{ENV_VAR} is not set"))
            continue
        print(f"pg_provision: using {found.how}: {_shown(found.url)}", file=sys.stderr)
        return found

    lines = "\n".join(f"  - {how}: {reason}" for how, reason in attempts)
    raise ProvisionError(
        "Could not provide a PostgreSQL server for the tests. Tried, in order:\n"
        f"{lines}\n"
        f"Set {ENV_VAR}=postgresql://USER@HOST:PORT/postgres to use a specific server.",
        attempts,
    )
