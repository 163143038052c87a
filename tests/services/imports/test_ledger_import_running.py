"""An office moves its running 台账 in (issue 11 item 5): rows already 挂牌督办, 整改中 or 待验收 become
hazards in that state with ONE `import` event naming the file, sheet and row; each state's columns
are checked per row; enterprises are matched by code or exact name; the trail still verifies; the
ladder goes on against the imported deadline (both backends)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from db.engine import UnitOfWork, read_only, transaction
from db.models import AuditEvent, Enterprise, Hazard
from services.accounts import admin
from services.audit import verification as audit
from services.reads import ledger
from services.imports import ledger as ledger_import, ledger_sheet
from services.escalation import sweep
from services.engine import transitions
from services.calendar.workdays import default_calendar
from services.kernel.clock import local_date
from services.escalation.ladder import LadderConfig
from services.kernel.uscc import make
from tests.conftest import START
from tests.services.imports.test_ledger_import import xlsx as ledger_xlsx
from tests.app.cli.test_cli_audit import run_cli  # noqa: F401 - the in-process CLI fixture

TODAY = local_date(START)  # Tuesday 2026-11-24
HEADERS = (*ledger.HEADERS, *ledger_sheet.RUNNING_COLUMNS)


def base(world, **over):
    values = {
        "隐患名称": "主井提升机制动闸瓦磨损", "隐患描述": "闸瓦间隙超过 2 毫米。", "隐患地点": "主井绞车房",
        "统一社会信用代码": world.enterprises["coal"], "行政区划代码": "141102", "行业领域": "煤矿", "隐患来源": "监管检查",
        "隐患类别": "机电", "发现日期": TODAY - timedelta(days=40), "整改期限": TODAY + timedelta(days=30),
    }
    values.update(over)
    return values


def supervised(world, **over):
    return base(world, **{"隐患名称": "井下瓦斯抽采系统能力不足", "状态": "挂牌督办", "隐患级别": "重大隐患", "挂牌级别": "市级",
                          "挂牌日期": TODAY - timedelta(days=30), "方案报送期限": TODAY + timedelta(days=5),
                          "停产整顿": "是", **over})


def rectifying(world, **over):
    return base(world, **{"隐患名称": "主运输巷道支护失效", "状态": "整改中", "隐患级别": "一般隐患", "整改责任人": "张建国",
                          "整改措施": "补打锚索", "方案报送日期": TODAY - timedelta(days=20), **over})


def rectifying_major(world, **over):
    return base(world, **{"隐患名称": "采空区积水探放不到位", "状态": "整改中", "隐患级别": "重大隐患", "挂牌级别": "县级",
                          "挂牌日期": TODAY - timedelta(days=35), "整改责任人": "王志强", "整改措施": "探放水",
                          "整改资金（万元）": 85.5, "整改时限": TODAY + timedelta(days=20),
                          "应急预案": "透水事故专项应急预案", **over})


def waiting(world, **over):
    return base(world, **{"隐患名称": "配电室绝缘垫缺失", "状态": "待验收", "隐患级别": "一般隐患", "整改责任人": "李明",
                          "整改措施": "铺设绝缘垫", "验收申请日期": TODAY - timedelta(days=2), "实际投入资金（万元）": "0.8",
                          **over})


def xlsx(rows, headers=HEADERS, title="2026年隐患台账") -> bytes:
    return ledger_xlsx(rows, headers, title)


def _events(factory, code: str) -> list[AuditEvent]:
    with read_only(factory) as s:
        hid = s.execute(select(Hazard.id).where(Hazard.code == code)).scalar_one()
        events = list(s.execute(select(AuditEvent).where(AuditEvent.hazard_id == hid)
                                .order_by(AuditEvent.seq)).scalars())
        s.expunge_all()  # read_only rolls back: keep what was read
        return events


def _hazard(factory, code: str) -> Hazard:
    with read_only(factory) as s:
        hazard = s.execute(select(Hazard).where(Hazard.code == code)).scalar_one()
        s.expunge_all()
        return hazard


def _count(factory) -> int:
    with read_only(factory) as s:
        return s.execute(select(func.count()).select_from(Hazard)).scalar_one()


def test_each_running_state_is_one_import_event_naming_its_row(factory, world):
    rows = [supervised(world), rectifying(world), rectifying_major(world), waiting(world)]
    report = ledger_import.run(UnitOfWork(factory), xlsx(rows), "inspector", now=START, filename="离石区台账.xlsx")
    assert report.ok and report.committed, report.lines()
    assert [(i["row"], i["state"]) for i in report.imported] == [
        (2, "supervised"), (3, "rectifying"), (4, "rectifying"), (5, "acceptance_requested")]
    codes = [i["code"] for i in report.imported]
    for number, code in enumerate(codes, start=2):
        events = _events(factory, code)
        assert [(e.seq, e.action, e.from_state) for e in events] == [(1, "import", None)]
        body = json.loads(events[0].payload)["body"]
        assert (body["ledger_file"], body["ledger_sheet"], body["ledger_row"]) == ("离石区台账.xlsx", "2026年隐患台账", number)
        assert events[0].actor_name == "inspector" and events[0].to_state == report.imported[number - 2]["state"]

    listed = _hazard(factory, codes[0])
    assert (listed.level, listed.listing_level, listed.suspended) == ("major", "city", True)
    assert listed.listing_body == "吕梁市安全生产委员会办公室" and local_date(listed.listed_at) == TODAY - timedelta(days=30)
    assert listed.plan_due == TODAY + timedelta(days=5) and listed.deadline == TODAY + timedelta(days=30)
    assert local_date(listed.discovered_at) == TODAY - timedelta(days=40)
    general = _hazard(factory, codes[1])
    assert (general.plan_responsible_person, general.plan_measures) == ("张建国", "补打锚索")
    assert local_date(general.plan_filed_at) == TODAY - timedelta(days=20)
    major = _hazard(factory, codes[2])
    assert str(major.plan_funds_wan) == "85.50" and major.plan_contingency == "透水事故专项应急预案"
    assert major.listing_level == "county" and major.plan_filed_at == START  # no date given: the import's
    done = _hazard(factory, codes[3])
    assert local_date(done.acceptance_requested_at) == TODAY - timedelta(days=2) and str(done.funds_spent_wan) == "0.80"
    with read_only(factory) as s:
        check = audit.verify(s)
        assert check.ok, check.as_dict()

    # the history goes on from there: the imported 待验收 hazard is accepted and closed
    with transaction(factory) as s:
        closed = transitions.perform(s, world.p("inspector2"), done.id, "accept",
                                     {"reviewed_on": TODAY.isoformat(), "opinion": "整改到位"}, now=START)
        assert closed.state == "closed"
    with read_only(factory) as s:
        assert audit.verify(s).ok

    again = ledger_import.run(UnitOfWork(factory), xlsx(rows), "inspector", now=START, filename="离石区台账.xlsx")
    assert again.ok and again.imported == [] and [p["code"] for p in again.present] == codes
    assert _count(factory) == 4


def test_each_states_columns_are_checked_per_row(factory, world):
    rows = [
        supervised(world, 隐患级别="一般隐患"),  # 2: a listed hazard is major
        supervised(world, 挂牌级别="", 挂牌日期=None),  # 3: listing missing
        rectifying(world, 整改措施=""),  # 4: no measures
        rectifying_major(world, 应急预案="", 挂牌级别="", 挂牌日期=None, **{"整改资金（万元）": ""}),  # 5: 五落实 and listing
        waiting(world, 验收申请日期=None),  # 6: when was acceptance asked for?
        rectifying(world, 整改时限=TODAY + timedelta(days=60)),  # 7: after the deadline
        supervised(world, 挂牌级别="特级"),  # 8: unknown listing level
        rectifying(world, 状态="待销号"),  # 9: nothing left to manage
        rectifying(world, 整改期限=None),  # 10: no deadline
        supervised(world, 整改责任人="张三"),  # 11: a plan filed means 整改中
    ]
    for n, r in enumerate(rows, start=2):
        r["隐患编号"] = f"LS-2025-{n:03d}"
    report = ledger_import.run(UnitOfWork(factory), xlsx(rows), "inspector", now=START)
    assert not report.committed and report.imported == []
    problems = {(e.row, e.column): e.reason for e in report.errors}
    assert problems[(2, "隐患级别")] == "挂牌督办的隐患应为重大隐患"
    assert "挂牌级别" in problems[(3, "挂牌级别")] and "挂牌日期" in problems[(3, "挂牌日期")]
    assert "整改措施" in problems[(4, "整改措施")] or "措施" in problems[(4, "整改措施")]
    assert {(5, "应急预案"), (5, "整改资金（万元）"), (5, "挂牌级别"), (5, "挂牌日期")} <= set(problems)
    assert "五落实" in problems[(5, "应急预案")]
    assert problems[(6, "验收申请日期")] == "待验收的隐患须填写验收申请日期"
    assert problems[(7, "整改时限")] == "整改时限不能晚于整改期限"
    assert "县级" in problems[(8, "挂牌级别")]
    assert "待销号" in problems[(9, "状态")]
    assert "整改中须同时填写" in problems[(10, "整改期限")]
    assert "请将状态填为整改中" in problems[(11, "整改责任人")]
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in e.reason) for e in report.errors)
    assert _count(factory) == 0

    # a date only the import day can judge: refused in the transaction, and the whole file with it
    late = ledger_import.run(UnitOfWork(factory), xlsx([rectifying(world), supervised(world, 挂牌日期=TODAY + timedelta(days=1),
                                                                          隐患编号="LS-2025-099")]),
                             "inspector", now=START)
    assert not late.committed and [(e.row, e.column) for e in late.errors] == [(3, "挂牌日期")]
    assert _count(factory) == 0


def test_enterprises_are_matched_by_code_or_exact_name(factory, world):
    with transaction(factory) as s:
        for prefix in ("91141102MA0TWN001", "91141102MA0TWN002"):  # two enterprises of one name
            admin.add_enterprise(s, make(prefix), "离石区同名煤业有限公司", "141102", "煤矿", now=START)
        admin.add_enterprise(s, make("91141102MA0FFF001"), "离石区停产煤业有限公司", "141102", "煤矿", now=START)
        admin.set_enterprise_active(s, make("91141102MA0FFF001"), False)
    by_name = rectifying(world, 统一社会信用代码="", 企业名称="离石区金源煤业有限公司")
    rows = [
        by_name,
        rectifying(world, 统一社会信用代码="", 企业名称="离石区金源煤业"),  # 3: not the exact name
        rectifying(world, 统一社会信用代码="", 企业名称="离石区同名煤业有限公司"),  # 4: ambiguous
        rectifying(world, 企业名称="孝义市鑫化化工有限公司"),  # 5: code of another enterprise
        rectifying(world, 统一社会信用代码=make("91141102MA0FFF001")),  # 6: disabled
        rectifying(world, 统一社会信用代码="", 企业名称=""),  # 7: none
    ]
    for n, r in enumerate(rows, start=2):
        r["隐患编号"] = f"LS-2025-{n:03d}"
    report = ledger_import.run(UnitOfWork(factory), xlsx(rows), "inspector", now=START)
    problems = {(e.row, e.column): e.reason for e in report.errors}
    assert 2 not in {e.row for e in report.errors}
    assert "系统中没有名称为“离石区金源煤业”的企业" in problems[(3, "企业名称")]
    assert "2 家企业名称均为" in problems[(4, "企业名称")]
    assert "系统中为“离石区金源煤业有限公司”" in problems[(5, "企业名称")]
    assert "已停用" in problems[(6, "统一社会信用代码")]
    assert "企业（统一社会信用代码或企业名称）" in problems[(7, "统一社会信用代码")]

    ok = ledger_import.run(UnitOfWork(factory), xlsx([by_name]), "inspector", now=START)
    assert ok.committed
    with read_only(factory) as s:
        hazard = s.execute(select(Hazard)).scalar_one()
        assert s.get(Enterprise, hazard.enterprise_id).uscc == world.enterprises["coal"]


def test_the_ladder_goes_on_against_the_imported_deadline(factory, world):
    calendar, config = default_calendar(), LadderConfig()
    overdue_since = calendar.add_working_days(TODAY, -7)  # past: remind, overdue, urge (+5)
    upcoming = TODAY + timedelta(days=30)
    rows = [rectifying(world, 整改期限=overdue_since, 发现日期=overdue_since - timedelta(days=60),
                       方案报送日期=overdue_since - timedelta(days=30)),
            rectifying(world, 隐患名称="另一条", 整改期限=upcoming)]
    report = ledger_import.run(UnitOfWork(factory), xlsx(rows), "inspector", now=START, calendar=calendar, config=config)
    assert report.committed, report.lines()
    late, fresh = (i["code"] for i in report.imported)
    body = json.loads(_events(factory, late)[0].payload)["body"]
    assert body["ladder_past"] == ["remind", "overdue", "urge"]
    assert json.loads(_events(factory, fresh)[0].payload)["body"]["ladder_past"] == []

    def fired(as_of: date) -> dict[str, list[str]]:
        result = sweep.sweep(UnitOfWork(factory), now=START, calendar=calendar, config=config, as_of=as_of, keep_details=True)
        return {f.code: f.steps for f in result.fired}

    assert fired(TODAY) == {}  # no month of 督办函 on the day the ledger came in
    assert fired(calendar.add_working_days(overdue_since, 10)) == {late: ["summon"]}  # +10 of the imported deadline
    later = fired(calendar.add_working_days(upcoming, -3))  # 2026-12-21: the other one is at +20 by then
    assert later == {fresh: ["remind"], late: ["publicize"]}
    with read_only(factory) as s:
        assert audit.verify(s).ok


def test_cli_import_of_a_running_ledger_then_audit_verify(run_cli, world, factory, tmp_path):
    today = date.today()  # the command runs on the real clock
    path = tmp_path / "台账.xlsx"
    rows = [base(world, 状态="挂牌督办", 隐患级别="重大隐患", 挂牌级别="市级", 挂牌日期=today - timedelta(days=3),
                 发现日期=today - timedelta(days=10), 整改期限=today + timedelta(days=30))]
    path.write_bytes(xlsx(rows))
    code, out, _ = run_cli("import-ledger", str(path), "--username", "city_committee", "--dry-run")
    assert code == 0 and "演练" in out and "可导入（挂牌督办）" in out and _count(factory) == 0
    code, out, _ = run_cli("import-ledger", str(path), "--username", "city_committee", "--json")
    data = json.loads(out)
    assert code == 0 and data["committed"] and data["imported"][0]["state"] == "supervised"
    event = _events(factory, data["imported"][0]["code"])[0]
    assert json.loads(event.payload)["body"]["ledger_file"] == "台账.xlsx"
    code, out, _ = run_cli("audit", "verify")
    assert code == 0, out


@pytest.mark.parametrize("who", ["ent_coal", "auditor", "admin"])
def test_only_officials_import(factory, world, who):
    report = ledger_import.run(UnitOfWork(factory), xlsx([rectifying(world)]), who, now=START)
    assert not report.committed and report.errors and _count(factory) == 0
