"""The 台账 export is safe with whatever old records hold: titles, descriptions, locations and
categories that start like a formula stay text (read back with openpyxl and opened in real
LibreOffice), and a control character, which the API refuses today but older rows may carry, is
replaced instead of failing the export for everyone in scope. Through `services.reads.ledger.export_xlsx`
and through the web route `/ledger.xlsx`, on both backends."""

from __future__ import annotations

from io import BytesIO

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import update

from db.engine import read_only, transaction
from db.models import Hazard
from services.reads import ledger
from services.kernel.xlsx import FORMULA_LEADS, clean_text
from tests.calc import shown
from tests.conftest import START
from tests.helpers import new_hazard
from tests.app.web.conftest import login

PAYLOADS = ["=1+1", "+1+1", "-1+1", "@SUM(1,1)", "\t=1+1", "\r=1+1", "=1+1\x01\x1b[31m"]
FIELDS = {"title": "隐患名称", "description": "隐患描述", "location": "隐患地点", "category": "隐患类别"}


@pytest.fixture
def typed(factory, world) -> dict[str, str]:
    """One hazard per payload, its four text fields set straight in the database (as old data
    would be, before the API refused control characters); hazard code → payload."""
    codes = {}
    for i, payload in enumerate(PAYLOADS):
        hid = new_hazard(factory, world, START)
        with transaction(factory) as s:
            s.execute(update(Hazard).where(Hazard.id == hid).values(
                title=payload, description=payload + f" 描述{i}", location=payload, category=payload))
            codes[s.get(Hazard, hid).code] = payload
    new_hazard(factory, world, START)  # an ordinary one alongside
    return codes


def _expected(payload: str, field: str) -> str:
    return clean_text(payload + (f" 描述{PAYLOADS.index(payload)}" if field == "description" else ""))


def _check(content: bytes, typed: dict[str, str], tmp_path) -> None:
    sheet = load_workbook(BytesIO(content)).active
    header = [c.value for c in sheet[1]]
    assert tuple(header) == ledger.HEADERS
    col = {h: i for i, h in enumerate(header)}
    seen = set()
    for row in sheet.iter_rows(min_row=2):
        payload = typed.get(row[col["隐患编号"]].value)
        if payload is None:
            continue
        seen.add(payload)
        for field, name in FIELDS.items():
            cell = row[col[name]]
            assert cell.data_type == "s", (payload, name)
            assert cell.value == _expected(payload, field), (payload, name)
            assert cell.quotePrefix == payload.startswith(FORMULA_LEADS), (payload, name)
        assert row[col["发现日期"]].is_date
    assert seen == set(PAYLOADS)
    assert _expected(PAYLOADS[-1], "title") == "=1+1\ufffd\ufffd[31m"  # the refused ones, replaced

    # What a person opening the file in LibreOffice Calc sees: the text, never a computed 2.
    rows = shown(content, tmp_path)
    assert tuple(rows[0]) == ledger.HEADERS
    by_code = {r[col["隐患编号"]]: r for r in rows[1:]}
    assert len(rows) == sheet.max_row
    for code, payload in typed.items():
        for field, name in FIELDS.items():
            assert by_code[code][col[name]] == _expected(payload, field), (payload, name)
    assert all(len(by_code[code][col["发现日期"]]) == 10 for code in typed)  # shown as yyyy-mm-dd


def test_service_export_keeps_typed_text_as_text(factory, world, typed, tmp_path):
    with read_only(factory) as s:
        content = ledger.export_xlsx(s, world.p("supervisor"), ledger.LedgerQuery(), now=START)
    _check(content, typed, tmp_path)


def test_web_export_keeps_typed_text_as_text(app, typed, tmp_path):
    with TestClient(app, follow_redirects=False) as client:
        assert login(client, "supervisor").status_code == 303
        response = client.get("/ledger.xlsx", params={"sort": "code", "dir": "asc"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    _check(response.content, typed, tmp_path)
