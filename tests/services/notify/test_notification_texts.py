"""What the notifications say (templates/notifications): each action and ladder step its own text,
naming the hazard's code, title, enterprise and the reader's next deadline, with dates in Chinese
and full-width brackets; and each inbox item dated by its act, not by its delivery."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

from sqlalchemy import select

from db.engine import UnitOfWork, read_only, transaction
from db.models import AuditEvent, Hazard, InboxItem
from services.outbox.deliver import run_once
from services.engine import transitions
from services.calendar.workdays import WorkCalendar, default_calendar
from services.kernel.clock import cn_date, local_date
from services.escalation.ladder import LadderConfig, Step
from services.lifecycle.table import LIFECYCLE
from services.notify import messages
from services.notify.channels import default_channels
from services.escalation.sweep import sweep
from tests.helpers import ACTOR_OF, add_attachment, body_for, new_hazard
from tests.receivers import notify_settings

ISO_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")
ENTERPRISE = "离石区金源煤业有限公司"
TITLE = "主运输巷道顶板离层"
ACTORS = {"request_extension": "ent_coal", "grant_extension": "city_committee", "reject": "inspector"}


def _act(factory, world, hid, action, now, **over):
    body = body_for(action, today=local_date(now), level="major", uscc=world.enterprises["coal"],
                    evidence=[add_attachment(factory, hid, now)] if action == "request_acceptance" else None,
                    assessment_report=add_attachment(factory, hid, now, "r.pdf") if action == "request_acceptance"
                    else None)
    body.update(over)
    with transaction(factory) as s:
        transitions.perform(s, world.p(ACTORS.get(action) or ACTOR_OF[action]), hid, action, body, now=now)


def _deliver(factory, clock, db_url):
    settings = notify_settings(db_url)
    run_once(UnitOfWork(factory), now=clock(), settings=settings, channels=default_channels(settings))


def _items(factory, hid):
    with read_only(factory) as s:
        return s.execute(select(InboxItem.title, InboxItem.body, InboxItem.created_at)
                         .where(InboxItem.hazard_id == hid).order_by(InboxItem.id)).all()


def test_every_notifying_action_and_every_step_has_its_own_template():
    notifying = {a for a, spec in LIFECYCLE.items()
                 if any(k.startswith(("notify.", "stage.")) for k in spec.effects)}
    assert {"register", "supervise", "close", "grant_extension"} <= notifying
    for action in notifying:
        assert (messages.TEMPLATES / "actions" / f"{action}.txt").is_file(), action
    for step in Step:
        assert (messages.TEMPLATES / "steps" / f"{step.name}.txt").is_file(), step.name


def test_a_major_hazards_messages_each_say_their_own_thing(factory, world, clock, db_url):
    hid = new_hazard(factory, world, clock())
    story = ["register", "supervise", "file_plan", "request_extension", "grant_extension", "request_acceptance",
             "reject", "request_acceptance", "accept", "close"]
    for action in story:
        over = {}
        if action == "request_extension":
            with read_only(factory) as s:
                deadline = s.get(Hazard, hid).deadline
            over = {"new_deadline": (deadline + timedelta(days=20)).isoformat()}
        _act(factory, world, hid, action, clock(), **over)
        clock.advance(days=1)
    _deliver(factory, clock, db_url)
    with read_only(factory) as s:
        hazard = s.get(Hazard, hid)
        code, deadline = hazard.code, hazard.deadline
        acts = {}  # each action's first event (the first acceptance request, as `by_subject` keeps)
        for e in s.execute(select(AuditEvent.action, AuditEvent.payload, AuditEvent.occurred_at)
                           .where(AuditEvent.hazard_id == hid).order_by(AuditEvent.seq)):
            acts.setdefault(e.action, e)
    items = _items(factory, hid)
    by_subject: dict[str, str] = {}
    for item in items:
        text = f"{item.title}\n{item.body}"
        assert code in text and TITLE in item.body, text
        assert not ISO_DATE.search(text), text  # 2026年12月1日, never 2026-12-01
        assert "(" not in text and ")" not in text, text  # full-width brackets in Chinese text
        by_subject.setdefault(item.title, item.body)
    subjects = list(by_subject)
    assert len(subjects) == len(set(story)), subjects  # one text per action (request_acceptance twice: one)

    def said(fragment: str) -> str:
        [body] = [b for t, b in by_subject.items() if fragment in t]
        return body

    registered = said("已登记")
    assert ENTERPRISE in registered and "五落实" in registered
    listed = said("：市级挂牌督办")
    listed_until = date.fromisoformat(json.loads(acts["supervise"].payload)["changes"]["deadline"])
    assert listed_until < deadline  # extended later: the listing's message states the deadline it set
    assert "市级挂牌督办" in listed and "停产停业整顿" in listed and f"于{cn_date(listed_until)}前完成治理" in listed
    granted = said("延期申请已批准")
    assert f"延长至{cn_date(deadline)}" in granted  # the new deadline
    reviewing = said("申请验收")
    review_due = default_calendar().add_working_days(local_date(acts["request_acceptance"].occurred_at),
                                                     LadderConfig().review_overdue)
    assert f"请于{cn_date(review_due)}前组织验收核查" in reviewing
    assert "继续整改" in said("验收不通过")
    assert "审核销号" in said("验收通过")
    closed = said("已销号")
    assert "解除市级挂牌督办" in closed
    assert "整改期限" not in closed and "继续整改" not in closed and "落实隐患整改" not in closed


def test_an_inbox_item_is_dated_by_its_act_not_its_delivery(factory, world, clock, db_url):
    hid = new_hazard(factory, world, clock())
    registered_at = clock()
    _act(factory, world, hid, "register", registered_at, level="general")
    clock.advance(days=3)  # the outbox was down for three days
    _deliver(factory, clock, db_url)
    [item] = _items(factory, hid)
    assert item.created_at == registered_at != clock()


def test_a_digest_is_dated_by_its_sweep(factory, world, clock, db_url):
    cal = WorkCalendar()
    hid = new_hazard(factory, world, clock())
    _act(factory, world, hid, "register", clock(), level="general")
    with read_only(factory) as s:
        deadline = s.get(Hazard, hid).deadline
    as_of = cal.add_working_days(deadline, -3)  # the reminder's day
    swept_at = clock() + timedelta(days=(as_of - local_date(clock())).days)
    sweep(UnitOfWork(factory), now=swept_at, calendar=cal, config=LadderConfig(), as_of=as_of)
    clock.current = swept_at + timedelta(days=2)
    _deliver(factory, clock, db_url)
    [reminder] = [i for i in _items(factory, hid) if "临近" in i.title]
    assert reminder.created_at == swept_at
    assert f"整改期限{cn_date(deadline)}" in reminder.title and ENTERPRISE in reminder.body


def test_the_digest_subject_dates_its_sweep_day_in_chinese():
    digest = messages.Digest("2026-12-01", "official")
    assert digest.message().subject == "督办提醒（2026年12月1日）：0 条隐患触发督办升级"
    assert isinstance(date.fromisoformat(digest.as_of), date)
