"""The admin's pages (issue 11 item 5) through the ASGI app: users and enterprises listed, searched,
paged, added, disabled and enabled, a password reset; every change a POST with the CSRF token;
only admins, and only within their region subtree; hostile input answered in Chinese, never 500."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from db.engine import UnitOfWork, read_only, transaction
from db.models import Enterprise, User
from services.accounts import manage as accounts, admin
from services.kernel.uscc import make
from tests.conftest import START
from tests.helpers import report_body
from tests.app.web.conftest import PASSWORD, csrf_of, login

NON_ADMINS = ("ent_coal", "inspector", "supervisor", "county_committee", "auditor")


def _user_id(factory, username: str) -> int:
    with read_only(factory) as s:
        return s.execute(select(User.id).where(User.username == username)).scalar_one()


def _enterprise(factory, uscc: str) -> Enterprise:
    with read_only(factory) as s:
        ent = s.execute(select(Enterprise).where(Enterprise.uscc == uscc)).scalar_one()
        s.expunge(ent)
        return ent


def _password_on(html: str) -> str:
    found = re.search(r'id="one-time-password">([^<]+)<', html)
    assert found, html
    return found.group(1)


def _post(client, path: str, data: dict, page: str = "/admin/users"):
    token = csrf_of(client.get(page).text)
    return client.post(path, data={"csrf_token": token, **data})


def test_only_admins_reach_the_admin_pages(browser, factory, world):
    target = _user_id(factory, "inspector2")
    ent = _enterprise(factory, world.enterprises["coal"]).id
    anonymous = browser()
    answer = anonymous.get("/admin/users")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=/admin/users")
    for name in NON_ADMINS:
        client = browser(name)
        assert 'href="/admin"' not in client.get("/").text  # no link in the navigation
        for path in ("/admin", "/admin/users", "/admin/users/new", f"/admin/users/{target}", "/admin/enterprises",
                     "/admin/enterprises/new"):
            page = client.get(path)
            assert page.status_code == 403 and "仅向管理员开放" in page.text, (name, path)
        token = csrf_of(client.get("/").text)
        for path, data in ((f"/admin/users/{target}/active", {"active": "0"}),
                           (f"/admin/users/{target}/password", {}),
                           ("/admin/users/new", {"username": "x_new", "role": "admin", "region_code": "140000"}),
                           (f"/admin/enterprises/{ent}/active", {"active": "0"}),
                           ("/admin/enterprises/new", {"uscc": make("91141102MA0WEB001")})):
            assert client.post(path, data={"csrf_token": token, **data}).status_code == 403, (name, path)
    with read_only(factory) as s:
        assert s.get(User, target).active and s.get(User, target).password_hash is not None
        assert s.execute(select(User).where(User.username == "x_new")).scalar_one_or_none() is None
        assert s.get(Enterprise, ent).active
    admin_page = browser("admin").get("/")
    assert 'href="/admin"' in admin_page.text and ">管理<" in admin_page.text


def test_users_are_listed_searched_and_paged(browser, monkeypatch):
    monkeypatch.setattr(accounts, "PER_PAGE", 4)
    client = browser("admin")
    page = client.get("/admin/users")
    assert page.status_code == 200 and 'id="users-total">15<' in page.text and "第 1 / 4 页" in page.text
    assert client.get("/admin/users?page=4").text.count('href="/admin/users/') >= 3
    assert "第 4 / 4 页" in client.get("/admin/users?page=99").text  # past the end: the last page
    found = client.get("/admin/users?q=committee").text
    assert 'id="users-total">4<' in found and "city_committee2" in found
    assert 'id="users-total">2<' in client.get("/admin/users?role=enterprise").text
    for hostile in ("?page=-1", "?page=%C2%B2", "?role=root", "?q=" + "长" * 500, "?q=%25_%5C"):
        assert client.get("/admin/users" + hostile).status_code == 200, hostile
    assert client.get("/admin/users?q=%00%1b").status_code == 422  # the input guard's answer, never a 500


def test_an_admin_adds_a_user_who_then_signs_in(browser, factory, world):
    client = browser("admin")
    form = client.get("/admin/users/new").text
    assert 'name="csrf_token"' in form and '<option value="system"' not in form
    answer = _post(client, "/admin/users/new", {"username": "li.ming", "display_name": "李明", "role": "inspector",
                                                "region_code": "141102", "industry": "煤矿", "password": ""},
                   page="/admin/users/new")
    assert answer.status_code == 200 and "只显示这一次" in answer.text
    password = _password_on(answer.text)
    assert len(password) == 14 and answer.headers["cache-control"] == "no-store"
    newcomer = browser()
    assert login(newcomer, "li.ming", password).status_code == 303
    assert "李明" in newcomer.get("/").text
    with read_only(factory) as s:
        user = s.execute(select(User).where(User.username == "li.ming")).scalar_one()
        assert (user.role, user.region_code, user.industry, user.active) == ("inspector", "141102", "煤矿", True)

    typed = _post(client, "/admin/users/new", {"username": "ent_new", "role": "enterprise", "region_code": "141102",
                                               "enterprise_uscc": world.enterprises["coal"], "password": "a-long-pass"},
                  page="/admin/users/new")
    assert typed.status_code == 200 and _password_on(typed.text) == "a-long-pass"


@pytest.mark.parametrize("data,field,message", [
    ({"username": "张三"}, "username", "英文字母"),
    ({"username": "inspector"}, "username", "已存在"),
    ({"role": "system"}, "role", "命令行"),
    ({"role": ""}, "role", "请选择角色"),
    ({"role": "enterprise"}, "enterprise_uscc", "所属企业"),
    ({"enterprise_uscc": "91141102MA0HRD001T", "role": "inspector"}, "enterprise_uscc", "只有企业用户"),
    ({"password": "short"}, "password", "至少 8 位"),
    ({"region_code": "149999"}, "region_code", "不存在"),
    ({"region_code": "999999"}, "region_code", "本辖区"),
    ({"email": "not-an-address"}, "email", "电子邮箱"),
    ({"display_name": "名" * 300}, "display_name", "最多"),
    ({"username": "x" * 500}, "username", "64"),
    ({"display_name": "控制\x1b字符"}, "display_name", "控制字符"),
])
def test_adding_a_user_refuses_with_a_message_per_field(browser, factory, data, field, message):
    client = browser("admin")
    base = {"username": "new_user", "role": "inspector", "region_code": "141102", "password": ""}
    answer = _post(client, "/admin/users/new", {**base, **data}, page="/admin/users/new")
    assert answer.status_code == 422, answer.text
    error = re.search(rf'id="nu-{field}-error">([^<]+)<', answer.text)
    assert error and message in error.group(1), (field, answer.text[-2000:])
    assert 'name="password"' in answer.text and "a-long" not in answer.text
    with read_only(factory) as s:
        assert s.execute(select(User).where(User.username == base["username"])).scalar_one_or_none() is None


def test_disable_enable_and_reset_a_password(browser, factory, world, client):
    target = _user_id(factory, "inspector2")
    admin_client = browser("admin")
    victim = browser("inspector2")
    assert victim.get("/").status_code == 200
    page = admin_client.get(f"/admin/users/{target}").text
    assert "停用该用户" in page and "重置密码" in page

    answer = _post(admin_client, f"/admin/users/{target}/active", {"active": "0"})
    assert answer.status_code == 303
    assert "已停用用户 inspector2" in admin_client.get(answer.headers["location"]).text
    assert victim.get("/").status_code == 303  # the session ended
    assert client.get("/api/v1/hazards", headers=world.auth("inspector2")).status_code == 401  # tokens revoked
    assert login(browser(), "inspector2").status_code != 303
    assert _post(admin_client, f"/admin/users/{target}/active", {"active": "1"}).status_code == 303
    assert login(browser(), "inspector2").status_code == 303

    signed_in = browser("inspector2")
    reset = _post(admin_client, f"/admin/users/{target}/password", {"password": ""})
    new_password = _password_on(reset.text)
    assert reset.status_code == 200 and "已重置密码" in reset.text
    assert signed_in.get("/").status_code == 303  # sessions end with a reset
    assert login(browser(), "inspector2", PASSWORD).status_code != 303
    assert login(browser(), "inspector2", new_password).status_code == 303
    short = _post(admin_client, f"/admin/users/{target}/password", {"password": "1234"})
    assert short.status_code == 422 and "至少 8 位" in short.text
    chosen = _post(admin_client, f"/admin/users/{target}/password", {"password": "chosen-by-admin"})
    assert _password_on(chosen.text) == "chosen-by-admin"

    me = _user_id(factory, "admin")
    assert "不能停用自己的账号" in admin_client.get(f"/admin/users/{me}").text
    refused = _post(admin_client, f"/admin/users/{me}/active", {"active": "0"})
    assert refused.status_code == 409 and "不能停用自己的账号" in refused.text
    for bad in ("abc", "0", "99999999999999999999", "²"):
        assert admin_client.get(f"/admin/users/{bad}").status_code == 404
    assert _post(admin_client, "/admin/users/999999/active", {"active": "0"}).status_code == 404


def test_forms_without_the_csrf_token_are_refused(browser, factory):
    client = browser("admin")
    target = _user_id(factory, "inspector2")
    for path, data in ((f"/admin/users/{target}/active", {"active": "0"}),
                       (f"/admin/users/{target}/password", {}),
                       ("/admin/enterprises/new", {}), ("/admin/users/new", {})):
        assert client.post(path, data={**data, "csrf_token": "forged"}).status_code == 403
        assert client.post(path, data=data).status_code == 403
    with read_only(factory) as s:
        assert s.get(User, target).active


def test_an_admin_sees_and_changes_only_its_own_region(browser, factory, world):
    with transaction(factory) as s:
        admin.add_user(s, "xinzhou_admin", "admin", "140900", now=START, password=PASSWORD)
    client = browser("xinzhou_admin")
    listed = client.get("/admin/users").text
    assert "xinzhou_inspector" in listed and "inspector2" not in listed and 'id="users-total">2<' in listed
    target = _user_id(factory, "inspector2")
    assert client.get(f"/admin/users/{target}").status_code == 404
    assert _post(client, f"/admin/users/{target}/password", {}).status_code == 404
    assert _post(client, f"/admin/users/{target}/active", {"active": "0"}).status_code == 404
    coal = _enterprise(factory, world.enterprises["coal"])
    assert world.enterprises["coal"] not in client.get("/admin/enterprises").text
    assert _post(client, f"/admin/enterprises/{coal.id}/active", {"active": "0"}).status_code == 404
    above = _post(client, "/admin/users/new", {"username": "province_boss", "role": "admin", "region_code": "140000"},
                  page="/admin/users/new")
    assert above.status_code == 422 and "只能在本辖区内添加用户" in above.text
    foreign = _post(client, "/admin/users/new", {"username": "foreign_ent", "role": "enterprise",
                                                 "region_code": "140902", "enterprise_uscc": world.enterprises["coal"]},
                    page="/admin/users/new")
    assert foreign.status_code == 422 and "本辖区内的企业" in foreign.text
    with read_only(factory) as s:
        assert s.get(User, target).active and s.get(Enterprise, coal.id).active


def test_enterprises_added_searched_disabled_and_enabled(browser, factory, world):
    client = browser("admin")
    assert 'id="enterprises-total">3<' in client.get("/admin/enterprises").text
    code = make("91141102MA0WEB002")
    bad = _post(client, "/admin/enterprises/new", {"uscc": code[:-1] + ("0" if code[-1] != "0" else "1"),
                                                   "name": "离石区网页煤业有限公司", "region_code": "141102",
                                                   "industry": "煤矿"}, page="/admin/enterprises/new")
    assert bad.status_code == 422 and re.search(r'id="ne-uscc-error">[^<]*校验位', bad.text)
    missing = _post(client, "/admin/enterprises/new", {"uscc": "", "name": "", "region_code": "", "industry": "挖矿"},
                    page="/admin/enterprises/new")
    assert missing.status_code == 422 and all(f'id="ne-{f}-error"' in missing.text
                                              for f in ("uscc", "name", "region_code", "industry"))
    added = _post(client, "/admin/enterprises/new", {"uscc": code.lower(), "name": "离石区网页煤业有限公司",
                                                     "region_code": "141102", "industry": "煤矿"},
                  page="/admin/enterprises/new")
    assert added.status_code == 303
    assert "已添加企业 离石区网页煤业有限公司" in client.get(added.headers["location"]).text
    again = _post(client, "/admin/enterprises/new", {"uscc": code, "name": "重复", "region_code": "141102",
                                                     "industry": "煤矿"}, page="/admin/enterprises/new")
    assert again.status_code == 422 and "已存在" in again.text
    found = client.get("/admin/enterprises?q=网页").text
    assert 'id="enterprises-total">1<' in found and code in found

    coal = _enterprise(factory, world.enterprises["coal"])
    answer = _post(client, f"/admin/enterprises/{coal.id}/active",
                   {"active": "0", "back": "/admin/enterprises?q=%E7%85%A4&page=1"}, page="/admin/enterprises")
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/enterprises?q=%E7%85%A4&page=1"
    assert not _enterprise(factory, world.enterprises["coal"]).active
    assert 'id="enterprises-total">1<' in client.get("/admin/enterprises?active=no").text
    # a disabled enterprise takes no new hazard: the enterprise's own form says why
    ent_client = browser("ent_coal")
    form = ent_client.get("/hazards/new").text
    refused = ent_client.post("/hazards/new", data={**report_body(), "enterprise_uscc": world.enterprises["coal"],
                                                     "form_key": "web-admin-test-1", "csrf_token": csrf_of(form)})
    assert refused.status_code == 422 and "已停用" in refused.text
    inspector = browser("inspector")
    assert world.enterprises["coal"] not in inspector.get("/hazards/new").text  # not offered any more
    outside = _post(client, f"/admin/enterprises/{coal.id}/active", {"active": "1", "back": "https://evil.example/"},
                    page="/admin/enterprises")
    assert outside.headers["location"] == "/admin/enterprises"
    assert _enterprise(factory, world.enterprises["coal"]).active


def test_an_imported_hazards_page_shows_where_its_history_began(browser, factory, world):
    from services.imports import ledger as ledger_import
    from tests.services.imports.test_ledger_import_running import rectifying, xlsx

    report = ledger_import.run(UnitOfWork(factory), xlsx([rectifying(world)]), "inspector", now=START, filename="离石区台账.xlsx")
    assert report.committed
    with read_only(factory) as s:
        from db.models import Hazard

        hid = s.execute(select(Hazard.id).where(Hazard.code == report.imported[0]["code"])).scalar_one()
    page = browser("inspector").get(f"/hazards/{hid}")
    assert page.status_code == 200
    trail = page.text[page.text.index('id="trail-heading"'):]
    assert "台账导入" in trail and "离石区台账.xlsx" in trail and "2026年隐患台账" in trail and "整改中" in trail
    assert "行号" in trail and "张建国" in trail
    assert "/actions/report_progress" in browser("ent_coal").get(f"/hazards/{hid}").text  # the enterprise goes on
