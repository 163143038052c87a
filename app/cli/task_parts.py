"""`hazard tasks list|show|act`: units' parts of published task lists from the command line, as a
named user (`--as`): the same reads (services/tasks/reads.py) and the same transaction path
(services/tasks/engine.py) as the API, so scope, roles, guards and the trail are the same.
Refusals print in Chinese and exit non-zero (app/cli/main.py)."""

from __future__ import annotations

import argparse
import json

from app.cli.database import session_factory
from db.engine import read_only, transaction
from services.kernel.clock import utcnow
from services.kernel.errors import invalid_field
from services.kernel.inputs import MAX_ID
from services.reports.submission_status import acting_user
from services.tasks import engine, reads
from services.tasks.states import TASK_STATE_LABELS, TaskState


def _id(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 0 < int(text) <= MAX_ID:
        raise argparse.ArgumentTypeError(f"编号应为正整数：{text}")
    return int(text)


def cmd_list(args: argparse.Namespace) -> int:
    items = []
    with read_only(session_factory()) as s:
        who = acting_user(s, args.as_user)
        cursor = None
        while True:
            page = reads.list_view(s, who, now=utcnow(), plan_id=args.plan, state=args.state,
                                   overdue=True if args.overdue else None, cursor=cursor, limit=200)
            items += page.items
            cursor = page.next_cursor
            if cursor is None:
                break
    if args.json:
        print(json.dumps([i.model_dump(mode="json") for i in items], ensure_ascii=False))
        return 0
    for i in items:
        late = "\t已逾期" if i.overdue else ""
        print(f"#{i.id}\t计划 {i.plan_id} 任务{i.number}\t{i.title[:30]}\t{i.unit_name}（{i.role}）\t{i.state_label}\t"
              f"完成时限 {i.deadline}{'（全年）' if i.year_long else ''}{late}")
    print(f"共 {len(items)} 项")
    return 0


def _print_part(part) -> None:
    t = part.task
    print(f"任务分工 #{part.id}（版本 {part.version}）：{t.plan_title} 任务{t.number} {t.title}")
    print(f"  承担单位：{part.unit_name}（{part.role}）  状态：{part.state_label}  完成时限：{part.deadline}"
          f"{'（全年）' if part.year_long else ''}{'  已逾期' if part.overdue else ''}")
    print(f"  任务状态：{t.state_label}  进展报告 {part.progress.count} 次"
          + (f"，最近：{part.progress.last_text}" if part.progress.last_text else ""))
    if part.completion:
        print(f"  完成情况：{part.completion.summary}（{part.completion.reported_at}）")
    if part.pending_extension:
        print(f"  待审批延期：至 {part.pending_extension.new_deadline}，理由：{part.pending_extension.reason}")
    for e in part.trail:
        print(f"  {e.seq}. {e.occurred_at} {e.actor.name}（{e.actor.role_label}）{e.label}"
              + (f" → {TASK_STATE_LABELS[TaskState(e.to_state)]}" if e.to_state in TASK_STATE_LABELS else ""))
    offered = "、".join(f"{a}（{part.action_labels[a]}）" for a in part.allowed_actions) or "无"
    print(f"  可执行的操作：{offered}")


def cmd_show(args: argparse.Namespace) -> int:
    with read_only(session_factory()) as s:
        who = acting_user(s, args.as_user)
        part = reads.get_view(s, who, args.id, now=utcnow())
    if args.json:
        print(part.model_dump_json())
    else:
        _print_part(part)
    return 0


def _body(text: str | None) -> dict:
    if text is None:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        raise invalid_field("body", "--body 应为 JSON 对象，例如 '{\"text\": \"已完成检查\"}'") from None
    if not isinstance(data, dict):
        raise invalid_field("body", "--body 应为 JSON 对象（花括号括起的键值对）")
    return data


def cmd_act(args: argparse.Namespace) -> int:
    data = _body(args.body)
    now = utcnow()
    with transaction(session_factory()) as s:
        who = acting_user(s, args.as_user)
        part = engine.perform(s, who, args.id, args.action, data, now=now, if_match=args.if_match)
        view = reads.view_loaded(s, part, who, now=now)
    if args.json:
        print(view.model_dump_json())
    else:
        label = view.trail[-1].label if view.trail else args.action
        print(f"已办理“{label}”：任务分工 #{view.id} 当前状态 {view.state_label}（版本 {view.version}）")
    return 0


def add_parsers(tasks) -> None:
    """The sub-commands, under `hazard tasks`."""
    states = [s.value for s in TaskState]
    tl = tasks.add_parser("list", help="列出本人可见的任务分工（承担单位的任务）")
    tl.add_argument("--plan", type=_id, help="计划编号")
    tl.add_argument("--state", action="append", choices=states, help="状态，可多次给出：" + "、".join(
        f"{s} {TASK_STATE_LABELS[TaskState(s)]}" for s in states))
    tl.add_argument("--overdue", action="store_true", help="只列出已过完成时限且尚未报告完成的")
    tl.add_argument("--as", dest="as_user", required=True, help="以该用户名查看（按其办理范围）")
    tl.add_argument("--json", action="store_true", help="输出 JSON 数组")
    tl.set_defaults(func=cmd_list)

    tsh = tasks.add_parser("show", help="查看一项任务分工：内容、进展、轨迹、可执行的操作")
    tsh.add_argument("id", type=_id, help="任务分工编号")
    tsh.add_argument("--as", dest="as_user", required=True, help="以该用户名查看")
    tsh.add_argument("--json", action="store_true", help="输出 JSON")
    tsh.set_defaults(func=cmd_show)

    ta = tasks.add_parser("act", help="办理一项任务分工（签收、报告进展、报告完成、核查、退回、延期……）")
    ta.add_argument("id", type=_id, help="任务分工编号")
    ta.add_argument("action", help="操作，如 acknowledge、report_progress、report_completion、verify、return")
    ta.add_argument("--as", dest="as_user", required=True, help="办理人的用户名")
    ta.add_argument("--body", help="操作的 JSON 内容，例如 '{\"text\": \"已完成检查\"}'")
    ta.add_argument("--if-match", dest="if_match", type=_id, help="只在任务分工仍是该版本时办理")
    ta.add_argument("--json", action="store_true", help="输出办理后的任务分工 JSON")
    ta.set_defaults(func=cmd_act)
