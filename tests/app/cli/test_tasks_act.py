"""`hazard tasks list|show|act --as USER`: a unit's part walked from the command line, with the
table's refusals printed in Chinese and a non-zero exit."""

from __future__ import annotations

import json

import pytest

from sqlalchemy import func, select

from db.engine import read_only
from db.models import RecordEvent, TaskAssignment
from services.kernel.clock import local_date, utcnow
from tests.app.api import task_world

DONE = json.dumps({"summary": "已印发责任清单", "completed_on": "2026-11-20", "evidence_text": "忻应急发〔2026〕12号"},
                  ensure_ascii=False)


def _events(factory, part: int) -> int:
    with read_only(factory) as s:
        return s.scalar(select(func.count()).select_from(RecordEvent).where(RecordEvent.subject == f"assignment:{part}"))


def test_the_cli_walk(run, factory, world):
    tw = task_world.build(factory, world)
    (part,) = tw.part_ids(factory, "1")
    lead, _ = tw.part_ids(factory, "2")
    code, out, err = run("tasks", "list", "--as", "xz_ema", "--json")
    assert code == 0, err
    assert [p["id"] for p in json.loads(out)] == [part, lead]
    code, out, _ = run("tasks", "list", "--as", "xz_ema")
    assert "任务1" in out and "待签收" in out and "共 2 项" in out
    code, out, _ = run("tasks", "list", "--as", "xz_office", "--state", "assigned", "--plan", str(tw.plan_id))
    assert code == 0 and "共 17 项" in out
    code, out, _ = run("tasks", "list", "--as", "xz_office", "--overdue", "--json")
    today = local_date(utcnow())  # the command line's clock is the real one
    with read_only(factory) as s:
        late = list(s.scalars(select(TaskAssignment.id).where(TaskAssignment.deadline < today).order_by(TaskAssignment.id)))
    assert code == 0 and [p["id"] for p in json.loads(out)] == late
    code, out, err = run("tasks", "act", str(part), "acknowledge", "--as", "xz_ema", "--if-match", "1")
    assert code == 0, err
    assert "签收" in out and "已签收" in out and "版本 2" in out
    code, out, err = run("tasks", "act", str(part), "report_progress", "--as", "xz_ema2",
                         "--body", json.dumps({"text": "已完成 12 家企业检查"}, ensure_ascii=False))
    assert code == 0 and "推进中" in out, err
    code, out, err = run("tasks", "act", str(part), "report_completion", "--as", "xz_ema", "--body", DONE)
    assert code == 0 and "待核查" in out, err
    code, out, err = run("tasks", "act", str(part), "verify", "--as", "xz_office", "--body", '{"note": "材料齐全"}',
                         "--json")
    assert code == 0, err
    final = json.loads(out)
    assert final["state"] == "verified" and final["task"]["state"] == "closed" and final["version"] == 5
    code, out, err = run("tasks", "show", str(part), "--as", "xz_auditor")
    assert code == 0, err
    for text in ("已核查", "已销号", "签收", "报告进展", "报告完成情况", "核查通过", "可执行的操作：无"):
        assert text in out, (text, out)
    code, out, _ = run("tasks", "show", str(part), "--as", "xz_office", "--json")
    assert [e["action"] for e in json.loads(out)["trail"]] == ["assign", "acknowledge", "report_progress",
                                                                "report_completion", "verify"]
    assert _events(factory, part) == 5


def test_cli_refusals_are_chinese_and_non_zero(run, factory, world, capsys):
    tw = task_world.build(factory, world)
    (part,) = tw.part_ids(factory, "1")
    cases = [
        (("tasks", "act", str(part), "verify", "--as", "xz_office", "--body", '{"note": "x"}'), "待签收"),  # state
        (("tasks", "act", str(part), "acknowledge", "--as", "xz_office"), "本单位"),  # the office is not the unit
        (("tasks", "act", str(part), "acknowledge", "--as", "xz_auditor"), "无权"),  # role
        (("tasks", "act", str(part), "acknowledge", "--as", "ll_ema"), "不存在"),  # another city: not found
        (("tasks", "act", str(part), "acknowledge", "--as", "nobody"), "没有这个用户"),
        (("tasks", "act", str(part), "escalate", "--as", "xz_ema", "--body", '{"step": "urge"}'), "无权"),  # the system's
        (("tasks", "act", str(part), "delete", "--as", "xz_ema"), "没有名为"),
        (("tasks", "act", str(part), "report_progress", "--as", "xz_ema", "--body", "{not json"), "JSON"),
        (("tasks", "act", str(part), "report_progress", "--as", "xz_ema", "--body", "[1]"), "JSON 对象"),
        (("tasks", "act", str(part), "report_progress", "--as", "xz_ema", "--body", '{"text": ""}'), "text"),
        (("tasks", "act", str(part), "acknowledge", "--as", "xz_ema", "--if-match", "9"), "已被他人更新"),
        (("tasks", "show", "987654", "--as", "xz_ema"), "不存在"),
    ]
    for argv, expected in cases:
        code, out, err = run(*argv)
        assert code != 0, argv
        assert expected in err, (argv, err)
    for bad in ("0", "-1", str(10**30), "abc"):  # refused by the parser, before any database work
        with pytest.raises(SystemExit) as stop:
            run("tasks", "act", bad, "acknowledge", "--as", "xz_ema")
        assert stop.value.code == 2 and "编号应为正整数" in capsys.readouterr().err
    assert _events(factory, part) == 1
