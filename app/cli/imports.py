"""`hazard enterprises import` and `hazard import-ledger`: a county's enterprises from a list and
its running 台账 from Excel (services/imports/). Both print their report (or `--json`) and exit 0
only when every row is valid and was written (or would be, with `--dry-run`), 1 otherwise, 2 when
the file cannot be read."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.cli.database import unit_of_work
from services.kernel.clock import utcnow


def _read(path: str) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        print(f"错误：无法读取文件 {path}：{exc.strerror}", file=sys.stderr)
        return None


def _report(report: Any, as_json: bool) -> int:
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        print("\n".join(report.lines()))
    return 0 if report.ok and (report.committed or report.dry_run) else 1


def cmd_enterprises_import(args: argparse.Namespace) -> int:
    from services.imports import enterprises as enterprise_import

    content = _read(args.file)
    if content is None:
        return 2
    return _report(enterprise_import.run(unit_of_work(), content, now=utcnow(), update=args.update,
                                         partial=args.partial, dry_run=args.dry_run), args.json)


def cmd_import_ledger(args: argparse.Namespace) -> int:
    """Rows already present count as fine; the report goes to stdout."""
    from services.imports import ledger as ledger_import

    content = _read(args.file)
    if content is None:
        return 2
    return _report(ledger_import.run(unit_of_work(), content, args.username, now=utcnow(), partial=args.partial,
                                     dry_run=args.dry_run, filename=Path(args.file).name), args.json)


def add_enterprises_import(ents) -> None:
    """`import` among the `enterprises` subcommands (app/cli/organisations.py)."""
    ei = ents.add_parser("import", help="从 .xlsx 或 .csv 批量导入企业（列：统一社会信用代码、名称、行政区划、行业；"
                                        "有误时默认全部不导入）")
    ei.add_argument("file", help=".xlsx 或 .csv 文件")
    ei.add_argument("--update", action="store_true", help="统一社会信用代码已存在而名称、行政区划或行业不同时，以文件为准更新")
    ei.add_argument("--partial", action="store_true", help="导入有效的行，列出有误的行")
    ei.add_argument("--dry-run", action="store_true", help="只检查并报告将发生什么，不写入")
    ei.add_argument("--json", action="store_true")
    ei.set_defaults(func=cmd_enterprises_import)


def add_parsers(sub) -> None:
    il = sub.add_parser("import-ledger", help="从 Excel 台账导入隐患（列同台账导出，另可有挂牌、整改方案、验收申请的列；"
                                              "可导入待核查、已登记、挂牌督办、整改中、待验收的隐患；有误时默认全部不导入）")
    il.add_argument("file", help=".xlsx 文件")
    il.add_argument("--username", required=True, help="以该用户身份报告和登记")
    il.add_argument("--partial", action="store_true", help="导入有效的行，列出有误的行")
    il.add_argument("--dry-run", action="store_true", help="只检查并报告将导入什么，不写入")
    il.add_argument("--json", action="store_true")
    il.set_defaults(func=cmd_import_ledger)
