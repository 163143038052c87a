"""A small published plan of 忻州's 安委办 with its units' users (shared by the task tests)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from db.engine import transaction
from db.models import TaskAssignment
from services.accounts import admin
from services.accounts.auth import Principal, principal_of
from services.organisations.queries import organisation_for
from services.organisations.shanxi import load_shanxi
from services.tasklists import drafts
from tests.conftest import START

PLAN = """忻州市2026年安全生产重点任务清单

一、责任落实
1.建立安全生产责任清单，明确各部门监管职责。
责任单位：市应急局
完成时限：2026年12月底
2.开展危险化学品企业专项检查。
责任单位：市应急局牵头，市住建局配合
完成时限：2026年12月15日前
3.各县组织开展隐患排查整治“回头看”。
责任单位：各县（市、区）政府
完成时限：全年
"""


@dataclass
class TaskWorld:
    plan_id: int
    office: Principal  # 忻州市安委办
    office2: Principal  # another person of the same office (four-eyes)
    ema: Principal  # 忻州市应急管理局
    ema2: Principal
    housing: Principal  # 忻州市住房和城乡建设局
    lvliang: Principal  # 吕梁市应急管理局: another city's unit

    def parts(self, session, number: str) -> list[TaskAssignment]:
        from db.models import PlanTask

        return list(session.scalars(select(TaskAssignment).join(PlanTask, PlanTask.id == TaskAssignment.task_id)
                                    .where(PlanTask.plan_id == self.plan_id, PlanTask.number == number)
                                    .order_by(TaskAssignment.id)))


def _user(s, name: str, role: str, region: str, org: str | None) -> Principal:
    user, _ = admin.add_user(s, name, role, region, now=START, password="correct-horse-1", display_name=name)
    if org:
        user.organisation_id = organisation_for(s, region, org)
    s.flush()
    return principal_of(user)


@pytest.fixture
def tasks_world(factory, world) -> TaskWorld:
    with transaction(factory) as s:
        load_shanxi(s, now=START)
        office = _user(s, "xz_office", "committee", "140900", "忻州市安委办")
        office2 = _user(s, "xz_office2", "committee", "140900", "忻州市安委办")
        ema = _user(s, "xz_ema", "supervisor", "140900", "市应急局")
        ema2 = _user(s, "xz_ema2", "inspector", "140900", "市应急局")
        housing = _user(s, "xz_housing", "supervisor", "140900", "市住建局")
        lvliang = _user(s, "ll_ema", "supervisor", "141100", "市应急局")
    with transaction(factory) as s:
        plan, _ = drafts.import_draft(s, office, PLAN.encode(), filename="plan.txt", title="忻州市2026年重点任务",
                                      issued_by="忻州市安委办", year=2026, now=START)
        plan_id = plan.id
    with transaction(factory) as s:
        for task in drafts.open_reviews(s, plan_id):
            drafts.mark_reviewed(s, office, plan_id, task.id, now=START)
    with transaction(factory) as s:
        drafts.publish(s, office, plan_id, now=START)
    return TaskWorld(plan_id, office, office2, ema, ema2, housing, lvliang)
