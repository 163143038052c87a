"""`hazard orgs import|list|resolve`: government bodies (安委会、部门、县乡政府) and their aliases."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from app.cli.database import session_factory
from db.engine import read_only, transaction
from services.kernel.clock import utcnow
from services.kernel.errors import invalid_field
from services.organisations import imports, queries
from services.organisations.resolve import Resolver


def cmd_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise invalid_field("file", f"文件 {args.file} 不存在")
    rows = imports.parse(path.read_bytes(), args.region)
    with transaction(session_factory()) as s:
        out = imports.load(s, rows, now=utcnow(), update=args.update, dry_run=args.dry_run, within=args.region)
    print(json.dumps(out.as_json(), ensure_ascii=False) if args.json else out.text())
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with read_only(session_factory()) as s:
        orgs = queries.in_region(s, args.region)
    if args.json:
        print(json.dumps(orgs, ensure_ascii=False))
        return 0
    for o in orgs:
        flags = ("（安委会成员）" if o["committee_member"] else "") \
            + ("（负有安全监管职责）" if o["safety_supervision"] else "")
        alias = f"  别名：{'、'.join(o['aliases'])}" if o["aliases"] else ""
        print(f"{o['id']}\t{imports.KIND_NAMES[o['kind']]}\t{o['name']}{flags}{alias}")
    print(f"共 {len(orgs)} 个单位")
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    answers = []
    with read_only(session_factory()) as s:
        resolver = Resolver(s, args.region)
        for name in args.names:
            r = resolver.resolve(name)
            answers.append({"name": name, "kind": r.kind, "org_ids": r.org_ids, "label": r.label, "note": r.note,
                            "orgs": [resolver.org(i).name for i in r.org_ids]})
    if args.json:
        print(json.dumps(answers, ensure_ascii=False))
        return 0
    for a in answers:
        if a["kind"] == "org":
            print(f"{a['name']} → {a['label']}（{a['org_ids'][0]}）")
        elif a["kind"] == "group":
            print(f"{a['name']} → {a['label']}：{'、'.join(a['orgs'])}" + (f"（{a['note']}）" if a["note"] else ""))
        else:
            print(f"{a['name']} → 未识别，需人工核对")
    return 0


def add_parsers(sub) -> None:
    orgs = sub.add_parser("orgs", help="政府机构（安委会、部门、县乡政府）").add_subparsers(dest="orgs_command",
                                                                                           required=True)
    oi = orgs.add_parser("import", help="从 CSV 导入单位和别名（重复导入不改变任何数据）")
    oi.add_argument("file")
    oi.add_argument("--region", help="行政区划代码：未填写行政区划的行取此值，且各行须在此辖区内")
    oi.add_argument("--update", action="store_true", help="已有单位按文件更新类别和标志")
    oi.add_argument("--dry-run", action="store_true", help="只检查，不写入")
    oi.add_argument("--json", action="store_true")
    oi.set_defaults(func=cmd_import)
    ol = orgs.add_parser("list", help="列出一个行政区划的单位")
    ol.add_argument("--region", required=True)
    ol.add_argument("--json", action="store_true")
    ol.set_defaults(func=cmd_list)
    orr = orgs.add_parser("resolve", help="看名称（如计划中的责任单位）对应哪个或哪些单位")
    orr.add_argument("--region", required=True, help="发文机关所在行政区划代码")
    orr.add_argument("names", nargs="+")
    orr.add_argument("--json", action="store_true")
    orr.set_defaults(func=cmd_resolve)
