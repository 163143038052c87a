"""`hazard enterprises import`: a county's enterprise list from .xlsx or .csv, every row's problem
named (row, column, reason), all-or-nothing, idempotent, conflicts reported or updated with
--update; and a disabled enterprise takes no new hazards (both backends)."""

from __future__ import annotations

import csv
import io
import json
from io import BytesIO

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from db.engine import UnitOfWork, read_only, transaction
from db.models import Enterprise
from services.accounts import admin
from services.imports import enterprises as enterprise_import
from services.engine import creation
from services.kernel.errors import Invalid
from services.kernel.uscc import make
from tests.conftest import START
from tests.app.cli.test_cli_audit import run_cli  # noqa: F401 - the in-process CLI fixture
from tests.helpers import report_body

HEADER = ["统一社会信用代码", "名称", "行政区划", "行业"]
A = make("91141102MA0EMP001")
B = make("91141102MA0EMP002")
C = make("91141181MA0EMP003")
GOOD = [
    [A, "离石区兴安煤业有限公司", "141102", "煤矿"],
    [B, "离石区安泰燃气有限公司", "离石区", "燃气"],  # the region by its name
    [C, "孝义市晋源化工有限公司", "孝义市", "危险化学品"],
]


def as_xlsx(rows, header=HEADER) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "企业名录"
    ws.append(header)
    for r in rows:
        ws.append(r)
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def as_csv(rows, header=HEADER, encoding="utf-8-sig", delimiter=",") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def _enterprises(factory) -> dict[str, tuple[str, str, str, bool]]:
    with read_only(factory) as s:
        return {e.uscc: (e.name, e.region_code, e.industry, e.active) for e in s.execute(select(Enterprise)).scalars()}


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_a_good_file_twice_adds_once(factory, world, fmt):
    content = as_xlsx(GOOD) if fmt == "xlsx" else as_csv(GOOD)
    report = enterprise_import.run(UnitOfWork(factory), content, now=START)
    assert report.ok and report.committed and report.rows == 3
    assert [a["row"] for a in report.added] == [2, 3, 4]
    found = _enterprises(factory)
    assert found[A] == ("离石区兴安煤业有限公司", "141102", "煤矿", True)
    assert found[B][1] == "141102" and found[C][1] == "141181"
    before = found
    again = enterprise_import.run(UnitOfWork(factory), content, now=START)
    assert again.ok and again.committed and again.added == [] and again.updated == []
    assert [u["row"] for u in again.unchanged] == [2, 3, 4]
    assert _enterprises(factory) == before
    assert "无变化 3 家" in again.lines()[0]


def test_csv_from_excel_on_chinese_windows_and_tabs(factory, world):
    report = enterprise_import.run(UnitOfWork(factory), as_csv(GOOD, encoding="gb18030", delimiter="\t"), now=START)
    assert report.ok and len(report.added) == 3
    assert _enterprises(factory)[B][0] == "离石区安泰燃气有限公司"


def test_every_kind_of_bad_row_is_named_and_nothing_is_written(factory, world):
    with transaction(factory) as s:  # a second region of the same name: a name alone is ambiguous
        admin.add_region(s, "141199", "离石区", "141100")
    rows = [
        GOOD[0],
        [A[:-1] + ("0" if A[-1] != "0" else "1"), "校验位错", "141102", "煤矿"],  # check character
        ["91141102MA0EMP00", "长度不对", "141102", "煤矿"],  # 16 characters
        [make("91141102MA0EMP004"), "未知代码", "149999", "煤矿"],
        [make("91141102MA0EMP005"), "未知地名", "火星区", "煤矿"],
        [make("91141102MA0EMP006"), "重名地区", "离石区", "煤矿"],
        [make("91141102MA0EMP007"), "未知行业", "141102", "挖矿"],
        [make("91141102MA0EMP008"), "", "141102", "煤矿"],
        [A, "同一代码第二次", "141102", "煤矿"],
        [make("91141102MA0EMP009"), "控制字符\x7f", "141102", "煤矿"],
    ]
    report = enterprise_import.run(UnitOfWork(factory), as_xlsx(rows), now=START)
    assert not report.ok and not report.committed and report.added == []
    problems = {(e.row, e.column): e.reason for e in report.errors}
    assert "校验位" in problems[(3, "统一社会信用代码")]
    assert "18位" in problems[(4, "统一社会信用代码")]
    assert "未知的行政区划代码：149999" in problems[(5, "行政区划")]
    assert "未知的行政区划：火星区" in problems[(6, "行政区划")]
    assert "141102" in problems[(7, "行政区划")] and "141199" in problems[(7, "行政区划")]
    assert "未知的行业：挖矿" in problems[(8, "行业")]
    assert problems[(9, "名称")] == "必填项为空"
    assert problems[(10, "统一社会信用代码")] == "与第 2 行重复"
    assert "控制字符" in problems[(11, "名称")]
    assert 2 not in {e.row for e in report.errors}
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in e.reason) for e in report.errors)
    assert set(_enterprises(factory)) == set(world.enterprises.values())  # nothing added
    partial = enterprise_import.run(UnitOfWork(factory), as_xlsx(rows), now=START, partial=True)
    assert partial.committed and [a["row"] for a in partial.added] == [2]


def test_missing_columns_and_unreadable_files(factory, world):
    report = enterprise_import.run(UnitOfWork(factory), as_xlsx(GOOD, header=["统一社会信用代码", "名称"]), now=START)
    assert {(e.row, e.column) for e in report.errors} == {(1, "行政区划"), (1, "行业")}
    for content in (b"\x89PNG not a table", b"PK\x03\x04 broken zip", b""):
        report = enterprise_import.run(UnitOfWork(factory), content, now=START)
        assert not report.ok and report.errors[0].column == "文件"
    # other spellings of the headers are understood
    report = enterprise_import.run(UnitOfWork(factory), as_csv(GOOD, header=["统一社会信用代码", "企业名称", "行政区划代码", "行业领域"]),
                                   now=START, dry_run=True)
    assert report.ok and report.dry_run and len(report.added) == 3 and not report.committed
    assert A not in _enterprises(factory)  # a dry run writes nothing


def test_same_code_other_data_is_a_conflict_unless_update(factory, world):
    enterprise_import.run(UnitOfWork(factory), as_xlsx(GOOD), now=START)
    changed = [[A, "离石区兴安煤业集团有限公司", "141102", "非煤矿山"], GOOD[1]]
    report = enterprise_import.run(UnitOfWork(factory), as_xlsx(changed), now=START)
    assert not report.committed
    assert {(e.row, e.column) for e in report.errors} == {(2, "名称"), (2, "行业")}
    assert "离石区兴安煤业有限公司" in report.errors[0].reason + report.errors[1].reason
    assert _enterprises(factory)[A][0] == "离石区兴安煤业有限公司"
    report = enterprise_import.run(UnitOfWork(factory), as_xlsx(changed), now=START, update=True)
    assert report.ok and report.committed and [u["row"] for u in report.updated] == [2]
    assert report.updated[0]["changes"]["名称"] == ["离石区兴安煤业有限公司", "离石区兴安煤业集团有限公司"]
    assert _enterprises(factory)[A][:3] == ("离石区兴安煤业集团有限公司", "141102", "非煤矿山")
    again = enterprise_import.run(UnitOfWork(factory), as_xlsx(changed), now=START, update=True)
    assert again.updated == [] and len(again.unchanged) == 2


def test_cli_enterprises_import(run_cli, world, factory, tmp_path):
    path = tmp_path / "企业名录.csv"
    path.write_bytes(as_csv(GOOD + [[make("91141102MA0EMP010"), "坏行", "999999", "煤矿"]]))
    code, out, _ = run_cli("enterprises", "import", str(path))
    assert code == 1 and "第 5 行【行政区划】未知的行政区划代码：999999" in out and "未导入任何数据" in out
    code, out, _ = run_cli("enterprises", "import", str(path), "--dry-run", "--json")
    data = json.loads(out)
    assert code == 1 and data["dry_run"] and not data["committed"] and data["added"] == []  # all or nothing
    assert data["errors"] == [{"row": 5, "column": "行政区划", "reason": "未知的行政区划代码：999999"}]
    path.write_bytes(as_csv(GOOD))
    code, out, _ = run_cli("enterprises", "import", str(path), "--dry-run")
    assert code == 0 and "演练" in out and A not in _enterprises(factory)
    code, out, _ = run_cli("enterprises", "import", str(path))
    assert code == 0 and "新增 3 家" in out
    code, out, _ = run_cli("enterprises", "import", str(path), "--json")
    assert code == 0 and len(json.loads(out)["unchanged"]) == 3
    code, _, err = run_cli("enterprises", "import", str(tmp_path / "none.xlsx"))
    assert code == 2 and "无法读取文件" in err
    code, out, _ = run_cli("enterprises", "disable", "--uscc", A)
    assert code == 0 and "已停用" in out and not _enterprises(factory)[A][3]
    code, out, _ = run_cli("enterprises", "import", str(path))
    assert code == 0 and "该企业已停用" in out


def test_a_disabled_enterprise_takes_no_new_hazards(factory, world, client):
    coal = world.enterprises["coal"]
    with transaction(factory) as s:
        admin.set_enterprise_active(s, coal, False)
    for who in ("inspector", "ent_coal"):
        with pytest.raises(Invalid) as caught, transaction(factory) as s:
            body = report_body(enterprise_uscc=coal) if who == "inspector" else report_body()
            creation.report(s, world.p(who), body, now=START)
        assert "已停用" in caught.value.details[0]["message"]
    answer = client.post("/api/v1/hazards", json=report_body(), headers=world.auth("ent_coal"))
    assert answer.status_code == 422 and "已停用" in answer.json()["error"]["details"][0]["message"]
    with read_only(factory) as s:
        assert s.execute(select(func.count()).select_from(Enterprise)).scalar_one() == 3
    with transaction(factory) as s:
        admin.set_enterprise_active(s, coal, True)
    assert client.post("/api/v1/hazards", json=report_body(), headers=world.auth("ent_coal")).status_code == 201
