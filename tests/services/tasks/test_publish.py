"""Publishing a plan gives every responsible unit its part (services/tasks/assign.py)."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import func, select

from db.engine import read_only
from db.models import OutboxMessage, PlanTask, RecordEvent, TaskAssignment
from services.audit import records


def test_each_unit_gets_its_part_with_its_chain(factory, tasks_world):
    w = tasks_world
    with read_only(factory) as s:
        one, two, three = w.parts(s, "1"), w.parts(s, "2"), w.parts(s, "3")
        assert [(p.unit_name, p.role, p.org_id) for p in one] == [("市应急局", "负责", w.ema.organisation_id)]
        assert [(p.role, p.org_id) for p in two] == [("牵头", w.ema.organisation_id), ("配合", w.housing.organisation_id)]
        assert len(three) == 14 and all(p.role == "负责" and p.year_long for p in three)
        assert {p.region_code[:4] for p in three} == {"1409"} and all(p.region_code != "140900" for p in three)
        assert one[0].deadline == date(2026, 12, 31) and two[0].deadline == date(2026, 12, 15)
        assert three[0].deadline == date(2026, 12, 31)
        assert all(p.state == "assigned" and p.version == 1 for p in one + two + three)
        for p in one + two:
            trail = records.trail(s, f"assignment:{p.id}")
            assert [e.action for e in trail] == ["assign"] and p.audit_head == trail[0].hash
        kinds = dict(s.execute(select(OutboxMessage.kind, func.count()).group_by(OutboxMessage.kind)).all())
        assert kinds == {"document.task_assignment_notice": 1, "notify.task_unit": 16}
        _, _, problems = records.verify(s)
        assert problems == []
        plan_events = [e.action for e in records.trail(s, f"plan:{w.plan_id}")]
        assert plan_events[-2:] == ["publish", "assign"]
        assert json.loads(records.trail(s, f"plan:{w.plan_id}")[-1].payload) == {"parts": 17, "units": 16, "to_office": 0}
        assert s.scalar(select(func.count()).select_from(TaskAssignment)) == 17
        assert set(s.scalars(select(PlanTask.state))) == {"open"}
        assert s.scalar(select(func.count()).select_from(RecordEvent).where(RecordEvent.subject.like("assignment:%"))) == 17
