"""What must hold after a variant fired over the first k generated hazards, and the fingerprint that
says two variants wrote the same thing. Nothing here is timed."""

from __future__ import annotations

import hashlib
import random
from collections import Counter

import psycopg
from sqlalchemy import func, select

from bench.sweep.world import Expected, libpq_url
from db.engine import make_engine, make_session_factory, read_only
from db.models import Hazard
from services.audit import verification as audit
from services.escalation.ladder import Cutoffs
from services.escalation.sweep import due_condition

FULL_AUDIT_UP_TO = 200_000  # hazards; above this a seeded sample of chains is verified
AUDIT_SAMPLE = 5_000
AUDIT_CHUNK = 1_000  # hazard ids per audit.verify call

_STEP = "(payload::json -> 'body' ->> 'step')"


def check(url: str, k: int, expected: Expected, cut: Cutoffs, result: dict, seed: int) -> tuple[list[str], dict]:
    """Problems (empty when all is well) and what was checked, for the report."""
    problems: list[str] = []
    want_events, want_hazards, want_steps = expected.events(k), expected.hazards(k), expected.by_step(k)
    with psycopg.connect(libpq_url(url)) as conn:
        events = conn.execute("SELECT count(*) FROM audit_events WHERE action = 'escalate'").fetchone()[0]
        by_step = dict(conn.execute(f"SELECT {_STEP}, count(*) FROM audit_events WHERE action = 'escalate' "
                                    "GROUP BY 1").fetchall())
        twice = conn.execute(f"SELECT count(*) FROM (SELECT hazard_id, {_STEP} FROM audit_events "
                             "WHERE action = 'escalate' GROUP BY 1, 2 HAVING count(*) > 1) d").fetchone()[0]
        outbox, linked = conn.execute(
            "SELECT count(*), count(e.id) FROM outbox o LEFT JOIN audit_events e ON e.id = o.event_id "
            "AND e.hazard_id = o.hazard_id AND e.action = 'escalate' WHERE o.kind = 'escalation'").fetchone()
        rows = conn.execute("SELECT id, version, escalation_fired FROM hazards ORDER BY id").fetchall()
    if (result.get("events"), result.get("hazards")) != (want_events, want_hazards):
        problems.append(f"the variant reported {result.get('hazards')} hazards / {result.get('events')} events, "
                        f"expected {want_hazards} / {want_events}")
    if events != want_events:
        problems.append(f"{events} escalate events, expected {want_events}")
    if by_step != want_steps:
        problems.append(f"events by step {by_step}, expected {want_steps}")
    if twice:
        problems.append(f"{twice} (hazard, step) pairs fired more than once")
    if outbox != want_events or linked != want_events:
        problems.append(f"{outbox} escalation outbox rows ({linked} linked to their event), expected {want_events}")
    wrong = [hid for hid, version, fired in rows
             if fired != expected.final_fired[hid - 1] or version != 1 + expected.event_mask[hid - 1].bit_count()]
    if len(rows) != k or wrong:
        problems.append(f"{len(rows)} hazards (expected {k}); {len(wrong)} with the wrong bits or version, "
                        f"first ids {wrong[:5]}")
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        factory = make_session_factory(engine)
        with read_only(factory) as s:
            left = s.execute(select(func.count()).select_from(Hazard.__table__).where(due_condition(cut))).scalar_one()
        if left:
            problems.append(f"{left} hazards still due after the variant")
        ids = [r[0] for r in rows]
        if len(ids) > FULL_AUDIT_UP_TO:
            ids = sorted(random.Random(seed).sample(ids, AUDIT_SAMPLE))
        checked = Counter()
        for i in range(0, len(ids), AUDIT_CHUNK):
            with read_only(factory) as s:
                # No replay: the world writes each row's state directly over its one report event.
                report = audit.verify(s, hazard_ids=ids[i:i + AUDIT_CHUNK], replay=False)
            checked["hazards"] += report.hazards_checked
            checked["events"] += report.events_checked
            if not report.ok:
                first = report.first_problem
                problems.append(f"audit.verify: {first.as_dict() if first else '?'}")
                break
    finally:
        engine.dispose()
    if checked["hazards"] != len(ids):
        problems.append(f"audit.verify checked {checked['hazards']} of {len(ids)} hazards")
    return problems, {"events": events, "audit_hazards": checked["hazards"], "audit_events": checked["events"],
                      "audit_all": len(ids) == len(rows)}


def fingerprint(url: str) -> str:
    """A digest of what the escalations wrote, ids aside: every event (its hash covers hazard, seq,
    action, actor, payload, time and predecessor), every outbox row by its event's (hazard, seq),
    and the hazards' ladder columns. Two variants that wrote the same thing give the same digest."""
    digest = hashlib.sha256()
    queries = (
        "SELECT hazard_id, seq, hash FROM audit_events WHERE action = 'escalate' ORDER BY hazard_id, seq",
        "SELECT e.hazard_id, e.seq, o.kind, o.dedupe_key, (o.payload::jsonb - 'event_id')::text, o.status "
        "FROM outbox o JOIN audit_events e ON e.id = o.event_id ORDER BY e.hazard_id, e.seq, o.kind",
        "SELECT id, state, version, audit_head, escalation_step, escalation_fired, listing_level, listing_body, "
        "updated_at FROM hazards ORDER BY id",
    )
    with psycopg.connect(libpq_url(url)) as conn:
        for sql in queries:
            for row in conn.execute(sql):
                digest.update(repr(row).encode())
    return digest.hexdigest()
