"""The demo publishes 吕梁's task list and works it through the engine up to its present."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import select

from app import demo
from db.engine import read_only
from db.models import Document, OutboxMessage, PlanTask, TaskAssignment, TaskPlan
from services.audit import records

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)


def test_demo_task_list_is_published_and_worked(factory, tmp_path):
    summary = demo.load(factory, hazards=3, seed=5, now=NOW, attachments_root=tmp_path / "att")
    assert "任务清单（已发布" in summary
    with read_only(factory) as s:
        plan = s.scalars(select(TaskPlan).where(TaskPlan.state == "published")).one()
        assert plan.title == "吕梁市2026年安全生产重点工作任务清单" and plan.region_code == "141100"
        tasks = {t.number: t for t in s.scalars(select(PlanTask).where(PlanTask.plan_id == plan.id))}
        assert len(tasks) == 9 and {n for n, t in tasks.items() if t.state == "closed"} == {"1", "2"}
        parts = s.scalars(select(TaskAssignment).where(TaskAssignment.plan_id == plan.id)).all()
        assert len(parts) == 24  # 8 tasks of one or two city bodies (11 parts) and 13 county governments
        by = {(tasks_n, p.unit_name): p for p in parts for tasks_n in [next(n for n, t in tasks.items() if t.id == p.task_id)]}
        assert by[("5", "市应急局")].state == "acknowledged"  # its completion (27 November) is after NOW: not taken
        assert by[("9", "市应急局")].extension_requested_at is not None
        returned = by[("2", "市应急局")]
        assert (returned.state, returned.returned_count) == ("verified", 1)
        trail = [e.action for e in records.trail(s, f"assignment:{returned.id}")]
        assert trail == ["assign", "acknowledge", "report_progress", "report_completion", "return",
                         "report_completion", "verify"]
        assert json.loads(records.trail(s, f"assignment:{returned.id}")[-1].payload)["to_state"] == "verified"
        assert records.verify(s)[2] == []


def test_the_ladder_reaches_the_overdue_part_and_its_letter_is_issued(factory, tmp_path):
    """On 8 December the part due 30 November is 5 working days late: the demo's duties fire the
    督办函 step and the demo issues the letter, so nothing is left pending (the run's day decides
    which steps fall due, so this is pinned to a day when the 督办函 does)."""
    demo.load(factory, hazards=3, seed=5, now=datetime(2026, 12, 8, 2, 0, tzinfo=timezone.utc),
              attachments_root=tmp_path / "att")
    with read_only(factory) as s:
        letters = s.scalars(select(Document).where(Document.kind == "task_urge_letter")).all()
        assert len(letters) == 1 and letters[0].assignment_id is not None
        part = s.get(TaskAssignment, letters[0].assignment_id)
        assert (part.unit_name, part.escalation_step) == ("市应急局", "urge")
        pending = s.scalars(select(OutboxMessage.kind).where(OutboxMessage.status == "pending",
                                                             OutboxMessage.kind.like("document.%"))).all()
        assert pending == []
