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

The module is a package, a module per idea: ``common`` (the ways' names, the result and errors,
connecting), ``databases`` (:func:`create_database`, :func:`drop_database`), ``found`` (ways 1-3)
and ``cluster`` (way 4); :func:`provision`, which tries them in order, is here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from tests.pg_provision.cluster import find_pg_binaries, from_throwaway_cluster
from tests.pg_provision.common import (
    DEFAULT_IMAGE, DEFAULT_LOCAL_HOST, DEFAULT_LOCAL_PORT, DEFAULT_ORDER, ENV, ENV_VAR, IMAGE_ENV_VAR,
    LOCAL_SERVER, TESTCONTAINERS, THROWAWAY_CLUSTER, ProvisionError, Provisioned, StepFailed,
    normalise_url, shown,
)
from tests.pg_provision.databases import create_database, drop_database
from tests.pg_provision.found import from_env, from_local_server, from_testcontainers

__all__ = [
    "DEFAULT_IMAGE", "DEFAULT_ORDER", "ENV", "ENV_VAR", "IMAGE_ENV_VAR", "LOCAL_SERVER", "TESTCONTAINERS",
    "THROWAWAY_CLUSTER", "ProvisionError", "Provisioned", "create_database", "drop_database",
    "find_pg_binaries", "normalise_url", "provision",
]


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
        ENV: from_env,
        TESTCONTAINERS: from_testcontainers,
        LOCAL_SERVER: lambda: from_local_server(local_host, local_port),
        THROWAWAY_CLUSTER: lambda: from_throwaway_cluster(local_host, bin_dirs),
    }
    attempts: list[tuple[str, str]] = []
    for how in DEFAULT_ORDER:
        if how not in order:
            attempts.append((how, "skipped: disabled by the caller"))
            continue
        try:
            found = ways[how]()
        except StepFailed as exc:
            attempts.append((how, str(exc)))
            continue
        if found is None:  # only the env way: variable not set
            attempts.append((how, f"{ENV_VAR} is not set"))
            continue
        print(f"pg_provision: using {found.how}: {shown(found.url)}", file=sys.stderr)
        return found

    lines = "\n".join(f"  - {how}: {reason}" for how, reason in attempts)
    raise ProvisionError(
        "Could not provide a PostgreSQL server for the tests. Tried, in order:\n"
        f"{lines}\n"
        f"Set {ENV_VAR}=postgresql://USER@HOST:PORT/postgres to use a specific server.",
        attempts,
    )
