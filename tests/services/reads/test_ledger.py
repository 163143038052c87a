"""The 台账 query (scope, filters, sorting, paging) and its Excel export, on both backends."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from io import BytesIO

import pytest
from openpyxl import load_workbook

from db.engine import read_only
from services.reads import ledger
from services.kernel.errors import Invalid
from tests.conftest import START
from tests.helpers import drive, new_hazard

LATER = START + timedelta(days=61)  # the registered hazards' deadline (START + 60 days) has passed


@pytest.fixture
def hazards(factory, world):
    """Five hazards of 离石区 (coal) in various states, one of 孝义市 (chemicals)."""
    ids = {
        "reported": drive(factory, world, START, "reported"),
        "registered": drive(factory, world, START, "registered"),
        "rectifying_major": drive(factory, world, START, "rectifying", level="major"),
        "closed": drive(factory, world, START, "closed"),
        "dismissed": drive(factory, world, START, "dismissed"),
        "xiaoyi": new_hazard(factory, world, START + timedelta(days=3), reporter="xiaoyi_inspector",
                             region_code="141181", industry="危险化学品", title="储罐区可燃气体报警器失效"),
    }
    return ids


def _page(factory, world, who="city_supervisor", now=LATER, **params):
    with read_only(factory) as s:
        return ledger.page(s, world.p(who), ledger.parse_query(params), now=now)


def _ids(result):
    return {row["id"] for row in result["items"]}


def test_scope_follows_the_callers_region_and_enterprise(factory, world, hazards):
    assert _ids(_page(factory, world, "city_supervisor")) == set(hazards.values())
    assert _ids(_page(factory, world, "xiaoyi_inspector")) == {hazards["xiaoyi"]}
    # the enterprise sees its registered hazards only (reported/dismissed ones have no enterprise)
    assert _ids(_page(factory, world, "ent_coal")) == {hazards[k] for k in ("registered", "rectifying_major", "closed")}
    assert _page(factory, world, "ent_chem")["total"] == 0
    assert _page(factory, world, "xinzhou_inspector")["total"] == 0


def test_overdue_is_open_past_the_deadline(factory, world, hazards):
    overdue = _page(factory, world, overdue="yes")
    assert _ids(overdue) == {hazards["registered"], hazards["rectifying_major"]}
    assert all(row["overdue"] for row in overdue["items"])
    not_overdue = _page(factory, world, overdue="no")
    assert _ids(not_overdue) == set(hazards.values()) - _ids(overdue)
    # before the deadline nothing is overdue
    assert _page(factory, world, now=START, overdue="yes")["total"] == 0


def test_filters(factory, world, hazards):
    assert _ids(_page(factory, world, state=["closed", "dismissed"])) == {hazards["closed"], hazards["dismissed"]}
    assert _ids(_page(factory, world, level="major")) == {hazards["rectifying_major"]}
    assert _ids(_page(factory, world, region="141181")) == {hazards["xiaoyi"]}
    assert _ids(_page(factory, world, industry="危险化学品")) == {hazards["xiaoyi"]}
    assert _page(factory, world, enterprise=world.enterprises["coal"].lower())["total"] == 3
    assert _ids(_page(factory, world, q="金源煤业")) == _ids(_page(factory, world, enterprise=world.enterprises["coal"]))
    assert _ids(_page(factory, world, q="报警器")) == {hazards["xiaoyi"]}
    code = _page(factory, world, region="141181")["items"][0]["code"]
    assert _ids(_page(factory, world, q=code)) == {hazards["xiaoyi"]}
    start_day = START.date()
    assert _ids(_page(factory, world, reported_from=(start_day + timedelta(days=1)).isoformat())) == {hazards["xiaoyi"]}
    assert hazards["xiaoyi"] not in _ids(_page(factory, world, reported_to=start_day.isoformat()))
    deadline = (start_day + timedelta(days=60)).isoformat()
    assert _page(factory, world, deadline_from=deadline, deadline_to=deadline)["total"] == 3  # registered ones


def test_sort_and_pages(factory, world, hazards):
    first = _page(factory, world, sort="code", dir="asc", per_page=2)
    assert first["total"] == 6 and first["pages"] == 3 and len(first["items"]) == 2
    codes = [r["code"] for p in (1, 2, 3)
             for r in _page(factory, world, sort="code", dir="asc", per_page=2, page=p)["items"]]
    assert codes == sorted(codes) and len(set(codes)) == 6
    desc = [r["code"] for r in _page(factory, world, sort="code", dir="desc", per_page=10)["items"]]
    assert desc == sorted(codes, reverse=True)
    by_deadline = [r["deadline"] for r in _page(factory, world, sort="deadline", dir="asc")["items"]]
    assert by_deadline[-1] is None and by_deadline[0] is not None  # no deadline: last
    first_rows = _page(factory, world, sort="code", dir="asc", overdue_first="1")["items"]
    assert [r["overdue"] for r in first_rows][:2] == [True, True] and not any(r["overdue"] for r in first_rows[2:])
    levels = [r["level"] for r in _page(factory, world, sort="level", dir="desc")["items"]]
    assert levels[0] == "major"
    assert _page(factory, world, page=99, per_page=5)["page"] == 2  # beyond the end: the last page


def test_bad_parameters_are_all_reported_in_chinese():
    with pytest.raises(Invalid) as exc:
        ledger.parse_query({"state": "open", "level": "huge", "overdue": "maybe", "reported_from": "2026-13-01",
                            "deadline_from": "2026-12-01", "deadline_to": "2026-11-01", "sort": "x",
                            "page": "0", "per_page": "1000"})
    fields = {d["field"] for d in exc.value.details}
    assert fields == {"state", "level", "overdue", "reported_from", "deadline_to", "sort", "page", "per_page"}
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in d["message"]) for d in exc.value.details)


def test_export_round_trip(factory, world, hazards):
    query = ledger.parse_query({"state": ["registered", "rectifying", "closed", "reported"], "per_page": "1"})
    with read_only(factory) as s:
        content = ledger.export_xlsx(s, world.p("city_supervisor"), query, now=LATER)
        expected = ledger.page(s, world.p("city_supervisor"), query, now=LATER)["total"]
    sheet = load_workbook(BytesIO(content)).active
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    assert header[:4] == ("隐患编号", "隐患名称", "隐患描述", "隐患地点") and "是否逾期" in header
    assert len(rows) - 1 == expected == 5  # every page, not just the first
    assert sheet.freeze_panes == "A2"
    col = {h: i for i, h in enumerate(header)}
    overdue_codes = {r[col["隐患编号"]] for r in rows[1:] if r[col["是否逾期"]] == "是"}
    with read_only(factory) as s:
        want = {r["code"] for r in ledger.page(s, world.p("city_supervisor"), ledger.parse_query({"overdue": "yes"}),
                                                 now=LATER)["items"]}
    assert overdue_codes == want and len(want) == 2
    deadline_cell = sheet.cell(row=2, column=col["发现日期"] + 1)
    assert isinstance(deadline_cell.value, datetime) and deadline_cell.value.date() <= date(2026, 11, 27)
    overdue_row = next(i for i, r in enumerate(rows[1:], start=2) if r[col["是否逾期"]] == "是")
    assert sheet.cell(row=overdue_row, column=1).fill.fgColor.rgb.endswith("F8CBAD")
    assert sheet.cell(row=1, column=1).font.bold
