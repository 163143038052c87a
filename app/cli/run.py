"""`hazard serve`, `hazard demo` and `hazard escalate`: the commands that run the service, load the
demonstration into it, or run one escalation sweep by hand."""

from __future__ import annotations

import argparse
import sys

from app.cli.database import prepare_schema, safe_url, session_factory, unit_of_work
from db.engine import transaction
from services.kernel.clock import utcnow
from services.kernel.settings import get_settings

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
        from app.serve import scaled_refusal, serve_all

        refusal = scaled_refusal(settings)
        if refusal:
            print(refusal, file=sys.stderr)
            return 2
        return serve_all(settings, host=args.host, port=args.port, workers=args.workers,
                         prefect_port=args.prefect_port)
    from app.serve import banner

    print(f"{banner(args.host, args.port)}（数据库 {safe_url(url)}）", flush=True)
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
    factory = session_factory()
    summary = demo.load(factory, hazards=args.hazards, seed=args.seed)
    print(summary)
    # The demo's trail reaches months back: checkpoint it now, as the hourly flow would have.
    log_to = audit_checkpoints.CheckpointLog.at(settings.audit_checkpoint_log_target)
    with transaction(factory) as s:
        cp = audit_checkpoints.take_checkpoint(s, now=utcnow(), signer=signer, log_to=log_to)
        print(f"已建立审计检查点 {cp.id}（{cp.leaf_count} 条审计链）")
    print("Prefect 界面中每项隐患、每项任务分工各有一个办理流程（hazard-lifecycle）：hazard serve 运行时"
          "自动写入（约一分钟内），也可随时运行 hazard prefect resync")
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

    uow = unit_of_work()
    calendar = calendar_years.refresh(uow, force=True)  # the arrangements loaded until now
    report = sweep.sweep(uow, now=utcnow(), calendar=calendar, config=configured_ladder(),
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


def add_parsers(sub) -> None:
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
