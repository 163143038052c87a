"""`hazard prefect resync [--code C] | status`: the lifecycle mirror in Prefect (issue 15).

`resync` rebuilds runs from the audit trail: every item's, or one hazard's (its code) or one unit's
part (`task-<id>`); the run Prefect holds for it is replaced, never added to. `status` says what
waits to be shown and which items Prefect keeps refusing."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request

from app.cli.database import session_factory
from db.engine import UnitOfWork
from services.kernel.errors import invalid_field
from services.mirror import stream

DEFAULT_URL = "http://127.0.0.1:4200/api"


def _prefect(url: str | None) -> str:
    """The Prefect API to write to (passed to the mirror's sink explicitly), checked to answer: a
    resync against nothing would only queue failures."""
    url = (url or os.environ.get("PREFECT_API_URL") or DEFAULT_URL).rstrip("/")
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as r:  # noqa: S310 - the operator's own server
            ok = r.status == 200
    except OSError:
        ok = False
    if not ok:
        raise invalid_field("prefect_url", f"Prefect 服务器 {url} 无法连接：请先启动 hazard serve，"
                                           "或用 --prefect-url 指明（也可设置 PREFECT_API_URL）")
    return url


def cmd_resync(args: argparse.Namespace) -> int:
    url = _prefect(args.prefect_url)
    uow = UnitOfWork(session_factory())
    items = stream.enqueue_all(uow, code=args.code)
    if args.code and not items:
        raise invalid_field("code", f"没有编号为 {args.code} 的隐患或任务分工")
    from flows.mirror import mirror_now  # prefect is imported only by the command that needs it

    report = mirror_now(api_url=url)
    left = stream.status(uow)
    out = {"prefect": url, "items": len(items), "shown": report.items, "transitions": report.transitions,
           "lines": report.lines, "failed": report.failed, "queued": left.queued_items, "errors": report.errors[:5]}
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(f"已在 Prefect（{url}）重建 {len(items)} 项的办理流程：{report.transitions} 个办理步骤，"
              f"{report.lines} 条日志；失败 {report.failed} 项，尚待写入 {left.queued_items} 项")
        for error in report.errors[:5]:
            print(f"  {error}", file=sys.stderr)
    return 0 if report.failed == 0 and not (report.errors and report.items == 0) else 1


def cmd_status(args: argparse.Namespace) -> int:
    st = stream.status(UnitOfWork(session_factory()))
    if args.json:
        print(json.dumps({"queued_rows": st.queued_rows, "queued_items": st.queued_items, "mirrored_items": st.items,
                          "failing": [{"item": i, "failures": f, "error": e} for i, f, e in st.failing]},
                         ensure_ascii=False))
        return 0
    print(f"已在 Prefect 建立办理流程 {st.items} 项；待写入 {st.queued_items} 项（{st.queued_rows} 条记录）")
    for item, failures, error in st.failing:
        print(f"  {item}：连续失败 {failures} 次：{error[:200]}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prefect", help="Prefect 中的隐患与任务办理流程（镜像）")
    ps = p.add_subparsers(dest="prefect_cmd", required=True)
    r = ps.add_parser("resync", help="从审计链重建 Prefect 中的办理流程（全部，或 --code 指定的一项）")
    r.add_argument("--code", help="隐患编号，或任务分工 task-<id>")
    r.add_argument("--prefect-url", help=f"Prefect API 地址（默认 PREFECT_API_URL 或 {DEFAULT_URL}）")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_resync)
    s = ps.add_parser("status", help="镜像待写入与失败情况")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)
