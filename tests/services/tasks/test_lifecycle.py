"""One unit's part of a task on the hazards' engine (services/tasks/engine.py): the walk from 交办 to
销号, returns, extensions, four-eyes and scope, each refusal as the table declares it."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import select

from db.engine import read_only, transaction
from db.models import OutboxMessage, PlanTask
from services.audit import records
from services.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from services.tasks import engine
from tests.conftest import START

DONE = {"summary": "已印发责任清单", "completed_on": "2026-11-20", "evidence_text": "忻应急发〔2026〕12号"}


def _act(factory, who, part_id, action, body=None, *, now=START, if_match=None):
    with transaction(factory) as s:
        part = engine.perform(s, who, part_id, action, body or {}, now=now, if_match=if_match)
        return part.state, part.version


def _ids(factory, w, number):
    with read_only(factory) as s:
        return [p.id for p in w.parts(s, number)]


def test_a_task_of_two_units_closes_when_both_parts_are_verified(factory, tasks_world):
    w = tasks_world
    lead, co = _ids(factory, w, "2")
    assert _act(factory, w.ema, lead, "acknowledge") == ("acknowledged", 2)
    assert _act(factory, w.ema2, lead, "report_progress", {"text": "已完成 12 家企业检查"})[0] == "in_progress"
    assert _act(factory, w.ema, lead, "report_completion", DONE) == ("reported", 4)
    with pytest.raises(Forbidden) as four_eyes:  # the office user who reports cannot be the checker; here: unit users
        _act(factory, w.ema, lead, "verify", {"note": "ok"})
    assert four_eyes.value.code == "role"
    assert _act(factory, w.office, lead, "return", {"reason": "缺少检查台账"}) == ("in_progress", 5)
    assert _act(factory, w.ema, lead, "report_completion", DONE) == ("reported", 6)
    assert _act(factory, w.office, lead, "verify", {"note": "材料齐全"}) == ("verified", 7)
    with read_only(factory) as s:
        task_id = s.get(engine.TaskAssignment, lead).task_id
        assert s.get(PlanTask, task_id).state == "open"  # the 配合 unit's part is still owed
    _act(factory, w.housing, co, "report_completion", DONE)
    _act(factory, w.office2, co, "verify", {"note": "ok"})
    with read_only(factory) as s:
        task = s.get(PlanTask, task_id)
        assert task.state == "closed" and task.closed_at is not None
        trail = records.trail(s, f"assignment:{lead}")
        assert [e.action for e in trail] == ["assign", "acknowledge", "report_progress", "report_completion",
                                             "return", "report_completion", "verify"]
        assert [json.loads(e.payload)["to_state"] for e in trail][-3:] == ["in_progress", "reported", "verified"]
        assert [e.action for e in records.trail(s, f"task:{task.id}")] == ["close"]
        assert records.verify(s)[2] == []
        part = s.get(engine.TaskAssignment, lead)
        assert (part.returned_count, part.progress_count, part.verified_by_id) == (1, 1, w.office.id)
        assert part.audit_head == trail[-1].hash and part.version == len(trail)
        kinds = [o.kind for o in s.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key.like(f"%:assignment:{lead}:%")))]
        assert sorted(kinds) == sorted(["notify.task_office"] * 3 + ["notify.task_unit"] * 2)


def test_four_eyes_scope_and_state(factory, tasks_world):
    w = tasks_world
    (own,) = _ids(factory, w, "1")
    with pytest.raises(NotFound):  # another unit, another city: not even visible
        _act(factory, w.housing, own, "acknowledge")
    with pytest.raises(NotFound):
        _act(factory, w.lvliang, own, "acknowledge")
    with pytest.raises(Conflict) as state:
        _act(factory, w.office, own, "verify", {"note": "x"})
    assert state.value.code == "state" and "待签收" in state.value.message and "任务" in state.value.message
    with pytest.raises(Forbidden) as unit_only:  # the office reads the part but does not do the unit's work
        _act(factory, w.office, own, "acknowledge")
    assert unit_only.value.code == "own_unit"
    # The office is also a person who could report for a unit of its own: the reporter never checks.
    _act(factory, w.ema, own, "report_completion", DONE)
    with read_only(factory) as s:
        part = s.get(engine.TaskAssignment, own)
        part.completion_reported_by_id = w.office.id  # as if the office's own user had reported
        from services.tasks.lifecycle import NOT_COMPLETION_REPORTER
        assert not NOT_COMPLETION_REPORTER.check(part, w.office)
        assert NOT_COMPLETION_REPORTER.check(part, w.office2)
    with pytest.raises(Invalid) as future:
        _act(factory, w.ema, _ids(factory, w, "2")[0], "report_completion", {**DONE, "completed_on": "2027-01-05"})
    assert future.value.details[0]["field"] == "completed_on"
    with pytest.raises(Conflict) as stale:
        _act(factory, w.office, own, "verify", {"note": "x"}, if_match=1)
    assert stale.value.code == "stale_version"


def test_extension_is_decided_by_the_issuing_office(factory, tasks_world):
    w = tasks_world
    (own,) = _ids(factory, w, "1")
    with pytest.raises(Invalid) as earlier:
        _act(factory, w.ema, own, "request_extension", {"new_deadline": "2026-12-01", "reason": "x"})
    assert earlier.value.details[0]["field"] == "new_deadline"
    _act(factory, w.ema, own, "request_extension", {"new_deadline": "2027-03-31", "reason": "需省厅统一部署"})
    with pytest.raises(Conflict):
        _act(factory, w.ema2, own, "request_extension", {"new_deadline": "2027-02-28", "reason": "again"})
    with pytest.raises(Forbidden):
        _act(factory, w.ema, own, "grant_extension", {"note": "self"})
    with pytest.raises(NotFound):  # 吕梁's unit cannot see 忻州's task at all
        _act(factory, w.lvliang, own, "grant_extension", {"note": "no"})
    _act(factory, w.office, own, "grant_extension", {"note": "同意"})
    with read_only(factory) as s:
        part = s.get(engine.TaskAssignment, own)
        assert part.deadline == date(2027, 3, 31) and part.extensions_granted == 1
        assert part.extension_requested_at is None


def test_two_verifications_at_once_make_one_event(factory, tasks_world):
    """The second click on the same version is refused (compare-and-set), never a second event."""
    w = tasks_world
    (own,) = _ids(factory, w, "1")
    _act(factory, w.ema, own, "report_completion", DONE)
    _act(factory, w.office, own, "verify", {"note": "ok"}, if_match=2)
    with pytest.raises(Conflict):
        _act(factory, w.office2, own, "verify", {"note": "ok"}, if_match=2)
    with read_only(factory) as s:
        assert [e.action for e in records.trail(s, f"assignment:{own}")].count("verify") == 1
        assert s.get(PlanTask, s.get(engine.TaskAssignment, own).task_id).state == "closed"
