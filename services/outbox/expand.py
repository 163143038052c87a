"""Expanding the outbox: pending outbox rows → one delivery per (message, channel, recipient),
queued for services/outbox/deliver.py.

`expand` (in the caller's transaction) claims pending rows (all but `document.*`, the document
engine's: services/outbox/kinds.py), resolves their recipients (`services.notify`), inserts the
deliveries (ON CONFLICT (dedupe_key) DO NOTHING) and marks the rows done; a task list's rows
(`notify.task_unit`, `notify.task_office`) take their people and texts from services/tasks/notify.py,
one delivery each, no digest. Escalations become one
digest per recipient, channel and sweep day (`as_of`), so a sweep that fires ten steps on an
enterprise's hazards sends it one message: an expansion adds its escalations to the day's digest
while that is still queued and untouched, and starts a second digest only once the first is being
sent or has gone (a step fired after the digest went out). So the rows of one day can be expanded
in as many calls as the caller likes (the flow stages a few hundred rows per task run). On
PostgreSQL expansions take turns (an advisory lock), so two never add to the same digest at once.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import ColumnElement, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.models import Delivery, Hazard, OutboxMessage
from services.kernel.clock import local_date
from services.kernel.settings import Settings, WebhookSubscription, get_settings
from services.notify import messages
from services.notify.recipients import Directory, Person, alert_recipients, load_acts, load_hazards
from services.outbox import batches, kinds
from services.tasks import notify as task_notify

log = structlog.get_logger("hazard.outbox")

O = OutboxMessage.__table__
D = Delivery.__table__
DIGESTS = "digest:"  # the dedupe keys of escalation digests
EXPAND_LOCK = int.from_bytes(b"outbox", "big")  # pg_advisory_xact_lock key: one expansion at a time
_INSERT = {name: dialect.insert(D).on_conflict_do_nothing(index_elements=["dedupe_key"])
           for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}


@dataclass
class ExpandReport:
    messages: int = 0  # outbox rows marked done
    deliveries: int = 0  # deliveries queued
    digests: int = 0  # of which escalation digests
    digests_grown: int = 0  # queued digests of the day that took more escalations


@dataclass(frozen=True)
class Target:
    channel: str
    recipient: str
    user_id: int | None
    reader: str = "official"  # whom a digest's text speaks to: `enterprise` or `official`


def _targets(people: list[Person], hooks: list[WebhookSubscription], email: bool) -> list[Target]:
    out = []
    for p in people:
        reader = "enterprise" if p.role == "enterprise" else "official"
        out.append(Target("inbox", str(p.id), p.id, reader))
        if email and p.email:
            out.append(Target("email", p.email, p.id, reader))
    return out + [Target("webhook", h.name, None) for h in hooks]


def _subscribed(hook: WebhookSubscription, kind: str) -> bool:
    return any(fnmatch.fnmatchcase(kind, pattern) for pattern in hook.kinds)


def _as_of(row: Any, payload: dict[str, Any]) -> str:
    return payload.get("as_of") or local_date(row.created_at).isoformat()


def _chunks(items: list[Any], size: int = 1000) -> Iterable[list[Any]]:
    """IN lists of a bounded length (SQLite and psycopg cap the parameters of one statement)."""
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _expandable(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """The rows `expand` takes: pending, due by `now`, and not the document engine's."""
    return O.c.status == "pending", ~O.c.kind.startswith(kinds.DOCUMENT, autoescape=True), O.c.available_at <= now


def next_stage(session: Session, *, now: datetime, rows: int, hazards: int | None = None) -> batches.Batch:
    """The oldest expandable rows, at most `rows` of them about at most `hazards` hazards (None: no
    cap; rows about no hazard, such as alerts, come along), and those hazards' codes: one stage
    run's work."""
    pending = session.execute(
        select(O.c.id, Hazard.code).outerjoin(Hazard, Hazard.id == O.c.hazard_id)
        .where(*_expandable(now)).order_by(O.c.id).limit(rows)
    ).all()
    return batches.up_to_hazards(pending, hazards)


def _claim_outbox(session: Session, now: datetime, limit: int, ids: list[int] | None) -> list[Any]:
    """Up to `limit` pending rows, oldest first; only those of `ids` when given."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": EXPAND_LOCK})
    due = select(O.c.id, O.c.hazard_id, O.c.kind, O.c.payload, O.c.dedupe_key, O.c.created_at).where(
        *_expandable(now))
    if ids is not None:
        due = due.where(O.c.id.in_(ids))
    return conn.execute(due.order_by(O.c.id).limit(limit).with_for_update(skip_locked=True)).all()


@dataclass
class _DigestDraft:
    target: Target
    digest: messages.Digest
    outbox_ids: list[int] = field(default_factory=list)
    hazard_ids: set[int] = field(default_factory=set)


def _row(key: str, target: Target, message: messages.Message, now: datetime, *, outbox_id: int | None,
         hazard_id: int | None) -> dict[str, Any]:
    return {"outbox_id": outbox_id, "channel": target.channel, "recipient": target.recipient,
            "user_id": target.user_id, "hazard_id": hazard_id, "dedupe_key": key, "subject": message.subject,
            "body": message.body(), "status": "pending", "attempts": 0, "available_at": now,
            "claimed_until": None, "started_at": None, "last_error": None, "sent_at": None, "created_at": now}


def _digests(session: Session, drafts: dict[str, _DigestDraft], now: datetime) -> tuple[list[dict[str, Any]], int]:
    """The day's digest per recipient: added to the one still queued and untouched (not claimed,
    never tried), else a new one, keyed by its first outbox row when the day's key is taken.
    Returns the new deliveries and how many queued digests grew."""
    conn = session.connection()
    new, grown = [], 0
    for base, d in drafts.items():
        known = [k for k in conn.execute(
            select(D.c.id, D.c.dedupe_key, D.c.status, D.c.attempts, D.c.body)
            .where(or_(D.c.dedupe_key == base, D.c.dedupe_key.startswith(f"{base}:", autoescape=True)))
            .order_by(D.c.id.desc()))
            if k.dedupe_key == base or k.dedupe_key[len(base) + 1:].isdigit()]
        queued = next((k for k in known if k.status == "pending" and k.attempts == 0), None)
        if queued is not None:
            digest = messages.Digest.from_body(queued.body)
            digest.merge(d.digest)
            message = digest.message()
            # the status check again: a worker may have claimed it since it was read
            grew = conn.execute(update(D).where(D.c.id == queued.id, D.c.status == "pending", D.c.attempts == 0)
                                .values(subject=message.subject, body=message.body(), outbox_id=None,
                                        hazard_id=message.items[0]["hazard_id"] if len(message.items) == 1 else None))
            if grew.rowcount == 1:
                grown += 1
                continue
        key = f"{base}:{min(d.outbox_ids)}" if known else base
        one = len(set(d.outbox_ids)) == 1
        new.append(_row(key, d.target, d.digest.message(), now, outbox_id=d.outbox_ids[0] if one else None,
                        hazard_id=next(iter(d.hazard_ids)) if len(d.hazard_ids) == 1 else None))
    return new, grown


def expand(session: Session, *, now: datetime, limit: int = 500, settings: Settings | None = None,
           ids: list[int] | None = None) -> ExpandReport:
    """Turn pending outbox rows (the oldest `limit`, or those of `ids` still pending) into
    deliveries, in the caller's transaction. A row nobody is to hear of (and no webhook subscribes
    to) is marked done all the same."""
    settings = settings or get_settings()
    rows = _claim_outbox(session, now, limit, ids)
    report = ExpandReport()
    if not rows:
        return report
    payloads = {r.id: json.loads(r.payload) for r in rows}
    hazards = load_hazards(session, [r.hazard_id for r in rows if r.hazard_id is not None])
    acts = load_acts(session, [p.get("event_id") for p in payloads.values()])
    directory = Directory(session, hazards.values())
    email = bool(settings.smtp_host)
    planned: dict[str, dict[str, Any]] = {}
    drafts: dict[str, _DigestDraft] = {}
    alerted = alert_recipients(session) if any(kinds.is_alert(r.kind) for r in rows) else []
    # a task list's rows (no hazard): their units and offices (services/tasks/notify.py)
    tasks = task_notify.prepare(session, [(r.id, r.kind, payloads[r.id]) for r in rows if r.kind in kinds.TASK_NOTIFY])
    for row in rows:
        payload, hazard = payloads[row.id], hazards.get(row.hazard_id)
        act = acts.get(payload.get("event_id"))
        if kinds.is_alert(row.kind):
            hooks = [h for h in settings.webhooks if _subscribed(h, row.kind)]
            message = messages.alert(row.kind, payload)
            for t in _targets(alerted, hooks, email):
                key = f"{row.dedupe_key}:{t.channel}:{t.recipient}"
                planned.setdefault(key, _row(key, t, message, now, outbox_id=row.id, hazard_id=None))
            continue
        if row.kind in kinds.TASK_NOTIFY:
            notice = tasks.get(row.id)
            hooks = [h for h in settings.webhooks if _subscribed(h, row.kind)]
            for t in _targets(notice.people, hooks, email) if notice is not None else ():
                key = f"{row.dedupe_key}:{t.channel}:{t.recipient}"
                planned.setdefault(key, _row(key, t, notice.message, now, outbox_id=row.id, hazard_id=None))
            continue
        if hazard is None:
            continue
        hooks = [h for h in settings.webhooks if _subscribed(h, row.kind)]
        targets = _targets(directory.recipients(row.kind, hazard, payload), hooks, email)
        if row.kind == kinds.ESCALATION:
            day = _as_of(row, payload)
            for t in targets:
                d = drafts.setdefault(f"{DIGESTS}{kinds.ESCALATION}:{day}:{t.channel}:{t.recipient}",
                                      _DigestDraft(t, messages.Digest(day, t.reader)))
                d.digest.add(hazard, payload, act)
                d.outbox_ids.append(row.id)
                d.hazard_ids.add(hazard.id)
            continue
        message = messages.single(row.kind, hazard, payload, act)
        for t in targets:
            key = f"{row.dedupe_key}:{t.channel}:{t.recipient}"
            planned.setdefault(key, _row(key, t, message, now, outbox_id=row.id, hazard_id=hazard.id))
    digests, grown = _digests(session, drafts, now)
    conn = session.connection()
    values = [*planned.values(), *digests]
    if values:
        conn.execute(_INSERT[conn.dialect.name], values)
    for part in _chunks([r.id for r in rows]):
        conn.execute(update(O).where(O.c.id.in_(part)).values(status="done", last_error=None))
    report = ExpandReport(messages=len(rows), deliveries=len(values), digests=len(digests), digests_grown=grown)
    log.info("outbox_expanded", **asdict(report))
    return report
