"""Alembic environment: the URL comes from the caller (`hazard db upgrade`, the tests) or the environment."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import engine_from_config, pool

from db import models  # noqa: F401  (registers the tables)
from db.base import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    # `alembic` run by hand: the variables the service reads (db/ knows nothing of the layers above it)
    return (os.environ.get("HAZARD_MIGRATION_DATABASE_URL") or os.environ.get("HAZARD_DATABASE_URL")
            or "sqlite:///./var/hazard.db")


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = engine_from_config({"sqlalchemy.url": _url()}, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
