"""The benchmark's database: created for the run, migrated, seeded, emptied between variants,
checked after each variant, dropped at the end. Nothing here is timed."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from sqlalchemy import DateTime, select
from sqlalchemy.engine import make_url

from bench.transitions.workload import ACTIONS, FINAL_STATE, FINAL_VERSION, Bodies
from db.base import Base
from db.engine import make_engine, make_session_factory, read_only, transaction
from db.migrate import upgrade
from db.models import Enterprise, Hazard
from services.accounts import admin
from services.audit import verification as audit
from services.accounts.auth import Principal, principal_of
from services.kernel.clock import local_date, utcnow
from services.lifecycle.table import LIFECYCLE
from services.kernel.uscc import make as make_uscc

# Organisation tables survive between variants; everything a hazard writes is emptied. (The
# government bodies too: users refer to them, so TRUNCATE … CASCADE of them would empty the users.)
KEEP = {"regions", "enterprises", "users", "api_tokens", "alembic_version", "organisations",
        "organisation_aliases"}
SPIFF_TABLE = "bench_spiff_workflows"
VERIFY_CHUNK = 200  # hazards per audit.verify call: 1400 events
ENTERPRISE = ("91141102MA0BENCH1", "离石区金源煤业有限公司", "141102", "煤矿")
USERS = {  # name: role, region, bound to the enterprise
    "inspector": ("inspector", "141102", False),
    "committee": ("committee", "141100", False),
    "enterprise": ("enterprise", "141102", True),
}


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as psycopg wants it (no `+psycopg`)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def sqlalchemy_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """Create `hazard_bench_<random>` on the server of `server_url`, migrate it, drop it after."""
    name = f"hazard_bench_{uuid.uuid4().hex[:10]}"
    admin_url = libpq_url(server_url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server_url).set(drivername="postgresql+psycopg", database=name).render_as_string(
        hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class World:
    url: str
    principals: dict[str, Principal] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    uscc: str = ""
    enterprise_id: int = 0

    @property
    def bodies(self) -> Bodies:
        return Bodies(today=local_date(utcnow()), uscc=self.uscc)

    def actor(self, name: str) -> Principal:
        return self.principals[name]


def seed(url: str, suffix: str = "") -> World:
    """Regions (Shanxi), one coal enterprise, and the three users the lifecycle needs, through
    `services.accounts.admin` like the CLI does. In a database given with --database-url the enterprise may
    exist from an earlier run (it is reused) and `suffix` keeps the usernames new."""
    world = World(url)
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        factory = make_session_factory(engine)
        now = utcnow()
        with transaction(factory) as s:
            admin.load_regions_csv(s)
            prefix, name, region, industry = ENTERPRISE
            code = make_uscc(prefix)
            ent = s.execute(select(Enterprise).where(Enterprise.uscc == code)).scalar_one_or_none()
            if ent is None:
                ent = admin.add_enterprise(s, code, name, region, industry, now=now)
            world.uscc, world.enterprise_id = ent.uscc, ent.id
            for username, (role, region_code, bound) in USERS.items():
                user, token = admin.add_user(
                    s, f"bench_{username}{suffix}", role, region_code, now=now,
                    enterprise_uscc=world.uscc if bound else None, display_name=f"bench_{username}",
                )
                world.tokens[username] = token
                world.principals[username] = principal_of(user)
    finally:
        engine.dispose()
    return world


def hazard_tables() -> list[str]:
    return [t.name for t in Base.metadata.sorted_tables if t.name not in KEEP]


def reset(url: str) -> None:
    """Empty what the previous variant wrote, so every variant starts from the same tables, and
    checkpoint so its dirty pages are not flushed during the next timed run.

    The audit tables refuse TRUNCATE by trigger; as the schema owner (like the tests' fixture)
    this switches the user triggers of the emptied tables off for the one transaction that
    empties them."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        tables = hazard_tables()
        if conn.execute("SELECT to_regclass(%s)", (SPIFF_TABLE,)).fetchone()[0]:
            tables.append(SPIFF_TABLE)
        guarded = [r[0] for r in conn.execute(
            "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND c.relname = ANY(%s) AND c.relnamespace = 'public'::regnamespace",
            (tables,))]
        with conn.transaction():
            for table in guarded:
                conn.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER USER')
            conn.execute(f"TRUNCATE TABLE {', '.join(tables)} RESTART IDENTITY CASCADE")
            for table in guarded:
                conn.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER USER')
        conn.execute("VACUUM ANALYZE")
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            pass


def add_attachments(url: str, hazard_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Evidence photo and assessment report of every hazard, for `request_acceptance` (as
    `tests.helpers.add_attachment` makes them; the upload itself is not what is measured)."""
    now = utcnow()
    rows = [(hid, name, ctype, 4, "ab" * 32, None, now)
            for hid in hazard_ids for name, ctype in (("photo.png", "image/png"), ("report.pdf", "application/pdf"))]
    with psycopg.connect(libpq_url(url)) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO attachments (hazard_id, filename, content_type, size, sha256, uploaded_by_id, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)
            cur.execute("SELECT hazard_id, id, filename FROM attachments WHERE hazard_id = ANY(%s) ORDER BY id",
                        (hazard_ids,))
            found: dict[int, dict[str, int]] = {}
            for hid, att_id, filename in cur.fetchall():
                found.setdefault(hid, {})[filename] = att_id
    return {hid: (files["photo.png"], files["report.pdf"]) for hid, files in found.items()}


def hazard_ids(url: str) -> list[int]:
    with psycopg.connect(libpq_url(url)) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM hazards ORDER BY id").fetchall()]


def expected_outbox_rows(n: int) -> int:
    return n * sum(len(LIFECYCLE[a].effects) for a in ACTIONS)


def verify(url: str, n: int) -> list[str]:
    """What is wrong with the database after a service variant: every hazard closed at version 7,
    7 events and the outbox rows of each, and an intact audit trail. Empty when all is well."""
    problems: list[str] = []
    with psycopg.connect(libpq_url(url)) as conn:
        total, closed = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE state = %s AND version = %s) FROM hazards",
            (FINAL_STATE, FINAL_VERSION)).fetchone()
        events = conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]
        outbox = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
    if total != n or closed != n:
        problems.append(f"{total} hazards, {closed} closed at version {FINAL_VERSION}; expected {n}")
    if events != n * FINAL_VERSION:
        problems.append(f"{events} audit events, expected {n * FINAL_VERSION}")
    if outbox != expected_outbox_rows(n):
        problems.append(f"{outbox} outbox rows, expected {expected_outbox_rows(n)}")
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        factory = make_session_factory(engine)
        with read_only(factory) as s:
            ids = list(s.execute(select(Hazard.id).order_by(Hazard.id)).scalars())
        # In chunks: `audit.verify` over more than one `yield_per` batch of events (2000) fails
        # with "identity map is no longer valid" (it expunges the session while streaming).
        for i in range(0, len(ids), VERIFY_CHUNK):
            with read_only(factory) as s:
                report = audit.verify(s, hazard_ids=ids[i:i + VERIFY_CHUNK])
            if not report.ok:
                first = report.first_problem
                problems.append(f"audit.verify: {first.as_dict() if first else '?'}")
                break
    finally:
        engine.dispose()
    return problems


_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?\+00(:00)?")


def fingerprint(url: str) -> list[str]:
    """The rows a run wrote with its timestamps (and the hashes that cover them) left out: two
    runs that sent the same statements with the same values at concurrency 1 give equal lists."""
    hazard_cols = []
    for c in Base.metadata.tables["hazards"].columns:
        if not isinstance(getattr(c.type, "impl", c.type), DateTime) and c.name != "audit_head":
            hazard_cols.append(c.name)
    queries = {
        "hazard": f"SELECT {', '.join(hazard_cols)} FROM hazards ORDER BY id",
        "event": "SELECT id, hazard_id, seq, action, actor_id, actor_role, actor_name, from_state, "
                 "to_state, payload FROM audit_events ORDER BY id",
        "outbox": "SELECT id, hazard_id, event_id, kind, payload, dedupe_key, status, attempts FROM outbox ORDER BY id",
        "sequence": "SELECT region_code, year, last_value FROM hazard_sequences ORDER BY region_code, year",
    }
    lines: list[str] = []
    with psycopg.connect(libpq_url(url)) as conn:
        for kind, sql in queries.items():
            for row in conn.execute(sql):
                lines.append(_TIMESTAMP.sub("<t>", f"{kind} {row!r}"))
    return lines


def first_difference(a: list[str], b: list[str]) -> str | None:
    for x, y in zip(a, b):
        if x != y:
            return f"{x}\n  vs\n{y}"
    if len(a) != len(b):
        return f"{len(a)} rows vs {len(b)} rows"
    return None
