"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

The schema is built by the Alembic migrations once per backend and session; each test then starts
from empty tables (a fresh copy of the migrated SQLite file; TRUNCATE on PostgreSQL). PostgreSQL is
provisioned by `tests.pg_provision`, which fails loudly rather than letting these tests skip.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from db.base import Base
from db.engine import make_engine, make_session_factory, transaction
from db.migrate import APPEND_ONLY, upgrade
from services.accounts import admin
from services.accounts.auth import Principal, principal_of
from services.kernel.settings import Settings
from services.kernel.uscc import make as make_uscc
from tests import pg_provision

BACKENDS = ("sqlite", "postgresql")
START = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)  # a Tuesday, 10:00 in Shanghai


class FakeClock:
    """An injectable clock: tests move time by calling `advance`, never by sleeping."""

    def __init__(self, start: datetime = START) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


# --- backends -------------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing():
    """argon2 at production cost takes ~0.3 s a hash; the world has fifteen users. Tests that check
    passwords still go through argon2, only with small parameters."""
    from argon2 import PasswordHasher

    from services.accounts import auth

    original = auth._hasher
    auth._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    auth._hasher = original


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pg_provision.Provisioned]:
    provisioned = pg_provision.provision()
    yield provisioned
    provisioned.stop()


@pytest.fixture(scope="session")
def pg_database(pg_server) -> Iterator[str]:
    name = f"hazard_test_{uuid.uuid4().hex[:10]}"
    url = pg_provision.create_database(pg_server.url, name)
    upgrade(url)
    yield url
    pg_provision.drop_database(pg_server.url, name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    return path


_TABLES = ", ".join(t.name for t in Base.metadata.sorted_tables)


_APPEND_ONLY = APPEND_ONLY  # db.migrate: every table the trigger guards


def _empty_postgres(url: str) -> None:
    """Empty every table. The audit tables refuse TRUNCATE by trigger; as their owner the test
    switches those triggers off for this one transaction, as only a schema owner could."""
    engine = make_engine(url, pool_size=1, max_overflow=0)
    with engine.begin() as conn:
        for table in _APPEND_ONLY:
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        conn.execute(text(f"TRUNCATE TABLE {_TABLES} RESTART IDENTITY CASCADE"))
        for table in _APPEND_ONLY:
            conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "hazard.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_database")
    _empty_postgres(url)
    return url


@pytest.fixture
def pg_url(request) -> str:
    """PostgreSQL only (concurrency, triggers): empty tables, like `db_url`."""
    url = request.getfixturevalue("pg_database")
    _empty_postgres(url)
    return url


@pytest.fixture
def backend(db_url) -> str:
    return "postgresql" if db_url.startswith("postgresql") else "sqlite"


@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url, pool_size=5, max_overflow=60)
    yield eng
    eng.dispose()


@pytest.fixture
def factory(engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# --- a small world: regions, enterprises, one user of every role -----------------------------------


@dataclass
class World:
    factory: sessionmaker[Session]
    tokens: dict[str, str] = field(default_factory=dict)
    principals: dict[str, Principal] = field(default_factory=dict)
    enterprises: dict[str, str] = field(default_factory=dict)  # key -> uscc

    def p(self, name: str) -> Principal:
        return self.principals[name]

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


ENTERPRISES = {
    "coal": ("91141102MA0HRD001", "离石区金源煤业有限公司", "141102", "煤矿"),
    "chem": ("91141181MA0HRD002", "孝义市鑫化化工有限公司", "141181", "危险化学品"),
    "gas": ("91140902MA0HRD003", "忻府区城燃燃气有限公司", "140902", "燃气"),
}

USERS = {
    # name: (role, region, enterprise key, industry)
    "ent_coal": ("enterprise", "141102", "coal", None),
    "ent_chem": ("enterprise", "141181", "chem", None),
    "inspector": ("inspector", "141102", None, None),
    "inspector2": ("inspector", "141102", None, None),
    "supervisor": ("supervisor", "141102", None, None),
    "county_committee": ("committee", "141102", None, None),
    "city_committee": ("committee", "141100", None, None),
    "city_committee2": ("committee", "141100", None, None),
    "province_committee": ("committee", "140000", None, None),
    "city_supervisor": ("supervisor", "141100", None, None),
    "xiaoyi_inspector": ("inspector", "141181", None, None),
    "xinzhou_inspector": ("inspector", "140900", None, None),
    "coal_only_inspector": ("inspector", "141100", None, "煤矿"),
    "auditor": ("auditor", "141100", None, None),
    "admin": ("admin", "140000", None, None),
}


def build_world(factory: sessionmaker[Session], now: datetime = START) -> World:
    world = World(factory)
    with transaction(factory) as s:
        admin.load_regions_csv(s)
        for key, (prefix, name, region, industry) in ENTERPRISES.items():
            code = make_uscc(prefix)
            admin.add_enterprise(s, code, name, region, industry, now=now)
            world.enterprises[key] = code
        for username, (role, region, ent, industry) in USERS.items():
            user, token = admin.add_user(
                s, username, role, region, now=now,
                enterprise_uscc=world.enterprises[ent] if ent else None,
                password="correct-horse-1", display_name=username, industry=industry,
            )
            world.tokens[username] = token
            world.principals[username] = principal_of(user)
    return world


@pytest.fixture
def world(factory) -> World:
    return build_world(factory)


@pytest.fixture
def settings(db_url, tmp_path) -> Settings:
    return Settings(database_url=db_url, data_dir=tmp_path / "var", token_cache_seconds=0.0,
                    public_reports_per_hour=3, max_attachment_bytes=200_000)


@pytest.fixture
def app(settings, clock, world):
    from app.api.app import create_app

    application = create_app(settings, clock=clock)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=True) as c:
        yield c


os.environ.setdefault("HAZARD_ENVIRONMENT", "development")
