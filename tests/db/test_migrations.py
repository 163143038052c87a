"""The Alembic migrations (db/migrations) on SQLite and PostgreSQL.

Each backend gets a database of its own (a new SQLite file; a freshly created PostgreSQL database,
dropped at the end) and goes upgrade head -> downgrade base -> upgrade head through `db.migrate`,
the code path `hazard db upgrade` and the test fixtures use. After every upgrade each table of
`db.base.Base.metadata` exists with exactly its columns (and on PostgreSQL the append-only trigger
and its function exist); after the downgrade nothing but `alembic_version` is left.

A second test compares a migrated database with the models through Alembic's autogenerate
(`compare_metadata`): an empty diff means the migrations build what the models declare (tables,
columns, types, nullability, indexes, unique constraints, foreign keys).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Engine, Integer, MetaData, inspect, text

from db import models  # noqa: F401  (registers the tables)
from db.base import Base
from db.engine import make_engine
from db.migrate import alembic_config, downgrade, upgrade
from tests import pg_provision

APPEND_ONLY = ("audit_events", "audit_checkpoints", "audit_checkpoint_heads", "record_events")
TRIGGERS = [f"{t}_{kind}" for t in APPEND_ONLY for kind in ("append_only", "no_truncate")]
FUNCTION = "audit_append_only"


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request, tmp_path) -> Iterator[str]:
    """An empty database that nothing has migrated yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    server = request.getfixturevalue("pg_server")
    name = f"hazard_migrations_{uuid.uuid4().hex[:10]}"
    url = pg_provision.create_database(server.url, name)
    try:
        yield url
    finally:
        pg_provision.drop_database(server.url, name)


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def _pg_trigger_objects(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        triggers = conn.execute(text(
            "SELECT count(*) FROM pg_trigger WHERE tgname = ANY(:n) AND NOT tgisinternal"), {"n": TRIGGERS}
        ).scalar_one()
        functions = conn.execute(text("SELECT count(*) FROM pg_proc WHERE proname = :n"),
                                 {"n": FUNCTION}).scalar_one()
    return triggers, functions


def _head() -> str:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def _assert_schema_at_head(url: str) -> None:
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        insp = inspect(engine)
        assert _tables(engine) == set(Base.metadata.tables) | {"alembic_version"}
        for table in Base.metadata.sorted_tables:
            columns = {c["name"]: c for c in insp.get_columns(table.name)}
            assert list(columns) == [c.name for c in table.columns], table.name
            for col in table.columns:
                assert columns[col.name]["nullable"] == col.nullable, f"{table.name}.{col.name}"
            pk = insp.get_pk_constraint(table.name)["constrained_columns"]
            assert pk == [c.name for c in table.primary_key.columns], table.name
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == _head()
        if engine.dialect.name == "postgresql":
            assert _pg_trigger_objects(engine) == (len(TRIGGERS), 1)
    finally:
        engine.dispose()


def _assert_empty(url: str) -> None:
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        assert _tables(engine) == {"alembic_version"}
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 0
        if engine.dialect.name == "postgresql":
            assert _pg_trigger_objects(engine) == (0, 0)
            with engine.connect() as conn:  # no sequences or types left behind either
                assert conn.execute(text(
                    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relname <> 'alembic_version' "
                    "AND c.relname <> 'alembic_version_pkc'")).scalar_one() == 0
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(fresh_url):
    engine = make_engine(fresh_url, pool_size=1, max_overflow=0)
    assert _tables(engine) == set()
    engine.dispose()

    upgrade(fresh_url)
    _assert_schema_at_head(fresh_url)
    downgrade(fresh_url, "base")
    _assert_empty(fresh_url)
    upgrade(fresh_url)
    _assert_schema_at_head(fresh_url)


def test_migrations_match_the_models(db_url):
    """`db_url` is a database the fixtures built with `upgrade head`; autogenerate finds nothing
    to add, drop or alter."""
    engine = make_engine(db_url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            diff = compare_metadata(ctx, Base.metadata)
            # The comparison is live: a model the migrations do not build shows up in it.
            drifted = MetaData(naming_convention=Base.metadata.naming_convention)
            for table in Base.metadata.sorted_tables:
                table.to_metadata(drifted)
            drifted.tables["hazards"].append_column(Column("drift", Integer, nullable=True))
            drift = compare_metadata(ctx, drifted)
    finally:
        engine.dispose()
    assert diff == []
    assert [(d[0], d[2], d[3].name) for d in drift] == [("add_column", "hazards", "drift")]
