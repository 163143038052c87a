"""Running the Alembic migrations from code (the CLI and the tests build the schema this way), and
the two PostgreSQL roles of a production database.

On PostgreSQL the service runs as a role that does not own the tables (DESIGN 3): only the owner
can ALTER a table, so only the owner can switch the audit tables' append-only triggers off. The
owner migrates (`hazard db upgrade` with HAZARD_MIGRATION_DATABASE_URL) and then grants the
application role what the service needs: reading and writing the tables, but only reading and
appending the audit tables.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).parent / "migrations"

APPEND_ONLY = ("audit_events", "audit_checkpoints", "audit_checkpoint_heads", "record_events")
READ_ONLY = ("alembic_version",)  # `hazard serve` reads it to see the schema is at head


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def schema_at_head(url: str) -> bool:
    """Whether the database's schema is at the migrations' head (read only: any role may ask)."""
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    return current == head_revision()


def application_role(app_url: str, migration_url: str | None) -> str | None:
    """The service's role when it is not the role that migrates (PostgreSQL): it must be granted its
    privileges and must not migrate. None when one role does both."""
    if not migration_url:
        return None
    app, owner = make_url(app_url), make_url(migration_url)
    if app.get_backend_name() != "postgresql" or not app.username or app.username == owner.username:
        return None
    return app.username


def same_database(a: str, b: str) -> bool:
    def where(url: str) -> tuple[object, ...]:
        u = make_url(url)
        return u.get_backend_name(), u.host, u.port, u.database

    return where(a) == where(b)


def grant_application_role(owner_url: str, app_role: str) -> None:
    """As the owner, give `app_role` exactly the service's privileges on the project's tables (all
    of them revoked first, so running it again after any migration converges): SELECT, INSERT,
    UPDATE, DELETE; only SELECT and INSERT on the audit tables; only SELECT on alembic_version;
    USAGE and SELECT on the sequences behind the ids. Never TRUNCATE, TRIGGER or REFERENCES, and
    ownership stays with the owner, so the role can neither alter a table nor disable a trigger."""
    from db import models  # noqa: F401  (registers the tables)
    from db.base import Base

    engine = create_engine(owner_url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            quote = conn.dialect.identifier_preparer.quote
            role = quote(app_role)
            schema = quote(conn.execute(text("SELECT current_schema()")).scalar_one())
            conn.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {role}"))
            for table in sorted({*Base.metadata.tables, *READ_ONLY}):
                name = f"{schema}.{quote(table)}"
                privileges = ("SELECT, INSERT" if table in APPEND_ONLY else "SELECT" if table in READ_ONLY
                              else "SELECT, INSERT, UPDATE, DELETE")
                conn.execute(text(f"REVOKE ALL ON {name} FROM {role}"))
                conn.execute(text(f"GRANT {privileges} ON {name} TO {role}"))
            conn.execute(text(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {role}"))
            conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}"))
    finally:
        engine.dispose()
