"""A published 忻州 task list with its people and their API tokens, for the task API and CLI tests
(the service tests' `tasks_world` has no tokens). Built on top of the shared `world`."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from db.engine import read_only, transaction
from db.models import PlanTask, TaskAssignment
from services.accounts import admin
from services.accounts.auth import Principal, principal_of
from services.organisations.queries import organisation_for
from services.organisations.shanxi import load_shanxi
from services.tasklists import drafts
from tests.conftest import START
from tests.services.tasks.conftest import PLAN  # one plan for every task test

# name: (role, region, organisation or None)
PEOPLE = {
    "xz_office": ("committee", "140900", "忻州市安委办"),
    "xz_office2": ("committee", "140900", "忻州市安委办"),
    "xz_ema": ("supervisor", "140900", "市应急局"),
    "xz_ema2": ("inspector", "140900", "市应急局"),
    "xz_housing": ("supervisor", "140900", "市住建局"),
    "xz_auditor": ("auditor", "140900", None),
    "ll_ema": ("supervisor", "141100", "市应急局"),
}


def plan_text(extra: int = 0) -> str:
    """PLAN with `extra` more tasks of 市应急局 alone (numbers 4, 5, …), for tests that need many
    parts of one unit in one state each."""
    more = "".join(f"{n}.专项任务第{n}项，按要求组织实施。\n责任单位：市应急局\n完成时限：2026年12月底\n"
                   for n in range(4, 4 + extra))
    return PLAN + more


@dataclass
class TaskApiWorld:
    plan_id: int
    principals: dict[str, Principal] = field(default_factory=dict)

    def p(self, name: str) -> Principal:
        return self.principals[name]

    def part_ids(self, factory, number: str) -> list[int]:
        with read_only(factory) as s:
            return list(s.scalars(select(TaskAssignment.id).join(PlanTask, PlanTask.id == TaskAssignment.task_id)
                                  .where(PlanTask.plan_id == self.plan_id, PlanTask.number == number)
                                  .order_by(TaskAssignment.id)))


def build(factory, world, *, extra: int = 0, now=START) -> TaskApiWorld:
    """Load Shanxi's bodies, add the people (their tokens go into `world.tokens`), import, review
    and publish the plan as 忻州市安委办."""
    principals: dict[str, Principal] = {}
    with transaction(factory) as s:
        load_shanxi(s, now=now)
        for name, (role, region, org) in PEOPLE.items():
            user, token = admin.add_user(s, name, role, region, now=now, password="correct-horse-1",
                                         display_name=name)
            if org:
                user.organisation_id = organisation_for(s, region, org)
            s.flush()
            principals[name] = principal_of(user)
            world.tokens[name] = token
            world.principals[name] = principals[name]
    office = principals["xz_office"]
    with transaction(factory) as s:
        plan, _ = drafts.import_draft(s, office, plan_text(extra).encode(), filename="plan.txt",
                                      title="忻州市2026年重点任务", issued_by="忻州市安委办", year=2026, now=now)
        plan_id = plan.id
    with transaction(factory) as s:
        for task in drafts.open_reviews(s, plan_id):
            drafts.mark_reviewed(s, office, plan_id, task.id, now=now)
    with transaction(factory) as s:
        drafts.publish(s, office, plan_id, now=now)
    return TaskApiWorld(plan_id, principals)
