"""Expanding the outbox into deliveries (services/outbox/expand.py), on both backends: who hears
of what, on which channel, the escalation digest, and that a second run adds nothing."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from db.engine import UnitOfWork, read_only, transaction
from db.models import Delivery, Hazard, OutboxMessage, User
from services.outbox import deliver as outbox_deliver, expand as outbox_expand
from services.engine import transitions
from services.kernel.clock import cn_date, local_date
from services.calendar.workdays import WorkCalendar
from services.escalation.ladder import LadderConfig
from services.notify.recipients import Directory, load_hazards
from services.escalation.sweep import sweep
from tests.app.cli.test_cli_audit import run_cli  # noqa: F401 - the in-process CLI fixture
from tests.helpers import body_for, drive, new_hazard
from tests.receivers import body, detached, deliveries, notify_settings, set_email, user_id

CAL = WorkCalendar()


def expand(factory, clock, settings, **kw):
    with transaction(factory) as s:
        return outbox_expand.expand(s, now=clock(), settings=settings, **kw)


def outbox_rows(factory) -> list[OutboxMessage]:
    with read_only(factory) as s:
        return detached(s, s.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars())


def usernames(factory) -> dict[int, str]:
    with read_only(factory) as s:
        return dict(s.execute(select(User.id, User.username)).all())


def test_deliveries_per_recipient_and_channel_documents_untouched(factory, world, clock, db_url):
    set_email(factory, "ent_coal", "anquan@jinyuan-coal.example.cn")
    set_email(factory, "inspector", "li.jian@lishi.example.gov.cn")
    settings = notify_settings(db_url, smtp_host="smtp.example", webhooks=[
        {"name": "bureau", "url": "http://127.0.0.1:9/x", "secret": "s", "kinds": ["notify.*"]},
        {"name": "escalations-only", "url": "http://127.0.0.1:9/y", "secret": "s", "kinds": ["escalation"]},
    ])
    hid = drive(factory, world, clock(), "acceptance_requested")  # register, file_plan, request_acceptance
    report = expand(factory, clock, settings)
    rows = {r.kind: r for r in outbox_rows(factory)}
    assert {k: r.status for k, r in rows.items()} == {
        "document.rectification_notice": "pending",  # the document engine's
        "stage.reported": "done",  # nobody is messaged about a new report, no webhook subscribes
        "notify.enterprise": "done", "notify.supervisors": "done", "notify.inspectors": "done",
    }
    names = usernames(factory)
    got = Counter()
    for d in deliveries(factory):
        who = names.get(d.user_id, d.recipient)
        got[(d.outbox_id, d.channel, who)] += 1
        assert d.status == "pending" and d.attempts == 0 and d.hazard_id == hid
        outbox_row = next(r for r in rows.values() if r.id == d.outbox_id)
        assert d.dedupe_key == f"{outbox_row.dedupe_key}:{d.channel}:{d.recipient}"
    enterprise, supervisors, inspectors = rows["notify.enterprise"].id, rows["notify.supervisors"].id, \
        rows["notify.inspectors"].id
    assert set(got) == {
        (enterprise, "inbox", "ent_coal"), (enterprise, "email", "ent_coal"), (enterprise, "webhook", "bureau"),
        (supervisors, "inbox", "supervisor"), (supervisors, "inbox", "city_supervisor"),
        (supervisors, "webhook", "bureau"),
        # the coal-only inspector of the city has it in scope; Xiaoyi's and Xinzhou's do not
        (inspectors, "inbox", "inspector"), (inspectors, "email", "inspector"), (inspectors, "inbox", "inspector2"),
        (inspectors, "inbox", "coal_only_inspector"), (inspectors, "webhook", "bureau"),
    }
    assert max(got.values()) == 1
    assert (report.messages, report.deliveries, report.digests) == (4, len(got), 0)
    email = deliveries(factory, channel="email", outbox_id=enterprise)[0]
    assert email.recipient == "anquan@jinyuan-coal.example.cn"
    with read_only(factory) as s:
        code = s.get(Hazard, hid).code
    with read_only(factory) as s:
        deadline = s.get(Hazard, hid).deadline
    assert email.subject == f"隐患 {code}：已登记，限期整改至{cn_date(deadline)}"
    assert body(email)["items"][0]["events"][0]["label"] == "登记（限期整改）"
    assert f"整改期限为{cn_date(deadline)}" in body(email)["text"] and "离石区金源煤业有限公司" in body(email)["text"]

    before = deliveries(factory)
    again = expand(factory, clock, settings)
    assert (again.messages, again.deliveries) == (0, 0)
    assert [d.id for d in deliveries(factory)] == [d.id for d in before]


def test_no_email_without_an_smtp_host_and_inactive_users_hear_nothing(factory, world, clock, db_url):
    set_email(factory, "ent_coal", "anquan@jinyuan-coal.example.cn")
    with transaction(factory) as s:
        s.execute(update(User).where(User.username == "inspector2").values(active=False))
    drive(factory, world, clock(), "acceptance_requested")
    expand(factory, clock, notify_settings(db_url))
    names = usernames(factory)
    assert {d.channel for d in deliveries(factory)} == {"inbox"}
    assert "inspector2" not in {names[d.user_id] for d in deliveries(factory)}


def test_expanding_twice_at_once_is_harmless(factory, world, clock, db_url):
    """A row claimed and expanded is done; the second expansion of the same moment finds nothing."""
    drive(factory, world, clock(), "registered")
    settings = notify_settings(db_url, webhooks=[
        {"name": "all", "url": "http://127.0.0.1:9/x", "secret": "s"}])  # every kind, new reports too
    with transaction(factory) as s:
        first = outbox_expand.expand(s, now=clock(), settings=settings)
    with transaction(factory) as s:
        second = outbox_expand.expand(s, now=clock(), settings=settings)
    assert (first.messages, first.deliveries, second.messages, second.deliveries) == (2, 3, 0, 0)
    assert sorted(d.dedupe_key.split(":")[0] for d in deliveries(factory, channel="webhook")) == [
        "notify.enterprise", "stage.reported"]


def test_recipients_of_each_ladder_step(factory, world, clock):
    listed = drive(factory, world, clock(), "supervised", level="major")  # listed by the city
    general = drive(factory, world, clock(), "rectifying")
    reported = new_hazard(factory, world, clock())
    names = usernames(factory)
    with read_only(factory) as s:
        hazards = load_hazards(s, [listed, general, reported])
        directory = Directory(s, hazards.values())

    def who(hid: int, step: str, **payload) -> set[str]:
        people = directory.recipients("escalation", hazards[hid], {"step": step, **payload})
        return {names[p.id] for p in people}

    inspectors = {"inspector", "inspector2", "coal_only_inspector"}
    supervisors = {"supervisor", "city_supervisor"}
    city = {"city_committee", "city_committee2"}
    assert who(general, "remind") == {"ent_coal"}
    assert who(general, "overdue") == {"ent_coal"} | inspectors | supervisors
    assert who(general, "urge") == {"ent_coal", "county_committee"} | supervisors  # not listed: the county
    assert who(listed, "summon") == {"ent_coal"} | supervisors | city
    assert who(listed, "publicize") == {"ent_coal"} | supervisors | city
    assert who(listed, "elevate", listing_level="province") == {"ent_coal", "province_committee"}
    assert who(general, "elevate") == {"ent_coal"} | city  # unlisted: one level above the county
    assert who(listed, "refer") == supervisors | city
    assert who(reported, "unregistered_remind") == inspectors
    assert who(reported, "unregistered_escalate") == supervisors
    assert who(general, "review_overdue") == supervisors


def _sweep(factory, clock, as_of: date):
    return sweep(UnitOfWork(factory), now=clock(), calendar=CAL, config=LadderConfig(), as_of=as_of, keep_details=True)


def test_a_sweep_gives_each_recipient_one_digest_per_channel(factory, world, clock, db_url):
    set_email(factory, "ent_coal", "anquan@jinyuan-coal.example.cn")
    ids = [drive(factory, world, clock(), "rectifying") for _ in range(3)]
    # A 孝义市 enterprise's hazard lies in 孝义市 and is registered there (issue 10: not by 离石区).
    chem = new_hazard(factory, world, clock(), reporter="xiaoyi_inspector", region_code="141181",
                      industry="危险化学品")
    with transaction(factory) as s:
        transitions.perform(s, world.p("xiaoyi_inspector"), chem, "register",
                            body_for("register", today=local_date(clock()), level="general",
                                     uscc=world.enterprises["chem"]), now=clock())
    with read_only(factory) as s:
        deadline = s.get(Hazard, ids[0]).deadline
        codes = {hid: s.get(Hazard, hid).code for hid in [*ids, chem]}
    settings = notify_settings(db_url, smtp_host="smtp.example", webhooks=[
        {"name": "bureau", "url": "http://127.0.0.1:9/x", "secret": "s", "kinds": ["escalation"]}])
    expand(factory, clock, settings)  # the notifications of register and file_plan
    as_of = CAL.add_working_days(deadline, 5)
    assert _sweep(factory, clock, as_of).events == 4  # urge on each of four (remind, overdue skipped: catch-up)
    # expanded two rows at a time (as the flow stages a few hazards per task run), the day's
    # escalations still make one digest per recipient and channel: each call adds to the queued one
    calls = [expand(factory, clock, settings, limit=2) for _ in range(3)]
    assert [c.messages for c in calls] == [2, 2, 0]
    assert sum(c.digests_grown for c in calls) > 0
    ent = user_id(factory, "ent_coal")
    mine = [d for d in deliveries(factory) if d.user_id == ent and d.outbox_id is None]
    assert sorted((d.channel, d.dedupe_key) for d in mine) == [
        ("email", f"digest:escalation:{as_of}:email:anquan@jinyuan-coal.example.cn"),
        ("inbox", f"digest:escalation:{as_of}:inbox:{ent}"),
    ]
    for d in mine:
        assert d.hazard_id is None
        assert d.subject == f"督办提醒（{cn_date(as_of)}）：3 条隐患触发督办升级"
        text = body(d)["text"]
        for hid in ids:
            line = next(x for x in text.splitlines() if f"隐患 {codes[hid]}（" in x)
            assert "离石区金源煤业有限公司" in line and f"整改期限{cn_date(deadline)}" in line and "发出督办函" in line
        assert codes[chem] not in text and len(body(d)["items"]) == 3
    # the supervisors hear of their hazards (overdue, urge) in one digest: the city's of all four, the
    # 离石区 supervisor's of the three in 离石区; the webhook of all four
    for name, count in (("supervisor", 3), ("city_supervisor", 4)):
        [digest] = [d for d in deliveries(factory, user_id=user_id(factory, name)) if d.outbox_id is None]
        assert len(body(digest)["items"]) == count
    city_sup = [d for d in deliveries(factory, user_id=user_id(factory, "city_supervisor")) if d.outbox_id is None]
    assert len(city_sup) == 1 and len(body(city_sup[0])["items"]) == 4
    [webhook] = deliveries(factory, channel="webhook")
    assert webhook.dedupe_key == f"digest:escalation:{as_of}:webhook:bureau" and len(body(webhook)["items"]) == 4
    assert chem in {i["hazard_id"] for i in body(webhook)["items"]}

    # a later sweep of the same day (a second failed acceptance makes summon due) while the digests
    # are still queued: the step joins them
    with transaction(factory) as s:
        s.execute(update(Hazard).where(Hazard.id == ids[0]).values(failed_acceptances=2))
    assert _sweep(factory, clock, as_of).events == 1
    assert expand(factory, clock, settings).deliveries == 0
    [queued] = [d for d in deliveries(factory, user_id=ent, channel="inbox") if d.dedupe_key.startswith("digest:")]
    [line] = [x for x in body(queued)["text"].splitlines() if f"隐患 {codes[ids[0]]}（" in x]
    assert line.index("发出督办函") < line.index("约谈企业主要负责人")  # the later step joins its line
    assert queued.subject == f"督办提醒（{cn_date(as_of)}）：3 条隐患触发督办升级"

    # once a digest is being sent, has gone, or has failed a try, a later step starts a second one
    with transaction(factory) as s:
        s.execute(update(Delivery).where(Delivery.channel == "inbox").values(status="sending"))
        s.execute(update(Delivery).where(Delivery.channel == "email").values(attempts=1))
        s.execute(update(Delivery).where(Delivery.channel == "webhook").values(status="sent"))
        s.execute(update(Hazard).where(Hazard.id == ids[1]).values(failed_acceptances=2))
    assert _sweep(factory, clock, as_of).events == 1
    report = expand(factory, clock, settings)
    assert (report.digests, report.digests_grown) == (report.deliveries, 0)
    for channel in ("inbox", "email"):
        more = [d for d in deliveries(factory, user_id=ent, channel=channel) if d.outbox_id is not None
                and d.dedupe_key.startswith("digest:")]
        assert len(more) == 1 and more[0].dedupe_key.startswith(f"digest:escalation:{as_of}:{channel}:")
        assert more[0].subject == f"隐患 {codes[ids[1]]}：约谈通知"  # one step of one hazard: its own text
        assert "验收多次未通过" in body(more[0])["text"] and codes[ids[0]] not in body(more[0])["text"]
    assert len(deliveries(factory, channel="webhook")) == 2


@pytest.mark.parametrize("limit", [1, 500])
def test_every_pending_notification_is_expanded_once(factory, world, clock, db_url, limit):
    for state in ("registered", "rectifying", "acceptance_requested"):
        drive(factory, world, clock(), state)
    settings = notify_settings(db_url)
    passes = 0
    while expand(factory, clock, settings, limit=limit).messages:
        passes += 1
    rows = [r for r in outbox_rows(factory) if not r.kind.startswith("document.")]
    assert all(r.status == "done" for r in rows)
    assert passes == (len(rows) if limit == 1 else 1)
    keys = [d.dedupe_key for d in deliveries(factory)]
    assert len(keys) == len(set(keys))


def test_users_add_takes_an_email(factory, world, run_cli):
    status, _, err = run_cli("users", "add", "--username", "wang", "--role", "supervisor", "--region", "141102",
                               "--email", "wang.fang@lishi.example.gov.cn")
    assert status == 0, err
    with read_only(factory) as s:
        assert s.execute(select(User.email).where(User.username == "wang")).scalar_one() == \
            "wang.fang@lishi.example.gov.cn"
    status, _, err = run_cli("users", "add", "--username", "zhao", "--role", "inspector", "--region", "141102",
                             "--email", "not an address")
    assert status == 2 and "电子邮箱格式不正确" in err


def test_digests_wait_while_the_flow_is_still_staging(factory, world, clock, db_url):
    ids = [drive(factory, world, clock(), "rectifying") for _ in range(2)]
    settings = notify_settings(db_url)
    with read_only(factory) as s:
        deadline = max(s.get(Hazard, hid).deadline for hid in ids)
    _sweep(factory, clock, CAL.add_working_days(deadline, 5))
    expand(factory, clock, settings)  # the actions' notices and the day's digests, all queued
    with transaction(factory) as s:
        jobs = outbox_deliver._claim(s, clock(), ["inbox", "email", "webhook"], 500, clock() + timedelta(minutes=5),
                             digests=False)
    assert jobs and not any(j.dedupe_key.startswith("digest:") for j in jobs)
    waiting = [d for d in deliveries(factory) if d.dedupe_key.startswith("digest:")]
    assert waiting and all(d.status == "pending" for d in waiting)
