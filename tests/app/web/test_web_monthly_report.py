"""The 月报 page: month and region (by name) picked in a form, the figures, the downloads."""

from __future__ import annotations

from tests.conftest import START
from tests.helpers import drive


def test_monthly_report_page(factory, world, browser):
    drive(factory, world, START, "closed", level="general")
    drive(factory, world, START, "supervised", level="major")
    city = browser("city_committee")
    page = city.get("/reports/monthly")
    assert page.status_code == 200, page.text
    html = page.text
    assert 'value="2026-11"' in html  # this month by default
    assert '<option value="141100" selected>吕梁市</option>' in html and ">离石区</option>" in html
    assert "忻州" not in html  # regions of the reader's scope only
    assert "期初存量 0 ＋ 本期新增 1 － 本期销号 0 ＝ 期末存量 1" in html
    assert "<td>合计</td>" in html
    xlsx = city.get("/reports/monthly.xlsx?month=2026-11&region=141102")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert "attachment;" in xlsx.headers["content-disposition"]
    county_view = city.get("/reports/monthly", params={"month": "2026-11", "region": "141102"}).text
    assert "离石区，2026-11" in county_view


def test_monthly_report_page_refusals(factory, world, browser):
    assert browser("ent_coal").get("/reports/monthly").status_code == 403
    county = browser("county_committee")
    refused = county.get("/reports/monthly", params={"month": "2026-11", "region": "141100"})
    assert refused.status_code == 403 and "只能查看本辖区及下级地区的月报" in refused.text
    bad = county.get("/reports/monthly", params={"month": "2026-99"})
    assert bad.status_code == 422 and "月份格式应为 YYYY-MM" in bad.text
    assert county.get("/reports/monthly.pdf", params={"month": "2026-99"}).status_code == 422
    assert "月报" not in browser("ent_coal").get("/").text.split("</nav>")[0]
