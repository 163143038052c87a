"""The deployments, declared once: `hazard serve` serves these; `deploy/prefect.yaml` declares the
same for a worker pool (tests/flows/test_deployments.py keeps them in step)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Deployment:
    name: str
    entrypoint: str  # module:function
    cron: str | None = None
    interval_seconds: int | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)
    description: str = ""


TIMEZONE = "Asia/Shanghai"
WORK_POOL = "hazard-pool"

DEPLOYMENTS = (
    Deployment("escalation-sweep", "flows.escalation:escalation_sweep", cron="*/15 * * * *",
               tags=("hazard", "escalation"), description="督办升级扫描：每 15 分钟"),
    Deployment("outbox", "flows.outbox:outbox_delivery", interval_seconds=60,
               tags=("hazard", "outbox"), description="待办与通知：每分钟展开并投递发件箱"),
    Deployment("lifecycle-mirror", "flows.mirror:lifecycle_mirror", interval_seconds=60,
               tags=("hazard", "mirror"),
               description="办理流程镜像：每分钟把新的办理步骤、文书和通知写入各隐患、各任务分工在 Prefect 中的流程"),
    Deployment("audit-checkpoint", "flows.audit:audit_checkpoint", cron="0 * * * *",
               tags=("hazard", "audit"), description="审计检查点：每小时"),
    Deployment("audit-verify", "flows.audit:audit_verify", cron="30 2 * * *",
               tags=("hazard", "audit"), description="审计链校验：每晚 02:30，失败时告警"),
    Deployment("housekeeping", "flows.housekeeping:housekeeping_flow", cron="10 3 * * *",
               tags=("hazard", "housekeeping"),
               description="清理：每晚 03:10 删除超过保留期的幂等键、过期的限频计数和登录限制"),
    Deployment("office-duties", "flows.office:office_duties", cron="30 8 * * *",
               tags=("hazard", "office"), description="安委办日常：每天 08:30 生成各地月报草稿，截止日提醒，逾期上报的列入通报"),
)


def load(entrypoint: str):
    from importlib import import_module

    module, _, name = entrypoint.partition(":")
    return getattr(import_module(module), name)


def runner_deployments():
    """The deployments as Prefect `RunnerDeployment`s, for `prefect.serve`."""
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule
    from datetime import timedelta

    out = []
    for d in DEPLOYMENTS:
        schedule = (CronSchedule(cron=d.cron, timezone=TIMEZONE) if d.cron
                    else IntervalSchedule(interval=timedelta(seconds=d.interval_seconds or 60)))
        out.append(load(d.entrypoint).to_deployment(name=d.name, schedule=schedule, tags=list(d.tags),
                                                    description=d.description))
    return out
