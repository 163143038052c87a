"""The audit trail against the tables' owner and the application role, on PostgreSQL (DESIGN 3;
services/audit/verification.py, db/migrate.py): the owner can switch the append-only trigger off
and is caught by the evidence outside the database; the application role, which does not own the
tables, cannot undo the trail at all.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from db.engine import make_engine, make_session_factory
from db.migrate import downgrade, grant_application_role, schema_at_head
from app.cli import database as cli_database, main as cli
from services.audit import chain as audit
from services.kernel.settings import get_settings
from tests import pg_provision
from tests.conftest import build_world
from tests.helpers import drive
from tests.services.audit.signed_trail import kinds, trail  # noqa: F401 - trail is a fixture
from tests.services.audit.tampering import EV, HZ


# --- PostgreSQL: the owner and the application role -----------------------------------------------


def test_trigger_disabled_by_the_owner_is_detected(trail, backend):
    if backend == "sqlite":
        return  # no trigger on SQLite
    hid = trail.chains.ids[0]
    trail.checkpoint()
    target = trail.chains.event(hid, 2)
    with trail.chains.engine.begin() as conn:  # the tables' owner, outside the service
        conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        conn.execute(update(EV).where(EV.c.id == target.id).values(actor_name="别人"))
        conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
    report = trail.verify()
    assert kinds(report) == [("changed", hid)] and report.first_problem.seq == 2


def _psql(url: str) -> psycopg.Connection:
    u = make_url(url)
    return psycopg.connect(host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database,
                           autocommit=True)


REFUSED_TO_THE_APPLICATION = [
    "UPDATE audit_events SET actor_name = 'x'",
    "DELETE FROM audit_events",
    "TRUNCATE audit_events CASCADE",
    "UPDATE audit_checkpoints SET merkle_root = repeat('0', 64)",
    "DELETE FROM audit_checkpoint_heads",
    "ALTER TABLE audit_events DISABLE TRIGGER USER",
    "DROP TRIGGER audit_events_append_only ON audit_events",
    "ALTER TABLE audit_events OWNER TO CURRENT_USER",
    "SET session_replication_role = replica",
    "UPDATE alembic_version SET version_num = '0001'",
]


def test_application_role_cannot_undo_the_trail(pg_server, tmp_path, monkeypatch, capsys, clock):
    """`hazard db upgrade` as the owner (HAZARD_MIGRATION_DATABASE_URL) grants the service's role
    (HAZARD_DATABASE_URL); `hazard serve` as that role only checks the schema, never migrates. The
    service works as the role; the role can neither rewrite nor delete the trail nor switch off
    the trigger, refused by its privileges before any trigger runs."""
    suffix = uuid.uuid4().hex[:10]
    owner, app, name, password = f"hz_owner_{suffix}", f"hz_app_{suffix}", f"hazard_roles_{suffix}", "pw-" + suffix
    server = make_url(pg_server.url)
    owner_url, app_url = (server.set(username=u, password=password, database=name).render_as_string(hide_password=False)
                          for u in (owner, app))
    engine = None
    cli_engines: list = []
    real_make_engine = cli_database.make_engine

    def tracked_make_engine(*args: Any, **kw: Any):  # the CLI's own engines, disposed at the end
        cli_engines.append(real_make_engine(*args, **kw))
        return cli_engines[-1]

    monkeypatch.setattr(cli_database, "make_engine", tracked_make_engine)
    try:
        with _psql(pg_server.url) as conn:
            for role in (owner, app):
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)))
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))
        for key, value in {"HAZARD_DATABASE_URL": app_url, "HAZARD_MIGRATION_DATABASE_URL": owner_url,
                           "HAZARD_DATA_DIR": str(tmp_path / "var"), "HAZARD_ENVIRONMENT": "development"}.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()

        # Before any migration `hazard serve` refuses, and migrates nothing.
        refusal = cli_database.prepare_schema(get_settings())
        assert refusal and "hazard db upgrade" in refusal and not schema_at_head(app_url)
        assert cli.main(["serve", "--api-only"]) == 2
        assert "不能自行迁移" in capsys.readouterr().err

        assert cli.main(["db", "upgrade"]) == 0
        assert f"已授权应用角色 {app}" in capsys.readouterr().out
        assert cli_database.prepare_schema(get_settings()) is None and schema_at_head(app_url)
        grant_application_role(owner_url, app)  # again: it converges

        # The service, as the application role.
        engine = make_engine(app_url, pool_size=2, max_overflow=2)
        factory = make_session_factory(engine)
        world = build_world(factory)
        hid = drive(factory, world, clock(), "rectifying")
        assert cli.main(["audit", "checkpoint"]) == 0
        assert cli.main(["audit", "verify"]) == 0, capsys.readouterr().err
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_user")).scalar_one() == app
            assert conn.execute(select(func.count()).select_from(EV).where(EV.c.hazard_id == hid)).scalar_one() == 3

        for statement in REFUSED_TO_THE_APPLICATION:
            with pytest.raises(DBAPIError) as exc:
                with engine.begin() as conn:
                    conn.execute(text(statement))
            assert isinstance(exc.value.orig, psycopg.errors.InsufficientPrivilege), (statement, exc.value)
            assert "append-only" not in str(exc.value.orig), statement
        with engine.begin() as conn:  # appending is what the service does, and may
            conn.execute(insert(EV).values(**audit.build_event(
                hazard_id=hid, seq=4, prev_hash=trail_head(conn, hid), action="comment", actor_id=None,
                actor_role="system", actor_name="系统", from_state="rectifying", to_state="rectifying",
                payload={"body": {"text": "x"}, "changes": {}}, occurred_at=clock())))
        with _psql(owner_url) as conn:
            assert conn.execute("SELECT tgenabled FROM pg_trigger WHERE tgname = 'audit_events_append_only'"
                                ).fetchone() == ("O",)

        # A schema behind head: `hazard serve` as the application role refuses to migrate it.
        engine.dispose()
        downgrade(owner_url, "0006")
        assert cli_database.prepare_schema(get_settings()) is not None
        assert cli.main(["serve", "--api-only"]) == 2
        assert not schema_at_head(app_url)
    finally:
        for e in [engine, *cli_engines]:
            if e is not None:
                e.dispose()
        get_settings.cache_clear()
        pg_provision.drop_database(pg_server.url, name)
        with _psql(pg_server.url) as conn:
            for role in (app, owner):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def trail_head(conn, hid: int) -> str:
    return conn.execute(select(HZ.c.audit_head).where(HZ.c.id == hid)).scalar_one()
