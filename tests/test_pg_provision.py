"""Tests for tests/pg_provision/: every way either yields a working server or says why not.

These talk to real PostgreSQL (the local server and a throwaway cluster), because the package's
whole job is dealing with real servers; mocks would only test the mocks. They use no conftest
fixtures so they keep working whatever the suite's shared fixtures look like.
"""

from __future__ import annotations

import os
import socket
import uuid

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.pg_provision import (
    ENV_VAR,
    LOCAL_SERVER,
    THROWAWAY_CLUSTER,
    ProvisionError,
    create_database,
    drop_database,
    found,
    normalise_url,
    provision,
)


def _libpq(url: str) -> str:
    """psycopg takes postgresql:// but not SQLAlchemy's postgresql+psycopg:// spelling."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _scalar(url: str, query: str, params: tuple = ()):
    with psycopg.connect(_libpq(url), connect_timeout=3, autocommit=True) as conn:
        return conn.execute(query, params).fetchone()[0]


def _port_answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture
def no_env_url(monkeypatch):
    """The developer's own HAZARD_TEST_DATABASE_URL would otherwise short-circuit every test."""
    monkeypatch.delenv(ENV_VAR, raising=False)


def test_normalise_url_accepts_libpq_spellings():
    assert normalise_url("postgresql://u@h:5/db") == "postgresql+psycopg://u@h:5/db"
    assert normalise_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalise_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    with pytest.raises(ValueError):
        normalise_url("sqlite:///x.db")


def test_local_server_answers_and_databases_round_trip(no_env_url):
    prov = provision(order=(LOCAL_SERVER,))
    try:
        assert prov.how == LOCAL_SERVER
        assert prov.url.startswith("postgresql+psycopg://")
        assert _scalar(prov.url, "select 1") == 1

        name = f"pgprov_{uuid.uuid4().hex[:12]}"
        exists = "select count(*) from pg_database where datname = %s"
        db_url = create_database(prov.url, name)
        try:
            assert make_url(db_url).database == name
            assert make_url(db_url).drivername == "postgresql+psycopg"
            assert _scalar(prov.url, exists, (name,)) == 1
            assert _scalar(db_url, "select current_database()") == name
            # A leaked connection must not block the drop: that is what FORCE/terminate is for.
            leaked = psycopg.connect(_libpq(db_url), connect_timeout=3)
        finally:
            drop_database(prov.url, name)
        assert _is_dead(leaked)
        assert _scalar(prov.url, exists, (name,)) == 0
        drop_database(prov.url, name)  # dropping what is already gone is not an error
    finally:
        prov.stop()


def _is_dead(conn: psycopg.Connection) -> bool:
    try:
        conn.execute("select 1")
    except psycopg.OperationalError:
        return True
    finally:
        conn.close()
    return False


def test_throwaway_cluster_starts_and_stop_removes_it(no_env_url):
    prov = provision(order=(THROWAWAY_CLUSTER,))
    try:
        assert prov.how == THROWAWAY_CLUSTER
        url = make_url(prov.url)
        assert url.host == "127.0.0.1" and url.port != 5432
        assert url.database == "postgres"
        assert _scalar(prov.url, "select version()").startswith("PostgreSQL")
        # Throwaway tuning and encoding really applied.
        assert _scalar(prov.url, "show fsync") == "off"
        assert _scalar(prov.url, "show server_encoding") == "UTF8"
        # And it is server-level: it can host a per-session database.
        db_url = create_database(prov.url, "pgprov_inner")
        assert _scalar(db_url, "select current_database()") == "pgprov_inner"
        drop_database(prov.url, "pgprov_inner")
        assert prov.workdir is not None and os.path.isdir(prov.workdir)
    finally:
        prov.stop()
    assert not _port_answers(url.port)
    assert not os.path.exists(prov.workdir)
    prov.stop()  # idempotent


def test_unreachable_env_url_raises_and_does_not_fall_through(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "postgresql://postgres@127.0.0.1:1/postgres")
    with pytest.raises(ProvisionError) as info:
        provision()  # the local server exists, but the explicit request must win
    message = str(info.value)
    assert ENV_VAR in message
    assert "127.0.0.1:1" in message
    assert [how for how, _ in info.value.attempts] == ["env"]


def test_env_url_is_used_as_is_when_it_answers(monkeypatch):
    local = provision(order=(LOCAL_SERVER,))
    monkeypatch.setenv(ENV_VAR, _libpq(local.url))  # plain postgresql:// gets normalised
    prov = provision()
    assert prov.how == "env"
    assert prov.url == local.url
    assert _scalar(prov.url, "select 1") == 1


def test_every_way_disabled_lists_the_attempts(no_env_url):
    with pytest.raises(ProvisionError) as info:
        provision(order=())
    message = str(info.value)
    for how in ("env", "testcontainers", "local-server", "throwaway-cluster"):
        assert f"- {how}: skipped" in message
    assert ENV_VAR in message  # the hint on how to point the tests at a server


def test_every_way_failing_lists_each_reason(no_env_url, monkeypatch):
    # Make testcontainers fail the same way whether or not this machine has Docker.
    monkeypatch.setattr(found, "_docker_engine_answers", lambda: (False, "no engine (test)"))
    with pytest.raises(ProvisionError) as info:
        provision(local_port=1, bin_dirs=[])
    attempts = dict(info.value.attempts)
    assert list(attempts) == ["env", "testcontainers", "local-server", "throwaway-cluster"]
    assert "not set" in attempts["env"]
    assert (
        "not installed" in attempts["testcontainers"] or "no engine" in attempts["testcontainers"]
    )
    assert "127.0.0.1:1" in attempts["local-server"]
    assert "initdb" in attempts["throwaway-cluster"]
    message = str(info.value)
    for how, reason in attempts.items():
        assert f"- {how}: {reason}" in message


def test_unknown_way_is_rejected():
    with pytest.raises(ValueError):
        provision(order=("sqlite",))
