"""直报 on the 月报 page: the county 安委办 sees when submitting opens and submits with a confirmation;
the city sees its counties (who is missing, who is late), returns with a reason or accepts; refusals
are shown on the page again."""

from __future__ import annotations

from datetime import datetime, timezone

from tests.app.web.conftest import csrf_of
from tests.helpers import drive

NOV30 = datetime(2026, 11, 30, 1, 0, tzinfo=timezone.utc)
DEC1 = datetime(2026, 12, 1, 1, 0, tzinfo=timezone.utc)
FORM = {"month": "2026-11", "region": "141102"}


def test_county_submits_city_returns_and_accepts(factory, world, browser, clock):
    drive(factory, world, clock(), "closed", level="general")
    county = browser("county_committee")
    before = county.get("/reports/monthly").text
    assert "状态：<strong>未上报</strong>" in before and "自截止日 2026年11月30日 起方可上报" in before
    assert 'action="/reports/monthly/submit"' not in before

    clock.current = NOV30
    county = browser("county_committee")  # a new login: the session of six days ago has expired
    page = county.get("/reports/monthly").text
    assert 'action="/reports/monthly/submit"' in page and "确认上报" in page
    token = csrf_of(page)
    unconfirmed = county.post("/reports/monthly/submit", data={**FORM, "csrf_token": token})
    assert unconfirmed.status_code == 422 and "请勾选确认" in unconfirmed.text
    done = county.post("/reports/monthly/submit", data={**FORM, "csrf_token": token, "confirm": "1"})
    assert done.status_code == 303 and done.headers["location"] == "/reports/monthly?month=2026-11&region=141102"
    shown = county.get(done.headers["location"]).text
    assert "已上报离石区 2026-11 的月报，数字已冻结" in shown and "状态：<strong>已上报，待审核</strong>" in shown
    assert "上报时冻结的数字" in shown and "SHA-256" in shown and 'action="/reports/monthly/submit"' not in shown
    again = county.post("/reports/monthly/submit", data={**FORM, "csrf_token": token, "confirm": "1"})
    assert again.status_code == 409 and "不能重复上报" in again.text

    clock.current = DEC1
    city = browser("city_committee")
    overview = city.get("/reports/monthly").text  # on 1 December the page opens on November
    assert 'value="2026-11"' in overview
    assert "下级月报" in overview and "查看下级已通过月报的汇总" in overview
    row = overview.split(">离石区</a>")[1].split("</tr>")[0]
    assert "已上报，待审核" in row and "逾期" not in row
    missing = overview.split(">孝义市</a>")[1].split("</tr>")[0]
    assert "未上报" in missing and "逾期" in missing
    county_view = city.get("/reports/monthly", params=FORM).text
    assert 'action="/reports/monthly/accept"' in county_view and 'action="/reports/monthly/return"' in county_view
    token = csrf_of(county_view)
    empty = city.post("/reports/monthly/return", data={**FORM, "csrf_token": token, "reason": "  "})
    assert empty.status_code == 422 and "请填写退回理由" in empty.text
    returned = city.post("/reports/monthly/return", data={**FORM, "csrf_token": token, "reason": "销号数与台账不符"})
    assert returned.status_code == 303
    county = browser("county_committee")
    seen = county.get("/reports/monthly").text
    assert "状态：<strong>已退回</strong>" in seen and "退回理由：销号数与台账不符" in seen
    assert 'action="/reports/monthly/submit"' in seen
    county.post("/reports/monthly/submit", data={**FORM, "csrf_token": csrf_of(seen), "confirm": "1"})
    assert city.post("/reports/monthly/accept", data={**FORM, "csrf_token": token}).status_code == 303
    assert "状态：<strong>已通过</strong>" in city.get("/reports/monthly", params=FORM).text
    rolled = city.get("/reports/monthly", params={"month": "2026-11", "basis": "rollup"}).text
    assert "下级已通过月报的汇总" in rolled and "<td>合计</td>" in rolled


def test_refusals_on_the_page(world, browser, clock):
    clock.current = NOV30
    inspector = browser("inspector")
    page = inspector.get("/reports/monthly").text
    assert 'action="/reports/monthly/submit"' not in page
    refused = inspector.post("/reports/monthly/submit", data={**FORM, "csrf_token": csrf_of(page), "confirm": "1"})
    assert refused.status_code == 403 and "只有本地区安委办可以上报" in refused.text
    city = browser("city_committee")
    token = csrf_of(city.get("/reports/monthly").text)
    nothing = city.post("/reports/monthly/accept", data={**FORM, "csrf_token": token})
    assert nothing.status_code == 409 and "只有已上报、待审核的月报" in nothing.text
    bad = city.post("/reports/monthly/accept", data={"month": "2026-99", "region": "141102", "csrf_token": token})
    assert bad.status_code == 422 and "月份格式应为 YYYY-MM" in bad.text
    assert city.post("/reports/monthly/accept", data=FORM).status_code == 403  # no CSRF token
    assert browser("ent_coal").post("/reports/monthly/submit", data=FORM).status_code in (403, 303)


def test_a_tampered_month_is_shown_as_an_error_not_served(factory, world, browser, clock):
    from sqlalchemy import update

    from db.engine import transaction
    from db.models import ReportSubmission

    clock.current = NOV30
    county = browser("county_committee")
    token = csrf_of(county.get("/reports/monthly").text)
    assert county.post("/reports/monthly/submit", data={**FORM, "csrf_token": token, "confirm": "1"}).status_code == 303
    with transaction(factory) as s:
        s.execute(update(ReportSubmission).values(snapshot=ReportSubmission.snapshot + " "))
    page = county.get("/reports/monthly")
    assert page.status_code == 409 and "哈希不符" in page.text and "<td>合计</td>" not in page.text
    assert county.get("/reports/monthly.xlsx", params=FORM).status_code == 409
    live = county.get("/reports/monthly", params={**FORM, "basis": "live"})
    assert live.status_code == 200 and "<td>合计</td>" in live.text
