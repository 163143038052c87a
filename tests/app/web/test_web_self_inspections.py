"""The 企业自查 pages: an enterprise files its return through the form (refused and shown again when
wrong) and records a 立查立改 with evidence; an inspector sees the month's filing status."""

from __future__ import annotations

from tests.app.api.support import png_bytes
from tests.app.web.conftest import csrf_of

FORM = {"month": "2026-11", "checked_from": "2026-11-02", "checked_to": "2026-11-20", "scope": "全矿井",
        "principal": "王建国", "hazards.0.title": "皮带机护罩缺失", "hazards.0.location": "主斜井",
        "hazards.0.description": "机头护罩缺失"}


def _file(c, data):
    page = c.get("/self-inspections")
    assert page.status_code == 200, page.text
    return c.post("/self-inspections", data={**data, "csrf_token": csrf_of(page.text)})


def test_enterprise_files_and_records_a_spot_fix(browser):
    c = browser("ent_coal")
    page = c.get("/self-inspections")
    assert "企业自查" in page.text.split("</nav>")[0] and 'name="principal"' in page.text
    bad = _file(c, {**FORM, "nil_return": "on"})
    assert bad.status_code == 422
    assert "零报告（未发现重大事故隐患）不能同时列出发现的隐患" in bad.text and 'value="王建国"' in bad.text
    done = _file(c, FORM)
    assert done.status_code == 303, done.text
    detail = c.get(done.headers["location"])
    assert "皮带机护罩缺失" in detail.text and "第 1 版" in detail.text and "已报送 2026-11 企业自查报告" in detail.text
    csrf = csrf_of(detail.text)
    fix = {"description": "消防通道堆放杂物", "location": "二号仓库", "measures": "当场清理", "fixed_on": "2026-11-20",
           "csrf_token": csrf}
    wrong = c.post(f"{done.headers['location']}/spot-fixes", data=fix, files={"evidence": ("a.txt", b"hello", "text/plain")})
    assert wrong.status_code == 422 and "只接受 JPEG 图片" in wrong.text
    made = c.post(f"{done.headers['location']}/spot-fixes", data=fix, files={"evidence": ("a.png", png_bytes(), "image/png")})
    assert made.status_code == 303
    assert "消防通道堆放杂物" in c.get(done.headers["location"]).text
    assert "2026-11" in c.get("/self-inspections").text.split("本企业的自查报告")[1]


def test_inspectors_see_the_filing_status(browser):
    coal = browser("ent_coal")
    rid = _file(coal, FORM).headers["location"].rsplit("/", 1)[1]
    city = browser("city_committee")
    page = city.get("/self-inspections", params={"month": "2026-11"})
    assert page.status_code == 200
    assert "应报 2 家，已报 1 家，未报送 1 家" in page.text
    assert f'href="/self-inspections/{rid}"' in page.text and "<strong>未报送</strong>" in page.text
    missing = city.get("/self-inspections", params={"month": "2026-11", "missing": "1"}).text
    assert "孝义市鑫化化工有限公司" in missing and "离石区金源煤业有限公司" not in missing
    assert city.get(f"/self-inspections/{rid}").status_code == 200
    assert browser("ent_chem").get(f"/self-inspections/{rid}").status_code == 404
    assert browser("xinzhou_inspector").get(f"/self-inspections/{rid}").status_code == 404
    assert city.get("/self-inspections/x1").status_code == 404
    assert city.get("/self-inspections/x%01").status_code == 422  # a control character: refused by the guard
    assert city.get("/self-inspections", params={"month": "2026-13"}).status_code == 422
    assert browser("inspector").get("/self-inspections", params={"region": "140900"}).status_code == 403
    assert city.post("/self-inspections", data={"csrf_token": csrf_of(page.text)}).status_code == 403


def test_the_reminder_reaches_the_enterprise_inbox(browser, factory):
    from datetime import datetime, timezone

    from db.engine import UnitOfWork
    from services.calendar.workdays import default_calendar
    from services.inspections import duties

    done = duties.sweep(UnitOfWork(factory), now=datetime(2026, 11, 25, 2, tzinfo=timezone.utc),
                        calendar=default_calendar())
    assert done["remind"] == 3
    page = browser("ent_chem").get("/messages")
    assert page.status_code == 200 and "请按时报送 2026-11 企业自查报告" in page.text
    assert "请于 2026-11-30 前由主要负责人签字报送" in page.text
