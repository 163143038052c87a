"""The benchmark's database: created for the run, seeded with organisations through
`services.accounts.admin`, loaded with N open hazards by COPY, emptied and reloaded before each variant,
dropped at the end. Nothing here is timed.

The hazards are generated once, at the largest N, into two COPY files (hazards, and one genesis
`report` event per hazard with its real hash, so `services.audit.verification.verify` passes); a load streams the first
k lines of each. Each hazard's state, deadline and ladder bits are written directly (it did not
walk through register/supervise/... here): its audit chain is the one genesis event, version 1,
`audit_head` that event's hash. What the ladder would fire for every row is computed while
generating (`Expected`), so every variant is checked against it.
"""

from __future__ import annotations

import itertools
import random
from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import psycopg
from sqlalchemy import select

from bench.sweep import population as pop
from bench.transitions.world import libpq_url, reset
from db.engine import make_engine, make_session_factory, transaction
from db.models import Enterprise, Hazard
from services.accounts import admin
from services.audit import chain as audit
from services.kernel import regions
from services.lifecycle.bodies import ReportBody
from services.kernel.clock import SHANGHAI
from app.demo.catalogue import CATALOG, FACES, ORGS, STREETS, org_uscc, region_names
from services.escalation.ladder import LADDER_ORDER, Cutoffs, Step, collapse

HAZARD_COLUMNS = tuple(c.name for c in Hazard.__table__.columns)
EVENT_COLUMNS = audit.HASHED_FIELDS + ("hash",)
SOURCES = (("inspection", 45), ("self_check", 35), ("covert_inspection", 10), ("expert_review", 10))
COPY_CHUNK = 2000  # lines per write to the COPY stream


# --- organisations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    id: int
    role: str
    name: str


@dataclass
class Org:
    enterprise_id: int
    uscc: str
    name: str
    region: str
    industry: str
    head: str
    inspector: Person
    contact: Person
    texts: list[dict[str, str]] = field(default_factory=list)  # rendered templates of its industry


def seed_orgs(url: str, suffix: str = "") -> list[Org]:
    """The Shanxi regions, the demo catalogue's 24 enterprises, an inspector per county, an enterprise
    user per enterprise and a committee office per city and the province, through `services.accounts.admin`.
    In a reused database the enterprises are reused and `suffix` keeps the usernames new."""
    engine = make_engine(url, pool_size=1, max_overflow=0)
    names = region_names()
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    orgs: list[Org] = []
    try:
        factory = make_session_factory(engine)
        with transaction(factory) as s:
            admin.load_regions_csv(s)
            inspectors: dict[str, Person] = {}

            def user(username: str, role: str, region: str, display: str, uscc: str | None = None) -> Person:
                u, _ = admin.add_user(s, f"bench_{username}{suffix}", role, region, now=now, enterprise_uscc=uscc,
                                      display_name=display)
                return Person(u.id, u.role, u.display_name)

            for code, name in names.items():
                level = regions.region_level(code)
                if level == "county":
                    inspectors[code] = user(f"insp_{code}", "inspector", code, f"{name}检查员")
                elif level in ("city", "province"):
                    user(f"committee_{code}", "committee", code, f"{name}安委办")
            for i, o in enumerate(ORGS):
                code = org_uscc(o)
                ent = s.execute(select(Enterprise).where(Enterprise.uscc == code)).scalar_one_or_none()
                if ent is None:
                    ent = admin.add_enterprise(s, code, o.name, o.region, o.industry, now=now)
                contact = user(f"ent_{o.key}", "enterprise", o.region, o.contact, uscc=code)
                org = Org(ent.id, code, o.name, o.region, o.industry, o.head, inspectors[o.region], contact)
                for t, tpl in enumerate(CATALOG[o.industry]):
                    vals = {"ent": o.name, "county": names[o.region], "street": STREETS[(i + t) % len(STREETS)],
                            "face": FACES[(i + t) % len(FACES)], "n": 12 + t, "x": "1.2", "d": 3, "f": 2, "k": 35,
                            "m": 40}
                    org.texts.append({"title": tpl.title, "description": tpl.description.format(**vals),
                                      "location": tpl.location.format(**vals)[:200], "category": tpl.category,
                                      "measures": tpl.measures.format(**vals)})
                orgs.append(org)
    finally:
        engine.dispose()
    return orgs


# --- generating the rows --------------------------------------------------------------------------


@dataclass
class Expected:
    """What the ladder fires per generated row (index = id - 1), and the bits the row ends with.
    `due_mask`: every step due (all end up fired); `event_mask`: the steps that get their own event
    (of several of one ladder due at once, only the most severe: `escalation.collapse`)."""

    n: int
    due_count: int
    due_mask: array = field(default_factory=lambda: array("H"))
    event_mask: array = field(default_factory=lambda: array("H"))
    final_fired: array = field(default_factory=lambda: array("H"))
    shapes: Counter = field(default_factory=Counter)

    def events(self, k: int) -> int:
        return sum(m.bit_count() for m in itertools.islice(self.event_mask, k))

    def hazards(self, k: int) -> int:
        return sum(1 for m in itertools.islice(self.due_mask, k) if m)

    def by_step(self, k: int) -> dict[str, int]:
        out: Counter = Counter()
        for m in itertools.islice(self.event_mask, k):
            if m:
                for s in LADDER_ORDER:
                    if m & s:
                        out[s.name] += 1
        return {s.name: out[s.name] for s in LADDER_ORDER if out[s.name]}


def _copy_text(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, str):
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def _line(values) -> str:
    return "\t".join(_copy_text(v) for v in values) + "\n"


def _at(day: date, rng: random.Random, start: int = 8, end: int = 18) -> datetime:
    local = datetime.combine(day, time(rng.randint(start, end - 1), rng.randint(0, 59)), SHANGHAI)
    return local.astimezone(timezone.utc)


def _listing_body(region: str, level: str) -> str:
    code = regions.ancestor_code(region, level)
    return f"{region_names().get(code, code)}安全生产委员会办公室"


class Generator:
    """Turns profiles into hazard rows and their genesis events (COPY text lines)."""

    def __init__(self, orgs: list[Org], cut: Cutoffs, seed: int):
        self.orgs = orgs
        self.cut = cut
        self.now = pop.sweep_now(cut.today)
        self.rng = random.Random(seed + 1)  # its own stream: the profiles stay those of population.profiles
        self.counters: Counter = Counter()
        self.bodies: dict[tuple[int, int, str], dict] = {}

    def _body(self, o: int, t: int, source: str) -> dict:
        key = (o, t, source)
        if key not in self.bodies:
            org, text = self.orgs[o], self.orgs[o].texts[t]
            self.bodies[key] = ReportBody(
                title=text["title"], description=text["description"], location=text["location"],
                region_code=org.region, industry=org.industry, source=source, enterprise_uscc=org.uscc,
            ).model_dump(mode="json")
        return self.bodies[key]

    def rows(self, hid: int, p: pop.Profile) -> tuple[str, str]:
        rng, now = self.rng, self.now
        o = rng.randrange(len(self.orgs))
        org = self.orgs[o]
        t = rng.randrange(len(org.texts))
        text = org.texts[t]
        source = pop.weighted(rng, SOURCES)
        reporter = org.contact if source == "self_check" else org.inspector
        discovered = _at(p.reported_on, rng)
        year = p.reported_on.year
        self.counters[(org.region, year)] += 1
        code = f"{org.region}-{year}-{self.counters[(org.region, year)]:06d}"
        body = self._body(o, t, source)
        event = audit.build_event(
            hazard_id=hid, seq=1, prev_hash=audit.genesis_hash(code), action="report", actor_id=reporter.id,
            actor_role=reporter.role, actor_name=reporter.name, from_state=None, to_state="reported",
            payload={"body": body}, occurred_at=discovered,
        )
        later = lambda days: min(discovered + timedelta(days=days), now - timedelta(hours=1))  # noqa: E731
        v: dict = dict.fromkeys(HAZARD_COLUMNS)
        v.update(
            id=hid, code=code, title=text["title"], description=text["description"], location=text["location"],
            industry=org.industry, source=source, region_code=org.region, enterprise_id=org.enterprise_id,
            state=p.state, version=1, audit_head=event["hash"], suspended=False, discovered_at=discovered,
            reported_by_id=reporter.id, extensions_granted=0, failed_acceptances=p.failed_acceptances,
            created_at=discovered, updated_at=later(rng.randint(1, 20)), escalation_fired=p.fired,
        )
        if p.state != "reported":
            v.update(level=p.level, category=text["category"], deadline=p.deadline)
            if p.fired & sum(pop.DEADLINE_STEPS):
                v["escalation_step"] = max((s for s in pop.DEADLINE_STEPS if p.fired & s), key=int).name
        elif p.fired:
            v["escalation_step"] = max((s for s in (Step.unregistered_remind, Step.unregistered_escalate)
                                        if p.fired & s), key=int).name
        if p.listing_level:
            v.update(listing_level=p.listing_level, listing_body=_listing_body(org.region, p.listing_level),
                     listed_at=later(2), plan_due=p.deadline - timedelta(days=10) if p.deadline else None)
        if p.state in ("rectifying", "acceptance_requested") and rng.random() < 0.8:
            v.update(plan_responsible_person=org.head, plan_measures=text["measures"],
                     plan_funds_wan=Decimal(rng.randint(5, 500)) / 10, plan_time_limit=p.deadline,
                     plan_filed_at=later(3))
        if p.acceptance_requested_on:
            v.update(acceptance_requested_at=_at(p.acceptance_requested_on, rng),
                     funds_spent_wan=Decimal(rng.randint(5, 500)) / 10)
        hazard = _line(v[c] for c in HAZARD_COLUMNS)
        return hazard, _line(event[c] for c in EVENT_COLUMNS)


def generate(folder: Path, orgs: list[Org], n: int, due_count: int, cut: Cutoffs, seed: int) -> Expected:
    """Write `hazards.copy` and `events.copy` (COPY text, one line per hazard, in id order)."""
    gen = Generator(orgs, cut, seed)
    expected = Expected(n, due_count)
    with (folder / "hazards.copy").open("w", encoding="utf-8") as fh, \
            (folder / "events.copy").open("w", encoding="utf-8") as fe:
        hz: list[str] = []
        ev: list[str] = []
        for i, p in enumerate(pop.profiles(n, due_count, cut, seed)):
            steps = pop.expected_steps(p, cut)
            mask = pop.bits(steps)
            expected.due_mask.append(mask)
            expected.event_mask.append(pop.bits([s for s, _ in collapse(steps)]))
            expected.final_fired.append(p.fired | mask)
            expected.shapes[p.shape] += 1
            h, e = gen.rows(i + 1, p)
            hz.append(h)
            ev.append(e)
            if len(hz) >= 10_000:
                fh.write("".join(hz))
                fe.write("".join(ev))
                hz.clear()
                ev.clear()
        fh.write("".join(hz))
        fe.write("".join(ev))
    return expected


# --- loading --------------------------------------------------------------------------------------


def _stream(copy, path: Path, k: int) -> None:
    with path.open("r", encoding="utf-8") as fh:
        lines = itertools.islice(fh, k)
        while chunk := list(itertools.islice(lines, COPY_CHUNK)):
            copy.write("".join(chunk))


def load(url: str, folder: Path, k: int) -> None:
    """Empty the hazard tables (`bench.transitions.world.reset`) and load the first k generated
    hazards and their events; then the id sequence, the code counters, VACUUM ANALYZE and a
    CHECKPOINT, so the timed run starts from a table as a vacuumed production table would be."""
    reset(url)
    cols = ", ".join(HAZARD_COLUMNS)
    ev_cols = ", ".join(EVENT_COLUMNS)
    with psycopg.connect(libpq_url(url)) as conn:
        with conn.cursor() as cur:
            with cur.copy(f"COPY hazards ({cols}) FROM STDIN") as copy:
                _stream(copy, folder / "hazards.copy", k)
            with cur.copy(f"COPY audit_events ({ev_cols}) FROM STDIN") as copy:
                _stream(copy, folder / "events.copy", k)
            cur.execute("SELECT setval(pg_get_serial_sequence('hazards', 'id'), "
                        "GREATEST((SELECT max(id) FROM hazards), 1))")
            cur.execute("INSERT INTO hazard_sequences (region_code, year, last_value) "
                        "SELECT split_part(code, '-', 1), split_part(code, '-', 2)::int, "
                        "max(split_part(code, '-', 3)::int) FROM hazards GROUP BY 1, 2")
        conn.commit()
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE hazards")
        conn.execute("VACUUM ANALYZE audit_events")
        conn.execute("VACUUM ANALYZE outbox")
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            pass

