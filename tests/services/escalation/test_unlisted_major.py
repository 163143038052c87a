"""A major hazard registered and not listed (挂牌督办) within 5 working days goes to the 安委办 that
should list it (issue 11, item 4): once, counted from its registration, never for a listed or a
general hazard."""

from __future__ import annotations

import json
from datetime import date, timedelta

from sqlalchemy import select

from db.engine import UnitOfWork, read_only, transaction
from db.models import AuditEvent, Hazard, OutboxMessage, User
from services.engine import transitions
from services.calendar.workdays import WorkCalendar
from services.kernel.clock import local_date
from services.escalation.ladder import LadderConfig, Step
from services.notify.recipients import Directory, load_hazards
from services.escalation.sweep import sweep
from tests.helpers import body_for, drive, new_hazard

CAL = WorkCalendar()


def run(factory, clock, as_of: date, config: LadderConfig | None = None):
    return sweep(UnitOfWork(factory), now=clock(), calendar=CAL, config=config or LadderConfig(), as_of=as_of,
                 keep_details=True)


def steps_fired(factory, hid: int) -> list[str]:
    with read_only(factory) as s:
        payloads = s.execute(select(AuditEvent.payload).where(AuditEvent.hazard_id == hid,
                                                              AuditEvent.action == "escalate")
                             .order_by(AuditEvent.seq)).scalars()
        return [json.loads(p)["body"]["step"] for p in payloads]


def test_fires_once_after_five_working_days_for_an_unlisted_major_only(factory, world, clock):
    today = local_date(clock())
    major = drive(factory, world, clock(), "registered", level="major")
    general = drive(factory, world, clock(), "registered")
    listed = drive(factory, world, clock(), "supervised", level="major")
    assert run(factory, clock, CAL.add_working_days(today, 4)).events == 0
    due = run(factory, clock, CAL.add_working_days(today, 5))
    assert [(f.hazard_id, f.steps) for f in due.fired] == [(major, ["unlisted_escalate"])]
    for n in (5, 6, 20):
        assert run(factory, clock, CAL.add_working_days(today, n)).events == 0, n
    assert steps_fired(factory, major) == ["unlisted_escalate"]
    assert steps_fired(factory, general) == steps_fired(factory, listed) == []
    with read_only(factory) as s:
        h = s.get(Hazard, major)
        assert (h.escalation_step, h.escalation_fired) == ("unlisted_escalate", Step.unlisted_escalate)
        [payload] = s.execute(select(OutboxMessage.payload).where(OutboxMessage.hazard_id == major,
                                                                  OutboxMessage.kind == "escalation")).scalars()
        notice = json.loads(payload)
        # to the county's 安委办 (the one to list it) and the supervising department; not the enterprise
        names = dict(s.execute(select(User.id, User.username)).all())
        hazards = load_hazards(s, [major])
        people = Directory(s, hazards.values()).recipients("escalation", hazards[major], notice)
    assert notice["step"] == "unlisted_escalate"
    assert {names[p.id] for p in people} == {"county_committee", "supervisor", "city_supervisor"}


def test_counts_from_the_registration_and_the_days_are_configurable(factory, world, clock):
    reported_on = local_date(clock())
    hid = new_hazard(factory, world, clock())
    while CAL.working_days_between(reported_on, local_date(clock())) < 3:
        clock.advance(days=1)
    registered_on = local_date(clock())
    with transaction(factory) as s:
        transitions.perform(s, world.p("inspector"), hid, "register",
                            body_for("register", today=registered_on, level="major", uscc=world.enterprises["coal"]),
                            now=clock())
    assert run(factory, clock, CAL.add_working_days(reported_on, 5)).events == 0
    assert run(factory, clock, CAL.add_working_days(registered_on, 4)).events == 0
    # a deployment that gives its 安委办 two more working days
    later = LadderConfig(unlisted_escalate=7)
    assert run(factory, clock, CAL.add_working_days(registered_on, 6), later).events == 0
    assert [f.steps for f in run(factory, clock, CAL.add_working_days(registered_on, 7), later).fired] == [
        ["unlisted_escalate"]]


def test_listing_after_it_fired_leaves_it_done(factory, world, clock):
    today = local_date(clock())
    hid = drive(factory, world, clock(), "registered", level="major")
    run(factory, clock, CAL.add_working_days(today, 5))
    clock.advance(days=8)
    with transaction(factory) as s:
        transitions.perform(s, world.p("city_committee"), hid, "supervise",
                            body_for("supervise", today=local_date(clock()), level="major",
                                     uscc=world.enterprises["coal"]), now=clock())
    assert run(factory, clock, local_date(clock()) + timedelta(days=1)).events == 0
    assert steps_fired(factory, hid) == ["unlisted_escalate"]
