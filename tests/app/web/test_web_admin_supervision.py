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


def test_an_enterprise_added_by_hand_carries_its_department(factory, world, browser):
    from sqlalchemy import select

    from db.engine import read_only
    from db.models import Enterprise
    from services.kernel.uscc import make
    from tests.app.web.conftest import csrf_of

    admin = browser("admin")
    token = csrf_of(admin.get("/admin/enterprises/new").text)
    code = make("91141102MA0YXB001")
    base = {"csrf_token": token, "uscc": code, "name": "离石区一张表测试企业", "region_code": "141102", "industry": "煤矿"}
    too_long = admin.post("/admin/enterprises/new", data={**base, "supervising_department": "部" * 101})
    assert too_long.status_code == 422 and "最多 100 个字" in too_long.text
    with read_only(factory) as s:  # the refused form left nothing behind
        assert s.execute(select(Enterprise).where(Enterprise.uscc == code)).scalar_one_or_none() is None
    done = admin.post("/admin/enterprises/new", data={**base, "supervising_department": "离石区应急管理局",
                                                      "responsible_official": "赵敏"}, follow_redirects=False)
    assert done.status_code == 303
    with read_only(factory) as s:
        ent = s.execute(select(Enterprise).where(Enterprise.uscc == code)).scalar_one()
        assert (ent.supervising_department, ent.responsible_official) == ("离石区应急管理局", "赵敏")
