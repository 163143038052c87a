"""The day the month's report is due, in a real headless Chromium against a real uvicorn server.

30 November 2026, the month's last working day: an enterprise files its November self-inspection
return (a nil return) on 企业自查; its inspector sees it filed and the other enterprise of the
county not; the county 安委办 opens 月报, is refused without the confirmation, then submits (上报)
and sees the frozen figures' SHA-256; the city 安委办 sees the county among its children and
accepts (通过); the city's roll-up shows the county's figures. Screenshots at both widths.
SQLite only, like the other browser tests.
"""

from __future__ import annotations

from datetime import datetime, timezone

from playwright.sync_api import expect
from sqlalchemy import select

from db.engine import read_only
from db.models import ReportSubmission, SelfInspection
from services.audit import records
from tests.app.web.browser_support import browsers, chromium, db_url, live_server  # noqa: F401 (fixtures)

DEADLINE_DAY = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)  # Monday 10:00 in Shanghai


def test_returns_filed_and_the_month_submitted_and_accepted(browsers, factory, world, clock):
    clock.current = DEADLINE_DAY

    # --- the enterprise files its return ---
    ent = browsers.login("ent_coal")
    page = ent.go("/self-inspections")
    page.select_option("#si-month", "2026-11")
    page.fill("#si-checked_from", "2026-11-02")
    page.fill("#si-checked_to", "2026-11-27")
    page.fill("#si-scope", "井下采掘工作面、主要通风机房、变电所及地面储煤场")
    page.fill("#si-principal", "王建国")
    page.check("input[name=nil_return]")
    page.click("button[type=submit]:has-text('报送')")
    expect(page.locator(".flash")).to_contain_text("2026-11")
    ent.shot("return-filed")
    with read_only(factory) as s:
        [filed] = s.scalars(select(SelfInspection)).all()
        assert (filed.month, filed.nil_return, filed.principal) == ("2026-11", True, "王建国")

    # --- its inspector sees who has filed ---
    inspector = browsers.login("inspector")
    page = inspector.go("/self-inspections?month=2026-11&region=141102")
    rows = page.locator("table tbody tr")
    expect(rows.filter(has_text="离石区金源煤业有限公司")).to_contain_text("零报告")
    expect(rows.filter(has_text="离石区金源煤业有限公司")).to_contain_text("2026年11月30日 10:00")
    page = inspector.go("/self-inspections?month=2026-11&region=141102&missing=1")
    expect(page.locator("table tbody")).not_to_contain_text("离石区金源煤业有限公司")
    inspector.shot("returns-status")

    # --- the county 安委办 submits (上报) ---
    county = browsers.login("county_committee")
    page = county.go("/reports/monthly?month=2026-11&region=141102")
    submit = page.locator("form[aria-label=上报月报]")
    page.evaluate("document.querySelectorAll('form[aria-label=上报月报] input[name=confirm]')"
                  ".forEach(i => i.removeAttribute('required'))")  # the server checks it too
    submit.locator("button[type=submit]").click()
    expect(page.locator("#confirm-error")).to_be_visible()
    page.check("form[aria-label=上报月报] input[name=confirm]")
    page.click("form[aria-label=上报月报] button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("数字已冻结")
    expect(page.locator("#submission-title + p")).to_contain_text("已上报")
    digest = page.locator("code").first.inner_text()
    county.shot("report-submitted")
    with read_only(factory) as s:
        row = s.scalars(select(ReportSubmission).where(ReportSubmission.region_code == "141102")).one()
        assert (row.state, row.sha256) == ("submitted", digest)
        assert records.trail(s, "report:141102:2026-11")[-1].action == "submit"

    # --- the city 安委办 accepts (通过) and reads the roll-up ---
    city = browsers.login("city_committee")
    page = city.go("/reports/monthly?month=2026-11&region=141100")
    expect(page.locator("table").filter(has_text="离石区")).to_contain_text("待审核")
    page = city.go("/reports/monthly?month=2026-11&region=141102")
    page.click("form[aria-label=通过月报] button[type=submit]")
    expect(page.locator("#submission-title + p")).to_contain_text("已通过")
    city.shot("report-accepted")
    page = city.go("/reports/monthly?month=2026-11&region=141100&basis=rollup")
    expect(page.locator("main")).to_contain_text("离石区")
    city.shot("city-rollup")
    with read_only(factory) as s:
        assert s.scalars(select(ReportSubmission.state).where(ReportSubmission.region_code == "141102")).one() \
            == "accepted"
        assert [e.action for e in records.trail(s, "report:141102:2026-11")] == ["submit", "accept"]
