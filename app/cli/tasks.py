"""`hazard tasks import`: read a plan's task list (任务清单) and show each task with its units
resolved to organisations and its deadline, flagged where a person must review it. Today the
command previews (`--dry-run`); storing the draft for review and publication comes with the task
lifecycle (issue 14)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app.cli.database import session_factory
from db.engine import read_only
from services.kernel.errors import invalid_field
from services.tasklists.preview import preview

FLAG_LABELS = {
    "relative_deadline": "时限为相对时间", "default_deadline": "无时限（按年底）", "unparsed_deadline": "时限无法识别",
    "no_units": "无责任单位", "unresolved_unit": "责任单位未识别", "check_unit": "责任单位需核对",
    "misplaced_cell": "表格错列", "empty_text": "任务内容为空", "truncated": "内容过长已截断",
    "number_gap": "编号不连续", "year_long": "全年任务（按月报告进展）",
}


def cmd_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise invalid_field("file", f"文件 {args.file} 不存在")
    if not args.dry_run:
        print("错误：导入草稿的保存、审核和发布尚未提供；请加 --dry-run 预览识别结果。", file=sys.stderr)
        return 2
    with read_only(session_factory()) as s:
        out = preview(s, path, filename=path.name, title=args.plan_title, issued_by=args.issued_by, year=args.year)
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
        return 0
    plan, summary = out["plan"], out["summary"]
    print(f"{plan['title']}（{plan['issued_by']['name']}，{plan['year']} 年）：{summary['tasks']} 项任务，"
          f"{summary['sections']} 个部分，{summary['needs_review']} 项需人工核对")
    for task in out["tasks"]:
        units = "、".join(u["name"] + ("" if u["org_id"] or u["org_ids"] else "（未识别）") for u in task["units"])
        marks = "；".join(FLAG_LABELS.get(f, f) for f in task["flags"])
        print(f"{'！' if task['needs_review'] else ' '} {task['section'][:16]} {task['number']}\t{task['title'][:30]}\t"
              f"{task['deadline'] or '—'}（{task['deadline_text'] or '未写'}）\t{units}" + (f"\t[{marks}]" if marks else ""))
    return 0


def add_parsers(sub) -> None:
    tasks = sub.add_parser("tasks", help="任务清单（计划中的任务、责任单位、完成时限）").add_subparsers(
        dest="tasks_command", required=True)
    ti = tasks.add_parser("import", help="读取计划文件（.txt .md .docx .xlsx）中的任务，识别责任单位和完成时限")
    ti.add_argument("file")
    ti.add_argument("--plan-title", required=True, help="计划标题")
    ti.add_argument("--issued-by", required=True, help="印发单位（全称或别名，如 吕梁市安委办）")
    ti.add_argument("--year", type=int, required=True, help="计划年度（“年底前”“全年”按此年）")
    ti.add_argument("--dry-run", action="store_true", help="只预览识别结果，不保存")
    ti.add_argument("--json", action="store_true", help='输出 {"plan", "tasks": [...], "summary"}')
    ti.set_defaults(func=cmd_import)
