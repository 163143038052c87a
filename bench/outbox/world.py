"""The benchmark's world (nothing here is timed): organisations through `services.accounts.admin`, events
through `services.engine` (creation, transitions), and the check after each variant."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass

import psycopg

from bench.transitions.world import World, libpq_url, seed
from db.engine import make_engine, make_session_factory, transaction
from services.accounts import admin
from services.engine import creation, transitions
from services.accounts.auth import principal_of
from services.kernel.clock import utcnow

EVENT_KIND = "notify.enterprise"
CHUNK = 250  # hazards per transaction while making events


def seed_world(url: str, enterprise_users: int) -> World:
    """`bench.transitions.world.seed` (regions, an enterprise, an inspector, a committee user, one
    enterprise user) and `enterprise_users - 1` more users of the enterprise."""
    world = seed(url)
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with transaction(make_session_factory(engine)) as s:
            for i in range(2, enterprise_users + 1):
                user, _ = admin.add_user(s, f"bench_enterprise{i}", "enterprise", "141102", now=utcnow(),
                                         enterprise_uscc=world.uscc, display_name=f"bench_enterprise{i}")
                world.principals[f"enterprise{i}"] = principal_of(user)
    finally:
        engine.dispose()
    return world


def make_events(world: World, n: int) -> list[str]:
    """N hazards reported and registered by the inspector (one `notify.enterprise` row each); the
    other rows of the two actions are set aside (`stage.reported` and `document.*` marked done: the
    outbox flow issues documents too, and that is not what this measures). Returns the codes."""
    engine = make_engine(world.url, pool_size=1, max_overflow=0)
    inspector, bodies, codes = world.actor("inspector"), world.bodies, []
    try:
        factory = make_session_factory(engine)
        for start in range(0, n, CHUNK):
            with transaction(factory) as s:
                for _ in range(min(CHUNK, n - start)):
                    now = utcnow()
                    h = creation.report(s, inspector, bodies.report(), now=now)
                    transitions.perform(s, inspector, h.id, "register", bodies.action("register"), now=now)
                    codes.append(h.code)
    finally:
        engine.dispose()
    with psycopg.connect(libpq_url(world.url), autocommit=True) as conn:
        conn.execute("UPDATE outbox SET status = 'done' WHERE kind = 'stage.reported' OR kind LIKE 'document.%'")
        conn.execute("VACUUM ANALYZE")
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            pass
    return codes


@dataclass
class Counts:
    events: int = 0
    events_done: int = 0
    deliveries: int = 0
    sent: int = 0
    inbox_deliveries: int = 0
    webhook_deliveries: int = 0
    inbox_items: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def counts(url: str) -> Counts:
    with psycopg.connect(libpq_url(url)) as conn:
        ev, done = conn.execute("SELECT count(*), count(*) FILTER (WHERE status = 'done') FROM outbox "
                                "WHERE kind = %s", (EVENT_KIND,)).fetchone()
        d, sent, inbox, hook = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE channel = 'inbox'), "
            "count(*) FILTER (WHERE channel = 'webhook') FROM deliveries").fetchone()
        items = conn.execute("SELECT count(*) FROM inbox_items").fetchone()[0]
    return Counts(ev, done, d, sent, inbox, hook, items)


def receiver_stats(base: str) -> dict[str, int]:
    with urllib.request.urlopen(base + "/stats", timeout=10) as r:  # noqa: S310 - loopback
        return json.loads(r.read())


def receiver_reset(base: str) -> None:
    req = urllib.request.Request(base + "/reset", data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=10):  # noqa: S310 - loopback
        pass


def check(c: Counts, hook: dict[str, int], events: int, enterprise_users: int) -> list[str]:
    """What is wrong after a variant; empty when every event reached everyone exactly once."""
    problems = []
    if c.events != events or c.events_done != events:
        problems.append(f"{c.events_done}/{c.events} events done, expected {events}")
    if c.inbox_deliveries != events * enterprise_users or c.webhook_deliveries != events:
        problems.append(f"{c.inbox_deliveries} inbox and {c.webhook_deliveries} webhook deliveries, expected "
                        f"{events * enterprise_users} and {events}")
    if c.sent != c.deliveries:
        problems.append(f"{c.deliveries - c.sent} deliveries not sent")
    if c.inbox_items != c.inbox_deliveries:
        problems.append(f"{c.inbox_items} inbox items for {c.inbox_deliveries} inbox deliveries")
    if hook["requests"] != events or hook["distinct"] != events or hook["duplicates"] or hook["bad_signature"]:
        problems.append(f"receiver: {hook}, expected {events} requests, each once, all signed")
    return problems
