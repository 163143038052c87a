"""The admin pages in a real headless Chromium (issue 11 item 5): the admin finds 管理 in the
navigation, adds an inspector through the form, hands over the one-time password, the inspector
signs in with it in a window of their own, the admin disables the account and the inspector's
next click lands on the login page; then the admin disables an enterprise from the list. Every
page is screenshotted at desktop and phone width (no sideways scrolling, every control labelled).
SQLite only, as the other browser tests."""

from __future__ import annotations


import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from db.engine import read_only
from db.models import Enterprise
from tests.app.web.browser_support import browsers, chromium, db_url, live_server  # noqa: F401 (fixtures)


def test_admin_adds_disables_and_manages_enterprises(browsers, factory, world):
    boss = browsers.login("admin")
    page = boss.go("/")
    page.click(".site-nav a:has-text('管理')")
    expect(page).to_have_url(boss.base + "/admin/users")
    expect(page.locator("#users-total")).to_have_text("15")
    boss.shot("admin-users")

    page.click("a:has-text('添加用户')")
    boss.shot("admin-user-new")
    page.fill("#nu-username", "wang.inspector")
    page.fill("#nu-display_name", "王检查")
    page.select_option("#nu-role", "inspector")
    page.select_option("#nu-region_code", "141102")
    page.click("button:has-text('添加用户')")
    expect(page.locator("h1")).to_have_text("已添加用户")
    password = page.locator("#one-time-password").inner_text().strip()
    assert len(password) == 14
    boss.shot("admin-user-password")

    newcomer = browsers.anonymous("wang")
    newcomer.go("/login")
    newcomer.page.fill("#username", "wang.inspector")
    newcomer.page.fill("#password", password)
    newcomer.page.click("button[type=submit]:has-text('登录')")
    expect(newcomer.page.locator(".who")).to_contain_text("王检查")
    expect(newcomer.page.locator(".site-nav")).not_to_contain_text("管理")

    page.click("a:has-text('返回用户 wang.inspector')")
    page.click("#toggle-user")
    expect(page.locator(".flash")).to_contain_text("已停用用户 wang.inspector")
    expect(page.locator("#user-state")).to_contain_text("已停用")
    boss.shot("admin-user-disabled")
    newcomer.go("/ledger")
    expect(newcomer.page).to_have_url(f"{boss.base}/login?next=/ledger")

    page.click(".admin-tabs a:has-text('企业管理')")
    expect(page.locator("#enterprises-total")).to_have_text("3")
    page.fill("#e-q", "金源")
    page.click("form.inline-form button:has-text('查询')")
    expect(page.locator("#enterprises-total")).to_have_text("1")
    page.click("button[aria-label='停用离石区金源煤业有限公司']")
    expect(page.locator(".flash")).to_contain_text("已停用企业 离石区金源煤业有限公司")
    expect(page.locator("#e-q")).to_have_value("金源")  # back on the same search
    boss.shot("admin-enterprises")
    with read_only(factory) as s:
        assert not s.execute(select(Enterprise.active).where(Enterprise.uscc == world.enterprises["coal"])).scalar_one()
