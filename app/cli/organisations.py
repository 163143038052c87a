"""`hazard regions|enterprises|users|tokens`: the organisations and people the service knows, kept
by an administrator at the command line (`enterprises import` is app/cli/imports.py's)."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.cli import imports as cli_imports
from app.cli.database import session_factory
from db.engine import transaction
from services.accounts import admin
from services.kernel.clock import utcnow
from services.kernel.vocab import INDUSTRIES
from services.lifecycle.roles import USER_ROLES
from services.organisations import queries as org_queries


def cmd_regions_add(args: argparse.Namespace) -> int:
    with transaction(session_factory()) as s:
        r = admin.add_region(s, args.code, args.name, args.parent)
        print(f"已添加行政区划 {r.code} {r.name}（{r.level}）")
    return 0


def cmd_regions_load(args: argparse.Namespace) -> int:
    with transaction(session_factory()) as s:
        n = admin.load_regions_csv(s, Path(args.file) if args.file else admin.REGIONS_CSV)
    print(f"已载入 {n} 个行政区划")
    return 0


def cmd_enterprises_add(args: argparse.Namespace) -> int:
    with transaction(session_factory()) as s:
        e = admin.add_enterprise(s, args.uscc, args.name, args.region, args.industry, now=utcnow())
        print(f"已添加企业 {e.name}（{e.uscc}）")
    return 0


def cmd_enterprises_active(args: argparse.Namespace) -> int:
    with transaction(session_factory()) as s:
        ent = admin.set_enterprise_active(s, args.uscc, args.active)
        name = ent.name
    print(f"企业 {name}（{args.uscc.strip().upper()}）已{'启用' if args.active else '停用（不再登记新的隐患）'}")
    return 0


def cmd_users_add(args: argparse.Namespace) -> int:
    with transaction(session_factory()) as s:
        user, token = admin.add_user(
            s, args.username, args.role, args.region, now=utcnow(), enterprise_uscc=args.enterprise,
            password=args.password, display_name=args.name, industry=args.industry, email=args.email,
        )
        if args.org:
            user.organisation_id = org_queries.organisation_for(s, args.region, args.org)
        role, username = user.role, user.username
    print(f"已添加用户 {username}（{role}）。API 令牌（只显示这一次）：")
    print(token)
    return 0


def cmd_tokens_issue(args: argparse.Namespace) -> int:
    with transaction(session_factory()) as s:
        token = admin.new_token(s, args.username, now=utcnow(), label=args.label)
    print(f"已为 {args.username} 签发新令牌（只显示这一次）：")
    print(token)
    return 0


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    with transaction(session_factory()) as s:
        n = admin.revoke_tokens(s, args.username, now=utcnow())
    print(f"已吊销 {args.username} 的 {n} 个令牌")
    return 0


def cmd_users_active(args: argparse.Namespace) -> int:
    with transaction(session_factory()) as s:
        admin.set_active(s, args.username, args.active)
        if not args.active:
            admin.revoke_tokens(s, args.username, now=utcnow())
    print(f"用户 {args.username} 已{'启用' if args.active else '停用（令牌已吊销）'}")
    return 0


def cmd_users_password(args: argparse.Namespace) -> int:
    import getpass

    password = args.password or getpass.getpass("新密码：")
    with transaction(session_factory()) as s:
        admin.set_password(s, args.username, password)
    print(f"已设置 {args.username} 的密码")
    return 0


def add_parsers(sub) -> None:
    regions = sub.add_parser("regions", help="行政区划").add_subparsers(dest="regions_command", required=True)
    ra = regions.add_parser("add", help="添加行政区划")
    ra.add_argument("--code", required=True)
    ra.add_argument("--name", required=True)
    ra.add_argument("--parent")
    ra.set_defaults(func=cmd_regions_add)
    rl = regions.add_parser("load", help="从 CSV（code,name,parent）载入，默认山西省的数据")
    rl.add_argument("--file")
    rl.set_defaults(func=cmd_regions_load)

    ents = sub.add_parser("enterprises", help="生产经营单位").add_subparsers(dest="ent_command", required=True)
    ea = ents.add_parser("add", help="添加企业")
    ea.add_argument("--uscc", required=True, help="统一社会信用代码")
    ea.add_argument("--name", required=True)
    ea.add_argument("--region", required=True)
    ea.add_argument("--industry", required=True, choices=INDUSTRIES)
    ea.set_defaults(func=cmd_enterprises_add)
    cli_imports.add_enterprises_import(ents)
    edis = ents.add_parser("disable", help="停用企业：保留其记录，不再登记新的隐患")
    edis.add_argument("--uscc", required=True, help="统一社会信用代码")
    edis.set_defaults(func=cmd_enterprises_active, active=False)
    een = ents.add_parser("enable", help="启用企业")
    een.add_argument("--uscc", required=True, help="统一社会信用代码")
    een.set_defaults(func=cmd_enterprises_active, active=True)

    users = sub.add_parser("users", help="用户").add_subparsers(dest="users_command", required=True)
    ua = users.add_parser("add", help="添加用户并签发 API 令牌（最后一行）")
    ua.add_argument("--username", required=True)
    ua.add_argument("--role", required=True, choices=USER_ROLES)
    ua.add_argument("--region", required=True)
    ua.add_argument("--enterprise", help="企业用户所属企业的统一社会信用代码")
    ua.add_argument("--password")
    ua.add_argument("--name", help="姓名")
    ua.add_argument("--industry", choices=INDUSTRIES, help="检查员/监管人员分管的行业")
    ua.add_argument("--email", help="接收通知的电子邮箱（配置了 SMTP 服务器时发送邮件）")
    ua.add_argument("--org", help="所属单位（本行政区划的单位名称或别名，见 hazard orgs list）")
    ua.set_defaults(func=cmd_users_add)

    ud = users.add_parser("disable", help="停用用户并吊销其令牌")
    ud.add_argument("--username", required=True)
    ud.set_defaults(func=cmd_users_active, active=False)
    ue = users.add_parser("enable", help="启用用户")
    ue.add_argument("--username", required=True)
    ue.set_defaults(func=cmd_users_active, active=True)
    up_ = users.add_parser("password", help="设置密码（不给 --password 时交互输入）")
    up_.add_argument("--username", required=True)
    up_.add_argument("--password")
    up_.set_defaults(func=cmd_users_password)

    toks = sub.add_parser("tokens", help="API 令牌").add_subparsers(dest="tokens_command", required=True)
    ti = toks.add_parser("issue", help="为用户签发新令牌（最后一行）")
    ti.add_argument("--username", required=True)
    ti.add_argument("--label", default="cli")
    ti.set_defaults(func=cmd_tokens_issue)
    tr = toks.add_parser("revoke", help="吊销用户的全部令牌")
    tr.add_argument("--username", required=True)
    tr.set_defaults(func=cmd_tokens_revoke)
