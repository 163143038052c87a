"""`hazard accountability body set|list` (the 纪检监察 body each region's 问责移交 goes to),
`hazard accountability sweep` (the 约谈 and 问责移交 records of the ladder's summon and refer
steps) and `hazard bulletins collect` (overdue hazards onto the month's 通报 list): run by hand;
the flow runs the sweeps on schedule."""

from __future__ import annotations

import argparse

from app.cli.database import session_factory, unit_of_work
from db.engine import read_only, transaction
from services.kernel.clock import utcnow


def cmd_body_set(args: argparse.Namespace) -> int:
    from services.accountability import bodies

    with transaction(session_factory()) as session:
        row = bodies.set_body(session, args.region, args.name, now=utcnow())
        print(f"已设定 {row.region_code} 的纪检监察机关：{row.name}")
    return 0


def cmd_body_list(args: argparse.Namespace) -> int:
    from services.accountability import bodies

    with read_only(session_factory()) as session:
        rows = [(b.region_code, b.name) for b in bodies.list_bodies(session)]
    if not rows:
        print("尚未配置纪检监察机关（问责移交将按行政区划推定为“<地区>纪委监委”）")
    for code, name in rows:
        print(f"{code}\t{name}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from services.accountability import records

    counts = records.sweep(unit_of_work(), now=utcnow())
    print(f"约谈记录 {counts['summonses']} 条，问责移交 {counts['referrals']} 条")
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from services.bulletins import collect

    counts = collect.sweep(unit_of_work(), now=utcnow())
    print(f"列入通报清单的逾期隐患：新增 {counts['proposed']} 条，已在清单 {counts['existing']} 条")
    return 0


def add_parsers(sub) -> None:
    acc = sub.add_parser("accountability", help="问责移交与约谈：纪检监察机关、记录生成")
    asub = acc.add_subparsers(dest="accountability_command", required=True)
    body = asub.add_parser("body", help="各地区问责移交的纪检监察机关")
    bsub = body.add_subparsers(dest="body_command", required=True)
    bset = bsub.add_parser("set", help="设定一个地区的纪检监察机关（下级未设定的地区沿用）")
    bset.add_argument("region", help="行政区划代码（6位）")
    bset.add_argument("name", help="机关名称，如：中共吕梁市纪律检查委员会 吕梁市监察委员会")
    bset.set_defaults(func=cmd_body_set)
    blist = bsub.add_parser("list", help="列出已设定的纪检监察机关")
    blist.set_defaults(func=cmd_body_list)
    sw = asub.add_parser("sweep", help="为督办升级的约谈、问责移交生成记录（及移交函）")
    sw.set_defaults(func=cmd_sweep)
    bul = sub.add_parser("bulletins", help="通报清单")
    bsub2 = bul.add_subparsers(dest="bulletins_command", required=True)
    col = bsub2.add_parser("collect", help="将督办升级到“通报”的逾期隐患列入当月通报清单")
    col.set_defaults(func=cmd_collect)
