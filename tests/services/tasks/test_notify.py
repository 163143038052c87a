"""A task list's notifications (services/tasks/notify.py through services/outbox/expand.py): the
unit's users hear of publication and of the office's decisions, the issuing office of the unit's
acts, both of the ladder's steps; inbox, e-mail when SMTP is configured, subscribed webhooks; one
delivery per (outbox row, channel, recipient), never twice; nobody else hears of it."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from db.engine import UnitOfWork, read_only, transaction
from db.models import Delivery, OutboxMessage, User
from services.accounts.auth import SYSTEM
from services.notify.recipients import KIND_AUDIENCES as HAZARD_AUDIENCES
from services.outbox import deliver as outbox_deliver, expand as outbox_expand, kinds
from services.tasks import engine, notify as task_notify
from services.tasks.lifecycle import TASK_LIFECYCLE, TASK_STEP_LABELS
from tests.conftest import START
from tests.receivers import inbox_items, notify_settings, set_email

LATE = datetime(2027, 1, 12, 2, 0, tzinfo=timezone.utc)
DONE = {"summary": "已印发责任清单", "completed_on": "2026-11-20", "evidence_text": "忻应急发〔2026〕12号"}


def _expand(factory, settings, now=START):
    with transaction(factory) as s:
        return outbox_expand.expand(s, now=now, settings=settings)


def _act(factory, who, part_id, action, body=None, now=START):
    with transaction(factory) as s:
        engine.perform(s, who, part_id, action, body or {}, now=now)


def _who(factory) -> dict[tuple[str, str], set[str]]:
    """(outbox kind + action, channel) → recipients (usernames for the inbox)."""
    with read_only(factory) as s:
        names = dict(s.execute(select(User.id, User.username)).all())
        rows = s.execute(select(Delivery.channel, Delivery.recipient, Delivery.user_id, OutboxMessage.kind,
                                OutboxMessage.payload).join(OutboxMessage, OutboxMessage.id == Delivery.outbox_id)).all()
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    for channel, recipient, user, kind, payload in rows:
        p = json.loads(payload)
        out[(f"{kind}:{p.get('step') or p['action']}", channel)].add(names[user] if channel == "inbox" else recipient)
    return dict(out)


def _deliveries(factory, **where) -> list[dict]:
    with read_only(factory) as s:
        q = select(Delivery).order_by(Delivery.id)
        for k, v in where.items():
            q = q.where(getattr(Delivery, k) == v)
        return [{"key": d.dedupe_key, "channel": d.channel, "subject": d.subject, "body": json.loads(d.body),
                 "hazard_id": d.hazard_id, "outbox_id": d.outbox_id} for d in s.scalars(q)]


def test_every_task_kind_has_an_audience_of_its_own():
    assert set(task_notify.KIND_AUDIENCES) == kinds.TASK_NOTIFY
    assert all(task_notify.KIND_AUDIENCES[k] for k in kinds.TASK_NOTIFY)
    assert not kinds.TASK_NOTIFY & set(HAZARD_AUDIENCES)  # the hazards' registry stays the hazards'
    # every task action that notifies names one of them
    assert {k for spec in TASK_LIFECYCLE.values() for k in spec.effects if kinds.NOTIFY in k} == kinds.TASK_NOTIFY


def test_publication_tells_each_unit_its_tasks_and_nobody_else(factory, tasks_world, db_url):
    w = tasks_world
    report = _expand(factory, notify_settings(db_url))
    with read_only(factory) as s:
        statuses = {(r.kind, r.status) for r in s.scalars(select(OutboxMessage))}
    assert statuses == {("notify.task_unit", "done"), ("document.task_assignment_notice", "pending")}
    assert _who(factory) == {("notify.task_unit:assign", "inbox"): {"xz_ema", "xz_ema2", "xz_housing"}}
    assert report.messages == 16 and report.deliveries == 3  # 16 units told; the counties' have no users yet
    (ema,) = [d for d in _deliveries(factory, channel="inbox")
              if d["subject"].startswith("任务交办") and d["body"]["items"][0]["unit"].endswith("应急管理局")
              and d["key"].endswith(f":inbox:{w.ema.id}")]
    assert ema["subject"] == "任务交办：《忻州市2026年重点任务》交办你单位 2 项任务"
    assert "签收" in ema["body"]["text"] and ema["hazard_id"] is None
    assert ema["key"] == f"notify.task_unit:plan:{w.plan_id}:org:{w.ema.organisation_id}:inbox:{w.ema.id}"
    again = _expand(factory, notify_settings(db_url))
    assert (again.messages, again.deliveries) == (0, 0)


def test_acts_reach_the_office_and_decisions_the_unit(factory, tasks_world, db_url):
    w = tasks_world
    _expand(factory, notify_settings(db_url))
    with read_only(factory) as s:
        (own,) = [p.id for p in w.parts(s, "1")]
    with transaction(factory) as s:  # a user of the office that is inactive hears nothing
        s.get(User, w.office2.id).active = False
    before = {d["key"] for d in _deliveries(factory)}
    _act(factory, w.ema, own, "acknowledge")
    _act(factory, w.ema, own, "report_completion", DONE)
    _act(factory, w.office, own, "return", {"reason": "缺少检查台账"})
    _act(factory, w.ema, own, "request_extension", {"new_deadline": "2027-03-31", "reason": "待省厅统一部署"})
    _act(factory, w.office, own, "grant_extension", {"note": "同意"})
    _expand(factory, notify_settings(db_url))
    who = {k: v for k, v in _who(factory).items() if not k[0].endswith(":assign")}
    assert who == {
        ("notify.task_office:acknowledge", "inbox"): {"xz_office"},
        ("notify.task_office:report_completion", "inbox"): {"xz_office"},
        ("notify.task_unit:return", "inbox"): {"xz_ema", "xz_ema2"},
        ("notify.task_office:request_extension", "inbox"): {"xz_office"},
        ("notify.task_unit:grant_extension", "inbox"): {"xz_ema", "xz_ema2"},
    }
    new = {d["subject"]: d for d in _deliveries(factory, channel="inbox") if d["key"] not in before
           and d["key"].rsplit(":", 1)[1] in (str(w.ema.id), str(w.office.id))}
    ret = new["任务 1：核查退回"]
    assert "缺少检查台账" in ret["body"]["text"] and f"/tasks/{own}" in ret["body"]["text"]
    assert "忻州市2026年重点任务" in ret["body"]["text"] and "建立安全生产责任清单" in ret["body"]["text"]
    assert ret["body"]["items"][0]["assignment_id"] == own and ret["body"]["items"][0]["link"] == f"/tasks/{own}"
    assert ret["key"] == f"notify.task_unit:assignment:{own}:4:inbox:{w.ema.id}"
    assert "任务 1：批准延期至2027年3月31日" in new  # the decision's new deadline
    reported = next(d for s, d in new.items() if s.startswith("任务 1：") and "待核查" in s)
    assert "忻应急发〔2026〕12号" in reported["body"]["text"]
    assert "申请将" in next(d for s, d in new.items() if "申请延期" in s)["body"]["text"]
    # delivered to the inbox with its text and time
    outbox_deliver.run_once(UnitOfWork(factory), now=START, settings=notify_settings(db_url))
    titles = [i.title for i in inbox_items(factory, "xz_ema")]
    assert "任务 1：核查退回" in titles and any(t.startswith("任务交办") for t in titles)
    assert [i.title for i in inbox_items(factory, "xz_office")] == [
        "任务 1：忻州市应急管理局已签收", reported["subject"], next(s for s in new if "申请延期" in s)]
    assert not inbox_items(factory, "xz_office2") and not inbox_items(factory, "ll_ema")


def test_ladder_steps_reach_both_by_their_label_with_email_and_webhooks(factory, tasks_world, db_url):
    w = tasks_world
    set_email(factory, "xz_ema", "ema@xinzhou.example.gov.cn")
    settings = notify_settings(db_url, smtp_host="smtp.example", webhooks=[
        {"name": "tasks", "url": "http://127.0.0.1:9/t", "secret": "s", "kinds": ["notify.task_*"]},
        {"name": "hazards", "url": "http://127.0.0.1:9/h", "secret": "s", "kinds": ["notify.enterprise"]}])
    _expand(factory, settings)
    with read_only(factory) as s:
        (own,) = [p.id for p in w.parts(s, "1")]
    with transaction(factory) as s:
        engine.perform(s, SYSTEM, own, "escalate", {"step": "urge", "as_of": "2027-01-12"}, now=LATE)
    _expand(factory, settings, now=LATE)
    who = _who(factory)
    assert who[("notify.task_unit:urge", "inbox")] == {"xz_ema", "xz_ema2"}
    assert who[("notify.task_unit:urge", "email")] == {"ema@xinzhou.example.gov.cn"}
    assert who[("notify.task_office:urge", "inbox")] == {"xz_office", "xz_office2"}
    assert who[("notify.task_unit:urge", "webhook")] == who[("notify.task_office:urge", "webhook")] == {"tasks"}
    assert who[("notify.task_unit:assign", "webhook")] == {"tasks"}
    urge = [d for d in _deliveries(factory) if d["subject"].startswith("任务 1：发督办函")]
    unit = next(d for d in urge if d["key"].endswith(f":inbox:{w.ema.id}"))
    office = next(d for d in urge if d["key"].endswith(f":inbox:{w.office.id}"))
    assert TASK_STEP_LABELS["urge"] == "发督办函" and unit["subject"] == "任务 1：发督办函"
    assert "5个工作日内" in unit["body"]["text"] and "截至2027年1月12日仍未完成" in unit["body"]["text"]
    assert office["subject"].endswith("应急管理局）") and "5个工作日内" not in office["body"]["text"]
    assert unit["body"]["items"][0]["events"][0]["step"] == "urge"


@pytest.mark.parametrize("step", sorted(TASK_STEP_LABELS))
@pytest.mark.parametrize("kind", sorted(kinds.TASK_NOTIFY))
def test_every_step_and_action_has_a_text_for_each_reader(kind, step):
    part = task_notify._Part(7, 3, 1, 5, "忻州市应急管理局", "市应急局", "牵头", "assigned", date(2026, 12, 31),
                             "140900", "2", "开展危险化学品企业专项检查")
    plan = task_notify._Plan(1, "忻州市2026年重点任务", 2026, "140900")
    act = task_notify._Act(5, START, "张三", {"reason": "理由甲", "note": "意见乙", "new_deadline": "2027-03-31",
                                              "summary": "总结丙", "completed_on": "2026-11-20", "evidence_text": "丁"}, {})
    payloads = [{"action": "escalate", "step": step, "as_of": "2027-01-12", "seq": 5, "skipped": ["remind"],
                 **({"month": "2026-12"} if step == "progress_remind" else {})}]
    payloads += [{"action": name, "seq": 5} for name, spec in TASK_LIFECYCLE.items() if kind in spec.effects and spec.sources]
    for payload in payloads:
        m = task_notify._message(kind, payload, part, plan, part.unit, act)
        assert m.subject.startswith("任务 2：") and "开展危险化学品企业专项检查" in m.text and "/tasks/7" in m.text
        assert "忻州市2026年重点任务" in m.text, (payload, m.text)
    step_text = task_notify._message(kind, payloads[0], part, plan, part.unit, act)
    assert TASK_STEP_LABELS[step] in step_text.subject and "“任务完成时限临近提醒”" in step_text.text
