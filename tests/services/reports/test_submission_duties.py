"""The 直报 sweep: drafts for every region (idempotent, a submitted one untouched), the deadline day's
reminder and the next working day's `late` step fired once each, with their messages, the 通报
entry on the city's list and the record-chain events."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select

from db.engine import UnitOfWork, read_only, transaction
from db.models import BulletinItem, DutyStep, InboxItem, Region, ReportSubmission
from services.audit import records
from services.calendar.workdays import WorkCalendar
from services.reports import submission as sub
from services.reports.submission_duties import sweep
from tests.helpers import drive

NOV24 = datetime(2026, 11, 24, 0, 30, tzinfo=timezone.utc)  # 08:30 in Shanghai
NOV30 = datetime(2026, 11, 30, 0, 30, tzinfo=timezone.utc)  # the deadline day
DEC1 = datetime(2026, 12, 1, 0, 30, tzinfo=timezone.utc)  # the first working day after it
CAL = WorkCalendar()


def _inbox(factory, world, user):
    with read_only(factory) as s:
        return [t for (t,) in s.execute(select(InboxItem.title).where(InboxItem.user_id == world.p(user).id)
                                        .order_by(InboxItem.id))]


def test_drafts_reminders_and_late_reports(factory, world, clock):
    drive(factory, world, clock(), "closed", level="general")
    uow = UnitOfWork(factory)
    with read_only(factory) as s:
        regions = s.scalar(select(func.count()).select_from(Region).where(Region.level.in_(("county", "city",
                                                                                            "province"))))
    first = sweep(uow, now=NOV24, calendar=CAL)
    assert first["drafts_created"] == 2 * regions and first["remind"] == first["late"] == 0
    assert first["late"] == 0  # October's drafts were not prepared by its deadline: nobody is late for it
    again = sweep(uow, now=NOV24, calendar=CAL)
    assert again["drafts_created"] == 0 and again["drafts_refreshed"] == 2 * regions
    with read_only(factory) as s:
        draft = sub.row_of(s, "141102", "2026-11")
        assert draft.state == "draft" and draft.version == 0 and draft.sha256 is None
        assert sub.load_report(draft.snapshot).month_figures.total.general_found == 1

    with transaction(factory) as s:  # 离石区 submits on the deadline day, before the sweep
        t = sub.target(s, world.p("county_committee"), "141102", "2026-11", NOV30.date())
        sub.submit(s, world.p("county_committee"), t, now=NOV30, rule=sub.DueRule(CAL))
    on_the_day = sweep(uow, now=NOV30, calendar=CAL)
    counties = regions - 3  # the province and its two cities aside
    assert on_the_day["remind"] == counties - 1  # every county but 离石区, which has submitted
    assert on_the_day["late"] == 0 and on_the_day["drafts_kept"] == 1
    assert on_the_day["messages"] == 0  # the counties with a 安委办 user here: 离石区 only
    assert _inbox(factory, world, "county_committee") == [] and _inbox(factory, world, "city_committee") == []
    assert sweep(uow, now=NOV30, calendar=CAL)["remind"] == 0

    late = sweep(uow, now=DEC1, calendar=CAL)
    assert late["late"] == counties - 1 and late["listed"] == counties - 1 and late["remind"] == 0
    titles = _inbox(factory, world, "city_committee")
    assert "下级月报逾期未报：孝义市 2026-11" in titles and len(titles) == 12  # 吕梁市's twelve other counties
    assert not any("离石区" in t for t in titles) and _inbox(factory, world, "county_committee") == []

    # the cities are due three working days later (Thursday 3 December), to review their counties first
    assert sweep(uow, now=datetime(2026, 12, 2, 0, 30, tzinfo=timezone.utc), calendar=CAL)["remind"] == 0
    city_day = sweep(uow, now=datetime(2026, 12, 3, 0, 30, tzinfo=timezone.utc), calendar=CAL)
    assert (city_day["remind"], city_day["late"], city_day["messages"]) == (2, 0, 2)
    assert _inbox(factory, world, "city_committee")[-1] == "月报今日截止：吕梁市 2026-11"
    city_late = sweep(uow, now=datetime(2026, 12, 4, 0, 30, tzinfo=timezone.utc), calendar=CAL)
    assert (city_late["late"], city_late["listed"], city_late["messages"]) == (2, 2, 4)
    assert sorted(_inbox(factory, world, "province_committee")) == ["下级月报逾期未报：吕梁市 2026-11",
                                                                    "下级月报逾期未报：忻州市 2026-11"]
    with read_only(factory) as s:
        entry = s.execute(select(BulletinItem).where(BulletinItem.key == "late_report:141181:2026-11")).scalar_one()
        assert (entry.region_code, entry.subject_region_code, entry.kind) == ("141100", "141181", "late_report")
        city_entry = s.execute(select(BulletinItem).where(BulletinItem.key == "late_report:141100:2026-11")).scalar_one()
        assert city_entry.region_code == "140000"
        assert s.scalar(select(BulletinItem.id).where(BulletinItem.key == "late_report:141102:2026-11")) is None
        assert [e.action for e in records.trail(s, "report:141181:2026-11")] == ["remind", "late"]
        assert [e.actor_role for e in records.trail(s, "report:141181:2026-11")] == ["system", "system"]
        assert records.verify(s)[2] == []
        steps = s.scalar(select(func.count()).select_from(DutyStep).where(DutyStep.month == "2026-11"))
        assert s.scalar(select(ReportSubmission.state).where(ReportSubmission.region_code == "141102",
                                                             ReportSubmission.month == "2026-11")) == "submitted"
    repeat = sweep(uow, now=DEC1, calendar=CAL)
    assert (repeat["late"], repeat["listed"], repeat["messages"]) == (0, 0, 0)
    with read_only(factory) as s:
        assert s.scalar(select(func.count()).select_from(DutyStep).where(DutyStep.month == "2026-11")) == steps


def test_a_tampered_child_fails_its_parents_draft_only(factory, world, clock):
    from sqlalchemy import update

    drive(factory, world, clock(), "closed", level="general")
    rule = sub.DueRule(CAL)
    with transaction(factory) as s:
        t = sub.target(s, world.p("county_committee"), "141102", "2026-11", NOV30.date())
        sub.submit(s, world.p("county_committee"), t, now=NOV30, rule=rule)
        sub.decide(s, world.p("city_committee"), t, "accept", now=NOV30)
        s.execute(update(ReportSubmission).where(ReportSubmission.region_code == "141102")
                  .values(snapshot=ReportSubmission.snapshot + " "))
    counts = sweep(UnitOfWork(factory), now=NOV30, calendar=CAL)
    assert counts["drafts_failed"] == 1  # 吕梁市's November: its accepted county no longer verifies
    with read_only(factory) as s:
        assert sub.row_of(s, "141100", "2026-11") is None and sub.row_of(s, "140900", "2026-11") is not None
        assert sub.row_of(s, "140000", "2026-11").state == "draft"
