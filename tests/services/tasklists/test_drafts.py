"""An imported plan kept as a draft (services/tasklists/drafts.py): one plan per file and issuer,
corrections re-resolve the units, publication waits for every flagged task and happens once."""

from __future__ import annotations

import json
import threading
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from db.engine import make_engine, make_session_factory, read_only, transaction
from db.models import Organisation, PlanTask, PlanTaskUnit, RecordEvent, TaskPlan
from services.accounts import admin
from services.accounts.auth import principal_of
from services.audit import records
from services.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from services.organisations.shanxi import load_shanxi
from services.tasklists import drafts
from tests.conftest import START, build_world

XINZHOU = Path(__file__).parents[3] / "app" / "demo" / "plans" / "xinzhou-2021-plan.txt"
TITLE = "忻州市安全生产专项整治三年行动集中攻坚年工作方案"


def _setup(factory):
    """Shanxi's organisations and a committee user of 忻州 (the issuer's region)."""
    with transaction(factory) as s:
        load_shanxi(s, now=START)
        user, _ = admin.add_user(s, "xz_committee", "committee", "140900", now=START, password="correct-horse-1",
                                 display_name="忻州市安委办")
        return principal_of(user)


def _import(factory, actor=None):
    with transaction(factory) as s:
        plan, created = drafts.import_draft(s, actor, XINZHOU, filename=XINZHOU.name, title=TITLE,
                                            issued_by="忻州市安委办", year=2021, now=START)
        return plan.id, created


def _org(s, name: str) -> int:
    return s.scalars(select(Organisation.id).where(Organisation.name == name)).one()


def test_the_same_file_twice_is_one_plan(factory, world):
    xz = _setup(factory)
    plan_id, created = _import(factory, xz)
    again, created_again = _import(factory)
    assert created and not created_again and again == plan_id
    with read_only(factory) as s:
        assert s.scalar(select(func.count()).select_from(TaskPlan)) == 1
        plan = s.get(TaskPlan, plan_id)
        assert (plan.state, plan.year, plan.region_code, plan.version) == ("draft", 2021, "140900", 1)
        assert plan.created_by_id == xz.id and plan.source_filename == XINZHOU.name
        tasks = s.scalars(select(PlanTask).where(PlanTask.plan_id == plan_id).order_by(PlanTask.seq)).all()
        assert len(tasks) == 82 and len({t.section for t in tasks}) == 16
        office = next(t for t in tasks if t.section.startswith("（一）") and t.number == "3(1)")
        assert office.deadline == date(2021, 6, 30) and json.loads(office.flags) == []
        unit = s.scalars(select(PlanTaskUnit).where(PlanTaskUnit.task_id == office.id)).one()
        assert (unit.name, unit.org_id) == ("市政府安委办", _org(s, "忻州市安全生产委员会办公室"))
        events = s.scalars(select(RecordEvent).where(RecordEvent.subject == f"plan:{plan_id}")).all()
        assert [e.action for e in events] == ["import"]  # the second import wrote nothing
        assert json.loads(events[0].payload)["tasks"] == 82


def test_correct_review_and_publish(factory, world):
    xz = _setup(factory)
    plan_id, _ = _import(factory, xz)
    with transaction(factory) as s:
        first = next(t for t in drafts.load(s, xz, plan_id)[2] if t[0].section.startswith("（一）") and t[0].number == "1")
        task_id = first[0].id
        assert "unresolved_unit" in json.loads(first[0].flags)
        with pytest.raises(Conflict) as refused:
            drafts.publish(s, xz, plan_id, now=START)
        assert "还有任务需要核对" in refused.value.message and "1「" in refused.value.message
        with pytest.raises(Invalid):
            drafts.correct_task(s, xz, plan_id, task_id, units_text="  ", deadline_text="", now=START)
        with pytest.raises(Invalid):
            drafts.correct_task(s, xz, plan_id, task_id, units_text="市应急局", deadline_text="明年某时", now=START)
        task = drafts.correct_task(s, xz, plan_id, task_id, units_text="市应急局牵头，各县（市、区）政府配合",
                                   deadline_text="2021年9月底", now=START)
        assert task.reviewed and task.deadline == date(2021, 9, 30)
        assert "unresolved_unit" not in json.loads(task.flags)
        units = s.scalars(select(PlanTaskUnit).where(PlanTaskUnit.task_id == task_id).order_by(PlanTaskUnit.seq)).all()
        assert [(u.name, u.role) for u in units] == [("市应急局", "牵头"), ("各县（市、区）政府", "配合")]
        assert units[0].org_id == _org(s, "忻州市应急管理局") and len(json.loads(units[1].org_ids)) == 14
    with transaction(factory) as s:
        for task in drafts.open_reviews(s, plan_id):
            drafts.mark_reviewed(s, xz, plan_id, task.id, now=START)
    with transaction(factory) as s:
        plan = drafts.publish(s, xz, plan_id, now=START)
        assert plan.state == "published" and plan.published_by_id == xz.id
    with transaction(factory) as s:
        with pytest.raises(Conflict):
            drafts.publish(s, xz, plan_id, now=START)
        with pytest.raises(Conflict):
            drafts.mark_reviewed(s, xz, plan_id, task_id, now=START)
    with read_only(factory) as s:
        actions = [e.action for e in records.trail(s, f"plan:{plan_id}")]
        assert actions[0] == "import" and actions[1] == "correct" and actions[-2:] == ["publish", "assign"]
        assert set(actions[2:-2]) == {"review"}
        subjects, _, problems = records.verify(s)
        assert subjects >= 1 and problems == []


def test_scope_and_roles(factory, world):
    xz = _setup(factory)
    plan_id, _ = _import(factory, xz)
    with transaction(factory) as s:
        assert [r.plan.id for r in drafts.list_plans(s, world.p("province_committee"))] == [plan_id]
        assert drafts.list_plans(s, world.p("city_committee")) == []  # 吕梁 does not see 忻州's plan
        with pytest.raises(NotFound):
            drafts.load(s, world.p("city_committee"), plan_id)
        with pytest.raises(Forbidden):
            drafts.load(s, world.p("xinzhou_inspector"), plan_id)
        with pytest.raises(Forbidden):  # the province reads it but the issuer's office decides
            drafts.publish(s, world.p("province_committee"), plan_id, now=START)
        with pytest.raises(NotFound):
            drafts.mark_reviewed(s, xz, plan_id, 99999999, now=START)
        with pytest.raises(Forbidden):  # 吕梁's office cannot import a plan in 忻州's name
            drafts.import_draft(s, world.p("city_committee"), XINZHOU, filename=XINZHOU.name, title="t",
                                issued_by="忻州市安委办", year=2021, now=START)
        with pytest.raises(Invalid):
            drafts.import_draft(s, None, XINZHOU, filename=XINZHOU.name, title=TITLE, issued_by="忻州市安委办",
                                year=1900, now=START)


def test_two_publishes_at_once_publish_once(pg_url):
    engine = make_engine(pg_url, pool_size=4, max_overflow=4)
    factory = make_session_factory(engine)
    try:
        build_world(factory)
        xz = _setup(factory)
        plan_id, _ = _import(factory, xz)
        with transaction(factory) as s:
            for task in drafts.open_reviews(s, plan_id):
                drafts.mark_reviewed(s, xz, plan_id, task.id, now=START)
            version = s.get(TaskPlan, plan_id).version
        barrier = threading.Barrier(2, timeout=30)
        results: list[str] = []

        def run() -> None:
            try:
                with transaction(factory) as s:
                    barrier.wait()
                    drafts.publish(s, xz, plan_id, now=START, version=version)
                results.append("ok")
            except Conflict:
                results.append("conflict")

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == ["conflict", "ok"]
        with read_only(factory) as s:
            assert [e.action for e in records.trail(s, f"plan:{plan_id}")].count("publish") == 1
            assert s.get(TaskPlan, plan_id).state == "published"
    finally:
        engine.dispose()
