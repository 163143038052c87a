"""The 审计 page: auditors and admins only; the chain check and a hazard's trail by code."""

from __future__ import annotations

from sqlalchemy import select, text

from db.engine import read_only, transaction
from db.models import Hazard
from tests.conftest import START
from tests.helpers import drive, new_hazard


def _code(factory, hazard_id):
    with read_only(factory) as s:
        return s.execute(select(Hazard.code).where(Hazard.id == hazard_id)).scalar_one()


def test_other_roles_get_403(browser):
    for who in ("supervisor", "inspector", "ent_coal", "city_committee"):
        response = browser(who).get("/audit")
        assert response.status_code == 403 and "无权访问" in response.text


def test_auditor_sees_verification_and_trail(factory, world, browser):
    hid = drive(factory, world, START, "registered")
    c = browser("auditor")
    page = c.get("/audit")
    assert page.status_code == 200 and "审计链完整：校验了 1 条隐患的 2 个事件" in page.text
    trail = c.get("/audit", params={"code": _code(factory, hid).lower()})
    assert trail.status_code == 200
    assert "报告隐患" in trail.text and "登记" in trail.text and f'href="/hazards/{hid}"' in trail.text
    assert trail.text.count("<tr>") >= 3  # header + two events


def test_unknown_or_out_of_scope_code_reads_the_same(factory, world, browser):
    other = new_hazard(factory, world, START, reporter="xinzhou_inspector", region_code="140902", industry="燃气")
    c = browser("auditor")  # bound to 吕梁市 (141100)
    hidden = c.get("/audit", params={"code": _code(factory, other)})
    missing = c.get("/audit", params={"code": "141102-2099-999999"})
    assert hidden.status_code == missing.status_code == 404
    assert "隐患不存在或不在您的管辖范围内" in hidden.text and "隐患不存在或不在您的管辖范围内" in missing.text


def test_tampering_is_reported(factory, world, browser, backend):
    hid = drive(factory, world, START, "registered")
    with transaction(factory) as s:
        if backend == "postgresql":
            s.execute(text("SET LOCAL session_replication_role = replica"))  # bypass the append-only trigger
        s.execute(text("UPDATE audit_events SET payload = '{}' WHERE hazard_id = :h AND seq = 2"), {"h": hid})
    page = browser("admin").get("/audit")
    assert page.status_code == 200 and "审计链校验失败" in page.text and _code(factory, hid) in page.text


def test_recent_events_in_scope_filtered_by_who_and_what(factory, world, browser):
    mine = drive(factory, world, START, "registered")  # report and register by `inspector`
    other = new_hazard(factory, world, START, reporter="xinzhou_inspector", region_code="140902", industry="燃气")
    c = browser("auditor")  # 吕梁市: the 忻州 hazard is not theirs to see
    table = lambda html: html[html.index('id="recent-events"'):html.index("</table>", html.index('id="recent-events"'))]  # noqa: E731
    recent = table(c.get("/audit").text)
    assert _code(factory, mine) in recent and _code(factory, other) not in recent
    assert recent.index("登记（限期整改）") < recent.index("报告隐患")  # newest first
    only = table(c.get("/audit", params={"action": "register"}).text)
    assert "登记（限期整改）" in only and "报告隐患" not in only
    by_name = table(c.get("/audit", params={"actor": "ent_"}).text)
    assert "没有符合条件的记录" in by_name  # nobody of an enterprise acted yet
    assert _code(factory, mine) in table(c.get("/audit", params={"actor": "inspector"}).text)
