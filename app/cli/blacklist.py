"""`hazard blacklist candidates` and `hazard blacklist remind`: a region's 黑名单 candidates for a
quarter with their evidence, and the half-year inspection reminders of listed enterprises run by
hand (the lead's flow runs the sweep on schedule)."""

from __future__ import annotations

import argparse

from app.cli.database import session_factory, unit_of_work
from db.engine import read_only
from services.kernel.clock import local_date, utcnow


def cmd_candidates(args: argparse.Namespace) -> int:
    from services.blacklist import candidates

    with read_only(session_factory()) as session:
        found = candidates.compute(session, args.region, args.quarter or candidates.quarter_of(local_date(utcnow())),
                                   today=local_date(utcnow()))
    if args.json:
        print("[" + ",".join(c.model_dump_json() for c in found) + "]")
        return 0
    print(f"{args.region} 黑名单候选：{len(found)} 家")
    for c in found:
        print(f"{c.uscc}\t{c.name}\t{'；'.join(c.reasons)}")
    return 0


def cmd_remind(args: argparse.Namespace) -> int:
    from services.blacklist import duties
    from services.calendar import years as calendar_years

    uow = unit_of_work()
    calendar = calendar_years.refresh(uow, force=True)
    counts = duties.sweep(uow, now=utcnow(), calendar=calendar)
    print(f"黑名单企业半年检查提醒：提醒 {counts['remind']} 家，消息 {counts['messages']} 条")
    return 0


def add_parsers(sub) -> None:
    bl = sub.add_parser("blacklist", help="黑名单：候选名单、半年检查提醒")
    bl_sub = bl.add_subparsers(dest="blacklist_command", required=True)
    cand = bl_sub.add_parser("candidates", help="某地区某季度的黑名单候选及证据")
    cand.add_argument("--region", required=True, help="行政区划代码（6位）")
    cand.add_argument("--quarter", help="YYYY-Qn，默认本季度")
    cand.add_argument("--json", action="store_true")
    cand.set_defaults(func=cmd_candidates)
    remind = bl_sub.add_parser("remind", help="提醒检查人员：黑名单企业每半年至少检查一次")
    remind.set_defaults(func=cmd_remind)
