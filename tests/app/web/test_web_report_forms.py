"""The report forms through the ASGI app: the public 举报 form and its tracking page, and 上报隐患
for signed-in users (once per form, errors at the field, an enterprise only for itself)."""

from __future__ import annotations

import re
from datetime import timedelta

from db.engine import read_only
from sqlalchemy import select

from db.models import Hazard
from services.kernel.clock import local_date
from tests.app.web.conftest import csrf_of


# --- public ---------------------------------------------------------------------------------------


def _report(c, **over):
    page = c.get("/report")
    data = {"csrf_token": csrf_of(page.text), "title": "小区车库堆放液化气钢瓶",
            "description": "地下车库内堆放二十余个液化气钢瓶。", "location": "离石区滨河北路某小区",
            "region_code": "141102", "industry": "燃气", "contact": "13800000000"}
    data.update(over)
    return c.post("/report", data=data)


def test_public_report_and_tracking(browser, factory):
    c = browser()
    done = _report(c)
    assert done.status_code == 201
    code = re.search(r'id="tracking-code">([A-Z0-9]+)<', done.text).group(1)
    track = c.get("/track", params={"code": code.lower()})
    assert track.status_code == 200
    assert re.search(r'id="track-state">待核查<', track.text)
    assert "液化气" not in track.text and "13800000000" not in track.text  # nothing internal
    assert c.get("/track", params={"code": "ZZZZZZZZ"}).status_code == 404


def test_every_tracking_lookup_counts_even_when_it_finds_nothing(browser, settings, monkeypatch):
    """The lookup's throttle count is committed in a unit of its own, before the lookup: an unknown
    code counts too. An empty form is no lookup and is not counted."""
    monkeypatch.setattr(settings, "public_lookups_per_hour", 2)
    c = browser()
    for _ in range(3):
        assert c.get("/track").status_code == 200
    assert [c.get("/track", params={"code": code}).status_code for code in ("ZZZZZZZZ", "ZZZZZZZY")] == [404, 404]
    limited = c.get("/track", params={"code": "ZZZZZZZZ"})
    assert limited.status_code == 429 and "查询过于频繁" in limited.text
    assert int(limited.headers["Retry-After"]) > 0


def test_public_report_errors_and_rate_limit(browser):
    c = browser()
    bad = _report(c, title="", description="保留的描述")
    assert bad.status_code == 422
    assert re.search(r'id="r-title-error">此项为必填项<', bad.text)
    assert "保留的描述" in bad.text
    assert _report(c, csrf_token="forged.token").status_code == 403
    for _ in range(3):  # settings: 3 an hour
        assert _report(c).status_code == 201
    limited = _report(c)
    assert limited.status_code == 429 and "提交过于频繁" in limited.text


# --- 上报隐患 (signed-in) --------------------------------------------------------------------------


def _new_form(c) -> tuple[str, dict[str, str]]:
    page = c.get("/hazards/new")
    assert page.status_code == 200, page.text
    key = re.search(r'name="form_key" value="([^"]+)"', page.text).group(1)
    return page.text, {"csrf_token": csrf_of(page.text), "form_key": key}


def _hazards(factory) -> list:
    with read_only(factory) as s:
        return s.execute(select(Hazard.title, Hazard.state, Hazard.discovered_at, Hazard.code)
                         .order_by(Hazard.id)).all()


def test_an_inspector_writes_up_a_hazard_once_even_when_sent_twice(browser, factory, world, clock):
    c = browser("inspector")
    page, data = _new_form(c)
    assert 'value="141102"' in page and 'value="141123"' not in page  # the regions of 离石区 only
    assert f'<option value="{local_date(clock()).isoformat()}"' not in page  # (dates are inputs, not options)
    found = local_date(clock()) - timedelta(days=2)
    data |= {"title": "液氨储罐区可燃气体报警器失效", "description": "2 号储罐区报警器检定过期且无法报警。",
             "location": "液氨罐区", "region_code": "141102", "industry": "煤矿", "source": "inspection",
             "enterprise_uscc": world.enterprises["coal"], "discovered_on": found.isoformat()}
    first = c.post("/hazards/new", data=data)
    assert first.status_code == 303 and first.headers["location"].startswith("/hazards/")
    again = c.post("/hazards/new", data=data)  # a double click, or a reload after the POST
    assert again.status_code == 303 and again.headers["location"] == first.headers["location"]
    made = [h for h in _hazards(factory) if h.title == "液氨储罐区可燃气体报警器失效"]
    assert len(made) == 1 and made[0].state == "reported" and local_date(made[0].discovered_at) == found
    landed = c.get(first.headers["location"]).text
    assert f"已上报隐患，编号 {made[0].code}" in landed and "待核查" in landed
    # Back, change the text, send the same form: said so, nothing filed; sent again, a new one
    changed = c.post("/hazards/new", data=data | {"title": "液氨储罐区压力表失效"})
    assert changed.status_code == 409 and "这张表单已经上报过一条隐患" in changed.text
    assert [h.title for h in _hazards(factory)].count("液氨储罐区压力表失效") == 0
    fresh = re.search(r'name="form_key" value="([^"]+)"', changed.text).group(1)
    assert fresh != data["form_key"] and "液氨储罐区压力表失效" in changed.text  # input kept
    assert c.post("/hazards/new", data=data | {"title": "液氨储罐区压力表失效", "form_key": fresh}).status_code == 303
    assert [h.title for h in _hazards(factory)].count("液氨储罐区压力表失效") == 1


def test_the_new_hazard_form_keeps_input_and_shows_errors_at_the_field(browser, factory, world, clock):
    c = browser("inspector")
    _, data = _new_form(c)
    before = len(_hazards(factory))
    future = (local_date(clock()) + timedelta(days=1)).isoformat()
    bad = c.post("/hazards/new", data=data | {"title": "", "description": "保留这段描述", "location": "主井",
                                              "region_code": "141102", "industry": "煤矿", "source": "inspection",
                                              "discovered_on": future})
    assert bad.status_code == 422
    assert re.search(r'id="n-title-error">此项为必填项<', bad.text) and "保留这段描述" in bad.text
    fixed = c.post("/hazards/new", data=data | {"title": "主井井口安全门失效", "description": "保留这段描述",
                                                "location": "主井", "region_code": "141102", "industry": "煤矿",
                                                "source": "inspection", "discovered_on": future})
    assert fixed.status_code == 422 and re.search(r'id="n-discovered_on-error">发现日期不能晚于今天<', fixed.text)
    assert len(_hazards(factory)) == before  # nothing written


def test_an_enterprise_reports_only_its_own_hazards(browser, factory, world, clock):
    c = browser("ent_coal")
    page, data = _new_form(c)
    assert f'value="{world.enterprises["coal"]}" readonly' in page
    assert 'value="self_check" selected' in page  # 企业自查 by default
    body = {"title": "配电室挡鼠板缺失", "description": "配电室门口未设置挡鼠板。", "location": "地面配电室",
            "region_code": "141102", "industry": "煤矿", "source": "self_check"}
    other = c.post("/hazards/new", data=data | body | {"enterprise_uscc": world.enterprises["chem"]})
    assert other.status_code == 422 and "企业用户只能报告本企业的隐患" in other.text
    ok = c.post("/hazards/new", data=data | body | {"enterprise_uscc": world.enterprises["coal"]})
    assert ok.status_code == 303
    assert browser("auditor").get("/hazards/new").status_code == 403
    assert 'href="/hazards/new"' not in browser("auditor").get("/").text
    assert c.post("/hazards/new", data=data | body | {"csrf_token": "forged"}).status_code == 403
