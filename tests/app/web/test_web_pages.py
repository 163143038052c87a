"""The everyday pages through the ASGI app: 待办 and 消息, the layout, the favicon. The hazard page
and its forms are test_web_hazard_page.py; the public and signed-in report forms,
test_web_report_forms.py."""

from __future__ import annotations

import re
from datetime import timedelta

from db.engine import read_only, transaction
from sqlalchemy import select

from db.models import Hazard
from services.engine import transitions
from services.kernel.clock import local_date
from tests.helpers import body_for, drive, new_hazard
from tests.app.web.conftest import csrf_of


def _code(factory, hid: int) -> str:
    with read_only(factory) as s:
        return s.get(Hazard, hid).code


def _register(factory, world, now, hid: int, days: int) -> None:
    body = body_for("register", today=local_date(now), level="general", uscc=world.enterprises["coal"])
    body["deadline"] = (local_date(now) + timedelta(days=days)).isoformat()
    with transaction(factory) as s:
        transitions.perform(s, world.p("inspector"), hid, "register", body, now=now)


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


def test_layout_basics(browser):
    c = browser("auditor")
    html = c.get("/").text
    assert '<a class="skip-link" href="#main">' in html and '<main id="main"' in html
    assert 'href="/audit"' in html  # auditors see 审计
    assert 'href="/audit"' not in browser("inspector").get("/").text
    css = c.get("/static/app.css")
    assert css.status_code == 200 and ":focus-visible" in css.text and "@media (max-width: 600px)" in css.text


def test_favicon_is_served_and_linked(client):
    """Every browser asks for /favicon.ico (issue 11 item 6): an icon, not a 404."""
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00" and b"\x89PNG" in icon.content  # an ICO holding a PNG
    assert '<link rel="icon" href="/favicon.ico">' in client.get("/login").text


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
