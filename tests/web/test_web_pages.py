"""The everyday pages through the ASGI app: 待办, the hazard page and its forms, public report."""

from __future__ import annotations

import re
from datetime import timedelta

from db.engine import read_only, transaction
from sqlalchemy import select

from db.models import Attachment, Document, Hazard
from services import documents
from services.engine import transitions
from services.kernel.clock import local_date
from tests.helpers import body_for, drive, new_hazard
from tests.web.conftest import csrf_of

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _state(factory, hid: int) -> str:
    with read_only(factory) as s:
        return s.get(Hazard, hid).state


def _code(factory, hid: int) -> str:
    with read_only(factory) as s:
        return s.get(Hazard, hid).code


def _register(factory, world, now, hid: int, days: int) -> None:
    body = body_for("register", today=local_date(now), level="general", uscc=world.enterprises["coal"])
    body["deadline"] = (local_date(now) + timedelta(days=days)).isoformat()
    with transaction(factory) as s:
        transitions.perform(s, world.p("inspector"), hid, "register", body, now=now)


def _form_version(html: str, action: str) -> str:
    block = html[html.index(f'/actions/{action}"'):]
    return re.search(r'name="version" value="(\d+)"', block).group(1)


# --- 待办 ----------------------------------------------------------------------------------------


def test_todo_lists_each_roles_hazards_overdue_first(browser, factory, world, clock):
    later = new_hazard(factory, world, clock())
    _register(factory, world, clock(), later, 60)
    soon = new_hazard(factory, world, clock())
    _register(factory, world, clock(), soon, 3)
    waiting = drive(factory, world, clock(), "reported")
    clock.advance(days=10)

    page = browser("ent_coal").get("/").text
    assert _code(factory, soon) in page and _code(factory, later) in page
    assert page.index(_code(factory, soon)) < page.index(_code(factory, later))  # overdue first
    assert "已逾期" in page and "报送整改方案" in page
    assert _code(factory, waiting) not in page  # not yet registered: nothing for the enterprise

    inspector = browser("inspector").get("/").text
    assert _code(factory, waiting) in inspector and "登记（限期整改）" in inspector
    assert _code(factory, soon) not in inspector

    other = browser("ent_chem").get("/").text
    assert "暂无待办事项" in other and _code(factory, soon) not in other


# --- the hazard page -----------------------------------------------------------------------------


def test_hazard_page_shows_facts_plan_trail_and_only_allowed_forms(browser, factory, world, clock):
    hid = drive(factory, world, clock(), "rectifying")
    ent = browser("ent_coal").get(f"/hazards/{hid}")
    assert ent.status_code == 200
    html = ent.text
    assert "主运输巷道顶板离层" in html and "井下 +450 水平主运输巷" in html
    assert "张建国" in html and "补打锚索" in html and "35.50 万元" in html and "五落实齐全" in html
    assert "报送整改方案" in html and "登记（限期整改）" in html  # the trail
    assert "剩余" in html and "个工作日" in html
    for action in ("report_progress", "request_extension", "request_acceptance", "comment"):
        assert f'/hazards/{hid}/actions/{action}"' in html
    for action in ("accept", "reject", "file_plan", "order_suspension"):
        assert f'/actions/{action}"' not in html
    assert 'for="act-request_acceptance-completed_on"' in html and 'type="date"' in html

    official = browser("inspector").get(f"/hazards/{hid}").text
    assert f'/hazards/{hid}/actions/order_suspension"' in official
    assert "/actions/request_acceptance\"" not in official

    hidden = browser("ent_chem").get(f"/hazards/{hid}")
    assert hidden.status_code == 404 and "不在您的管辖范围内" in hidden.text
    assert "张建国" not in hidden.text


def test_a_report_shows_its_registration_due_date_as_todo_does(browser, factory, world, clock):
    hid = new_hazard(factory, world, clock())  # reported on Tuesday 2026-11-24: due in 3 working days
    html = browser("inspector2").get(f"/hazards/{hid}").text
    assert 'id="registration-due"' in html and "2026年11月27日" in html and "剩余 3 个工作日" in html
    todo = browser("inspector2").get("/").text
    assert "登记期限" in todo and "2026年11月27日" in todo
    clock.advance(days=7)  # the following Tuesday: two working days late
    late = browser("inspector2").get(f"/hazards/{hid}").text
    assert "已逾期 2 个工作日" in late
    registered = drive(factory, world, clock(), "registered")
    assert 'id="registration-due"' not in browser("inspector2").get(f"/hazards/{registered}").text


def test_too_late_for_an_extension_the_form_is_gone_and_the_reason_said(browser, factory, world, clock):
    hid = drive(factory, world, clock(), "rectifying")  # deadline today + 60 calendar days
    clock.advance(days=50)  # fewer than 15 working days left
    html = browser("ent_coal").get(f"/hazards/{hid}").text
    assert f'/hazards/{hid}/actions/request_extension"' not in html
    assert "延期申请须在整改期限届满 15 个工作日前提出" in html and "前（含当日）提出，现已超过" in html
    assert f'/hazards/{hid}/actions/report_progress"' in html  # the rest stays


def test_the_trail_names_values_and_issued_documents_in_chinese(browser, factory, world, clock):
    hid = drive(factory, world, clock(), "supervised", level="major")
    issued = documents.issue_pending(factory, now=clock(), limit=10)
    assert issued.issued == 2  # 限期整改通知书 (register) and 挂牌督办通知书 (supervise)
    with read_only(factory) as s:
        numbers = dict(s.execute(select(Document.kind, Document.number).where(Document.hazard_id == hid)).all())
    html = browser("city_committee").get(f"/hazards/{hid}").text
    trail = html[html.index('id="trail-heading"'):]
    assert "<dd>重大隐患</dd>" in trail and "<dd>市级</dd>" in trail  # not `major`, `city`
    assert "<dd>major</dd>" not in trail and "<dd>city</dd>" not in trail
    assert trail.count("签发文书") == 2
    assert f"挂牌督办通知书（{numbers['listing_notice']}）" in trail
    assert f"限期整改通知书（{numbers['rectification_notice']}）" in trail
    assert re.search(r"<dt>整改期限</dt><dd>\d{4}年\d{1,2}月\d{1,2}日</dd>", trail)


def test_submitting_a_form_performs_the_action(browser, factory, world, clock):
    hid = drive(factory, world, clock(), "reported")
    c = browser("inspector")
    page = c.get(f"/hazards/{hid}").text
    deadline = (local_date(clock()) + timedelta(days=30)).isoformat()
    response = c.post(f"/hazards/{hid}/actions/register", data={
        "csrf_token": csrf_of(page), "version": _form_version(page, "register"), "level": "general",
        "enterprise_uscc": world.enterprises["coal"], "deadline": deadline, "category": "顶板管理"})
    assert response.status_code == 303 and response.headers["location"] == f"/hazards/{hid}"
    assert _state(factory, hid) == "registered"
    after = c.get(f"/hazards/{hid}").text
    assert "已完成：登记（限期整改）" in after
    assert "已完成" not in c.get(f"/hazards/{hid}").text  # a flash shows once


def test_validation_error_is_shown_at_the_field_and_input_kept(browser, factory, world, clock):
    hid = drive(factory, world, clock(), "reported")
    c = browser("inspector")
    page = c.get(f"/hazards/{hid}").text
    response = c.post(f"/hazards/{hid}/actions/register", data={
        "csrf_token": csrf_of(page), "version": _form_version(page, "register"), "level": "general",
        "enterprise_uscc": world.enterprises["coal"], "deadline": "", "category": "井下<通风>"})
    assert response.status_code == 422
    html = response.text
    error = re.search(r'id="act-register-deadline-error">([^<]*)<', html)
    assert error and error.group(1) == "此项为必填项"
    assert 'value="井下&lt;通风&gt;"' in html  # kept, and escaped
    assert "act-register\" open" in html
    assert _state(factory, hid) == "reported"


def test_four_eyes_refusal_is_explained_and_enforced(browser, factory, world, clock):
    hid = new_hazard(factory, world, clock(), reporter="inspector")
    c = browser("inspector")
    page = c.get(f"/hazards/{hid}").text
    assert "/actions/dismiss\"" not in page
    assert "不予立案须由报告人以外的人员决定（四眼原则）" in page
    response = c.post(f"/hazards/{hid}/actions/dismiss", data={
        "csrf_token": csrf_of(page), "version": "1", "reason": "经核查不构成隐患"})
    assert response.status_code == 403
    assert "四眼原则" in response.text
    assert _state(factory, hid) == "reported"


def test_a_stale_form_is_refused(browser, factory, world, clock):
    hid = drive(factory, world, clock(), "rectifying")
    c = browser("ent_coal")
    page = c.get(f"/hazards/{hid}").text
    with transaction(factory) as s:
        transitions.perform(s, world.p("inspector"), hid, "comment", {"text": "请加快进度"}, now=clock())
    response = c.post(f"/hazards/{hid}/actions/report_progress", data={
        "csrf_token": csrf_of(page), "version": _form_version(page, "report_progress"), "note": "已完成一半"})
    assert response.status_code == 409
    assert "已被他人更新" in response.text and "已完成一半" in response.text


def test_evidence_upload_and_the_scoped_file_route(browser, factory, world, clock):
    hid = drive(factory, world, clock(), "rectifying")
    c = browser("ent_coal")
    page = c.get(f"/hazards/{hid}").text
    response = c.post(f"/hazards/{hid}/actions/report_progress",
                      data={"csrf_token": csrf_of(page), "version": _form_version(page, "report_progress"),
                            "note": "已完成一半"},
                      files=[("evidence_upload", ("现场.png", PNG, "image/png"))])
    assert response.status_code == 303, response.text
    with read_only(factory) as s:
        att_id = s.query(Attachment.id).filter_by(hazard_id=hid).scalar()
    html = c.get(f"/hazards/{hid}").text
    assert f'<img src="/hazards/{hid}/attachments/{att_id}"' in html
    assert "<dt>整改证据</dt><dd>现场.png</dd>" in html  # the trail names the file it refers to
    served = c.get(f"/hazards/{hid}/attachments/{att_id}")
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["content-type"] == "image/png"
    assert browser("ent_chem").get(f"/hazards/{hid}/attachments/{att_id}").status_code == 404
    other = drive(factory, world, clock(), "rectifying")
    assert c.get(f"/hazards/{other}/attachments/{att_id}").status_code == 404  # not that hazard's file


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


def test_the_same_form_twice_acts_once(browser, factory, world, clock):
    from sqlalchemy import func, select

    from db.models import AuditEvent

    hid = drive(factory, world, clock(), "reported")
    c = browser("inspector2")
    page = c.get(f"/hazards/{hid}").text
    data = {"csrf_token": csrf_of(page), "version": _form_version(page, "dismiss"), "reason": "经核查不构成隐患"}
    assert c.post(f"/hazards/{hid}/actions/dismiss", data=data).status_code == 303
    again = c.post(f"/hazards/{hid}/actions/dismiss", data=data)
    assert again.status_code == 409
    with read_only(factory) as s:
        dismissals = s.execute(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.hazard_id == hid, AuditEvent.action == "dismiss")).scalar_one()
    assert dismissals == 1 and _state(factory, hid) == "dismissed"


def test_layout_basics(browser):
    c = browser("auditor")
    html = c.get("/").text
    assert '<a class="skip-link" href="#main">' in html and '<main id="main"' in html
    assert 'href="/audit"' in html  # auditors see 审计
    assert 'href="/audit"' not in browser("inspector").get("/").text
    css = c.get("/static/app.css")
    assert css.status_code == 200 and ":focus-visible" in css.text and "@media (max-width: 600px)" in css.text


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


def test_favicon_is_served_and_linked(client):
    """Every browser asks for /favicon.ico (issue 11 item 6): an icon, not a 404."""
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00" and b"\x89PNG" in icon.content  # an ICO holding a PNG
    assert '<link rel="icon" href="/favicon.ico">' in client.get("/login").text


def test_a_document_issued_late_is_dated_and_shown_at_its_act(browser, factory, world, clock, client):
    hid = drive(factory, world, clock(), "registered")
    registered_on = local_date(clock())
    clock.advance(days=40)  # the outbox got to it weeks later (a long outage)
    _register_later = drive(factory, world, clock(), "registered")  # a later act on another hazard
    assert documents.issue_pending(factory, now=clock(), limit=10).issued == 2
    [doc] = client.get(f"/api/v1/hazards/{hid}/documents", headers=world.auth("inspector")).json()
    assert doc["dated"] == registered_on.isoformat() and doc["issued_at"].startswith(local_date(clock()).isoformat())
    html = client.get(f"/api/v1/documents/{doc['id']}?format=html", headers=world.auth("inspector")).text
    assert f"{registered_on.year}年{registered_on.month}月{registered_on.day}日" in html
    page = browser("inspector").get(f"/hazards/{hid}").text
    trail = page[page.index('id="trail-heading"'):]
    items = trail.split("<li>")[1:]
    [registered] = [i for i in items if "登记（限期整改）" in i]
    assert f"限期整改通知书（{doc['number']}）" in registered and "成文日期" in registered  # at its act
    assert sum("签发文书" in i for i in items) == 1  # once, under the act, not as a later line of its own
    assert _register_later != hid


def test_todo_says_how_many_more_messages_and_the_messages_page_pages_them(browser, factory, world, clock):
    from db.models import InboxItem

    me = world.p("ent_coal").id
    with transaction(factory) as s:
        for i in range(75):
            s.add(InboxItem(user_id=me, hazard_id=None, kind="message", title=f"消息{i:02d}", body=f"第{i}条\n第二行",
                            dedupe_key=f"test:{i}", created_at=clock() + timedelta(minutes=i)))
    web = browser("ent_coal")
    todo = web.get("/").text
    assert "还有 55 条较早的消息" in todo and 'href="/messages"' in todo
    page = web.get("/messages").text
    assert "共 75 条，未读 75 条" in page and "消息74" in page and "消息25" in page and "消息24" not in page
    assert "第74条<br>第二行" in page
    older = re.search(r'href="/messages\?cursor=([^"]+)"', page).group(1)
    rest = web.get(f"/messages?cursor={older}").text
    assert "消息24" in rest and "消息00" in rest and "消息25" not in rest and "更早的消息" not in rest
    assert web.get("/messages?cursor=not-a-cursor").status_code == 303
    token = csrf_of(page)
    with read_only(factory) as s:
        first = s.execute(select(InboxItem.id).where(InboxItem.title == "消息74")).scalar_one()
    assert web.post(f"/messages/{first}/read", data={"csrf_token": "wrong"}).status_code == 403
    assert web.post(f"/messages/{first}/read", data={"csrf_token": token}).status_code == 303
    assert "共 75 条，未读 74 条" in web.get("/messages").text
    other = browser("inspector")
    assert other.post(f"/messages/{first}/read", data={"csrf_token": csrf_of(other.get("/").text)}).status_code == 404
    done = web.post("/messages/read", data={"csrf_token": token, "back": "https://evil.example/"})
    assert done.status_code == 303 and done.headers["location"] == "/messages"
    assert "未读 0 条" in web.get("/messages").text
    assert web.post("/messages/read", data={"csrf_token": token}).status_code == 303  # again: nothing to mark
