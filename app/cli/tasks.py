"""`hazard tasks import`: read a plan's task list (任务清单) and show each task with its units
resolved to organisations and its deadline, flagged where a person must review it. `--dry-run`
previews; without it the plan is stored as a draft (services/tasklists/drafts.py) for the 安委办 to
review and publish on /plans/<id>; the same file twice makes no second plan."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from app.cli import task_parts
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
    task_parts.add_parsers(tasks)  # list, show, act: units' parts of published plans

    ts = tasks.add_parser("sweep", help="执行一次任务督办扫描（临近提醒、逾期预警、督办函、约谈、通报，全年任务的月度进展提醒）")
    ts.add_argument("--as-of", dest="as_of", type=_as_of_day, help="按该日期（YYYY-MM-DD）判断是否到期，默认今天")
    ts.add_argument("--dry-run", action="store_true", help="只列出将触发的步骤，不执行")
    ts.set_defaults(func=cmd_sweep)


def _as_of_day(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"日期格式应为 YYYY-MM-DD：{text}") from None


def cmd_sweep(args: argparse.Namespace) -> int:
    """`hazard tasks sweep`: the task ladder as of a day (services/tasks/sweep.py), as the office's
    daily duty runs it."""
    import sys

    from app.cli.database import unit_of_work
    from services.calendar import years as calendar_years
    from services.escalation.ladder import configured_ladder
    from services.tasks import sweep as task_sweep

    uow = unit_of_work()
    calendar = calendar_years.refresh(uow, force=True)
    report = task_sweep.sweep(uow, now=utcnow(), calendar=calendar, config=configured_ladder(), as_of=args.as_of,
                              dry_run=args.dry_run, keep_details=args.dry_run)
    if args.dry_run:
        for item in report.fired:
            labels = "、".join(task_sweep.step_label(s, item.skipped.get(s, ())) for s in item.steps)
            print(f"任务分工 #{item.assignment_id}\t{labels}")
        print(f"演练（未执行）：截至 {report.as_of}，{report.parts} 项任务分工应触发 {report.events} 个督办步骤")
    else:
        steps = "，".join(f"{task_sweep.step_label(k)} {v}" for k, v in report.by_step.items()) or "无"
        skipped = f"，同时到期的较轻步骤跳过 {report.skipped} 个" if report.skipped else ""
        print(f"任务督办完成：截至 {report.as_of}，{report.parts} 项任务分工触发 {report.events} 个步骤（{steps}）"
              f"{skipped}；列入通报清单 {report.bulletin_entries} 项")
    for year in calendar.provisional_years():
        print(f"警告：{year} 年的节假日安排尚未公布，按法定节日推算（无调休）；公布后请用 "
              f"hazard calendar set-year {year} 载入", file=sys.stderr)
    return 0
