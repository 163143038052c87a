"""`hazard tasks import --dry-run`: the parser's tasks with their units resolved to the Shanxi
organisations of the issuing body's region, and flagged where a person must review them."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from db.engine import read_only, transaction
from db.models import Organisation, RecordEvent, TaskPlan
from services.kernel.clock import utcnow
from services.organisations.shanxi import load_shanxi

XINZHOU = Path(__file__).parents[3] / "app" / "demo" / "plans" / "xinzhou-2021-plan.txt"
ARGS = ("tasks", "import", str(XINZHOU), "--plan-title", "忻州市安全生产专项整治三年行动集中攻坚年工作方案",
        "--year", "2021", "--dry-run")


def _org(factory, name: str) -> int:
    with read_only(factory) as s:
        return s.scalars(select(Organisation.id).where(Organisation.name == name)).one()


def test_a_plan_previewed_with_its_units_resolved(run, factory, world):
    with transaction(factory) as s:
        load_shanxi(s, now=utcnow())
    code, out, err = run(*ARGS, "--issued-by", "忻州市安委办", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["plan"]["issued_by"]["id"] == _org(factory, "忻州市安全生产委员会办公室")
    assert data["summary"]["tasks"] == len(data["tasks"]) == 82 and data["summary"]["sections"] == 16
    by_number = {(t["section"][:3], t["number"]): t for t in data["tasks"]}
    first = by_number[("（一）", "1")]
    units = {u["name"]: u for u in first["units"]}
    assert units["市应急局"]["org_id"] == _org(factory, "忻州市应急管理局")  # an alias, in the issuer's city
    counties = units["各县（市、区）政府"]
    assert counties["org_id"] is None and len(counties["org_ids"]) == 14  # a group: 忻州's 14 counties
    assert units["各县（市、区）党委"]["org_ids"] == []  # no such body loaded: flagged for review
    assert "unresolved_unit" in first["flags"] and first["needs_review"]
    office = by_number[("（一）", "3(1)")]
    assert [(u["name"], u["org_id"]) for u in office["units"]] == [
        ("市政府安委办", _org(factory, "忻州市安全生产委员会办公室"))]
    assert office["deadline"] == "2021-06-30" and office["flags"] == [] and not office["needs_review"]
    relative = by_number[("（一）", "2")]
    assert relative["deadline"] is None and "relative_deadline" in relative["flags"]
    assert data["summary"]["flags"]["relative_deadline"] == 1


def test_refusals_are_clear(run, factory, world):
    with transaction(factory) as s:
        load_shanxi(s, now=utcnow())
    code, _, err = run(*ARGS, "--issued-by", "不存在的单位")
    assert code != 0 and "未找到印发单位" in err
    code, _, err = run(*ARGS[:-1], "--issued-by", "忻州市安委办", "--as", "nobody")  # no such user: nothing stored
    assert code != 0 and "没有这个用户" in err
    code, _, err = run(*ARGS[:-1], "--issued-by", "忻州市安委办", "--as", "city_committee")  # 吕梁's office
    assert code != 0 and "印发单位所在地的安委办" in err
    with read_only(factory) as s:
        assert s.scalar(select(func.count()).select_from(TaskPlan)) == 0
    code, out, err = run(*ARGS, "--issued-by", "忻州市安委办")
    assert code == 0 and "82 项任务" in out and "需人工核对" in out


def test_without_dry_run_the_draft_is_stored_once(run, factory, world):
    with transaction(factory) as s:
        load_shanxi(s, now=utcnow())
    code, out, err = run(*ARGS[:-1], "--issued-by", "忻州市安委办")
    assert code == 0, err
    with read_only(factory) as s:
        stored = s.scalars(select(TaskPlan)).one()
        assert stored.state == "draft" and stored.created_by_id is None  # the system imported it
        plan_id = stored.id
    needs = out.strip().split("，")[2]
    assert out.strip() == f"已导入草稿：计划 #{plan_id}，82 项任务，{needs}" and needs.endswith("项需核对")
    code, out, err = run(*ARGS[:-1], "--issued-by", "忻州市安委办", "--json")
    data = json.loads(out)
    assert code == 0 and data["plan_id"] == plan_id and data["created"] is False and len(data["tasks"]) == 82
    code, out, _ = run(*ARGS[:-1], "--issued-by", "忻州市安委办")
    assert out.strip() == f"该文件已导入过：计划 #{plan_id}，未重复导入"
    with read_only(factory) as s:
        assert s.scalar(select(func.count()).select_from(TaskPlan)) == 1
        assert s.scalar(select(func.count()).select_from(RecordEvent).where(
            RecordEvent.subject == f"plan:{plan_id}")) == 1
