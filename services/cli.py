"""The `hazard` command line (DESIGN 6).

Messages for people are Chinese; a command that creates a user prints the token alone on its last
line, so scripts can take it with `tail -n 1`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from db.engine import make_engine, make_session_factory, read_only, transaction
from db.migrate import application_role, grant_application_role, same_database, schema_at_head
from db.migrate import upgrade as migrate_upgrade, downgrade as migrate_downgrade
from services import admin, audit, audit_checkpoints
from services.clock import utcnow
from services.errors import DomainError
from services.lifecycle import USER_ROLES
from services.settings import Settings, get_settings
from services.vocab import INDUSTRIES


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


def cmd_audit_verify(args: argparse.Namespace) -> int:
    evidence = audit_checkpoints.evidence(get_settings())
    with read_only(_factory()) as s:
        report = audit.verify(s, evidence=evidence, now=utcnow())
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    if report.ok:
        if not args.json:
            print(f"审计链完整：{report.hazards_checked} 条隐患，{report.events_checked} 个事件，"
                  f"检查点 {report.checkpoint_id or '无'}")
        return 0
    first = report.first_problem
    assert first is not None
    if not args.json:
        print("审计链校验失败！", file=sys.stderr)
        where = [f"隐患 {first.hazard_code or first.hazard_id}"] if first.hazard_id or first.hazard_code else []
        if first.seq is not None or first.event_id is not None:
            where.append(f"事件序号 {first.seq}，事件 id {first.event_id}")
        print(f"第一个问题：{'，'.join([*where, f'类型 {first.kind}'])}：{first.message}", file=sys.stderr)
        print(f"共发现 {len(report.problems)} 处问题", file=sys.stderr)
    return 1


def _day(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"日期格式应为 YYYY-MM-DD：{text}") from None


def cmd_escalate(args: argparse.Namespace) -> int:
    from services import sweep
    from services.calendar import default_calendar
    from services.escalation import STEP_LABELS, Step, configured_ladder

    calendar = default_calendar()
    report = sweep.sweep(_factory(), now=utcnow(), calendar=calendar, config=configured_ladder(),
                         as_of=args.at, dry_run=args.dry_run, keep_details=args.dry_run)
    if args.dry_run:
        for item in report.fired:
            labels = "、".join(f"{STEP_LABELS[Step[s]]}({s})" for s in item.steps)
            print(f"{item.code}\t{labels}")
        print(f"演练（未执行）：截至 {report.as_of}，{report.hazards} 条隐患应触发 {report.events} 个督办步骤")
    else:
        steps = "，".join(f"{STEP_LABELS[Step[k]]} {v}" for k, v in report.by_step.items()) or "无"
        print(f"督办升级完成：截至 {report.as_of}，{report.hazards} 条隐患触发 {report.events} 个步骤（{steps}）")
    for year in calendar.provisional_years():
        print(f"警告：{year} 年的节假日安排尚未公布，按法定节日推算（无调休），请在日历覆盖文件中补充",
              file=sys.stderr)
    return 0


def cmd_audit_checkpoint(args: argparse.Namespace) -> int:
    with transaction(_factory()) as s:
        cp = audit_checkpoints.checkpoint(s, get_settings(), now=utcnow())
        print(f"已建立检查点 {cp.id}：{cp.leaf_count} 条审计链，Merkle 根 {cp.merkle_root}，签名密钥 {cp.key_id}")
    return 0


def cmd_audit_keygen(args: argparse.Namespace) -> int:
    from services import audit_keys

    path = get_settings().audit_signing_key_path
    signer = audit_keys.keygen(path, force=args.force)
    public = audit_keys.public_bytes(signer.private.public_key()).hex()
    print(f"已生成审计检查点签名私钥：{path}（仅本服务账户可读，请离线备份）")
    print(f"公钥（密钥编号 {signer.key_id}）已写入 {audit_keys.public_path(path)}，"
          "交给审计方作为 HAZARD_AUDIT_VERIFY_KEY：")
    print(public)
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
# services/api/client.py decides instead, trusting only HAZARD_TRUSTED_PROXIES.
UVICORN_PROXY = {"proxy_headers": False, "forwarded_allow_ips": ""}


def cmd_serve(args: argparse.Namespace) -> int:
    settings = get_settings()
    url = settings.database_url
    refusal = prepare_schema(settings)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    if not args.api_only:
        from services.serve import serve_all

        return serve_all(settings, host=args.host, port=args.port, workers=args.workers,
                         prefect_port=args.prefect_port)
    from services.serve import banner

    print(f"{banner(args.host, args.port)}（数据库 {_safe_url(url)}）", flush=True)
    run_api(args.host, args.port, args.workers)
    return 0


def run_api(host: str, port: int, workers: int) -> None:
    import uvicorn

    if workers > 1:
        uvicorn.run("services.api.asgi:app", host=host, port=port, workers=workers, log_level="warning",
                    **UVICORN_PROXY)
    else:
        from services.api.app import create_app

        uvicorn.run(create_app(), host=host, port=port, log_level="info", **UVICORN_PROXY)


def cmd_demo(args: argparse.Namespace) -> int:
    from services import demo

    from services import audit_keys

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


def cmd_outbox_deliver(args: argparse.Namespace) -> int:
    from services import outbox

    expanded, report = outbox.run_once(_factory(), now=utcnow(), settings=get_settings(),
                                       batch_size=args.batch_size)
    print(f"展开 {expanded.messages} 条待发通知，生成 {expanded.deliveries} 条投递"
          f"（其中督办汇总 {expanded.digests} 条），并入已排队的督办汇总 {expanded.digests_grown} 条")
    print(f"投递：领取 {report.claimed}，成功 {report.sent}，失败待重试 {report.failed}，"
          f"转入失败队列 {report.dead}，重新排队 {report.requeued}")
    return 0


def cmd_outbox_dead(args: argparse.Namespace) -> int:
    from services import outbox

    with read_only(_factory()) as s:
        items = outbox.list_dead(s, limit=args.limit)
    if args.json:
        print(json.dumps(items, ensure_ascii=False, indent=2))
        return 0
    if not items:
        print("没有投递失败的通知")
        return 0
    print("编号\t渠道\t接收方\t尝试次数\t最后错误")
    for d in items:
        error = " ".join((d["last_error"] or "").split())
        print(f"{d['id']}\t{d['channel']}\t{d['recipient']}\t{d['attempts']}\t{error}")
    print(f"共 {len(items)} 条；核实后用 hazard outbox retry <编号> 或 --all 重新投递")
    return 0


def cmd_outbox_retry(args: argparse.Namespace) -> int:
    from services import outbox

    if (args.id is None) == (not args.all):
        print("错误：请给出一个投递编号，或 --all", file=sys.stderr)
        return 2
    with transaction(_factory()) as s:
        n = outbox.retry(s, "all" if args.all else args.id, now=utcnow())
    print(f"已重新排队 {n} 条通知")
    return 0


def cmd_import_ledger(args: argparse.Namespace) -> int:
    """Exit 0 only when every row went in (or was already present); the report goes to stdout."""
    from pathlib import Path

    from services import ledger_import

    try:
        content = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"错误：无法读取文件 {args.file}：{exc.strerror}", file=sys.stderr)
        return 2
    report = ledger_import.run(_factory(), content, args.username, now=utcnow(), partial=args.partial)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        print("\n".join(report.lines()))
    return 0 if report.ok and report.committed else 1


def cmd_documents_issue(args: argparse.Namespace) -> int:
    from services import documents

    report = documents.issue_pending(_factory(), now=utcnow(), limit=args.limit)
    print(f"签发公文 {report.issued} 份，失败待重试 {report.failed} 份")
    for number in report.numbers:
        print(f"  {number}")
    return 0


def cmd_issuers_list(args: argparse.Namespace) -> int:
    from services.documents import issuers

    with read_only(_factory()) as s:
        rows = [(r.key, r.code, r.name) for r in issuers.list_issuers(s)]
    if not rows:
        print("还没有发文机关：各机关在签发第一份公文时取得默认代字")
        return 0
    print("发文机关\t机关代字\t名称")
    for key, code, name in rows:
        print(f"{key}\t{code}\t{name}")
    return 0


def cmd_issuers_set(args: argparse.Namespace) -> int:
    from services.documents import issuers

    with transaction(_factory()) as s:
        row = issuers.set_code(s, args.key, args.code, now=utcnow())
        print(f"已设定 {row.name}（{row.key}）的机关代字：{row.code}（此后的文号按新代字从 1 号起编）")
    return 0


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

    aud = sub.add_parser("audit", help="审计").add_subparsers(dest="audit_command", required=True)
    av = aud.add_parser("verify", help="校验审计链（完整时退出码 0，否则 1）")
    av.add_argument("--json", action="store_true")
    av.set_defaults(func=cmd_audit_verify)
    ac = aud.add_parser("checkpoint", help="记录全部审计链头的 Merkle 根，签名并写入检查点日志")
    ac.set_defaults(func=cmd_audit_checkpoint)
    ak = aud.add_parser("keygen", help="生成检查点签名密钥（Ed25519，写入 HAZARD_AUDIT_SIGNING_KEY），打印公钥")
    ak.add_argument("--force", action="store_true", help="替换已有的密钥")
    ak.set_defaults(func=cmd_audit_keygen)

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

    ob = sub.add_parser("outbox", help="通知投递（站内信、邮件、Webhook）").add_subparsers(
        dest="outbox_command", required=True)
    od = ob.add_parser("deliver", help="展开待发通知并投递一批，打印数量")
    od.add_argument("--batch-size", type=int, default=100)
    od.set_defaults(func=cmd_outbox_deliver)
    ol = ob.add_parser("dead", help="列出投递失败的通知（编号、渠道、接收方、尝试次数、最后错误）")
    ol.add_argument("--json", action="store_true")
    ol.add_argument("--limit", type=int, default=1000)
    ol.set_defaults(func=cmd_outbox_dead)
    orr = ob.add_parser("retry", help="重新投递失败的通知")
    orr.add_argument("id", nargs="?", type=int, help="投递编号")
    orr.add_argument("--all", action="store_true", help="全部失败的通知")
    orr.set_defaults(func=cmd_outbox_retry)

    docs = sub.add_parser("documents", help="公文").add_subparsers(dest="documents_command", required=True)
    di = docs.add_parser("issue", help="签发待签发的公文一次（限期整改通知书、督办函等），打印数量")
    di.add_argument("--limit", type=int, default=500)
    di.set_defaults(func=cmd_documents_issue)

    iss = sub.add_parser("issuers", help="发文机关的机关代字（文号：代字+文种字〔年〕号）").add_subparsers(
        dest="issuers_command", required=True)
    isl = iss.add_parser("list", help="列出发文机关及其代字")
    isl.set_defaults(func=cmd_issuers_list)
    iss_set = iss.add_parser("set", help="设定发文机关的代字（全部署唯一）")
    iss_set.add_argument("--key", required=True, help="<行政区划代码>:bureau（应急管理局）或 :committee（安委办）")
    iss_set.add_argument("--code", required=True, help="机关代字，例如 离石应急")
    iss_set.set_defaults(func=cmd_issuers_set)

    il = sub.add_parser("import-ledger", help="从 Excel 台账导入隐患（列同台账导出；有误时默认全部不导入）")
    il.add_argument("file", help=".xlsx 文件")
    il.add_argument("--username", required=True, help="以该用户身份报告和登记")
    il.add_argument("--partial", action="store_true", help="导入有效的行，列出有误的行")
    il.add_argument("--json", action="store_true")
    il.set_defaults(func=cmd_import_ledger)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    import os

    from services import logs

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
