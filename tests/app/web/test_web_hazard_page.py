"""The hazard page through the ASGI app: its facts, trail and documents, only the forms the caller
may use (and why not, when not), and those forms performing the action, refused when stale, with
errors at the field, evidence uploads and the scoped file route."""

from __future__ import annotations

import re
from datetime import timedelta

from db.engine import UnitOfWork, read_only, transaction
from sqlalchemy import select

from db.models import Attachment, Document, Hazard
from services import documents
from services.engine import transitions
from services.kernel.clock import local_date
from tests.helpers import drive, new_hazard
from tests.app.web.conftest import csrf_of

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _state(factory, hid: int) -> str:
    with read_only(factory) as s:
        return s.get(Hazard, hid).state


def _form_version(html: str, action: str) -> str:
    block = html[html.index(f'/actions/{action}"'):]
    return re.search(r'name="version" value="(\d+)"', block).group(1)


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
    issued = documents.issue_pending(UnitOfWork(factory), now=clock(), limit=10)
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


def test_a_refusal_after_the_action_began_writing_leaves_nothing_behind(browser, factory, world, clock,
                                                                        monkeypatch):
    """The form runs in the request's unit of work (`Db`, committed when the route returns), so a
    refusal it shows must be undone by its savepoint: here one raised after `transitions.perform`
    wrote the hazard, its event and its outbox rows."""
    from sqlalchemy import func

    from db.models import AuditEvent, OutboxMessage
    from services.kernel.errors import Conflict

    real_perform = transitions.perform

    def perform_then_refuse(session, *args, **kwargs):
        real_perform(session, *args, **kwargs)
        raise Conflict("迟到的拒绝：写入之后才发现的冲突", code="late_refusal")

    def counts():
        with read_only(factory) as s:
            hazard = s.get(Hazard, hid)
            return (hazard.state, hazard.version,
                    s.execute(select(func.count()).select_from(AuditEvent).where(AuditEvent.hazard_id == hid)).scalar_one(),
                    s.execute(select(func.count()).select_from(OutboxMessage)).scalar_one())

    hid = drive(factory, world, clock(), "reported")
    before = counts()
    c = browser("inspector")
    page = c.get(f"/hazards/{hid}").text
    monkeypatch.setattr(transitions, "perform", perform_then_refuse)
    deadline = (local_date(clock()) + timedelta(days=30)).isoformat()
    response = c.post(f"/hazards/{hid}/actions/register", data={
        "csrf_token": csrf_of(page), "version": _form_version(page, "register"), "level": "general",
        "enterprise_uscc": world.enterprises["coal"], "deadline": deadline, "category": "顶板管理"})
    assert counts() == before and before[0] == "reported"  # no state, version, event or outbox row left
    assert response.status_code == 409
    assert "迟到的拒绝：写入之后才发现的冲突" in response.text  # the refusal, at the form
    assert f'/hazards/{hid}/actions/register"' in response.text  # drawn from the hazard as it still is
    monkeypatch.undo()
    assert c.post(f"/hazards/{hid}/actions/register", data={  # the same form goes through afterwards
        "csrf_token": csrf_of(page), "version": _form_version(page, "register"), "level": "general",
        "enterprise_uscc": world.enterprises["coal"], "deadline": deadline, "category": "顶板管理"}).status_code == 303
    assert _state(factory, hid) == "registered"


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


def test_a_document_issued_late_is_dated_and_shown_at_its_act(browser, factory, world, clock, client):
    hid = drive(factory, world, clock(), "registered")
    registered_on = local_date(clock())
    clock.advance(days=40)  # the outbox got to it weeks later (a long outage)
    _register_later = drive(factory, world, clock(), "registered")  # a later act on another hazard
    assert documents.issue_pending(UnitOfWork(factory), now=clock(), limit=10).issued == 2
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
