"""Delivering what the expansion (services/outbox/expand.py) queued: sent, retried with backoff,
or dead-lettered for a person to retry (services/outbox/dead_letters.py).

`deliver` claims due deliveries (`sending`, a lease, one commit), then sends each and records its
outcome right away, in a short transaction of its own. At most once, for e-mail and webhooks: their
send is marked as begun (`started_at`) before it starts, and a delivery found with its lease run
out and its send begun — its worker died — may or may not have reached the recipient. It is
dead-lettered with a message saying so, never resent by itself; one whose send never began goes
back to the queue. The inbox is our own table: the item and the `sent` mark are one transaction,
keyed by the delivery's dedupe key, so it is simply redone. This is how a worker killed in the
middle of a batch makes no recipient receive the same message twice.

Concurrency: claims use `FOR UPDATE SKIP LOCKED` on PostgreSQL (two workers never claim the same
delivery); SQLite's BEGIN IMMEDIATE serialises them. Outcomes are written against the claim token
(id, attempts), so a worker that lost its claim changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import bindparam, or_, select, tuple_, update
from sqlalchemy.orm import Session

from db.engine import UnitOfWork
from db.models import Delivery
from services.kernel.settings import Settings
from services.notify.channels import (
    Channel, DeliveryError, DeliveryJob, TransactionalChannel, default_channels,
)
from services.outbox.expand import DIGESTS, ExpandReport, expand

log = structlog.get_logger("hazard.outbox")

D = Delivery.__table__
UNCERTAIN = ("投递结果不确定（处理进程中断）：可能已经送达，为避免重复，系统不再自动重发；"
             "请与接收方核实，需要时用 hazard outbox retry 重新投递")


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


def _mark_failed(uow: UnitOfWork, job: DeliveryJob, error: BaseException, now: datetime,
                 settings: Settings, report: DeliveryReport) -> None:
    dead = job.attempts >= settings.delivery_max_attempts
    message = str(error) or type(error).__name__
    values: dict[str, Any] = {"status": "dead" if dead else "pending", "last_error": message[:2000],
                              "claimed_until": None, "started_at": None}
    if not dead:
        values["available_at"] = now + timedelta(seconds=settings.delivery_backoff_seconds * 2 ** (job.attempts - 1))
    with uow.write() as session:
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


def _deliver_one(uow: UnitOfWork, channel: Channel, job: DeliveryJob, now: datetime) -> None:
    """Send to a channel outside our database and record it; raises what the channel raised
    (nothing was delivered then)."""
    with uow.write() as session:
        if not _mark_started(session, job, now):
            raise _ClaimLost
    channel.send(job)  # type: ignore[union-attr]
    try:
        with uow.write() as session:
            _mark_sent(session, job, now)
    except Exception as exc:
        raise _Unrecorded from exc


_SENT_IF_OURS = (update(D).where(tuple_(D.c.id, D.c.attempts).in_(bindparam("tokens", expanding=True)),
                                 D.c.status.in_(("sending", "dead")))
                 .values(status="sent", sent_at=bindparam("now"), claimed_until=None).returning(D.c.id))


def _deliver_in_db(uow: UnitOfWork, by_name: dict[str, Any], jobs: list[DeliveryJob],
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
        with uow.write() as session:
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
        _mark_failed(uow, job, exc, now, settings, report)


def deliver(uow: UnitOfWork, channels: Iterable[Channel | TransactionalChannel], *,
            now: datetime, settings: Settings, batch_size: int = 100,
            lease: timedelta | None = None, digests: bool = True) -> DeliveryReport:
    """One batch: claim up to `batch_size` due deliveries of these channels and send them. The
    lease must outlast the batch; by default it allows every send its full timeout. With
    `digests=False` escalation digests wait: the caller is still adding a day's escalations to
    them, and a digest sent now would split the day in two."""
    by_name = {c.name: c for c in channels}
    lease = lease or timedelta(seconds=60 + 30 * batch_size)
    report = DeliveryReport()
    with uow.write() as session:
        _recover(session, now, report)
        jobs = _claim(session, now, sorted(by_name), batch_size, now + lease, digests)
    report.claimed = len(jobs)
    in_db = [j for j in jobs if isinstance(by_name[j.channel], TransactionalChannel)]
    if in_db:
        _deliver_in_db(uow, by_name, in_db, now, settings, report)
    for job in jobs:
        if isinstance(by_name[job.channel], TransactionalChannel):
            continue
        try:
            _deliver_one(uow, by_name[job.channel], job, now)
        except _ClaimLost:
            log.warning("outbox_claim_lost", delivery_id=job.id, channel=job.channel)
            continue
        except _Unrecorded:
            log.error("outbox_sent_unrecorded", delivery_id=job.id, channel=job.channel)
            raise
        except Exception as exc:  # the channel's refusal, whatever its type
            _mark_failed(uow, job, exc, now, settings, report)
            continue
        report.sent += 1
        log.info("outbox_delivered", delivery_id=job.id, channel=job.channel, attempts=job.attempts)
    log.info("outbox_delivery_pass", **asdict(report))
    return report


def run_once(uow: UnitOfWork, *, now: datetime, settings: Settings,
             channels: Iterable[Channel | TransactionalChannel] | None = None, batch_size: int = 100,
             expand_limit: int = 500) -> tuple[ExpandReport, DeliveryReport]:
    """One expansion and one delivery batch (`hazard outbox deliver`; the Prefect flow's task)."""
    with uow.write() as session:
        expanded = expand(session, now=now, limit=expand_limit, settings=settings)
    if channels is not None:
        return expanded, deliver(uow, channels, now=now, settings=settings, batch_size=batch_size)
    own = default_channels(settings)
    try:
        return expanded, deliver(uow, own, now=now, settings=settings, batch_size=batch_size)
    finally:
        for channel in own:
            getattr(channel, "close", lambda: None)()
