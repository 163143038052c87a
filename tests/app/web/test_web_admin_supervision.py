"""一张表 on the admin's enterprise list: each enterprise's 行业主管部门 and 监管责任人, and a filter
for the enterprises still without a department."""

from __future__ import annotations

from db.engine import UnitOfWork
from services.imports import enterprises as enterprise_import
from tests.conftest import START
from tests.services.imports.test_enterprise_import import GOOD, as_xlsx
from tests.services.imports.test_enterprise_supervision import FULL


def test_admin_list_shows_them_and_finds_the_unassigned(factory, world, browser):
    rows = [[*GOOD[0], "离石区应急管理局", "张伟"], [*GOOD[1], "", ""], [*GOOD[2], "", ""]]
    assert enterprise_import.run(UnitOfWork(factory), as_xlsx(rows, header=FULL), now=START).committed
    admin = browser("admin")
    page = admin.get("/admin/enterprises").text
    assert "离石区应急管理局" in page and "张伟" in page and "未明确" in page
    unassigned = admin.get("/admin/enterprises", params={"unassigned": "1"}).text
    assert "离石区兴安煤业有限公司" not in unassigned
    assert "离石区安泰燃气有限公司" in unassigned and "孝义市晋源化工有限公司" in unassigned
