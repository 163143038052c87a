"""`hazard tasks import`: read a plan's task list (任务清单) and show each task with its units
resolved to organisations and its deadline, flagged where a person must review it. `--dry-run`
previews; without it the plan is stored as a draft (services/tasklists/drafts.py) for the 安委办 to
review and publish on /plans/<id>; the same file twice makes no second plan."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from app.cli.database import session_factory
from db.engine import read_only, transaction
from services.kernel.clock import utcnow
from services.kernel.errors import invalid_field
from services.reports.submission_status import acting_user
from services.tasklists.drafts import FLAG_LABELS, import_with_preview
from services.tasklists.preview import preview


def cmd_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise invalid_field("file", f"文件 {args.file} 不存在")
    if not args.dry_run:
        return _store(args, path)
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


def _store(args: argparse.Namespace, path: Path) -> int:
    with transaction(session_factory()) as s:
        actor = acting_user(s, args.as_user) if args.as_user else None
        plan, created, out = import_with_preview(s, actor, path, filename=path.name, title=args.plan_title,
                                                 issued_by=args.issued_by, year=args.year, now=utcnow())
        plan_id = plan.id
    if args.json:
        print(json.dumps({**out, "plan_id": plan_id, "created": created}, ensure_ascii=False))
    elif created:
        print(f"已导入草稿：计划 #{plan_id}，{out['summary']['tasks']} 项任务，{out['summary']['needs_review']} 项需核对")
    else:
        print(f"该文件已导入过：计划 #{plan_id}，未重复导入")
    return 0


def add_parsers(sub) -> None:
    tasks = sub.add_parser("tasks", help="任务清单（计划中的任务、责任单位、完成时限）").add_subparsers(
        dest="tasks_command", required=True)
    ti = tasks.add_parser("import", help="读取计划文件（.txt .md .docx .xlsx）中的任务，识别责任单位和完成时限")
    ti.add_argument("file")
    ti.add_argument("--plan-title", required=True, help="计划标题")
    ti.add_argument("--issued-by", required=True, help="印发单位（全称或别名，如 吕梁市安委办）")
    ti.add_argument("--year", type=int, required=True, help="计划年度（“年底前”“全年”按此年）")
    ti.add_argument("--dry-run", action="store_true", help="只预览识别结果，不保存（不加则保存为草稿，待核对后发布）")
    ti.add_argument("--as", dest="as_user", help="导入人的用户名（印发单位所在地的安委办）；不填为系统")
    ti.add_argument("--json", action="store_true", help='输出 {"plan", "tasks": [...], "summary"}')
    ti.set_defaults(func=cmd_import)
