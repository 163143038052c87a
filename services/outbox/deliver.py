"""Delivering what the expansion (services/outbox/expand.py) queued: sent, retried with backoff,
or dead-lettered for a person to retry (services/outbox/dead_letters.py).

`deliver` claims due deliveries (`sending`, a lease, one commit), then sends them and records the
outcomes. The inbox is our own table: the batch's items and their `sent` marks are one transaction,
keyed by the deliveries' dedupe keys, so they are simply redone after a crash: exactly once.

E-mail and webhooks leave our database and are sent at most once. They go in groups of at most
`SEND_GROUP`: one statement marks the group's sends as begun (`started_at`), the group is sent on
a few threads at once (`senders`), and one statement marks sent those that went. A delivery found
with its lease run out and its send begun — its worker died — may or may not have reached the
recipient: it is dead-lettered with a message saying so, never resent by itself; one whose send
never began goes back to the queue. So a worker killed in the middle of a batch leaves at most
`SEND_GROUP` deliveries uncertain (those of the group it was sending), and no recipient receives
the same message twice. (One begun mark and one sent mark per delivery, in a commit each, were
most of the delivery time: bench/outbox.)

Concurrency: claims use `FOR UPDATE SKIP LOCKED` on PostgreSQL (two workers never claim the same
delivery); SQLite's BEGIN IMMEDIATE serialises them. Every mark is written against the claim token
(id, attempts), so a worker that lost its claim changes nothing and sends nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
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
SEND_GROUP = 25  # e-mails/webhooks begun in one statement: at most this many uncertain after a crash
SENDERS = 8  # threads sending a group's e-mails/webhooks at once
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
    """The oldest due deliveries, taken in ONE statement (an UPDATE of the rows a locking,
    skip-locked subselect picks, returning them), oldest first."""
    conn = session.connection()
    due = select(D.c.id).where(D.c.status == "pending", D.c.available_at <= now, D.c.channel.in_(channels))
    if not digests:
        due = due.where(~D.c.dedupe_key.startswith(DIGESTS, autoescape=True))
    due = due.order_by(D.c.available_at, D.c.id).limit(limit).with_for_update(skip_locked=True)
    rows = conn.execute(update(D).where(D.c.id.in_(due))
                        .values(status="sending", attempts=D.c.attempts + 1, claimed_until=until, started_at=None)
                        .returning(D.c.id, D.c.channel, D.c.recipient, D.c.user_id, D.c.hazard_id, D.c.dedupe_key,
                                   D.c.subject, D.c.body, D.c.attempts, D.c.available_at)).all()
    rows.sort(key=lambda r: (r.available_at, r.id))
    return [DeliveryJob(r.id, r.channel, r.recipient, r.user_id, r.hazard_id, r.dedupe_key, r.subject, r.body,
                        r.attempts) for r in rows]


def _token(job: DeliveryJob):
    return D.c.id == job.id, D.c.attempts == job.attempts


_OURS = tuple_(D.c.id, D.c.attempts).in_(bindparam("tokens", expanding=True))
_STARTED_IF_OURS = (update(D).where(_OURS, D.c.status == "sending")
                    .values(started_at=bindparam("now")).returning(D.c.id))
# 'dead' too: a slow send whose lease ran out was dead-lettered meanwhile, yet it did arrive.
_SENT_IF_OURS = (update(D).where(_OURS, D.c.status.in_(("sending", "dead")))
                 .values(status="sent", sent_at=bindparam("now"), claimed_until=None).returning(D.c.id))


def _tokens(jobs: list[DeliveryJob]) -> list[tuple[int, int]]:
    return [(j.id, j.attempts) for j in jobs]


def _record_failed(session: Session, failures: list[tuple[DeliveryJob, BaseException]], now: datetime,
                   settings: Settings, report: DeliveryReport) -> None:
    """Queue failed sends again with backoff, or dead-letter them after the last attempt, in the
    caller's transaction (each against its claim token)."""
    conn = session.connection()
    for job, error in failures:
        dead = job.attempts >= settings.delivery_max_attempts
        message = str(error) or type(error).__name__
        values: dict[str, Any] = {"status": "dead" if dead else "pending", "last_error": message[:2000],
                                  "claimed_until": None, "started_at": None}
        if not dead:
            values["available_at"] = now + timedelta(
                seconds=settings.delivery_backoff_seconds * 2 ** (job.attempts - 1))
        conn.execute(update(D).where(*_token(job), D.c.status.in_(("sending", "dead"))).values(values))
        if dead:
            report.dead += 1
            log.warning("outbox_dead_lettered", delivery_id=job.id, channel=job.channel, attempts=job.attempts,
                        error=message)
        else:
            report.failed += 1
            log.info("outbox_delivery_failed", delivery_id=job.id, channel=job.channel, attempts=job.attempts,
                     error=message, retry_at=values["available_at"].isoformat())


class _Unrecorded(Exception):
    """Sent, but the database did not take the record. Not a failure to retry (the messages are
    out): the pass stops, and when the lease runs out the group is dead-lettered as uncertain."""


Runner = Callable[[Callable[[DeliveryJob], BaseException | None], list[DeliveryJob]], Iterable[BaseException | None]]


def _send(channel: Channel, job: DeliveryJob) -> BaseException | None:
    """What the channel raised (nothing was delivered then), or None when the receiver took it."""
    try:
        channel.send(job)  # type: ignore[union-attr]
    except Exception as exc:  # the channel's refusal, whatever its type
        return exc
    return None


def _begin(session: Session, group: list[DeliveryJob], now: datetime) -> list[DeliveryJob]:
    """Mark the group's sends begun, in the caller's transaction; only those whose claim is still
    ours (the others are not sent)."""
    if not group:
        return []
    ours = set(session.connection().execute(_STARTED_IF_OURS, {"tokens": _tokens(group), "now": now}).scalars())
    for job in group:
        if job.id not in ours:
            log.warning("outbox_claim_lost", delivery_id=job.id, channel=job.channel)
    return [j for j in group if j.id in ours]


@contextmanager
def _runner(senders: int, jobs: int) -> Iterator[Runner]:
    """A map over a group's sends: on up to `senders` threads, or in this thread (`senders=1`)."""
    threads = min(senders, SEND_GROUP, jobs)
    if threads <= 1:
        yield map
        return
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="outbox-send") as pool:
        yield pool.map


def _write_in_db(session: Session, by_name: dict[str, Any], jobs: list[DeliveryJob],
                 now: datetime) -> tuple[list[DeliveryJob], list[tuple[DeliveryJob, BaseException]]]:
    """The batch's deliveries to channels inside our own database (the inbox), set-based in the
    claim's transaction: mark sent those whose claim is still ours, then write exactly their
    items. Exactly once holds: the items and the `sent` marks commit together, or neither does and
    the deliveries are claimed again. Returns the sent and those refused (not written)."""
    refused: list[tuple[DeliveryJob, BaseException]] = []
    ready: dict[str, list[DeliveryJob]] = {}
    for job in jobs:
        reason = by_name[job.channel].refusal(job)
        if reason:
            refused.append((job, DeliveryError(reason)))
        else:
            ready.setdefault(job.channel, []).append(job)
    sent: list[DeliveryJob] = []
    for name, group in ready.items():
        ours = set(session.connection().execute(_SENT_IF_OURS, {"tokens": _tokens(group), "now": now}).scalars())
        mine = [j for j in group if j.id in ours]
        by_name[name].send_in(session, mine, now)
        for job in group:
            if job.id not in ours:
                log.warning("outbox_claim_lost", delivery_id=job.id, channel=job.channel)
        sent += mine
    return sent, refused


def _delivered(jobs: list[DeliveryJob], report: DeliveryReport) -> None:
    """One log line per channel for a written batch or a sent group, with every delivery's id
    and attempt (a line per delivery was a noticeable share of the delivery time)."""
    by_channel: dict[str, list[DeliveryJob]] = {}
    for job in jobs:
        by_channel.setdefault(job.channel, []).append(job)
    for channel, group in by_channel.items():
        log.info("outbox_delivered", channel=channel, count=len(group), delivery_ids=[j.id for j in group],
                 attempts=[j.attempts for j in group])
    report.sent += len(jobs)


def deliver(uow: UnitOfWork, channels: Iterable[Channel | TransactionalChannel], *,
            now: datetime, settings: Settings, batch_size: int = 100,
            lease: timedelta | None = None, digests: bool = True, senders: int = SENDERS) -> DeliveryReport:
    """One batch: claim up to `batch_size` due deliveries of these channels and send them, e-mails
    and webhooks on up to `senders` threads. The lease must outlast the batch; by default it
    allows every send its full timeout. With `digests=False` escalation digests wait: the caller is
    still adding a day's escalations to them, and a digest sent now would split the day in two.

    Commits, for fewer waits on the database: the claim, the inbox items and the first group's
    begun marks are one transaction; then each group's outcomes (sent, failed) and the next
    group's begun marks are one. A group begins only once the previous one is recorded, so a crash
    leaves at most one group (`SEND_GROUP`) uncertain."""
    by_name = {c.name: c for c in channels}
    # once per channel: an isinstance against a runtime-checkable Protocol is slow, per job it showed
    inside = {name for name, channel in by_name.items() if isinstance(channel, TransactionalChannel)}
    lease = lease or timedelta(seconds=60 + 30 * batch_size)
    report = DeliveryReport()
    with uow.write() as session:
        _recover(session, now, report)
        jobs = _claim(session, now, sorted(by_name), batch_size, now + lease, digests)
        outside = [j for j in jobs if j.channel not in inside]
        groups = [outside[i:i + SEND_GROUP] for i in range(0, len(outside), SEND_GROUP)]
        written, refused = _write_in_db(session, by_name, [j for j in jobs if j.channel in inside], now)
        current = _begin(session, groups[0], now) if groups else []
    report.claimed = len(jobs)
    _delivered(written, report)
    if refused:
        with uow.write() as session:
            _record_failed(session, refused, now, settings, report)
    with _runner(senders, len(outside)) as run:
        for k in range(len(groups)):
            outcomes = list(run(lambda j: _send(by_name[j.channel], j), current))
            sent = [j for j, error in zip(current, outcomes) if error is None]
            failed = [(j, error) for j, error in zip(current, outcomes) if error is not None]
            try:
                with uow.write() as session:
                    if sent:
                        session.connection().execute(_SENT_IF_OURS, {"tokens": _tokens(sent), "now": now})
                    _record_failed(session, failed, now, settings, report)
                    current = _begin(session, groups[k + 1], now) if k + 1 < len(groups) else []
            except Exception as exc:
                log.error("outbox_sent_unrecorded", delivery_ids=[j.id for j in sent])
                raise _Unrecorded([j.id for j in sent]) from exc
            _delivered(sent, report)
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
