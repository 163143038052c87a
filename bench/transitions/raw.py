"""(c) The floor: the statements the service sends for each transition, written out by hand and
sent with psycopg, with the same values, one transaction (and one commit) per transition.

The list was taken from the service with SQLAlchemy's echo, and `parity.py` checks before every
run that it still is:
- report: SELECT the region; upsert the hazard-code counter and bump it (RETURNING); INSERT the
  hazard (RETURNING id); UPDATE its audit head; INSERT the audit event (RETURNING id); INSERT the
  outbox row.
- every other action: SELECT the hazard row; the action's own reads (register: the enterprise by
  USCC and the 屡查屡犯 look-up; supervise: the listing level's region, for the listing body;
  request_acceptance: the two attachment checks); the compare-and-set
  UPDATE ... WHERE id AND version; INSERT the audit event (RETURNING id); INSERT the outbox rows.

What is left out is what the service does in Python: validating the body, the lifecycle's role,
state, scope and guard checks, the ORM. The event hash is computed with `services.audit.chain` (the
values must be the same, and a run is checked with `services.audit.verification.verify`); bodies are parsed once,
before the clock starts, as a hand-written client would hold them as constants.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from bench.transitions import world as db
from bench.transitions.workload import ACTIONS, ACTOR, Result, run_phase
from db.base import Base
from services.audit import chain as audit
from services.kernel import categories, regions
from services.escalation.ladder import DEADLINE_BITS, Step
from services.lifecycle.table import LIFECYCLE

SHANGHAI = ZoneInfo("Asia/Shanghai")
HAZARD_COLUMNS = [c.name for c in Base.metadata.tables["hazards"].columns]
INSERT_COLUMNS = [c for c in HAZARD_COLUMNS if c != "id"]
COL = {name: i for i, name in enumerate(HAZARD_COLUMNS)}

SELECT_REGION = ("SELECT regions.code, regions.name, regions.parent_code, regions.level "
                 "FROM regions WHERE regions.code = %s")
INSERT_SEQUENCE = ("INSERT INTO hazard_sequences (region_code, year, last_value) VALUES (%s, %s, %s) "
                   "ON CONFLICT DO NOTHING")
BUMP_SEQUENCE = ("UPDATE hazard_sequences SET last_value=(hazard_sequences.last_value + %s) "
                 "WHERE hazard_sequences.region_code = %s AND hazard_sequences.year = %s "
                 "RETURNING hazard_sequences.last_value")
INSERT_HAZARD = (f"INSERT INTO hazards ({', '.join(INSERT_COLUMNS)}) "
                 f"VALUES ({', '.join(['%s'] * len(INSERT_COLUMNS))}) RETURNING hazards.id")
SET_HEAD = "UPDATE hazards SET audit_head=%s WHERE hazards.id = %s"
# FOR UPDATE: the service locks the row it acts on (concurrent comments wait instead of failing).
SELECT_HAZARD = (f"SELECT {', '.join('hazards.' + c for c in HAZARD_COLUMNS)} FROM hazards WHERE hazards.id = %s "
                 "FOR UPDATE")
SELECT_ENTERPRISE = ("SELECT enterprises.id, enterprises.uscc, enterprises.name, enterprises.region_code, "
                     "enterprises.industry, enterprises.created_at, enterprises.active, "
                     "enterprises.supervising_department, enterprises.responsible_official FROM enterprises "
                     "WHERE enterprises.uscc = %s")
SELECT_EARLIER = ("SELECT hazards.id FROM hazards WHERE hazards.enterprise_id = %s AND hazards.industry = %s "
                  "AND hazards.category = %s AND hazards.id != %s AND hazards.discovered_at >= %s "
                  "AND hazards.discovered_at < %s AND (hazards.state NOT IN (%s, %s)) "
                  "ORDER BY hazards.discovered_at DESC LIMIT %s")
SELECT_ATTACHMENT = ("SELECT attachments.id, attachments.sha256, attachments.filename FROM attachments "
                     "WHERE attachments.id IN (%s) AND attachments.hazard_id = %s")
EVENT_COLUMNS = ("hazard_id", "seq", "action", "actor_id", "actor_role", "actor_name", "from_state",
                 "to_state", "payload", "occurred_at", "prev_hash", "hash")
INSERT_EVENT = (f"INSERT INTO audit_events ({', '.join(EVENT_COLUMNS)}) "
                f"VALUES ({', '.join(['%s'] * len(EVENT_COLUMNS))}) RETURNING audit_events.id")
INSERT_OUTBOX = ("INSERT INTO outbox (hazard_id, event_id, kind, payload, dedupe_key, status, attempts, "
                 "available_at, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)")
INSERT_OUTBOX_ONE = INSERT_OUTBOX + " RETURNING outbox.id"  # SQLAlchemy fetches a lone row's key

TARGET = {"report": "reported", "register": "registered", "supervise": "supervised",
          "file_plan": "rectifying", "request_acceptance": "acceptance_requested", "accept": "accepted",
          "close": "closed"}
EFFECTS = {a: LIFECYCLE[a].effects for a in ACTIONS}
_UPDATES: dict[tuple[str, ...], str] = {}


def _update_sql(keys: tuple[str, ...]) -> str:
    """`keys` in table order, as SQLAlchemy writes a SET clause."""
    sql = _UPDATES.get(keys)
    if sql is None:
        sets = ", ".join(f"{k}=%s" for k in keys)
        sql = _UPDATES[keys] = f"UPDATE hazards SET {sets} WHERE hazards.id = %s AND hazards.version = %s"
    return sql


def _json_changes(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: (format(v, "f") if isinstance(v, Decimal) else v) for k, v in changes.items()}


class Client:
    """One connection's worth of transitions; the constants come from the parsed bodies."""

    def __init__(self, conn: psycopg.Connection, w: db.World, evidence: dict[int, tuple[int, int]]):
        self.conn = conn
        self.evidence = evidence
        self.actors = {a: w.actor(ACTOR[a]) for a in ACTIONS}
        bodies = w.bodies
        self.parsed = {a: LIFECYCLE[a].body.model_validate(bodies.action(a, (0, 0))) for a in ACTIONS}
        self.body_json = {a: self.parsed[a].model_dump(mode="json") for a in ACTIONS}
        self.uscc = w.uscc

    # --- report ----------------------------------------------------------------------------------

    def report(self) -> int:
        now = datetime.now(UTC)
        b = self.parsed["report"]
        actor = self.actors["report"]
        county, year = b.region_code[:6], now.astimezone(SHANGHAI).year
        with self.conn.cursor() as cur:
            if cur.execute(SELECT_REGION, (b.region_code,)).fetchone() is None:
                raise RuntimeError("unknown region")
            cur.execute(INSERT_SEQUENCE, (county, year, 0))
            value = cur.execute(BUMP_SEQUENCE, (1, county, year)).fetchone()[0]
            code = f"{county}-{year}-{value:06d}"
            row = dict.fromkeys(INSERT_COLUMNS)
            row.update(code=code, title=b.title, description=b.description, location=b.location,
                       industry=b.industry, source=b.source, region_code=b.region_code, state="reported",
                       version=1, audit_head="", suspended=False, discovered_at=now,
                       reported_by_id=actor.id, extensions_granted=0, failed_acceptances=0, escalation_fired=0,
                       created_at=now, updated_at=now)
            hid = cur.execute(INSERT_HAZARD, tuple(row.values())).fetchone()[0]
            event = audit.build_event(
                hazard_id=hid, seq=1, prev_hash=audit.genesis_hash(code), action="report",
                actor_id=actor.id, actor_role=actor.role, actor_name=actor.display_name, from_state=None,
                to_state="reported", payload={"body": self.body_json["report"]}, occurred_at=now,
            )
            cur.execute(SET_HEAD, (event["hash"], hid))
            event_id = cur.execute(INSERT_EVENT, tuple(event[c] for c in EVENT_COLUMNS)).fetchone()[0]
            self._outbox(cur, "report", hid, code, 1, event_id, now)
        self.conn.commit()
        return hid

    # --- the other actions ------------------------------------------------------------------------

    def perform(self, hid: int, action: str) -> None:
        now = datetime.now(UTC)
        b = self.parsed[action]
        actor = self.actors[action]
        body_json = self.body_json[action]
        with self.conn.cursor() as cur:
            h = cur.execute(SELECT_HAZARD, (hid,)).fetchone()
            if h is None:
                raise RuntimeError(f"hazard {hid} not found")
            attachments: list[dict[str, Any]] = []
            if action == "register":
                changes: dict[str, Any] = {"level": b.level, "deadline": b.deadline, "category": b.category,
                                           "escalation_step": None, "escalation_fired": 0}
                ent = cur.execute(SELECT_ENTERPRISE, (b.enterprise_uscc,)).fetchone()
                if not ent[6]:  # a disabled enterprise takes no new hazards, as the service refuses
                    raise RuntimeError(f"enterprise {b.enterprise_uscc} is disabled")
                ent_id = ent[0]
                changes["enterprise_id"] = ent_id
                # 同类 needs a category of the industry's list, as the service asks first
                repeat = cur.execute(SELECT_EARLIER, (
                    ent_id, h[COL["industry"]], b.category, hid, now - timedelta(days=365), h[COL["discovered_at"]],
                    "reported", "dismissed", 1)).fetchone() if categories.is_known(h[COL["industry"]], b.category) \
                    else None
                if repeat is not None:
                    changes["repeat_of_id"] = repeat[0]
            elif action == "supervise":
                changes = {"listing_level": b.listing_level, "listed_at": now, "deadline": b.deadline,
                           "plan_due": b.plan_due, "suspended": b.suspend_production or h[COL["suspended"]],
                           "escalation_step": None,
                           "escalation_fired": h[COL["escalation_fired"]] & ~DEADLINE_BITS}
                # the listing body: the committee office of the listing level's region
                code = regions.ancestor_code(h[COL["region_code"]], b.listing_level)
                region = cur.execute(SELECT_REGION, (code,)).fetchone()
                changes["listing_body"] = f"{region[1] if region else code}安全生产委员会办公室"
            elif action == "file_plan":
                changes = {"plan_responsible_person": b.responsible_person, "plan_measures": b.measures,
                           "plan_funds_wan": b.funds_wan, "plan_time_limit": b.time_limit,
                           "plan_contingency": b.contingency_plan, "plan_filed_at": now}
            elif action == "request_acceptance":
                evidence, report = self.evidence[hid]
                body_json = {**body_json, "evidence": [evidence], "assessment_report": report}
                for att_id in (evidence, report):
                    r = cur.execute(SELECT_ATTACHMENT, (att_id, hid)).fetchone()
                    attachments.append({"id": att_id, "sha256": r[1], "filename": r[2]})
                changes = {"acceptance_requested_at": now, "funds_spent_wan": b.funds_spent_wan,
                           "extension_new_deadline": None, "extension_reason": None,
                           "extension_requested_at": None,
                           "escalation_fired": h[COL["escalation_fired"]] & ~Step.review_overdue}
            elif action == "accept":
                changes = {"accepted_by_id": actor.id, "accepted_at": now}
            elif action == "close":
                changes = {"closed_at": now, "suspended": False}
            else:
                raise ValueError(action)
            seq = h[COL["version"]] + 1
            payload: dict[str, Any] = {"body": body_json, "changes": _json_changes(changes)}
            if attachments:
                payload["attachments"] = attachments
            event = audit.build_event(
                hazard_id=hid, seq=seq, prev_hash=h[COL["audit_head"]], action=action, actor_id=actor.id,
                actor_role=actor.role, actor_name=actor.display_name, from_state=h[COL["state"]],
                to_state=TARGET[action], payload=payload, occurred_at=now,
            )
            values = {**changes, "state": TARGET[action], "version": seq, "audit_head": event["hash"],
                      "updated_at": now}
            keys = tuple(sorted(values, key=COL.__getitem__))
            cur.execute(_update_sql(keys), (*(values[k] for k in keys), hid, h[COL["version"]]))
            if cur.rowcount != 1:
                raise RuntimeError(f"hazard {hid}: concurrent update")
            event_id = cur.execute(INSERT_EVENT, tuple(event[c] for c in EVENT_COLUMNS)).fetchone()[0]
            self._outbox(cur, action, hid, h[COL["code"]], seq, event_id, now)
        self.conn.commit()

    @staticmethod
    def _outbox(cur: psycopg.Cursor, action: str, hid: int, code: str, seq: int, event_id: int,
                now: datetime) -> None:
        payload = audit.canonical({"hazard_id": hid, "hazard_code": code, "action": action, "seq": seq,
                                   "event_id": event_id})
        rows = [(hid, event_id, kind, payload, f"{kind}:{hid}:{seq}", "pending", 0, now, now)
                for kind in EFFECTS[action]]
        if len(rows) == 1:
            cur.execute(INSERT_OUTBOX_ONE, rows[0]).fetchone()
        elif rows:
            cur.executemany(INSERT_OUTBOX, rows)


def run(w: db.World, n: int, concurrency: int, *, cursor_factory: type[psycopg.Cursor] | None = None,
        on_phase: Callable[[str], None] = lambda _action: None) -> Result:
    """One connection per worker thread, opened before the clock starts. `cursor_factory` and
    `on_phase` are for the parity check (it records what is sent, phase by phase)."""
    result = Result("c", "(c) raw psycopg, same SQL", concurrency)
    evidence: dict[int, tuple[int, int]] = {}
    conns = [psycopg.connect(db.libpq_url(w.url)) for _ in range(concurrency)]
    try:
        clients = [Client(c, w, evidence) for c in conns]
        for c in conns:
            c.execute("SELECT 1")
            c.commit()
            if cursor_factory is not None:
                c.cursor_factory = cursor_factory
        on_phase("report")
        ids, seconds = run_phase(range(n), lambda k, _i: clients[k].report(), concurrency)
        result.add_phase("report", n, seconds)
        evidence.update(db.add_attachments(w.url, ids))
        for action in ACTIONS[1:]:
            on_phase(action)
            _, seconds = run_phase(ids, lambda k, hid, action=action: clients[k].perform(hid, action), concurrency)
            result.add_phase(action, n, seconds)
    finally:
        for c in conns:
            c.close()
    return result

