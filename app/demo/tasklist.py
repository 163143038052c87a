"""The demo's running task list (issue 14): 吕梁市安委办's key tasks of the demo's year
(`plans/lvliang-2026-demo-tasks.txt`, written for the demo in the shape real lists have: each task
followed by 责任单位 and 完成时限), imported and published by the office in the spring, then worked
through the same transaction path a person's click takes: parts acknowledged, monthly progress on
the year-long task, completions reported, verified by the office's other member (four-eyes) and
two tasks closed, one returned, one extension asked for, one part left overdue for the ladder, one
completion waiting for the office's check. Only steps before the demo's present are taken.
"""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.engine import UnitOfWork, transaction
from db.models import PlanTask, TaskAssignment, User
from services.accounts.auth import Principal
from services.documents import issue_pending
from services.kernel.clock import SHANGHAI, local_date
from services.tasklists import drafts
from services.tasks import engine

FILE = Path(__file__).parent / "plans" / "lvliang-2026-demo-tasks.txt"
TITLE = "吕梁市{year}年安全生产重点工作任务清单"
OFFICE, OFFICE2, BUREAU, BUREAU2 = "lvliang_committee1", "lvliang_committee2", "lvliang_supervisor", "lvliang_inspector"


def _at(year: int, month: int, day: int, hour: int = 10) -> datetime:
    return datetime.combine(date(year, month, day), time(hour), SHANGHAI)


def done(summary: str, day: date, evidence: str) -> dict[str, str]:
    return {"summary": summary, "completed_on": day.isoformat(), "evidence_text": evidence}


def _steps(year: int) -> list[tuple[datetime, str, str, str, dict[str, Any]]]:
    """(when, who, task number, action, body): the story of the demo's list. The part acted on is the
    actor's unit's, or, for the office's checks, the unit named after the number (`2@lvliang_supervisor`)."""
    steps: list[tuple[datetime, str, str, str, dict[str, Any]]] = [
        (_at(year, 3, 2), OFFICE, "1", "acknowledge", {}),
        (_at(year, 3, 3), BUREAU, "2", "acknowledge", {}),
        (_at(year, 3, 3, 11), BUREAU, "4", "acknowledge", {}),
        (_at(year, 3, 4), BUREAU2, "9", "acknowledge", {}),
        (_at(year, 6, 24), OFFICE, "1", "report_completion",
         done("市安委会成员单位安全生产工作职责已修订，经市政府常务会议审议后印发", date(year, 6, 20),
              f"吕政办发〔{year}〕31号文件及会议纪要")),
        (_at(year, 6, 26), OFFICE2, "1", "verify", {"note": "文件已印发，职责清单与成员单位调整一致"}),
        (_at(year, 8, 12), BUREAU, "2", "report_progress", {"text": "已完成 6 期专题培训，覆盖 38 个成员单位中的 29 个"}),
        (_at(year, 9, 25), BUREAU, "2", "report_completion",
         done("专题培训 9 期，覆盖全部 38 个成员单位分管负责人", date(year, 9, 24), "培训签到表、课件及考试成绩汇总")),
        (_at(year, 9, 28), OFFICE, "2@" + BUREAU, "return", {"reason": "缺少市直 3 个成员单位的考试成绩，请补齐后重新报告"}),
        (_at(year, 10, 9), BUREAU, "2", "report_completion",
         done("已补齐全部成员单位考试成绩", date(year, 10, 9), "补充考试成绩单 3 份")),
        (_at(year, 10, 12), OFFICE, "2@" + BUREAU, "verify", {"note": "材料齐全，同意销号"}),
        (_at(year, 10, 15), BUREAU, "4", "report_progress", {"text": "已抽查 23 家企业中的 14 家，发现问题 9 项，均已交办"}),
        (_at(year, 11, 20), BUREAU, "5", "acknowledge", {}),
        (_at(year, 11, 27), BUREAU, "5", "report_completion",
         done("配合市住建局完成 4 个县区燃气管道改造进度督导，问题清单已移交", date(year, 11, 26),
              "督导问题清单（31 项）及移交函")),
        (_at(year, 11, 18), BUREAU2, "9", "request_extension",
         {"new_deadline": date(year + 1, 1, 20).isoformat(), "reason": "年度执法数据须待 12 月底统计结束后汇总"}),
    ]
    for month in range(3, 12):  # the year-long task: the office's monthly account, the bureau's every other month
        steps.append((_at(year, month, 25), OFFICE, "3", "report_progress",
                      {"text": f"{month} 月已调度成员单位重大事故隐患排查整治情况，印发月度通报"}))
        if month % 2 == 1:
            steps.append((_at(year, month, 26), BUREAU, "3", "report_progress",
                          {"text": f"{month} 月报送重大事故隐患排查整治数据，配合形成通报"}))
    return sorted(steps, key=lambda s: s[0])


def publish_and_work(factory: sessionmaker[Session], anchor: datetime) -> dict[str, int]:
    """Import, publish and work the demo's list up to `anchor`; what happened, counted."""
    year = local_date(anchor).year
    text = FILE.read_text(encoding="utf-8").replace("2026", str(year))
    published_at = min(_at(year, 2, 26), anchor)
    with transaction(factory) as s:
        people = {u.username: u for u in s.scalars(select(User).where(User.username.in_(
            [OFFICE, OFFICE2, BUREAU, BUREAU2])))}
        principals = {name: _principal(u) for name, u in people.items()}
        plan, _ = drafts.import_draft(s, principals[OFFICE], text.encode("utf-8"), filename=FILE.name,
                                      title=TITLE.format(year=year), issued_by="吕梁市安委办", year=year,
                                      now=published_at)
        plan_id = plan.id
        for task in drafts.open_reviews(s, plan_id):
            drafts.mark_reviewed(s, principals[OFFICE], plan_id, task.id, now=published_at)
        drafts.publish(s, principals[OFFICE], plan_id, now=published_at)
    issue_pending(UnitOfWork(factory), now=published_at, limit=10)  # the plan's 任务交办通知
    with transaction(factory) as s:
        parts = {(t.number, a.org_id): a.id for a, t in s.execute(
            select(TaskAssignment, PlanTask).join(PlanTask, PlanTask.id == TaskAssignment.task_id)
            .where(TaskAssignment.plan_id == plan_id))}
    taken = 0
    for at, who, number, action, body in _steps(year):
        if at >= anchor:
            continue
        actor = principals[who]
        number, _, unit = number.partition("@")
        org = principals[unit or who].organisation_id
        with transaction(factory) as s:
            engine.perform(s, actor, parts[(number, org)], action, body, now=at)
        taken += 1
    return {"plan_id": plan_id, "tasks": len({n for n, _ in parts}), "parts": len(parts), "actions": taken}


def _principal(user: User) -> Principal:
    from services.accounts.auth import principal_of

    return principal_of(user)


def describe(counts: dict[str, int]) -> str:
    return (f"任务清单（已发布，见“任务清单”）：吕梁市安委办的年度重点工作任务清单，{counts['tasks']} 项任务分解为 "
            f"{counts['parts']} 项责任单位分工，"
            f"演示办理 {counts['actions']} 步（签收、进展、完成、核查、退回、延期申请）；用 lvliang_committee1 / "
            f"lvliang_supervisor 登录查看。")
