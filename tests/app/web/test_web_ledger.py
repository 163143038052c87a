"""The 台账 pages through the ASGI app: login, filters, sorting, paging, overdue marks, the xlsx."""

from __future__ import annotations

import re
from io import BytesIO

from openpyxl import load_workbook

from tests.conftest import START
from tests.helpers import drive, new_hazard


def _setup(factory, world, clock):
    ids = [drive(factory, world, START, "registered") for _ in range(3)]
    ids.append(drive(factory, world, START, "closed"))
    ids.append(new_hazard(factory, world, START, title="<b>未登记</b>"))
    clock.advance(days=61)  # the registered ones are now overdue
    return ids


def test_login_required(client):
    response = client.get("/ledger", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=/ledger")


def test_ledger_lists_marks_overdue_and_links(factory, world, clock, browser):
    ids = _setup(factory, world, clock)
    page = browser("supervisor").get("/ledger")
    assert page.status_code == 200
    html = page.text
    assert '<strong id="ledger-total">5</strong>' in html
    for hid in ids:
        assert f'href="/hazards/{hid}"' in html
    assert html.count('class="overdue"') == 3 and "badge-overdue" in html
    assert "&lt;b&gt;未登记&lt;/b&gt;" in html and "<b>未登记</b>" not in html
    assert '<label for="f-q">' in html and 'aria-sort="descending"' in html


def test_filters_sorting_and_pages(factory, world, clock, browser):
    _setup(factory, world, clock)
    c = browser("supervisor")
    overdue = c.get("/ledger", params={"overdue": "yes"}).text
    assert '<strong id="ledger-total">3</strong>' in overdue and overdue.count('class="overdue"') == 3
    page1 = c.get("/ledger", params={"sort": "code", "dir": "asc", "per_page": "2"}).text
    assert "第 1 / 3 页" in page1 and 'rel="next"' in page1
    codes1 = re.findall(r'href="/hazards/\d+">([^<]+)</a>', page1)
    page2 = c.get("/ledger", params={"sort": "code", "dir": "asc", "per_page": "2", "page": "2"}).text
    codes2 = re.findall(r'href="/hazards/\d+">([^<]+)</a>', page2)
    assert len(codes1) == len(codes2) == 2 and codes1 + codes2 == sorted(codes1 + codes2)
    # the code header of an ascending code sort flips to descending
    assert 'aria-sort="ascending"' in page1 and "sort=code&amp;dir=desc" in page1


def test_bad_filters_answer_400_with_field_messages(browser):
    response = browser("supervisor").get("/ledger", params={"deadline_from": "2026-02-31", "per_page": "0"})
    assert response.status_code == 400
    assert 'data-field="deadline_from"' in response.text and 'data-field="per_page"' in response.text
    assert "整改期限起应为 YYYY-MM-DD 格式的日期" in response.text


def test_xlsx_download_uses_the_same_filters(factory, world, clock, browser):
    _setup(factory, world, clock)
    c = browser("supervisor")
    response = c.get("/ledger.xlsx", params={"overdue": "yes", "per_page": "1"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(load_workbook(BytesIO(response.content)).active.iter_rows(values_only=True))
    assert len(rows) == 4 and all(r[rows[0].index("是否逾期")] == "是" for r in rows[1:])
    other = browser("xinzhou_inspector").get("/ledger.xlsx")
    assert len(list(load_workbook(BytesIO(other.content)).active.iter_rows())) == 1  # header only: scope
    assert c.get("/ledger.xlsx", params={"sort": "nope"}).status_code == 400
