"""The `hazard` commands about what the service has recorded and sends: the audit trail (verify,
checkpoint, keygen), the outbox's deliveries, official documents and their issuing bodies.
Registered by app/cli/main.py (`add_parsers`); the connection is app/cli/database.py's."""

from __future__ import annotations

import argparse
import json
import sys

from app.cli.database import session_factory, unit_of_work
from db.engine import read_only, transaction
from services.audit import checkpoints as audit_checkpoints, verification as audit
from services.kernel.clock import utcnow
from services.kernel.settings import get_settings


def cmd_audit_verify(args: argparse.Namespace) -> int:
    evidence = audit_checkpoints.evidence(get_settings())
    with read_only(session_factory()) as s:
        report = audit.verify(s, evidence=evidence, now=utcnow())
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    if report.ok:
        if not args.json:
            print(f"审计链完整：{report.hazards_checked} 条隐患，{report.events_checked} 个事件，"
                  f"检查点 {report.checkpoint_id or '无'}；"
                  f"办公记录 {report.records_checked} 项，{report.record_events_checked} 个事件；"
                  f"任务承担记录 {report.parts_checked} 项")
        return 0
    first = report.first_problem
    assert first is not None
    if not args.json:
        print("审计链校验失败！", file=sys.stderr)
        where = [f"隐患 {first.hazard_code or first.hazard_id}"] if first.hazard_id or first.hazard_code else []
        if first.subject:
            where.append(f"记录 {first.subject}")
        if first.seq is not None or first.event_id is not None:
            where.append(f"事件序号 {first.seq}，事件 id {first.event_id}")
        print(f"第一个问题：{'，'.join([*where, f'类型 {first.kind}'])}：{first.message}", file=sys.stderr)
        print(f"共发现 {len(report.problems)} 处问题", file=sys.stderr)
    return 1


def cmd_audit_checkpoint(args: argparse.Namespace) -> int:
    with transaction(session_factory()) as s:
        cp = audit_checkpoints.checkpoint(s, get_settings(), now=utcnow())
        print(f"已建立检查点 {cp.id}：{cp.leaf_count} 条审计链，Merkle 根 {cp.merkle_root}，签名密钥 {cp.key_id}")
    return 0


def cmd_audit_keygen(args: argparse.Namespace) -> int:
    from services.audit import keys as audit_keys

    path = get_settings().audit_signing_key_path
    signer = audit_keys.keygen(path, force=args.force)
    public = audit_keys.public_bytes(signer.private.public_key()).hex()
    print(f"已生成审计检查点签名私钥：{path}（仅本服务账户可读，请离线备份）")
    print(f"公钥（密钥编号 {signer.key_id}）已写入 {audit_keys.public_path(path)}，"
          "交给审计方作为 HAZARD_AUDIT_VERIFY_KEY：")
    print(public)
    return 0


def cmd_outbox_deliver(args: argparse.Namespace) -> int:
    from services.outbox.deliver import run_once

    expanded, report = run_once(unit_of_work(), now=utcnow(), settings=get_settings(), batch_size=args.batch_size)
    print(f"展开 {expanded.messages} 条待发通知，生成 {expanded.deliveries} 条投递"
          f"（其中督办汇总 {expanded.digests} 条），并入已排队的督办汇总 {expanded.digests_grown} 条")
    print(f"投递：领取 {report.claimed}，成功 {report.sent}，失败待重试 {report.failed}，"
          f"转入失败队列 {report.dead}，重新排队 {report.requeued}")
    return 0


def cmd_outbox_dead(args: argparse.Namespace) -> int:
    from services.outbox import dead_letters

    with read_only(session_factory()) as s:
        items = dead_letters.list_dead(s, limit=args.limit)
    if args.json:
        print(json.dumps([d.model_dump() for d in items], ensure_ascii=False, indent=2))
        return 0
    if not items:
        print("没有投递失败的通知")
        return 0
    print("编号\t渠道\t接收方\t尝试次数\t最后错误")
    for d in items:
        error = " ".join((d.last_error or "").split())
        print(f"{d.id}\t{d.channel}\t{d.recipient}\t{d.attempts}\t{error}")
    print(f"共 {len(items)} 条；核实后用 hazard outbox retry <编号> 或 --all 重新投递")
    return 0


def cmd_outbox_retry(args: argparse.Namespace) -> int:
    from services.outbox import dead_letters

    if (args.id is None) == (not args.all):
        print("错误：请给出一个投递编号，或 --all", file=sys.stderr)
        return 2
    with transaction(session_factory()) as s:
        n = dead_letters.retry(s, "all" if args.all else args.id, now=utcnow())
    print(f"已重新排队 {n} 条通知")
    return 0


def cmd_documents_issue(args: argparse.Namespace) -> int:
    from services import documents

    report = documents.issue_pending(unit_of_work(), now=utcnow(), limit=args.limit)
    print(f"签发公文 {report.issued} 份，失败待重试 {report.failed} 份")
    for number in report.numbers:
        print(f"  {number}")
    return 0


def cmd_issuers_list(args: argparse.Namespace) -> int:
    from services.documents import issuers

    with read_only(session_factory()) as s:
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

    with transaction(session_factory()) as s:
        row = issuers.set_code(s, args.key, args.code, now=utcnow())
        print(f"已设定 {row.name}（{row.key}）的机关代字：{row.code}（此后的文号按新代字从 1 号起编）")
    return 0


def add_parsers(sub) -> None:
    aud = sub.add_parser("audit", help="审计").add_subparsers(dest="audit_command", required=True)
    av = aud.add_parser("verify", help="校验审计链（完整时退出码 0，否则 1）")
    av.add_argument("--json", action="store_true")
    av.set_defaults(func=cmd_audit_verify)
    ac = aud.add_parser("checkpoint", help="记录全部审计链头的 Merkle 根，签名并写入检查点日志")
    ac.set_defaults(func=cmd_audit_checkpoint)
    ak = aud.add_parser("keygen", help="生成检查点签名密钥（Ed25519，写入 HAZARD_AUDIT_SIGNING_KEY），打印公钥")
    ak.add_argument("--force", action="store_true", help="替换已有的密钥")
    ak.set_defaults(func=cmd_audit_keygen)

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
