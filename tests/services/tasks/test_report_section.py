"""The 月报's task section (services/reports/tasks.py): the parts of the lists issued in the region's
subtree due in the month, by unit — on time, late, overdue, pending — checked against figures
computed here from the parts themselves; the end of the deadline's day in Shanghai as the bound; who
sees the section; and 直报: the section is read beside the frozen figures, so a submission's
snapshot carries no task figures and still verifies."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import select, update

from db.engine import read_only, transaction
from db.models import Organisation, TaskAssignment
from services.audit.chain import sha256
from services.calendar.workdays import WorkCalendar
from services.kernel.clock import SHANGHAI
from services.reports import form
from services.reports import submission as sub
from services.reports.submission_view import view
from services.reports.tasks import task_section
from services.tasks import engine
from tests.conftest import START

TODAY = date(2026, 11, 24)
RULE = sub.DueRule(WorkCalendar())
DONE = {"summary": "已完成", "completed_on": "2026-11-24", "evidence_text": "忻应急发〔2026〕12号"}


def _ids(factory, w, number):
    with read_only(factory) as s:
        return [p.id for p in w.parts(s, number)]


def _set(factory, part_id, **values):
    with transaction(factory) as s:
        s.execute(update(TaskAssignment).where(TaskAssignment.id == part_id).values(**values))


def _world(factory, w):
    """Deadlines and states spread over November and its edges."""
    (own,) = _ids(factory, w, "1")
    lead, co = _ids(factory, w, "2")
    counties = _ids(factory, w, "3")
    _set(factory, own, deadline=date(2026, 11, 20))  # reported after its deadline: late
    _set(factory, lead, deadline=date(2026, 11, 24))  # reported today, then verified: on time
    _set(factory, co, deadline=date(2026, 11, 10))  # not reported: overdue
    with transaction(factory) as s:
        engine.perform(s, w.ema, own, "report_completion", DONE, now=START)
        engine.perform(s, w.ema, lead, "report_completion", DONE, now=START)
    with transaction(factory) as s:
        engine.perform(s, w.office, lead, "verify", {"note": "材料齐全"}, now=START)
    # counties: the day's end in Shanghai is the bound (16:00 UTC), one second either side of it
    edge = datetime(2026, 11, 18, 16, 0, tzinfo=timezone.utc)
    _set(factory, counties[0], deadline=date(2026, 11, 18), state="reported",
         completion_reported_at=edge - timedelta(seconds=1))  # 23:59:59 in Shanghai: on time
    _set(factory, counties[1], deadline=date(2026, 11, 18), state="reported", completion_reported_at=edge)  # late
    _set(factory, counties[2], deadline=date(2026, 11, 30))  # not yet due: pending
    _set(factory, counties[3], deadline=date(2026, 11, 5))  # overdue
    _set(factory, counties[4], deadline=date(2026, 11, 1))  # first day of the month: overdue
    _set(factory, counties[5], deadline=date(2026, 10, 31))  # October: not this month
    _set(factory, counties[6], deadline=date(2026, 11, 24))  # due today, not reported: pending, not overdue
    # the other counties keep the year's end: December


def _expected(factory, prefix: str, month: tuple[int, int], today: date) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(("due", "on_time", "late", "overdue",
                                                                          "pending"), 0))
    with read_only(factory) as s:
        names = dict(s.execute(select(Organisation.id, Organisation.name)).all())
        for p in s.scalars(select(TaskAssignment)):
            if not p.issuer_region_code.startswith(prefix) or (p.deadline.year, p.deadline.month) != month:
                continue
            n = out[names[p.org_id]]
            n["due"] += 1
            if p.state in ("reported", "verified"):
                day_end = datetime.combine(p.deadline + timedelta(days=1), time(0), SHANGHAI)
                n["on_time" if p.completion_reported_at < day_end else "late"] += 1
            elif p.deadline < today:
                n["overdue"] += 1
            else:
                n["pending"] += 1
    return dict(out)


def test_the_section_counts_as_the_parts_stand(factory, tasks_world):
    _world(factory, tasks_world)
    expected = _expected(factory, "1409", (2026, 11), TODAY)
    with read_only(factory) as s:
        section = task_section(s, "140900", "2026-11", today=TODAY)
        province = task_section(s, "140000", "2026-11", today=TODAY)
        county = task_section(s, "140902", "2026-11", today=TODAY)  # a county under 忻州 issued no list
        december = task_section(s, "140900", "2026-12", today=TODAY)
    got = {r.unit: {k: getattr(r, k) for k in ("due", "on_time", "late", "overdue", "pending")} for r in section.rows}
    assert got == expected
    totals = {k: sum(n[k] for n in expected.values()) for k in ("due", "on_time", "late", "overdue", "pending")}
    assert totals == {"due": 9, "on_time": 2, "late": 2, "overdue": 3, "pending": 2}  # the cases set up above
    assert {k: getattr(section.total, k) for k in totals} == totals and section.total.unit == "合计"
    assert section.total.on_time_pct == round(100 * 2 / 9, 1)
    assert province.rows == section.rows  # the province's subtree holds 忻州's list
    assert county.rows == [] and county.total.due == 0 and county.total.on_time_pct is None
    assert december.total.due == 17 - 9 - 1  # the parts left at the year's end (one is in October)
    assert section.rows[0].overdue == max(r.overdue for r in section.rows)  # the most overdue first


def test_the_view_carries_the_section_for_the_plans_readers(factory, tasks_world):
    w = tasks_world
    _world(factory, w)
    with read_only(factory) as s:
        office = view(s, w.office, month="2026-11", region_code="140900", today=TODAY, rule=RULE)
        unit = view(s, w.ema, month="2026-11", region_code="140900", today=TODAY, rule=RULE)
    assert office.tasks is not None and office.tasks.total.due == 9
    assert unit.tasks is None  # a unit's supervisor reads the 月报, not every unit's tasks
    html = form.html(office, unit="忻州市安委办", filled_on=TODAY)
    assert "任务清单完成情况" in html and office.tasks.rows[0].unit in html
    book = form.workbook(office, unit="忻州市安委办", filled_on=TODAY)
    from io import BytesIO

    from openpyxl import load_workbook

    wb = load_workbook(BytesIO(book))
    assert wb.sheetnames == ["本月", "年初至今", "任务清单"]
    values = [c for row in wb["任务清单"].iter_rows(values_only=True) for c in row if c is not None]
    assert "合计" in values and 9 in values
    assert "任务清单完成情况" not in form.html(unit, unit="x", filled_on=TODAY)


def test_a_frozen_submission_carries_no_task_figures_and_still_verifies(factory, world, tasks_world):
    """The county's 直报 is frozen as before; the view adds the live section beside it."""
    dec1 = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
    committee = world.p("county_committee")
    with transaction(factory) as s:
        t = sub.target(s, committee, "141102", "2026-11", dec1.date())
        sub.submit(s, committee, t, now=dec1, rule=RULE)
    with read_only(factory) as s:
        row = sub.row_of(s, "141102", "2026-11")
        assert "tasks" not in json.loads(row.snapshot) and sha256(row.snapshot) == row.sha256
        assert sub.verified(s, row)
        shown = view(s, committee, month="2026-11", region_code="141102", today=dec1.date(), rule=RULE)
        stored = sub.load_report(row.snapshot)
    assert shown.basis == "submitted" and shown.tasks is not None and shown.tasks.total.due == 0
    assert shown.month_figures == stored.month_figures
    from io import BytesIO

    from openpyxl import load_workbook

    book = load_workbook(BytesIO(form.workbook(shown, unit="离石区安委办", filled_on=dec1.date())))
    assert book.sheetnames == ["本月", "年初至今"]  # nothing due: no task sheet
    assert "任务清单完成情况" not in form.html(shown, unit="离石区安委办", filled_on=dec1.date())


from tests.app.web.conftest import browser  # noqa: E402,F401 - the logged-in browser fixture


def test_the_monthly_report_page_shows_the_section(factory, tasks_world, browser):  # noqa: F811
    _world(factory, tasks_world)
    page = browser("xz_office").get("/reports/monthly?month=2026-11&region=140900")
    assert page.status_code == 200 and 'id="task-section"' in page.text
    assert "任务清单完成情况" in page.text and "不属上报冻结的数字" in page.text
    unit = browser("xz_ema").get("/reports/monthly?month=2026-11&region=140900")
    assert unit.status_code == 200 and 'id="task-section"' not in unit.text
