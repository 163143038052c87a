"""`hazard self-inspections sweep` and `hazard self-inspections status`: the escalation of missing
企业自查 returns run by hand (the flow runs it on schedule), and a region's filing status."""

from __future__ import annotations

import argparse

from app.cli.database import session_factory, unit_of_work
from db.engine import read_only
from services.accounts.auth import Principal
from services.kernel.clock import local_date, utcnow
from services.lifecycle.roles import Role

STEP_NAMES = {"remind": "提醒企业", "list": "列入未报送名单", "publicize": "列入通报", "messages": "消息",
              "bulletin_items": "通报条目"}


def _day(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"日期格式应为 YYYY-MM-DD：{text}") from None


def cmd_sweep(args: argparse.Namespace) -> int:
    from services.calendar import years as calendar_years
    from services.inspections import duties

    uow = unit_of_work()
    calendar = calendar_years.refresh(uow, force=True)
    counts = duties.sweep(uow, now=utcnow(), calendar=calendar, as_of=args.as_of)
    as_of = args.as_of or local_date(utcnow())
    print(f"企业自查催报完成：截至 {as_of}，" + "，".join(f"{STEP_NAMES[k]} {v}" for k, v in counts.items()))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from services.inspections import reads

    # The operator reads as an office of the region asked for (a command-line user has no scope of
    # its own: whoever runs it on the server sees every region).
    reader = Principal(None, "cli", "命令行", Role.ADMIN, args.region if len(args.region or "") == 6 else "000000")
    with read_only(session_factory()) as session:
        result = reads.list_view(session, reader, month=args.month, region=args.region, missing=args.missing,
                                 today=local_date(utcnow()))
    if args.json:
        print(result.model_dump_json(indent=2))
        return 0
    print(f"{result.region_name}（{result.region_code}）{result.month} 企业自查：应报 {result.total}，"
          f"已报 {result.filed}，未报 {result.total - result.filed}")
    for row in result.rows:
        state = ("零报告" if row.nil_return else f"发现隐患 {row.hazards} 条") if row.filed else "未报送"
        print(f"{row.enterprise_uscc}\t{row.enterprise_name}\t{row.region_code}\t{state}\t立查立改 {row.spot_fixes}")
    return 0


def add_parsers(sub) -> None:
    si = sub.add_parser("self-inspections", help="企业自查：催报扫描、报送情况")
    ss = si.add_subparsers(dest="self_inspections_command", required=True)
    sw = ss.add_parser("sweep", help="执行一次企业自查催报扫描（提醒、列入未报送名单、列入通报）")
    sw.add_argument("--as-of", type=_day, help="按该日期（YYYY-MM-DD）判断是否到期，默认今天")
    sw.set_defaults(func=cmd_sweep)
    st = ss.add_parser("status", help="某地区某月企业自查报送情况")
    st.add_argument("--month", required=True, help="YYYY-MM")
    st.add_argument("--region", required=True, help="行政区划代码（6位）")
    st.add_argument("--missing", action="store_true", help="只列未报送的企业")
    st.add_argument("--json", action="store_true", help="输出 JSON")
    st.set_defaults(func=cmd_status)
