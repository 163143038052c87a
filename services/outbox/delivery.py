"""The outbox delivery engine: outbox rows → one delivery per (message, channel, recipient) →
sent, retried with backoff, or dead-lettered for a person to retry.

Expand (`expand`, one transaction): claim pending rows (all but `document.*`, the document
engine's), resolve their recipients (`services.notify`), insert the deliveries (ON CONFLICT
(dedupe_key) DO NOTHING) and mark the rows done. Escalations become one digest per recipient,
channel and sweep day (`as_of`), so a sweep that fires ten steps on an enterprise's hazards sends it
one message: an expansion adds its escalations to the day's digest while that is still queued and
untouched, and starts a second digest only once the first is being sent or has gone (a step fired
after the digest went out). So the rows of one day can be expanded in as many calls as the caller
likes (the flow stages a few dozen hazards per task run). On PostgreSQL expansions take turns (an
advisory lock), so two never add to the same digest at once.

Deliver (`deliver`): claim due deliveries (`sending`, a lease, one commit), then send each and
record its outcome right away, in a short transaction of its own. At most once, for e-mail and
webhooks: their send is marked as begun (`started_at`) before it starts, and a delivery found with
its lease run out and its send begun — its worker died — may or may not have reached the
recipient. It is dead-lettered with a message saying so, never resent by itself; one whose send
never began goes back to the queue. The inbox is our own table: the item and the `sent` mark are
one transaction, keyed by the delivery's dedupe key, so it is simply redone. This is how a worker
killed in the middle of a batch makes no recipient receive the same message twice.

Concurrency: claims use `FOR UPDATE SKIP LOCKED` on PostgreSQL (two workers never claim the same
delivery); SQLite's BEGIN IMMEDIATE serialises them. Outcomes are written against the claim token
(id, attempts), so a worker that lost its claim changes nothing.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import structlog
from sqlalchemy import bindparam, or_, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from db.engine import transaction
from db.models import Delivery, OutboxMessage
from services.kernel.clock import local_date
from services.kernel.errors import Conflict, NotFound
from services.notify import messages
from services.notify.channels import (
    Channel, DeliveryError, DeliveryJob, TransactionalChannel, default_channels,
)
from services.notify.recipients import (
    ALERTS, DOCUMENTS, ESCALATION, Directory, Person, alert_recipients, load_acts, load_hazards,
)
from services.kernel.settings import Settings, WebhookSubscription, get_settings

log = structlog.get_logger("hazard.outbox")

O = OutboxMessage.__table__
D = Delivery.__table__
DIGESTS = "digest:"  # the dedupe keys of escalation digests
EXPAND_LOCK = int.from_bytes(b"outbox", "big")  # pg_advisory_xact_lock key: one expansion at a time
UNCERTAIN = ("投递结果不确定（处理进程中断）：可能已经送达，为避免重复，系统不再自动重发；"
             "请与接收方核实，需要时用 hazard outbox retry 重新投递")
_INSERT = {name: dialect.insert(D).on_conflict_do_nothing(index_elements=["dedupe_key"])
           for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}


# --- expand ---------------------------------------------------------------------------------------


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


def _claim_outbox(session: Session, now: datetime, limit: int, ids: list[int] | None) -> list[Any]:
    """Up to `limit` pending rows, oldest first; only those of `ids` when given."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": EXPAND_LOCK})
    due = select(O.c.id, O.c.hazard_id, O.c.kind, O.c.payload, O.c.dedupe_key, O.c.created_at).where(
        O.c.status == "pending", ~O.c.kind.startswith(DOCUMENTS, autoescape=True), O.c.available_at <= now)
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
    alerted = alert_recipients(session) if any(r.kind.startswith(ALERTS) for r in rows) else []
    for row in rows:
        payload, hazard = payloads[row.id], hazards.get(row.hazard_id)
        act = acts.get(payload.get("event_id"))
        if row.kind.startswith(ALERTS):
            hooks = [h for h in settings.webhooks if _subscribed(h, row.kind)]
            message = messages.alert(row.kind, payload)
            for t in _targets(alerted, hooks, email):
                key = f"{row.dedupe_key}:{t.channel}:{t.recipient}"
                planned.setdefault(key, _row(key, t, message, now, outbox_id=row.id, hazard_id=None))
            continue
        if hazard is None:
            continue
        hooks = [h for h in settings.webhooks if _subscribed(h, row.kind)]
        targets = _targets(directory.recipients(row.kind, hazard, payload), hooks, email)
        if row.kind == ESCALATION:
            day = _as_of(row, payload)
            for t in targets:
                d = drafts.setdefault(f"{DIGESTS}escalation:{day}:{t.channel}:{t.recipient}",
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


# --- deliver --------------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    failed: int = 0  # failed and queued again with backoff
    dead: int = 0  # failed for the last time, or found with an unknown outcome
    requeued: int = 0  # claimed by a worker that died before sending: back in the queue


def _recover(session: Session, now: datetime, report: DeliveryReport) -> None:
    """Leases that ran out: an inbox item, or a send that never began, is queued again; an e-mail
    or webhook whose send began is dead-lettered (its outcome is unknown)."""
    conn = session.connection()
    expired = (D.c.status == "sending", D.c.claimed_until < now)
    uncertain = conn.execute(select(D.c.id, D.c.channel).where(
        *expired, D.c.started_at.is_not(None), D.c.channel != "inbox").with_for_update(skip_locked=True)).all()
    if uncertain:
        conn.execute(update(D).where(D.c.id.in_([r.id for r in uncertain]), *expired)
                     .values(status="dead", last_error=UNCERTAIN, claimed_until=None))
        for r in uncertain:
            log.warning("outbox_delivery_uncertain", delivery_id=r.id, channel=r.channel)
        report.dead += len(uncertain)
    again = conn.execute(update(D).where(*expired, or_(D.c.started_at.is_(None), D.c.channel == "inbox"))
                         .values(status="pending", available_at=now, claimed_until=None, started_at=None))
    report.requeued += again.rowcount or 0


def _claim(session: Session, now: datetime, channels: list[str], limit: int, until: datetime,
           digests: bool = True) -> list[DeliveryJob]:
    conn = session.connection()
    due = select(D).where(D.c.status == "pending", D.c.available_at <= now, D.c.channel.in_(channels))
    if not digests:
        due = due.where(~D.c.dedupe_key.startswith(DIGESTS, autoescape=True))
    rows = conn.execute(due.order_by(D.c.available_at, D.c.id).limit(limit).with_for_update(skip_locked=True)).all()
    if not rows:
        return []
    conn.execute(update(D).where(D.c.id.in_([r.id for r in rows])).values(
        status="sending", attempts=D.c.attempts + 1, claimed_until=until, started_at=None))
    return [DeliveryJob(r.id, r.channel, r.recipient, r.user_id, r.hazard_id, r.dedupe_key, r.subject, r.body,
                        r.attempts + 1) for r in rows]


def _token(job: DeliveryJob):
    return D.c.id == job.id, D.c.attempts == job.attempts


_TOKEN = (D.c.id == bindparam("job_id"), D.c.attempts == bindparam("job_attempts"))
_MARK_STARTED = update(D).where(*_TOKEN, D.c.status == "sending").values(started_at=bindparam("now"))
# 'dead' too: a slow send whose lease ran out was dead-lettered meanwhile, yet it did arrive.
_MARK_SENT = (update(D).where(*_TOKEN, D.c.status.in_(("sending", "dead")))
              .values(status="sent", sent_at=bindparam("now"), claimed_until=None))


def _mark_started(session: Session, job: DeliveryJob, now: datetime) -> bool:
    result = session.connection().execute(_MARK_STARTED, {"job_id": job.id, "job_attempts": job.attempts, "now": now})
    return result.rowcount == 1


def _mark_sent(session: Session, job: DeliveryJob, now: datetime) -> bool:
    result = session.connection().execute(_MARK_SENT, {"job_id": job.id, "job_attempts": job.attempts, "now": now})
    return result.rowcount == 1


def _mark_failed(factory: sessionmaker[Session], job: DeliveryJob, error: BaseException, now: datetime,
                 settings: Settings, report: DeliveryReport) -> None:
    dead = job.attempts >= settings.delivery_max_attempts
    message = str(error) or type(error).__name__
    values: dict[str, Any] = {"status": "dead" if dead else "pending", "last_error": message[:2000],
                              "claimed_until": None, "started_at": None}
    if not dead:
        values["available_at"] = now + timedelta(seconds=settings.delivery_backoff_seconds * 2 ** (job.attempts - 1))
    with transaction(factory) as session:
        session.connection().execute(update(D).where(*_token(job), D.c.status.in_(("sending", "dead"))).values(values))
    if dead:
        report.dead += 1
        log.warning("outbox_dead_lettered", delivery_id=job.id, channel=job.channel, attempts=job.attempts,
                    error=message)
    else:
        report.failed += 1
        log.info("outbox_delivery_failed", delivery_id=job.id, channel=job.channel, attempts=job.attempts,
                 error=message, retry_at=values["available_at"].isoformat())


class _ClaimLost(Exception):
    """Another worker took the delivery over (this one's lease ran out): leave it to them."""


class _Unrecorded(Exception):
    """Sent, but the database did not take the record. Not a failure to retry (the message is
    out): the pass stops, and when the lease runs out the delivery is dead-lettered as uncertain."""


def _deliver_one(factory: sessionmaker[Session], channel: Channel, job: DeliveryJob, now: datetime) -> None:
    """Send to a channel outside our database and record it; raises what the channel raised
    (nothing was delivered then)."""
    with transaction(factory) as session:
        if not _mark_started(session, job, now):
            raise _ClaimLost
    channel.send(job)  # type: ignore[union-attr]
    try:
        with transaction(factory) as session:
            _mark_sent(session, job, now)
    except Exception as exc:
        raise _Unrecorded from exc


_SENT_IF_OURS = (update(D).where(tuple_(D.c.id, D.c.attempts).in_(bindparam("tokens", expanding=True)),
                                 D.c.status.in_(("sending", "dead")))
                 .values(status="sent", sent_at=bindparam("now"), claimed_until=None).returning(D.c.id))


def _deliver_in_db(factory: sessionmaker[Session], by_name: dict[str, Any], jobs: list[DeliveryJob],
                   now: datetime, settings: Settings, report: DeliveryReport) -> None:
    """The batch's deliveries to channels inside our own database (the inbox), set-based in ONE
    transaction: mark sent those whose claim is still ours, then write exactly their items. A
    statement and a commit per item were most of the delivery time (bench/outbox). Exactly once
    holds: the items and the `sent` marks commit together, or neither does and all are redone."""
    failed: list[tuple[DeliveryJob, Exception]] = []
    ready: dict[str, list[DeliveryJob]] = {}
    for job in jobs:
        reason = by_name[job.channel].refusal(job)
        if reason:
            failed.append((job, DeliveryError(reason)))
        else:
            ready.setdefault(job.channel, []).append(job)
    sent: list[DeliveryJob] = []
    for name, group in ready.items():
        with transaction(factory) as session:
            ours = set(session.connection().execute(
                _SENT_IF_OURS, {"tokens": [(j.id, j.attempts) for j in group], "now": now}).scalars())
            mine = [j for j in group if j.id in ours]
            by_name[name].send_in(session, mine, now)
        for job in group:
            if job.id not in ours:
                log.warning("outbox_claim_lost", delivery_id=job.id, channel=job.channel)
        sent += mine
    for job in sent:
        log.info("outbox_delivered", delivery_id=job.id, channel=job.channel, attempts=job.attempts)
    report.sent += len(sent)
    for job, exc in failed:
        _mark_failed(factory, job, exc, now, settings, report)


def deliver(factory: sessionmaker[Session], channels: Iterable[Channel | TransactionalChannel], *,
            now: datetime, settings: Settings, batch_size: int = 100,
            lease: timedelta | None = None, digests: bool = True) -> DeliveryReport:
    """One batch: claim up to `batch_size` due deliveries of these channels and send them. The
    lease must outlast the batch; by default it allows every send its full timeout. With
    `digests=False` escalation digests wait: the caller is still adding a day's escalations to
    them, and a digest sent now would split the day in two."""
    by_name = {c.name: c for c in channels}
    lease = lease or timedelta(seconds=60 + 30 * batch_size)
    report = DeliveryReport()
    with transaction(factory) as session:
        _recover(session, now, report)
        jobs = _claim(session, now, sorted(by_name), batch_size, now + lease, digests)
    report.claimed = len(jobs)
    in_db = [j for j in jobs if isinstance(by_name[j.channel], TransactionalChannel)]
    if in_db:
        _deliver_in_db(factory, by_name, in_db, now, settings, report)
    for job in jobs:
        if isinstance(by_name[job.channel], TransactionalChannel):
            continue
        try:
            _deliver_one(factory, by_name[job.channel], job, now)
        except _ClaimLost:
            log.warning("outbox_claim_lost", delivery_id=job.id, channel=job.channel)
            continue
        except _Unrecorded:
            log.error("outbox_sent_unrecorded", delivery_id=job.id, channel=job.channel)
            raise
        except Exception as exc:  # the channel's refusal, whatever its type
            _mark_failed(factory, job, exc, now, settings, report)
            continue
        report.sent += 1
        log.info("outbox_delivered", delivery_id=job.id, channel=job.channel, attempts=job.attempts)
    log.info("outbox_delivery_pass", **asdict(report))
    return report


def run_once(factory: sessionmaker[Session], *, now: datetime, settings: Settings,
             channels: Iterable[Channel | TransactionalChannel] | None = None, batch_size: int = 100,
             expand_limit: int = 500) -> tuple[ExpandReport, DeliveryReport]:
    """One expansion and one delivery batch (`hazard outbox deliver`; the Prefect flow's task)."""
    with transaction(factory) as session:
        expanded = expand(session, now=now, limit=expand_limit, settings=settings)
    if channels is not None:
        return expanded, deliver(factory, channels, now=now, settings=settings, batch_size=batch_size)
    own = default_channels(settings)
    try:
        return expanded, deliver(factory, own, now=now, settings=settings, batch_size=batch_size)
    finally:
        for channel in own:
            getattr(channel, "close", lambda: None)()


# --- dead letters ---------------------------------------------------------------------------------


def dead_view(row: Any) -> dict[str, Any]:
    return {"id": row.id, "channel": row.channel, "recipient": row.recipient, "user_id": row.user_id,
            "hazard_id": row.hazard_id, "subject": row.subject, "attempts": row.attempts,
            "last_error": row.last_error, "dedupe_key": row.dedupe_key, "created_at": row.created_at.isoformat()}


def list_dead(session: Session, *, limit: int = 50, after_id: int = 0) -> list[dict[str, Any]]:
    """Dead letters, oldest first, keyset-paginated on the id."""
    rows = session.execute(select(D).where(D.c.status == "dead", D.c.id > after_id).order_by(D.c.id).limit(limit))
    return [dead_view(r) for r in rows]


def retry(session: Session, target: int | Literal["all"], *, now: datetime) -> int:
    """Queue dead letters again with a fresh count of attempts; returns how many. A person decides
    this, knowing the recipient may already have an uncertain one."""
    values = {"status": "pending", "attempts": 0, "available_at": now, "claimed_until": None, "started_at": None}
    if target == "all":
        return session.execute(update(D).where(D.c.status == "dead").values(values)).rowcount
    row = session.execute(select(D.c.status).where(D.c.id == target)).first() if 0 < target < 2**63 else None
    if row is None:
        raise NotFound(f"投递记录 {target} 不存在")
    if row.status != "dead":
        raise Conflict(f"投递记录 {target} 不在失败队列中（当前状态：{row.status}）", code="not_dead")
    session.execute(update(D).where(D.c.id == target, D.c.status == "dead").values(values))
    log.info("outbox_retry", delivery_id=target)
    return 1
