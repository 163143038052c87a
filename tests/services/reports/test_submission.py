"""直报: submission freezes the figures (a later change to a hazard changes the live report, not the
submitted one, and the hash still verifies), the acts and their refusals, the record chain, a
tampered snapshot refused, and two submissions at once giving one event."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from pydantic import ValidationError
from sqlalchemy import select, update

from db.engine import read_only, transaction
from db.models import Hazard, RecordEvent, ReportSubmission
from services.audit import records
from services.audit.chain import canonical, sha256
from services.calendar.workdays import WorkCalendar
from services.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from services.kernel.settings import Settings
from services.reports import submission as sub
from services.reports.monthly import monthly
from services.reports.submission_view import view
from tests.helpers import drive

RULE = sub.DueRule(WorkCalendar())
DEC1 = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)  # Tuesday 10:00 in Shanghai, after November
NOV30 = datetime(2026, 11, 30, 1, 0, tzinfo=timezone.utc)  # Monday, November's last working day


def act(factory, world, who, region, what, now=DEC1, **kw):
    with transaction(factory) as s:
        t = sub.target(s, world.p(who), region, "2026-11", now.date())
        if what == "submit":
            return sub.submit(s, world.p(who), t, now=now, rule=RULE).state
        return sub.decide(s, world.p(who), t, what, now=now, **kw).state


def test_the_deadline_is_the_last_working_day_or_the_setting_before_it():
    cal = WorkCalendar()
    assert sub.month_deadline("2026-11", cal, 0).isoformat() == "2026-11-30"
    assert sub.month_deadline("2026-11", cal, 2).isoformat() == "2026-11-26"
    assert sub.month_deadline("2026-01", cal, 0).isoformat() == "2026-01-30"  # the 31st is a Saturday
    assert sub.month_deadline("2026-02", cal, 0).isoformat() == "2026-02-28"  # a Saturday worked (调休)
    configured = Settings(report_deadline_workdays_before_month_end=2)
    assert sub.DueRule.of(cal, configured).deadline("2026-11").isoformat() == "2026-11-26"
    assert sub.DueRule.of(cal, Settings()).deadline("2026-11").isoformat() == "2026-11-30"
    with pytest.raises(ValidationError):
        Settings(report_deadline_workdays_before_month_end=-1)


def test_submitted_figures_are_frozen_and_verify(factory, world, clock):
    drive(factory, world, clock(), "closed", level="general")
    later = drive(factory, world, clock(), "rectifying", level="general")
    assert act(factory, world, "county_committee", "141102", "submit") == "submitted"
    with read_only(factory) as s:
        row = sub.row_of(s, "141102", "2026-11")
        frozen = sub.frozen(s, row)
        live = monthly(s, "141102", "离石区", "2026-11", today=DEC1.date())
        assert frozen == live and row.sha256 == sha256(canonical(live.model_dump(mode="json")))
        [event] = records.trail(s, "report:141102:2026-11")
        assert event.action == "submit" and sha256(row.snapshot) in event.payload
    assert frozen.month_figures.total.general_found == 2 and frozen.month_figures.total.general_fixed == 1
    with transaction(factory) as s:  # the hazard changes after submission
        s.execute(update(Hazard).where(Hazard.id == later).values(level="major"))
    with read_only(factory) as s:
        live = monthly(s, "141102", "离石区", "2026-11", today=DEC1.date())
        row = sub.row_of(s, "141102", "2026-11")
        again = sub.frozen(s, row)
        assert live.month_figures.total.general_found == 1 and live.month_figures.total.major_found == 1
        assert again == frozen and sub.verified(s, row)
        shown = view(s, world.p("city_committee"), month="2026-11", region_code="141102", today=DEC1.date(), rule=RULE)
        assert shown.basis == "submitted" and shown.month_figures.total.general_found == 2
        assert view(s, world.p("city_committee"), month="2026-11", region_code="141102", today=DEC1.date(),
                    rule=RULE, basis="live").month_figures.total.general_found == 1
        assert records.verify(s)[2] == []


def test_submission_opens_on_the_deadline_day(factory, world):
    with pytest.raises(Invalid) as early:
        act(factory, world, "county_committee", "141102", "submit", now=datetime(2026, 11, 27, 8, tzinfo=timezone.utc))
    assert "2026年11月30日" in early.value.details[0]["message"]
    assert act(factory, world, "county_committee", "141102", "submit", now=NOV30) == "submitted"
    late_rule = sub.DueRule(WorkCalendar(), before=2)
    with read_only(factory) as s:
        t = sub.target(s, world.p("city_committee"), "141102", "2026-11", NOV30.date())
        assert sub.status(s, t, today=NOV30.date(), rule=late_rule).late is True  # due on the 26th
        assert sub.status(s, t, today=NOV30.date(), rule=RULE).late is False


def test_who_may_do_what(factory, world):
    for who, region in (("inspector", "141102"), ("city_committee", "141102"), ("county_committee", "141181")):
        with pytest.raises(Forbidden):
            act(factory, world, who, region, "submit")
    with pytest.raises(Forbidden) as top:
        act(factory, world, "province_committee", "140000", "submit")
    assert top.value.code == "no_parent"
    with pytest.raises(Conflict):  # nothing submitted yet
        act(factory, world, "city_committee", "141102", "accept")
    act(factory, world, "county_committee", "141102", "submit")
    with pytest.raises(Conflict) as twice:
        act(factory, world, "county_committee", "141102", "submit")
    assert "不能重复上报" in twice.value.message
    for who in ("county_committee", "province_committee", "city_supervisor"):
        with pytest.raises(Forbidden):
            act(factory, world, who, "141102", "accept")
    for reason in ("", "   ", "x" * 501, "含有\x07控制字符"):
        with pytest.raises(Invalid) as bad:
            act(factory, world, "city_committee", "141102", "return", reason=reason)
        assert bad.value.details[0]["field"] == "reason"
    with pytest.raises(Invalid):
        with transaction(factory) as s:
            sub.target(s, world.p("city_committee"), "141102", "2026-13", DEC1.date())
    with pytest.raises(Forbidden):
        with transaction(factory) as s:
            sub.target(s, world.p("county_committee"), "140902", "2026-11", DEC1.date())


def test_return_resubmit_accept_is_one_chain(factory, world, clock):
    drive(factory, world, clock(), "closed", level="general")
    act(factory, world, "county_committee", "141102", "submit")
    assert act(factory, world, "city_committee", "141102", "return", reason="  重大隐患数与台账不符，请核实  ") == "returned"
    with read_only(factory) as s:
        row = sub.row_of(s, "141102", "2026-11")
        assert row.return_reason == "重大隐患数与台账不符，请核实" and row.version == 2
    drive(factory, world, clock(), "registered", level="general")
    assert act(factory, world, "county_committee", "141102", "submit") == "submitted"
    assert act(factory, world, "city_committee2", "141102", "accept") == "accepted"
    with pytest.raises(Conflict):
        act(factory, world, "city_committee", "141102", "return", reason="晚了")
    with read_only(factory) as s:
        t = sub.target(s, world.p("auditor"), "141102", "2026-11", DEC1.date())
        out = sub.submitted(s, t, today=DEC1.date(), rule=RULE)
        assert [e.action for e in out.events] == ["submit", "return", "submit", "accept"]
        assert out.events[1].payload["reason"] == "重大隐患数与台账不符，请核实"
        assert out.events[0].payload["sha256"] != out.events[2].payload["sha256"] == out.sha256
        assert out.report.month_figures.total.general_found == 2 and out.submission.state == "accepted"
        assert records.verify(s)[2] == []


def test_a_tampered_snapshot_is_never_served(factory, world, clock):
    drive(factory, world, clock(), "closed", level="general")
    act(factory, world, "county_committee", "141102", "submit")
    with transaction(factory) as s:
        row = sub.row_of(s, "141102", "2026-11")
        s.execute(update(ReportSubmission).where(ReportSubmission.id == row.id)
                  .values(snapshot=row.snapshot.replace('"general_found":1', '"general_found":0')))
    with read_only(factory) as s:
        t = sub.target(s, world.p("city_committee"), "141102", "2026-11", DEC1.date())
        with pytest.raises(Conflict) as refused:
            sub.submitted(s, t, today=DEC1.date(), rule=RULE)
        assert refused.value.code == "integrity" and "哈希不符" in refused.value.message
        with pytest.raises(Conflict):
            view(s, world.p("city_committee"), month="2026-11", region_code="141102", today=DEC1.date(), rule=RULE)
    with pytest.raises(Conflict):
        act(factory, world, "city_committee", "141102", "accept")
    with read_only(factory) as s:
        t = sub.target(s, world.p("city_committee"), "141181", "2026-11", DEC1.date())
        with pytest.raises(NotFound):
            sub.submitted(s, t, today=DEC1.date(), rule=RULE)


@pytest.mark.parametrize("drafted", [False, True])
def test_two_submissions_at_once_make_one(factory, world, backend, monkeypatch, drafted):
    if drafted:
        with transaction(factory) as s:
            assert sub.prepare(s, "141102", "离石区", "2026-11", now=DEC1) == "created"
    barrier = threading.Barrier(2)
    original = sub.compute

    def meeting(*a, **kw):
        if backend == "postgresql":  # both have read the row before either writes (SQLite: BEGIN IMMEDIATE queues them)
            barrier.wait(timeout=10)
        return original(*a, **kw)

    monkeypatch.setattr(sub, "compute", meeting)
    outcomes: list[str] = []

    def one():
        try:
            outcomes.append(act(factory, world, "county_committee", "141102", "submit"))
        except Conflict as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == sorted(["submitted", "stale" if backend == "postgresql" else "already_submitted"])
    with read_only(factory) as s:
        assert len(s.scalars(select(RecordEvent).where(RecordEvent.subject == "report:141102:2026-11")).all()) == 1
        assert sub.row_of(s, "141102", "2026-11").version == 1
