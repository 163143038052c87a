"""Way 4: a throwaway cluster, ``initdb`` + ``pg_ctl`` from the machine's PostgreSQL binaries in a
temporary directory, on a free port, as an unprivileged account when run as root; removed again by
:meth:`Provisioned.stop` (and at exit)."""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import URL

from tests.pg_provision.common import (
    DEFAULT_BIN_GLOB, DEFAULT_LOCAL_HOST, THROWAWAY_CLUSTER, Provisioned, StepFailed, check_answers,
    one_line,
)


def _version_key(bin_dir: str) -> tuple[int, ...]:
    """/usr/lib/postgresql/15/bin -> (15,); sorts 9.6 below 10 below 16, unlike string order."""
    version = os.path.basename(os.path.dirname(bin_dir.rstrip("/")))
    return tuple(int(part) for part in re.findall(r"\d+", version))


def find_pg_binaries(bin_dirs: Sequence[str] | None = None) -> tuple[str, str]:
    """Return (initdb, pg_ctl) paths from one directory, or raise StepFailed.

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
    raise StepFailed(f"no initdb/pg_ctl pair found (searched {searched})")


def _unprivileged_user() -> pwd.struct_passwd:
    """The account to run the cluster as when we are root (postgres refuses to run as root)."""
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise StepFailed("running as root and neither a 'postgres' nor a 'nobody' user exists")


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
    raise StepFailed("running as root but neither runuser nor su is available to drop privileges")


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
    """Run a PostgreSQL tool, turning a failure into a StepFailed carrying its output's tail."""
    try:
        proc = subprocess.run(
            _as_user(argv, user), cwd=cwd, capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StepFailed(f"{what} failed: {one_line(exc)}") from exc
    if proc.returncode != 0:
        tail = " ".join((proc.stderr + proc.stdout).split())[-400:]
        raise StepFailed(f"{what} exited {proc.returncode}: {tail}")


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


def from_throwaway_cluster(
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
        last_error: StepFailed | None = None
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
            except StepFailed as exc:
                last_error = StepFailed(f"{exc}; server log: {_log_tail(log)}")
                cluster.halt()  # a start that timed out may still be running; clear the way
                continue
            url = URL.create(
                "postgresql+psycopg",
                username="postgres",
                host=host,
                port=port,
                database="postgres",
            ).render_as_string(hide_password=False)
            check_answers(url)
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
