"""Delivering (services/outbox/deliver.py) to real receivers started by the test: an SMTP server
(aiosmtpd) and a webhook endpoint that checks the HMAC signature. Retries with backoff on an
injected clock, dead letters and their retry (service and `hazard outbox`), a worker killed in the
middle of a batch (a subprocess), and two workers at once on PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, text

from db.engine import UnitOfWork, make_engine, make_session_factory, read_only, transaction
from db.models import Delivery, Hazard
from services.outbox import deliver as outbox_deliver, expand as outbox_expand
from services.calendar.workdays import WorkCalendar
from services.kernel.clock import cn_date, utcnow
from services.escalation.ladder import LadderConfig
from services.notify.channels import DeliveryJob, default_channels, message_id
from services.escalation.sweep import sweep
from tests.app.cli.test_cli_audit import run_cli  # noqa: F401 - the in-process CLI fixture
from tests.helpers import drive
from tests.receivers import (  # noqa: F401 - fixtures
    HookReceiver, SmtpSink, body, deliveries, hook, inbox_items, notify_settings, set_email, smtp, user_id,
)

REPO = Path(__file__).resolve().parents[3]
CAL = WorkCalendar()


def expand(factory, clock, settings) -> None:
    with transaction(factory) as s:
        outbox_expand.expand(s, now=clock(), settings=settings)


def deliver(factory, clock, settings, **kw):
    return outbox_deliver.deliver(UnitOfWork(factory), default_channels(settings), now=clock(), settings=settings, **kw)


def statuses(factory) -> Counter:
    return Counter(d.status for d in deliveries(factory))


def test_a_sweep_digest_by_inbox_and_real_smtp(factory, world, clock, db_url, smtp: SmtpSink):
    set_email(factory, "ent_coal", "anquan@jinyuan-coal.example.cn")
    ids = [drive(factory, world, clock(), "rectifying") for _ in range(2)]
    with read_only(factory) as s:
        deadline = s.get(Hazard, ids[0]).deadline
        codes = [s.get(Hazard, hid).code for hid in ids]
    settings = notify_settings(db_url, smtp=smtp)
    expand(factory, clock, settings)
    deliver(factory, clock, settings)
    smtp.envelopes.clear()
    as_of = CAL.add_working_days(deadline, 0)
    sweep(UnitOfWork(factory), now=clock(), calendar=CAL, config=LadderConfig(), as_of=as_of)
    expand(factory, clock, settings)
    report = deliver(factory, clock, settings)
    assert report.claimed == report.sent > 0 and report.failed == report.dead == 0

    [mail] = [m for m in smtp.messages() if m["To"] == "anquan@jinyuan-coal.example.cn"]
    assert mail["Subject"] == f"督办提醒（{cn_date(as_of)}）：2 条隐患触发督办升级"
    text_ = mail.get_content().replace("\r\n", "\n")
    for code in codes:
        line = next(x for x in text_.splitlines() if f"隐患 {code}（" in x)
        assert f"整改期限{cn_date(deadline)}已到" in line and "逾期预警" in line
    key = f"digest:escalation:{as_of}:email:anquan@jinyuan-coal.example.cn"
    assert mail["Message-ID"] == message_id(key, "hazard@example.gov.cn")
    assert mail["X-Hazard-Delivery"] == key and mail["From"] == "hazard@example.gov.cn"
    [envelope] = [e for e in smtp.envelopes if e.rcpt_tos == ["anquan@jinyuan-coal.example.cn"]]
    assert envelope.mail_from == "hazard@example.gov.cn"

    [item] = [i for i in inbox_items(factory, "ent_coal") if i.title.startswith("督办提醒")]
    assert item.body == text_.rstrip("\n") and item.kind == "message" and item.read_at is None
    assert all(d.status == "sent" and d.sent_at == clock() for d in deliveries(factory))


def test_webhook_signed_then_retried_with_backoff_dead_lettered_and_retried(
        factory, world, clock, db_url, hook: HookReceiver, run_cli):
    drive(factory, world, clock(), "registered")
    settings = notify_settings(db_url, hook=hook, delivery_max_attempts=3, delivery_backoff_seconds=30)
    expand(factory, clock, settings)
    [webhook] = deliveries(factory, channel="webhook")
    hook.status = 500
    report = deliver(factory, clock, settings)
    assert (report.claimed, report.sent, report.failed, report.dead) == (2, 1, 1, 0)  # the inbox went
    [first] = hook.requests
    assert first.signed and first.delivery == webhook.dedupe_key
    assert json.loads(first.body) == body(webhook)  # exactly the stored body, signed
    [row] = deliveries(factory, channel="webhook")
    assert (row.status, row.attempts, row.available_at) == ("pending", 1, clock() + timedelta(seconds=30))
    assert row.last_error == "Webhook 返回 HTTP 500"

    assert deliver(factory, clock, settings).claimed == 0  # not due yet
    clock.advance(seconds=30)
    assert deliver(factory, clock, settings).failed == 1
    [row] = deliveries(factory, channel="webhook")
    assert (row.attempts, row.available_at) == (2, clock() + timedelta(seconds=60))
    clock.advance(seconds=59)
    assert deliver(factory, clock, settings).claimed == 0
    clock.advance(seconds=1)
    assert deliver(factory, clock, settings).dead == 1
    [row] = deliveries(factory, channel="webhook")
    assert (row.status, row.attempts) == ("dead", 3)
    assert len(hook.requests) == 3 and not hook.accepted()

    clock.advance(hours=1)
    assert deliver(factory, clock, settings).claimed == 0  # dead letters wait for a person
    status, out, err = run_cli("outbox", "dead")
    assert status == 0, err
    assert f"{row.id}\twebhook\tbureau\t3\tWebhook 返回 HTTP 500" in out
    status, out, _ = run_cli("outbox", "dead", "--json")
    [listed] = json.loads(out)
    assert (listed["id"], listed["channel"], listed["recipient"], listed["attempts"]) == (row.id, "webhook", "bureau", 3)

    hook.status = 200
    status, out, _ = run_cli("outbox", "retry", str(row.id))
    assert status == 0 and "已重新排队 1 条通知" in out
    [row] = deliveries(factory, channel="webhook")
    assert (row.status, row.attempts) == ("pending", 0)
    clock.current = max(clock(), utcnow())  # the CLI queued it at the real time
    assert deliver(factory, clock, settings).sent == 1
    [accepted] = hook.accepted()
    assert accepted.delivery == webhook.dedupe_key and accepted.signed
    assert run_cli("outbox", "dead")[1].strip() == "没有投递失败的通知"


def test_retry_refuses_what_is_not_dead_and_unknown_ids(factory, world, clock, db_url, run_cli):
    drive(factory, world, clock(), "registered")
    expand(factory, clock, notify_settings(db_url))
    [d] = deliveries(factory)
    status, _, err = run_cli("outbox", "retry", str(d.id))
    assert status == 2 and "不在失败队列中" in err
    status, _, err = run_cli("outbox", "retry", "987654")
    assert status == 2 and "投递记录 987654 不存在" in err
    status, _, err = run_cli("outbox", "retry")
    assert status == 2 and "请给出一个投递编号" in err
    status, out, _ = run_cli("outbox", "retry", "--all")
    assert status == 0 and "已重新排队 0 条通知" in out


def test_cli_deliver_expands_and_delivers(factory, world, clock, run_cli):
    drive(factory, world, clock(), "acceptance_requested")
    status, out, err = run_cli("outbox", "deliver")
    assert status == 0, err
    assert "展开 4 条待发通知，生成 6 条投递（其中督办汇总 0 条）" in out
    assert "投递：领取 6，成功 6，失败待重试 0，转入失败队列 0，重新排队 0" in out
    assert {i.title.split("：")[-1] for i in inbox_items(factory, "inspector")} == {"离石区金源煤业有限公司申请验收"}


def test_an_email_that_fails_is_retried(factory, world, clock, db_url):
    """Nothing listens on the SMTP port: a connection error is a failure like any other."""
    from tests.receivers import free_port

    set_email(factory, "ent_coal", "anquan@jinyuan-coal.example.cn")
    drive(factory, world, clock(), "registered")
    settings = notify_settings(db_url, smtp_host="127.0.0.1", smtp_port=free_port())
    expand(factory, clock, settings)
    report = deliver(factory, clock, settings)
    assert (report.sent, report.failed) == (1, 1)
    [mail] = deliveries(factory, channel="email")
    assert mail.status == "pending" and mail.last_error.startswith("邮件发送失败：")


def test_inbox_items_of_a_batch_share_one_transaction_and_a_failing_one_is_undone_alone(
        factory, world, clock, db_url):
    """The inbox is written batch-wise (one commit): one delivery that cannot be written (its user
    row gone from the delivery) fails alone, the others are sent and their items written."""
    for _ in range(3):
        drive(factory, world, clock(), "registered")
    settings = notify_settings(db_url)
    expand(factory, clock, settings)
    broken = deliveries(factory, channel="inbox")[1]
    with transaction(factory) as s:
        s.execute(text("UPDATE deliveries SET user_id = NULL WHERE id = :id"), {"id": broken.id})
    report = deliver(factory, clock, settings)
    assert (report.claimed, report.sent, report.failed) == (3, 2, 1)
    after = {d.id: d for d in deliveries(factory, channel="inbox")}
    assert after[broken.id].status == "pending" and after[broken.id].last_error == "站内信缺少接收用户"
    assert sorted(d.status for d in after.values()) == ["pending", "sent", "sent"]
    assert len(inbox_items(factory, "ent_coal")) == 2


# --- a worker killed in the middle of a batch ----------------------------------------------------

DYING_WORKER = r"""
import os, sys
from datetime import datetime
from db.engine import UnitOfWork, make_engine, make_session_factory
from services.outbox import deliver as outbox_deliver
from services.notify.channels import default_channels
from services.kernel.settings import Settings

after = int(sys.argv[2])
if len(sys.argv) > 3:  # sends begun together (the bound of the uncertain ones), one at a time
    outbox_deliver.SEND_GROUP, senders = int(sys.argv[3]), 1
else:
    senders = outbox_deliver.SENDERS
sent = 0


class DiesAfter:
    # The test's hook, not a production flag: the process ends right after the n-th send.
    def __init__(self, inner):
        self.inner, self.name = inner, inner.name

    def send(self, delivery):
        global sent
        self.inner.send(delivery)
        sent += 1
        if sent == after:
            os._exit(17)


settings = Settings()
factory = make_session_factory(make_engine(settings.database_url))
channels = [c if c.name == "inbox" else DiesAfter(c) for c in default_channels(settings)]
outbox_deliver.deliver(UnitOfWork(factory), channels, now=datetime.fromisoformat(sys.argv[1]), settings=settings,
                       senders=senders)
sys.exit(0)
"""


def _dying_worker(db_url, settings, smtp, hook, clock, *args: str) -> None:
    env = {**os.environ, "HAZARD_DATABASE_URL": db_url, "HAZARD_SMTP_HOST": "127.0.0.1",
           "HAZARD_SMTP_PORT": str(smtp.port), "HAZARD_SMTP_FROM": "hazard@example.gov.cn",
           "HAZARD_WEBHOOKS": json.dumps([{"name": "bureau", "url": hook.url, "secret": settings.webhooks[0]
                                           .secret.get_secret_value(), "kinds": ["notify.enterprise"]}])}
    worker = subprocess.run([sys.executable, "-c", DYING_WORKER, clock().isoformat(), *args], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert worker.returncode == 17, worker.stderr


def test_a_killed_worker_makes_no_recipient_receive_a_message_twice(
        factory, world, clock, db_url, smtp: SmtpSink, hook: HookReceiver):
    """Sends begun two at a time, one after the other: the worker dies in the second group."""
    set_email(factory, "ent_coal", "anquan@jinyuan-coal.example.cn")
    for _ in range(3):
        drive(factory, world, clock(), "registered")
    settings = notify_settings(db_url, smtp=smtp, hook=hook, kinds=("notify.enterprise",))
    expand(factory, clock, settings)
    queued = deliveries(factory)
    # per message: inbox, e-mail, webhook — in the order they are claimed
    assert [d.channel for d in queued] == ["inbox", "email", "webhook"] * 3
    _dying_worker(db_url, settings, smtp, hook, clock, "3", "2")
    # the batch's inbox items first (one transaction), then the group e-mail 1 + webhook 1 (sent and
    # recorded), then the group e-mail 2 + webhook 2 was begun: e-mail 2 went out, and the worker
    # died before webhook 2 and before recording the group; the third group never began
    assert len(smtp.envelopes) == 2 and len(hook.accepted()) == 1
    by_id = {d.id: d for d in deliveries(factory)}
    assert [by_id[d.id].status for d in queued] == [
        "sent", "sent", "sent", "sent", "sending", "sending", "sent", "sending", "sending"]
    uncertain = queued[4:6]
    assert all(by_id[d.id].started_at is not None for d in uncertain)
    assert all(by_id[d.id].started_at is None for d in queued[7:])

    # within the lease nothing is touched: the worker might still be alive
    assert deliver(factory, clock, settings).claimed == 0
    clock.advance(hours=2)
    report = deliver(factory, clock, settings)
    assert (report.requeued, report.dead, report.claimed, report.sent) == (2, 2, 2, 2)

    dead = deliveries(factory, status="dead")
    assert [d.id for d in dead] == [d.id for d in uncertain]  # the group it was sending, no more
    assert all(d.last_error.startswith("投递结果不确定（处理进程中断）") for d in dead)
    assert statuses(factory) == Counter(sent=7, dead=2)
    ids = [m["Message-ID"] for m in smtp.messages()]
    assert len(ids) == 3 and len(set(ids)) == 3  # each e-mail exactly once
    assert Counter(r.delivery for r in hook.accepted()) == Counter(
        d.dedupe_key for d in queued if d.channel == "webhook" and d.id != queued[5].id)
    items = inbox_items(factory, "ent_coal")
    assert len(items) == 3 and len({i.dedupe_key for i in items}) == 3
    # the uncertain ones wait for a person, who asks the recipients (webhook 2 never went)
    assert deliver(factory, clock, settings).claimed == 0
    assert len(smtp.envelopes) == 3 and len(hook.accepted()) == 2


def test_a_worker_killed_while_sending_a_group_on_threads_leaves_at_most_the_group_uncertain(
        factory, world, clock, db_url, smtp: SmtpSink, hook: HookReceiver):
    """The default: a group's sends go out on several threads at once. Whatever order they
    finish in, the worker killed after the third leaves only that group's deliveries uncertain,
    and nothing is ever sent twice."""
    set_email(factory, "ent_coal", "anquan@jinyuan-coal.example.cn")
    for _ in range(3):
        drive(factory, world, clock(), "registered")
    settings = notify_settings(db_url, smtp=smtp, hook=hook, kinds=("notify.enterprise",))
    expand(factory, clock, settings)
    outside = [d for d in deliveries(factory) if d.channel != "inbox"]
    assert len(outside) == 6 <= outbox_deliver.SEND_GROUP  # one group
    _dying_worker(db_url, settings, smtp, hook, clock, "3")
    went = len(smtp.envelopes) + len(hook.accepted())
    assert 3 <= went <= 6
    clock.advance(hours=2)
    report = deliver(factory, clock, settings)
    assert (report.dead, report.requeued, report.claimed) == (6, 0, 0)  # begun together, all uncertain
    assert statuses(factory) == Counter(sent=3, dead=6)
    assert deliver(factory, clock, settings).claimed == 0
    assert len(smtp.envelopes) + len(hook.accepted()) == went  # none resent by itself
    assert len({m["Message-ID"] for m in smtp.messages()}) == len(smtp.envelopes)
    assert len({r.delivery for r in hook.accepted()}) == len(hook.accepted())


def test_a_lost_claim_sends_nothing(factory, world, clock, db_url, smtp: SmtpSink):
    """A worker whose lease ran out and whose delivery was taken over does not send it."""
    set_email(factory, "ent_coal", "anquan@jinyuan-coal.example.cn")
    drive(factory, world, clock(), "registered")
    settings = notify_settings(db_url, smtp=smtp)
    expand(factory, clock, settings)
    with transaction(factory) as s:
        [job] = outbox_deliver._claim(s, clock(), ["email"], 10, clock() + timedelta(minutes=1))
    clock.advance(minutes=2)
    assert deliver(factory, clock, settings).sent == 2  # requeued and sent by the next worker
    # the first worker, late, with its old claim: its begun mark finds the claim gone, so it has
    # nothing to send (a worker sends only what `_begin` returns)
    with transaction(factory) as s:
        assert outbox_deliver._begin(s, [job], clock()) == []
    assert len(smtp.envelopes) == 1
    [row] = deliveries(factory, channel="email")
    assert (row.status, row.attempts) == ("sent", 2)


# --- PostgreSQL: two workers at once --------------------------------------------------------------


class Recorder:
    """A webhook stand-in that counts each delivery it is handed; the first send of each thread
    waits for the other thread, so both hold claims at the same time."""

    name = "webhook"

    def __init__(self, parties: int) -> None:
        self.sent: Counter = Counter()
        self.lock = threading.Lock()
        self.barrier = threading.Barrier(parties, timeout=30)
        self.local = threading.local()

    def send(self, delivery: DeliveryJob) -> None:
        if not getattr(self.local, "waited", False):
            self.local.waited = True
            self.barrier.wait()
        with self.lock:
            self.sent[delivery.dedupe_key] += 1


def _queue(factory, now, n: int) -> None:
    with transaction(factory) as s:
        s.execute(insert(Delivery), [
            {"channel": "webhook", "recipient": "bureau", "dedupe_key": f"test:{i}", "subject": "测试",
             "body": "{}", "status": "pending", "attempts": 0, "available_at": now, "created_at": now}
            for i in range(n)])


@pytest.mark.parametrize("senders", [1, outbox_deliver.SENDERS])
def test_two_workers_at_once_never_send_a_delivery_twice(pg_url, clock, senders):
    """One sender a worker: each worker's first send waits for the other's, so both hold claims at
    once. Several: the groups' sends on threads too."""
    engine = make_engine(pg_url, pool_size=6, max_overflow=4)
    factory = make_session_factory(engine)
    try:
        _queue(factory, clock(), 60)
        settings = notify_settings(pg_url)
        recorder = Recorder(2 if senders == 1 else 1)
        start = threading.Barrier(2)
        claimed: list[int] = []

        def worker():
            start.wait()
            while True:
                report = outbox_deliver.deliver(UnitOfWork(factory), [recorder], now=clock(), settings=settings,
                                                batch_size=5 if senders == 1 else 7, senders=senders)
                if not report.claimed:
                    return
                claimed.append(report.claimed)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(recorder.sent) == 60 and set(recorder.sent.values()) == {1}
        assert sum(claimed) == 60
        assert statuses(factory) == Counter(sent=60)
    finally:
        engine.dispose()


def test_claims_skip_rows_another_worker_holds(pg_url, clock):
    """While one claim's transaction is still open, a second claim takes other rows at once."""
    engine = make_engine(pg_url, pool_size=4, max_overflow=0)
    factory = make_session_factory(engine)
    try:
        _queue(factory, clock(), 10)
        until = clock() + timedelta(minutes=5)
        with transaction(factory) as first:
            mine = outbox_deliver._claim(first, clock(), ["webhook"], 4, until)
            with transaction(factory) as second:
                second.execute(text("SET LOCAL lock_timeout = '5s'"))
                theirs = outbox_deliver._claim(second, clock(), ["webhook"], 10, until)
        assert len(mine) == 4 and len(theirs) == 6
        assert not {j.id for j in mine} & {j.id for j in theirs}
    finally:
        engine.dispose()


# --- e-mails and webhooks in groups, on threads --------------------------------------------------


class Gate:
    """A webhook stand-in whose sends of one group wait for each other: the group passes only if
    its sends run at once. `refuse` names deliveries the receiver turns down."""

    name = "webhook"

    def __init__(self, parties: int, refuse: frozenset[str] = frozenset()) -> None:
        self.barrier = threading.Barrier(parties, timeout=30)
        self.refuse = refuse
        self.sent: Counter = Counter()
        self.lock = threading.Lock()

    def send(self, delivery: DeliveryJob) -> None:
        self.barrier.wait()
        if delivery.dedupe_key in self.refuse:
            raise outbox_deliver.DeliveryError("Webhook 返回 HTTP 503")
        with self.lock:
            self.sent[delivery.dedupe_key] += 1


def test_a_group_is_sent_at_once_and_a_refusal_in_it_is_retried_alone(factory, clock, db_url, monkeypatch):
    monkeypatch.setattr(outbox_deliver, "SEND_GROUP", 4)
    _queue(factory, clock(), 8)
    gate = Gate(4, refuse=frozenset({"test:5"}))  # two groups of four, each sent on four threads
    settings = notify_settings(db_url, delivery_backoff_seconds=30)
    report = outbox_deliver.deliver(UnitOfWork(factory), [gate], now=clock(), settings=settings, batch_size=8)
    assert (report.claimed, report.sent, report.failed, report.dead) == (8, 7, 1, 0)
    assert set(gate.sent.values()) == {1} and "test:5" not in gate.sent
    rows = {d.dedupe_key: d for d in deliveries(factory)}
    assert all(rows[f"test:{i}"].status == "sent" and rows[f"test:{i}"].started_at is not None
               for i in range(8) if i != 5)
    refused = rows["test:5"]
    assert (refused.status, refused.started_at, refused.attempts) == ("pending", None, 1)
    assert refused.available_at == clock() + timedelta(seconds=30) and refused.last_error == "Webhook 返回 HTTP 503"


class Counting:
    name = "webhook"

    def __init__(self) -> None:
        self.sent: Counter = Counter()

    def send(self, delivery: DeliveryJob) -> None:
        self.sent[delivery.dedupe_key] += 1


def test_a_group_whose_sends_cannot_be_recorded_stops_the_pass_and_is_never_resent(
        factory, clock, db_url, monkeypatch):
    """The database refuses the sent marks of the first group: the pass stops there (the next
    group never begins), and once the lease runs out that group alone is dead-lettered as
    uncertain; the rest is sent, nothing twice."""
    monkeypatch.setattr(outbox_deliver, "SEND_GROUP", 2)
    _queue(factory, clock(), 5)
    settings, recorder = notify_settings(db_url), Counting()
    good = outbox_deliver._SENT_IF_OURS
    monkeypatch.setattr(outbox_deliver, "_SENT_IF_OURS", text("SELECT no_such_column FROM deliveries"))
    with pytest.raises(outbox_deliver._Unrecorded):
        outbox_deliver.deliver(UnitOfWork(factory), [recorder], now=clock(), settings=settings, batch_size=5)
    assert sum(recorder.sent.values()) == 2
    assert statuses(factory) == Counter(sending=5)
    assert sum(d.started_at is not None for d in deliveries(factory)) == 2
    monkeypatch.setattr(outbox_deliver, "_SENT_IF_OURS", good)
    clock.advance(hours=4)
    report = outbox_deliver.deliver(UnitOfWork(factory), [recorder], now=clock(), settings=settings, batch_size=5)
    assert (report.dead, report.requeued, report.claimed, report.sent) == (2, 3, 3, 3)
    assert statuses(factory) == Counter(sent=3, dead=2)
    assert len(recorder.sent) == 5 and set(recorder.sent.values()) == {1}
