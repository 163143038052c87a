"""The `hazard` command line (DESIGN 6).

Messages for people are Chinese; a command that creates a user prints the token alone on its last
line, so scripts can take it with `tail -n 1`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from db.engine import make_engine, make_session_factory, transaction
from db.migrate import application_role, grant_application_role, same_database, schema_at_head
from db.migrate import upgrade as migrate_upgrade, downgrade as migrate_downgrade
from services.accounts import admin
from app.cli import calendar as cli_calendar, records as cli_records
from services.kernel.clock import utcnow
from services.kernel.errors import DomainError
from services.lifecycle.table import USER_ROLES
from services.kernel.settings import Settings, get_settings
from services.kernel.vocab import INDUSTRIES


def _factory():
    settings = get_settings()
    return make_session_factory(make_engine(settings.database_url, pool_size=2, max_overflow=2))


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Migrate as the tables' owner (HAZARD_MIGRATION_DATABASE_URL when set); when the service runs
    as another role, grant it what it needs and no more (README "PostgreSQL in production")."""
    settings = get_settings()
    url = settings.migration_database_url or settings.database_url
    app_role = application_role(settings.database_url, settings.migration_database_url)
    if app_role and not same_database(settings.database_url, url):
        print("错误：HAZARD_MIGRATION_DATABASE_URL 与 HAZARD_DATABASE_URL 须指向同一个数据库（仅用户不同）",
              file=sys.stderr)
        return 2
    make_engine(url).dispose()  # creates the SQLite file's folder
    migrate_upgrade(url, args.revision)
    print(f"数据库已升级到 {args.revision}：{_safe_url(url)}")
    if app_role:
        grant_application_role(url, app_role)
        print(f"已授权应用角色 {app_role}：业务表可读写，审计表只能查询和追加")
    return 0


def cmd_db_downgrade(args: argparse.Namespace) -> int:
    settings = get_settings()
    url = settings.migration_database_url or settings.database_url
    migrate_downgrade(url, args.revision)
    print(f"数据库已回退到 {args.revision}")
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def cmd_regions_add(args: argparse.Namespace) -> int:
    with transaction(_factory()) as s:
        r = admin.add_region(s, args.code, args.name, args.parent)
        print(f"已添加行政区划 {r.code} {r.name}（{r.level}）")
    return 0


def cmd_regions_load(args: argparse.Namespace) -> int:
    from pathlib import Path

    with transaction(_factory()) as s:
        n = admin.load_regions_csv(s, Path(args.file) if args.file else admin.REGIONS_CSV)
    print(f"已载入 {n} 个行政区划")
    return 0


def cmd_enterprises_add(args: argparse.Namespace) -> int:
    with transaction(_factory()) as s:
        e = admin.add_enterprise(s, args.uscc, args.name, args.region, args.industry, now=utcnow())
        print(f"已添加企业 {e.name}（{e.uscc}）")
    return 0


def cmd_enterprises_import(args: argparse.Namespace) -> int:
    """Exit 0 only when every row is valid (and was written, unless --dry-run); 1 otherwise."""
    from pathlib import Path

    from services.imports import enterprises as enterprise_import

    try:
        content = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"错误：无法读取文件 {args.file}：{exc.strerror}", file=sys.stderr)
        return 2
    report = enterprise_import.run(_factory(), content, now=utcnow(), update=args.update, partial=args.partial,
                                   dry_run=args.dry_run)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        print("\n".join(report.lines()))
    return 0 if report.ok and (report.committed or report.dry_run) else 1


def cmd_enterprises_active(args: argparse.Namespace) -> int:
    with transaction(_factory()) as s:
        ent = admin.set_enterprise_active(s, args.uscc, args.active)
        name = ent.name
    print(f"企业 {name}（{args.uscc.strip().upper()}）已{'启用' if args.active else '停用（不再登记新的隐患）'}")
    return 0


def cmd_users_add(args: argparse.Namespace) -> int:
    with transaction(_factory()) as s:
        user, token = admin.add_user(
            s, args.username, args.role, args.region, now=utcnow(), enterprise_uscc=args.enterprise,
            password=args.password, display_name=args.name, industry=args.industry, email=args.email,
        )
        role, username = user.role, user.username
    print(f"已添加用户 {username}（{role}）。API 令牌（只显示这一次）：")
    print(token)
    return 0


def cmd_tokens_issue(args: argparse.Namespace) -> int:
    with transaction(_factory()) as s:
        token = admin.new_token(s, args.username, now=utcnow(), label=args.label)
    print(f"已为 {args.username} 签发新令牌（只显示这一次）：")
    print(token)
    return 0


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    with transaction(_factory()) as s:
        n = admin.revoke_tokens(s, args.username, now=utcnow())
    print(f"已吊销 {args.username} 的 {n} 个令牌")
    return 0


def cmd_users_active(args: argparse.Namespace) -> int:
    with transaction(_factory()) as s:
        admin.set_active(s, args.username, args.active)
        if not args.active:
            admin.revoke_tokens(s, args.username, now=utcnow())
    print(f"用户 {args.username} 已{'启用' if args.active else '停用（令牌已吊销）'}")
    return 0


def cmd_users_password(args: argparse.Namespace) -> int:
    import getpass

    password = args.password or getpass.getpass("新密码：")
    with transaction(_factory()) as s:
        admin.set_password(s, args.username, password)
    print(f"已设置 {args.username} 的密码")
    return 0


def _day(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"日期格式应为 YYYY-MM-DD：{text}") from None


def cmd_escalate(args: argparse.Namespace) -> int:
    from services.calendar import years as calendar_years
    from services.escalation import sweep
    from services.escalation.ladder import STEP_LABELS, Step, configured_ladder, step_label

    factory = _factory()
    calendar = calendar_years.refresh(factory, force=True)  # the arrangements loaded until now
    report = sweep.sweep(factory, now=utcnow(), calendar=calendar, config=configured_ladder(),
                         as_of=args.at, dry_run=args.dry_run, keep_details=args.dry_run)
    if args.dry_run:
        for item in report.fired:
            labels = "、".join(step_label(s, item.skipped.get(s, ()), name=True) for s in item.steps)
            print(f"{item.code}\t{labels}")
        skipped = f"（另有 {report.skipped} 个同时到期的较轻步骤跳过）" if report.skipped else ""
        print(f"演练（未执行）：截至 {report.as_of}，{report.hazards} 条隐患应触发 {report.events} 个督办步骤{skipped}")
    else:
        steps = "，".join(f"{STEP_LABELS[Step[k]]} {v}" for k, v in report.by_step.items()) or "无"
        skipped = f"，同时到期的较轻步骤跳过 {report.skipped} 个" if report.skipped else ""
        print(f"督办升级完成：截至 {report.as_of}，{report.hazards} 条隐患触发 {report.events} 个步骤（{steps}）{skipped}")
    for year in calendar.provisional_years():
        print(f"警告：{year} 年的节假日安排尚未公布，按法定节日推算（无调休）；公布后请用 "
              f"hazard calendar set-year {year} 载入", file=sys.stderr)
    return 0


def prepare_schema(settings: Settings) -> str | None:
    """Bring the schema to head before serving: by migrating when the service's role owns the tables,
    else (PostgreSQL with two roles) only by checking, since the application role must not and
    cannot migrate. Returns the refusal to print, or None."""
    url = settings.database_url
    if application_role(url, settings.migration_database_url) is None:
        make_engine(url).dispose()
        migrate_upgrade(url, "head")
        return None
    if schema_at_head(url):
        return None
    return ("错误：数据库结构不是最新版本。服务以应用角色运行，不能自行迁移："
            "请先以表的所有者运行 hazard db upgrade（HAZARD_MIGRATION_DATABASE_URL 指向所有者），再启动服务")


# uvicorn would rewrite the client address from X-Forwarded-For whenever the peer is 127.0.0.1;
# app/api/client.py decides instead, trusting only HAZARD_TRUSTED_PROXIES.
UVICORN_PROXY = {"proxy_headers": False, "forwarded_allow_ips": ""}


def cmd_serve(args: argparse.Namespace) -> int:
    settings = get_settings()
    url = settings.database_url
    refusal = prepare_schema(settings)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    if not args.api_only:
        from app.serve import serve_all

        return serve_all(settings, host=args.host, port=args.port, workers=args.workers,
                         prefect_port=args.prefect_port)
    from app.serve import banner

    print(f"{banner(args.host, args.port)}（数据库 {_safe_url(url)}）", flush=True)
    run_api(args.host, args.port, args.workers)
    return 0


def run_api(host: str, port: int, workers: int) -> None:
    import uvicorn

    if workers > 1:
        uvicorn.run("app.api.asgi:app", host=host, port=port, workers=workers, log_level="warning",
                    **UVICORN_PROXY)
    else:
        from app.api.app import create_app

        uvicorn.run(create_app(), host=host, port=port, log_level="info", **UVICORN_PROXY)


def cmd_demo(args: argparse.Namespace) -> int:
    from services.audit import checkpoints as audit_checkpoints, keys as audit_keys
    from app import demo

    settings = get_settings()
    refusal = prepare_schema(settings)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    # The key first: outside development a missing one stops the demo before it loads anything.
    signer = audit_keys.load_signer(settings.audit_signing_key_path, development=settings.environment == "development")
    factory = _factory()
    summary = demo.load(factory, hazards=args.hazards, seed=args.seed)
    print(summary)
    # The demo's trail reaches months back: checkpoint it now, as the hourly flow would have.
    log_to = audit_checkpoints.CheckpointLog.at(settings.audit_checkpoint_log_target)
    with transaction(factory) as s:
        cp = audit_checkpoints.take_checkpoint(s, now=utcnow(), signer=signer, log_to=log_to)
        print(f"已建立审计检查点 {cp.id}（{cp.leaf_count} 条审计链）")
    return 0


def cmd_import_ledger(args: argparse.Namespace) -> int:
    """Exit 0 only when every row went in (or was already present); the report goes to stdout."""
    from pathlib import Path

    from services.imports import ledger as ledger_import

    try:
        content = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"错误：无法读取文件 {args.file}：{exc.strerror}", file=sys.stderr)
        return 2
    report = ledger_import.run(_factory(), content, args.username, now=utcnow(), partial=args.partial,
                               dry_run=args.dry_run, filename=Path(args.file).name)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        print("\n".join(report.lines()))
    return 0 if report.ok and (report.committed or report.dry_run) else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hazard", description="事故隐患闭环管理服务")
    sub = p.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="数据库").add_subparsers(dest="db_command", required=True)
    up = db.add_parser("upgrade", help="执行迁移到最新版本")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=cmd_db_upgrade)
    down = db.add_parser("downgrade", help="回退迁移")
    down.add_argument("revision", nargs="?", default="base")
    down.set_defaults(func=cmd_db_downgrade)

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
    ei = ents.add_parser("import", help="从 .xlsx 或 .csv 批量导入企业（列：统一社会信用代码、名称、行政区划、行业；"
                                        "有误时默认全部不导入）")
    ei.add_argument("file", help=".xlsx 或 .csv 文件")
    ei.add_argument("--update", action="store_true", help="统一社会信用代码已存在而名称、行政区划或行业不同时，以文件为准更新")
    ei.add_argument("--partial", action="store_true", help="导入有效的行，列出有误的行")
    ei.add_argument("--dry-run", action="store_true", help="只检查并报告将发生什么，不写入")
    ei.add_argument("--json", action="store_true")
    ei.set_defaults(func=cmd_enterprises_import)
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

    cli_records.add_parsers(sub)  # audit, outbox, documents, issuers
    cli_calendar.add_parsers(sub)  # calendar status, set-year, unset

    es = sub.add_parser("escalate", help="执行一次督办升级扫描（逾期提醒、督办函、约谈、提级等）")
    es.add_argument("--at", type=_day, help="按该日期（YYYY-MM-DD）判断是否到期，默认今天")
    es.add_argument("--dry-run", action="store_true", help="只列出将触发的步骤，不执行")
    es.set_defaults(func=cmd_escalate)

    sv = sub.add_parser("serve", help="启动服务：API、本地 Prefect 服务器与定时流程（Ctrl-C 全部停止）")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000, help="API 端口")
    sv.add_argument("--workers", type=int, default=1, help="API 进程数")
    sv.add_argument("--prefect-port", type=int, default=4200, help="Prefect 界面与 API 的端口")
    sv.add_argument("--api-only", action="store_true",
                    help="只启动 API（流程由 Prefect 工作池另行运行时）")
    sv.set_defaults(func=cmd_serve)

    dm = sub.add_parser("demo", help="载入演示数据（山西省行政区划、企业、各角色用户、约 200 条隐患）")
    dm.add_argument("--hazards", type=int, default=200)
    dm.add_argument("--seed", type=int, default=20261124)
    dm.set_defaults(func=cmd_demo)

    il = sub.add_parser("import-ledger", help="从 Excel 台账导入隐患（列同台账导出，另可有挂牌、整改方案、验收申请的列；"
                                              "可导入待核查、已登记、挂牌督办、整改中、待验收的隐患；有误时默认全部不导入）")
    il.add_argument("file", help=".xlsx 文件")
    il.add_argument("--username", required=True, help="以该用户身份报告和登记")
    il.add_argument("--partial", action="store_true", help="导入有效的行，列出有误的行")
    il.add_argument("--dry-run", action="store_true", help="只检查并报告将导入什么，不写入")
    il.add_argument("--json", action="store_true")
    il.set_defaults(func=cmd_import_ledger)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    import os

    from services.kernel import logs

    args = build_parser().parse_args(argv)
    # Structured logs go to stderr, so a command's own output (a token on the last line) stays
    # clean; a command is quiet below WARNING unless HAZARD_LOG_LEVEL asks for more.
    fmt = os.environ.get("HAZARD_LOG_FORMAT") or ("text" if sys.stderr.isatty() else "json")
    logs.configure(os.environ.get("HAZARD_LOG_LEVEL", "WARNING"), text=fmt == "text")
    try:
        return args.func(args)
    except DomainError as exc:
        print(f"错误：{exc.message}", file=sys.stderr)
        if exc.details:
            for d in exc.details if isinstance(exc.details, list) else [exc.details]:
                print(f"  {d.get('field', '')}: {d.get('message', d)}" if isinstance(d, dict) else f"  {d}",
                      file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
