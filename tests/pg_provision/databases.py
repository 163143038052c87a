"""A database per test session on a provided server: created fresh, dropped whatever holds it."""

from __future__ import annotations

from psycopg import sql
from sqlalchemy.engine import make_url

from tests.pg_provision.common import connect, normalise_url

def create_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server and return a URL pointing at it.

    Runs in autocommit because CREATE DATABASE cannot run inside a transaction. It deliberately
    fails if the database already exists: a "fresh" database that secretly holds a previous run's
    rows would make tests lie. Pick unique names (e.g. with the xdist worker id and a pid).
    """
    with connect(server_url) as conn:
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
    with connect(server_url) as conn:
        conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity"
            " where datname = %s and pid <> pg_backend_pid()",
            (name,),
        )
        force = sql.SQL(" WITH (FORCE)") if conn.info.server_version >= 130000 else sql.SQL("")
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)) + force)
