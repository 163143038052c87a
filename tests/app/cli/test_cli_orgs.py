"""`hazard orgs import|list|resolve` and `hazard users add --org` as an administrator runs them."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from db.engine import read_only
from db.models import Organisation, User
from services.organisations.shanxi import SHANXI_CSV
from tests.services.organisations.support import SHANXI_ROWS


def _orgs(factory) -> int:
    with read_only(factory) as s:
        return s.execute(select(func.count()).select_from(Organisation)).scalar_one()


def test_import_list_resolve(run, factory, world, tmp_path):
    code, out, _ = run("orgs", "import", str(SHANXI_CSV), "--dry-run")
    assert code == 0 and f"将新增 {SHANXI_ROWS} 个单位" in out and "试运行" in out
    assert _orgs(factory) == 0
    code, out, _ = run("orgs", "import", str(SHANXI_CSV))
    assert code == 0 and f"新增 {SHANXI_ROWS} 个单位" in out
    code, out, _ = run("orgs", "import", str(SHANXI_CSV), "--json")
    assert code == 0 and json.loads(out) == {"rows": SHANXI_ROWS, "created": [], "updated": [],
                                             "unchanged": SHANXI_ROWS, "differing": [], "aliases_added": 0,
                                             "dry_run": False}
    assert _orgs(factory) == SHANXI_ROWS

    code, out, _ = run("orgs", "list", "--region", "141102", "--json")
    listed = json.loads(out)
    assert code == 0 and len(listed) == 32
    emergency = next(o for o in listed if o["name"] == "离石区应急管理局")
    assert emergency["aliases"] == ["区应急局", "区应急管理局", "区应急"] and emergency["safety_supervision"]
    code, out, _ = run("orgs", "list", "--region", "141102")
    assert "共 32 个单位" in out and "乡镇\t信义镇人民政府" in out

    code, out, _ = run("orgs", "resolve", "--region", "141100", "市应急局", "各县（市、区）政府", "市公安局交警支队")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("市应急局 → 吕梁市应急管理局（")
    assert lines[1].startswith("各县（市、区）政府 → 各县（市、区）政府（13个）：离石区人民政府、")
    assert lines[2] == "市公安局交警支队 → 未识别，需人工核对"
    code, out, _ = run("orgs", "resolve", "--region", "141100", "--json", "各有关部门")
    answer = json.loads(out)[0]
    assert answer["kind"] == "group" and len(answer["org_ids"]) == 21 and "请核对" in answer["note"]

    code, _, err = run("orgs", "resolve", "--region", "999999", "市应急局")
    assert code == 2 and "行政区划 999999 不存在" in err


def test_a_bad_file_is_refused_with_row_numbers(run, factory, world, tmp_path):
    bad = tmp_path / "orgs.csv"
    bad.write_text("名称,类别,行政区划代码\n吕梁市应急管理局,部门,141100\n吕梁市某局,局长,141100\n", encoding="utf-8")
    code, out, err = run("orgs", "import", str(bad))
    assert code == 2 and "未导入任何数据" in err and "第 3 行 类别" in err and out == ""
    assert _orgs(factory) == 0
    code, _, err = run("orgs", "import", str(tmp_path / "missing.csv"))
    assert code == 2 and "不存在" in err


def test_users_add_with_an_organisation(run, factory, world):
    assert run("orgs", "import", str(SHANXI_CSV))[0] == 0
    code, out, _ = run("users", "add", "--username", "lishi_office", "--role", "committee", "--region", "141102",
                       "--org", "区安委办")
    assert code == 0 and out.splitlines()[-1].startswith("hz_")
    with read_only(factory) as s:
        user = s.execute(select(User).where(User.username == "lishi_office")).scalar_one()
        assert s.get(Organisation, user.organisation_id).name == "离石区安全生产委员会办公室"
    code, _, err = run("users", "add", "--username", "someone", "--role", "inspector", "--region", "141102",
                       "--org", "各县（市、区）政府")
    assert code == 2 and "不是本辖区（141102）的一个单位" in err
    with read_only(factory) as s:
        assert s.execute(select(User.id).where(User.username == "someone")).first() is None
