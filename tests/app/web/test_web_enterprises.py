"""一张表 pages: `/enterprises` (list, filters), `/enterprises/{id}`, and the hazard page's
department, official, 黑名单 badge and link."""

from __future__ import annotations

from datetime import date, timedelta

from db.engine import transaction
from db.models import Enterprise
from tests.conftest import START
from tests.helpers import drive
from tests.services.blacklist.support import decision, enterprise_id


def _assign(factory, world):
    coal = enterprise_id(factory, world, "coal")
    with transaction(factory) as s:
        ent = s.get(Enterprise, coal)
        ent.supervising_department, ent.responsible_official = "离石区能源局", "王监管"
    return coal


def test_list_and_filters(factory, world, browser):
    coal = _assign(factory, world)
    decision(factory, coal, "2026-Q3", date(2026, 9, 1), date(2027, 9, 1), START - timedelta(days=80))
    city = browser("city_committee")
    page = city.get("/enterprises")
    assert page.status_code == 200, page.text
    html = page.text
    assert f'<a href="/enterprises/{coal}">离石区金源煤业有限公司</a>' in html
    assert "离石区能源局" in html and "王监管" in html and "孝义市鑫化化工有限公司" in html
    assert "忻府区城燃燃气有限公司" not in html  # 忻州: not the city's
    assert "1 家无行业主管部门" in html
    assert '<a href="/enterprises">企业</a>' in html or 'href="/enterprises"' in html.split("</nav>")[0]
    unassigned = city.get("/enterprises", params={"unassigned": "1"}).text
    assert "孝义市鑫化化工有限公司" in unassigned and "离石区金源煤业有限公司" not in unassigned
    listed = city.get("/enterprises", params={"blacklisted": "1"}).text
    assert "离石区金源煤业有限公司" in listed and "孝义市鑫化化工有限公司" not in listed
    named = city.get("/enterprises", params={"q": "鑫化"}).text
    assert "孝义市鑫化化工有限公司" in named and "离石区金源煤业有限公司" not in named


def test_detail_page_and_hazard_page_link(factory, world, browser):
    coal = _assign(factory, world)
    hazard_id = drive(factory, world, START, "registered")
    inspector = browser("inspector")
    page = inspector.get(f"/enterprises/{coal}")
    assert page.status_code == 200, page.text
    assert f'<a href="/hazards/{hazard_id}">' in page.text and "离石区能源局" in page.text
    assert "暂无黑名单决定" in page.text
    hazard = inspector.get(f"/hazards/{hazard_id}").text
    assert f'<a href="/enterprises/{coal}">离石区金源煤业有限公司</a>' in hazard
    assert '<dd id="supervising-department">离石区能源局</dd>' in hazard
    assert '<dd id="responsible-official">王监管</dd>' in hazard
    assert 'id="blacklist-badge"' not in hazard
    decision(factory, coal, "2026-Q4", date(2026, 11, 1), date(2027, 11, 1), START)
    assert 'id="blacklist-badge"' in inspector.get(f"/hazards/{hazard_id}").text
    # the enterprise itself sees who oversees it, without a link to a page it may not open
    own = browser("ent_coal").get(f"/hazards/{hazard_id}").text
    assert '<dd id="supervising-department">离石区能源局</dd>' in own and f'href="/enterprises/{coal}"' not in own


def test_refusals_and_hostile_input(factory, world, browser):
    coal = _assign(factory, world)
    assert browser("ent_coal").get("/enterprises").status_code == 403
    assert browser("ent_coal").get(f"/enterprises/{coal}").status_code == 404
    assert browser("xinzhou_inspector").get(f"/enterprises/{coal}").status_code == 404
    admin = browser("admin")
    for path in ("/enterprises/x1", "/enterprises/99999999999999999999", "/enterprises/0"):
        assert admin.get(path).status_code == 404, path
    assert admin.get("/enterprises/%00").status_code == 422  # the input guard: a control character in a URL
    for params in ({"industry": "不存在"}, {"q": "x" * 300}, {"blacklisted": "maybe"}, {"page": "-1"},
                   {"page": "9" * 30}):
        resp = admin.get("/enterprises", params=params)
        assert resp.status_code == 400, (params, resp.status_code)
        assert 'class="error"' in resp.text
    assert admin.get("/enterprises", params={"q": "<script>alert(1)</script>"}).status_code == 200
    assert "<script>alert(1)</script>" not in admin.get("/enterprises", params={"q": "<script>alert(1)</script>"}).text


def test_register_form_offers_the_industrys_categories(factory, world, browser):
    hazard_id = drive(factory, world, START, "reported")
    page = browser("inspector").get(f"/hazards/{hazard_id}").text
    datalist = page.split('<datalist id="hazard-categories">')[1].split("</datalist>")[0]
    assert '<option value="顶板管理"></option>' in datalist  # 煤矿's list
    assert "储罐区" not in datalist  # 危险化学品's
    assert 'name="category" value="" list="hazard-categories"' in page
