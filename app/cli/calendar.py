"""`hazard calendar status|set-year|unset`: which years' working days are official, and loading a
year's arrangement once the State Council publishes it (services/calendar/arrangements.py,
years.py). Registered by app/cli/main.py (`add_parsers`); the connection is app/cli/database.py's."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from app.cli.database import session_factory
from db.engine import UnitOfWork, read_only, transaction
from services.calendar import arrangements, years as calendar_years
from services.kernel.clock import local_date, utcnow


def _year(text: str) -> int:
    if not text.isdigit() or arrangements.check_year(int(text)):
        raise argparse.ArgumentTypeError(
            f"年份应为 {arrangements.FIRST_YEAR} 至 {arrangements.LAST_YEAR} 之间的四位数字：{text}")
    return int(text)


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name (a container without a passwd entry)
        return "cli"


def _print(change: calendar_years.Change, as_json: bool) -> None:
    if as_json:
        print(json.dumps(change.as_dict(), ensure_ascii=False, indent=2))
    else:
        print("\n".join(change.lines()))


def cmd_calendar_status(args: argparse.Namespace) -> int:
    factory = session_factory()
    calendar = calendar_years.refresh(UnitOfWork(factory), force=True)
    today = local_date(utcnow())
    with read_only(factory) as s:
        years = calendar_years.status(s, calendar, today)
    if args.json:
        print(json.dumps({"today": today.isoformat(), "years": [y.as_dict() for y in years]},
                         ensure_ascii=False, indent=2))
    else:
        print("\n".join(calendar_years.status_lines(years)))
    return 0


def cmd_calendar_set_year(args: argparse.Namespace) -> int:
    note = args.note
    if args.file:
        if args.holidays or args.workdays:
            print("错误：--file 与 --holidays/--workdays 只能选一种", file=sys.stderr)
            return 2
        new, file_note = arrangements.from_file(args.year, Path(args.file))
        note = note or file_note
    elif args.holidays is None:
        print("错误：请用 --holidays（及 --workdays）给出安排，或用 --file 指定文件", file=sys.stderr)
        return 2
    else:
        new = arrangements.from_text(args.year, args.holidays, args.workdays)
    factory = session_factory()
    calendar = calendar_years.refresh(UnitOfWork(factory), force=True)
    with transaction(factory) as s:
        change = calendar_years.set_year(s, new, calendar=calendar, note=note, by=args.by or _operator(),
                                         now=utcnow())
    calendar_years.refresh(UnitOfWork(factory), force=True)
    _print(change, args.json)
    return 0


def cmd_calendar_unset(args: argparse.Namespace) -> int:
    factory = session_factory()
    calendar = calendar_years.refresh(UnitOfWork(factory), force=True)
    with transaction(factory) as s:
        change = calendar_years.unset_year(s, args.year, calendar=calendar)
    calendar_years.refresh(UnitOfWork(factory), force=True)
    _print(change, args.json)
    return 0


def add_parsers(sub) -> None:
    c = sub.add_parser("calendar", help="工作日日历：各年份节假日安排的来源，载入新公布的安排").add_subparsers(
        dest="calendar_command", required=True)
    st = c.add_parser("status", help="列出去年至最晚整改期限次年的各年份：安排来源、全年工作日、在办隐患期限数")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_calendar_status)

    sy = c.add_parser("set-year", help="载入某年的节假日安排（国务院办公厅通知），替换该年原有的安排")
    sy.add_argument("year", type=_year, help="年份，例如 2027")
    sy.add_argument("--holidays", help="放假日（含其中的周末也可），逗号分隔，A..B 表示连续日期，"
                                       "例如 2027-01-01..2027-01-03,2027-02-05..2027-02-12")
    sy.add_argument("--workdays", help="调休上班日（只能是星期六或星期日），逗号分隔，例如 2027-02-20")
    sy.add_argument("--file", help="TOML 文件，格式同日历覆盖文件（[2027] 表下 holidays、workdays、note）")
    sy.add_argument("--note", help="依据，例如 国办发明电〔2026〕x号")
    sy.add_argument("--by", help="载入人（默认：cli:<登录名>）")
    sy.add_argument("--json", action="store_true")
    sy.set_defaults(func=cmd_calendar_set_year)

    un = c.add_parser("unset", help="删除管理员载入的某年安排（该年改回覆盖文件、软件包或暂定安排）")
    un.add_argument("year", type=_year)
    un.add_argument("--json", action="store_true")
    un.set_defaults(func=cmd_calendar_unset)
