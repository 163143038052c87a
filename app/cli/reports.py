"""`hazard reports prepare|status|submit`: 直报 from the command line — the daily sweep by hand (every
region's draft, the deadline's reminder and late steps; what the `office-duties` flow runs), a
region's and its children's states, and a submission made as a named 安委办 user."""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from datetime import datetime, timezone

from app.cli.database import session_factory, unit_of_work
from db.engine import read_only, transaction
from services.calendar import years as calendar_years
from services.kernel.clock import local_date, local_text, utcnow
from services.kernel.settings import get_settings
from services.reports import submission
from services.reports.submission_duties import sweep


def _moment(text: str) -> datetime:
    """An ISO moment (`2026-11-30T08:30+08:00`); a naive one is taken as UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("时间格式应为 ISO 8601，例如 2026-11-30T08:30+08:00") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def cmd_prepare(args: argparse.Namespace) -> int:
    uow = unit_of_work()
    calendar = calendar_years.refresh(uow, force=True)
    now = args.now or utcnow()
    started = time.perf_counter()
    counts = sweep(uow, now=now, calendar=calendar, settings=get_settings())
    took = time.perf_counter() - started
    print(f"月报草稿：新建 {counts['drafts_created']}，更新 {counts['drafts_refreshed']}，已上报未动 {counts['drafts_kept']}；"
          f"截止日提醒 {counts['remind']}，逾期 {counts['late']}（消息 {counts['messages']}，列入通报 {counts['listed']}）；"
          f"用时 {took:.2f} 秒")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from services.accounts.auth import SYSTEM

    now = utcnow()
    calendar = calendar_years.refresh(unit_of_work(), force=True)
    rule = submission.DueRule.of(calendar, get_settings())
    with read_only(session_factory()) as s:
        # the operator reads any region: the scope of its province
        reader = replace(SYSTEM, region_code=(args.region or "")[:2] + "0000")
        t = submission.target(s, reader, args.region, args.month, local_date(now))
        out = submission.status(s, t, today=local_date(now), rule=rule)
    print(f"{out.region_name} {out.month}：{out.state_label}{'（逾期）' if out.late else ''}，截止日 {out.deadline}")
    for c in out.children:
        when = local_text(c.submitted_at) or "—"
        late = "\t逾期" if c.late else ""
        print(f"  {c.region_code} {c.region_name}\t{c.state_label}\t{when}{late}")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    now = utcnow()
    calendar = calendar_years.refresh(unit_of_work(), force=True)
    with transaction(session_factory()) as s:
        who = submission.acting_user(s, args.as_user)
        t = submission.target(s, who, args.region, args.month, local_date(now))
        row = submission.submit(s, who, t, now=now, rule=submission.DueRule.of(calendar, get_settings()))
        digest = row.sha256
    print(f"已上报 {t.name} {t.month} 的月报，SHA-256 {digest}")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("reports", help="直报：月报草稿、上报状态、上报")
    rs = p.add_subparsers(dest="reports_command", required=True)
    prep = rs.add_parser("prepare", help="生成各地月报草稿，并执行截止日提醒和逾期处理（同 office-duties 流程）")
    prep.add_argument("--now", type=_moment, help="按该时刻执行（ISO 8601），默认现在")
    prep.set_defaults(func=cmd_prepare)
    st = rs.add_parser("status", help="某地区及其下级的月报上报状态")
    st.add_argument("--region", required=True, help="行政区划代码（6位）")
    st.add_argument("--month", required=True, help="YYYY-MM")
    st.set_defaults(func=cmd_status)
    sb = rs.add_parser("submit", help="以某安委办用户的身份上报本地区的月报")
    sb.add_argument("--region", required=True, help="行政区划代码（6位）")
    sb.add_argument("--month", required=True, help="YYYY-MM")
    sb.add_argument("--as", dest="as_user", required=True, help="上报人的用户名（本地区安委办）")
    sb.set_defaults(func=cmd_submit)
