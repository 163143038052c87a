"""The mirror's stream without Prefect (a recording sink), on both backends: the triggers queue
every item that has something new to show, a pass shows each transition once and moves the marker,
an item Prefect refused keeps its queue rows and backs off, a run that vanished is rebuilt, the
lease lets one mirror write, and a resync starts an item's run from its first event."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, text, update

from db.engine import UnitOfWork, read_only, transaction
from db.models import AuditEvent, Delivery, Hazard, MirrorItem, MirrorQueue, TaskAssignment
from services.engine import transitions
from services.lifecycle.states import STATE_LABELS
from services.mirror import stream
from services.mirror.render import CANCELLED, COMPLETED, PAUSED, ItemOps
from services.tasks import engine as tasks
from tests.conftest import START
from tests.helpers import drive


class RecordingSink:
    """Keeps what it was asked to write; `fail` names items it refuses, `missing` items whose run
    it reports gone."""

    def __init__(self) -> None:
        self.batches: list[list[ItemOps]] = []
        self.fail: set[str] = set()
        self.missing: set[str] = set()
        self.runs: dict[str, str] = {}
        self.artifacts: list = []

    def write(self, ops: list[ItemOps]) -> dict[str, stream.Outcome]:
        self.batches.append(ops)
        out = {}
        for op in ops:
            if op.item in self.fail:
                out[op.item] = stream.Outcome(None, error="Prefect 不可用")
            elif op.item in self.missing:
                out[op.item] = stream.Outcome(None, error="404", missing=True)
            else:
                out[op.item] = stream.Outcome(op.flow_run_id or self.runs.setdefault(op.item, f"run-{op.item}"))
        return out

    def write_artifacts(self, artifacts: list) -> set[str]:
        self.artifacts += artifacts
        return {a.item for a in artifacts if a.item not in self.fail}

    def ops(self, item: str) -> list[ItemOps]:
        return [op for batch in self.batches for op in batch if op.item == item]


def _queued(factory, item: str) -> int:
    with read_only(factory) as s:
        return s.scalar(select(func.count()).select_from(MirrorQueue).where(MirrorQueue.item == item))


def _marker(factory, item: str):
    with read_only(factory) as s:
        return s.execute(select(MirrorItem.__table__).where(MirrorItem.item == item)).one_or_none()


def test_every_chain_event_and_final_notification_queues_its_item(factory, world):
    hazard_id = drive(factory, world, START, "closed")
    item = f"hazard:{hazard_id}"
    with read_only(factory) as s:
        events = s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.hazard_id == hazard_id))
    assert events >= 5 and _queued(factory, item) == events
    with transaction(factory) as s:  # a notification about it reaches its recipient
        s.execute(text("INSERT INTO deliveries (outbox_id, channel, recipient, user_id, hazard_id, dedupe_key, subject,"
                       " body, status, attempts, available_at, created_at) VALUES (NULL, 'inbox', 'u', NULL, :h, 'k1',"
                       " 's', 'b', 'pending', 0, :now, :now)"), {"h": hazard_id, "now": START})
    assert _queued(factory, item) == events  # queued, not yet final: nothing to show
    with transaction(factory) as s:
        s.execute(update(Delivery).where(Delivery.dedupe_key == "k1").values(status="sending"))
    assert _queued(factory, item) == events
    with transaction(factory) as s:
        s.execute(update(Delivery).where(Delivery.dedupe_key == "k1").values(status="sent", sent_at=START))
    assert _queued(factory, item) == events + 1


def test_a_pass_shows_each_transition_once_with_the_lifecycle_as_states(factory, world):
    hazard_id = drive(factory, world, START, "closed")
    item, sink, uow = f"hazard:{hazard_id}", RecordingSink(), UnitOfWork(factory)
    stream.drain(uow, sink)
    (op,) = sink.ops(item)
    with read_only(factory) as s:
        chain = s.execute(select(AuditEvent.seq, AuditEvent.from_state, AuditEvent.to_state)
                          .where(AuditEvent.hazard_id == hazard_id).order_by(AuditEvent.seq)).all()
        code = s.get(Hazard, hazard_id).code
    moves = [STATE_LABELS[e.to_state] for e in chain if e.from_state != e.to_state]
    assert [s.name for s in op.states] == moves
    assert moves[0] == "待核查" and moves[-1] == "已销号"
    assert [s.type for s in op.states] == [PAUSED] * (len(moves) - 1) + [COMPLETED]
    assert [line.token for line in op.logs] == [f"第{e.seq}步" for e in chain]
    assert {ev["resource"]["prefect.resource.id"] for ev in op.events} == {f"hazard.{code}"}
    assert len({ev["id"] for ev in op.events}) == len(chain)
    assert op.run_name.startswith(code + " ") and not any(t.startswith("hazard:") for t in op.tags)
    marker = _marker(factory, item)
    assert (marker.seq, marker.flow_run_id, marker.writing, marker.state) == (len(chain), f"run-{item}", False, "closed")
    assert _queued(factory, item) == 0
    (art,) = sink.artifacts  # once the run has caught up: its facts and whole timeline
    assert art.key == f"hazard-{code}" and art.flow_run_id == f"run-{item}" and art.seq == len(chain)
    assert "| 当前状态 | 已销号 |" in art.markdown and art.markdown.count("\n| ") >= len(chain)

    stream.drain(uow, sink)  # nothing new: nothing written
    assert len(sink.ops(item)) == 1
    with transaction(factory) as s:
        transitions.perform(s, world.p("inspector"), hazard_id, "comment", {"text": "回访：设备运行正常"}, now=START)
    stream.drain(uow, sink)
    last = sink.ops(item)[-1]
    assert [line.token for line in last.logs] == [f"第{len(chain) + 1}步"] and last.states == []
    assert "回访：设备运行正常" in last.logs[0].message and last.flow_run_id == f"run-{item}"
    assert len(sink.artifacts) == 2 and sink.artifacts[-1].seq == len(chain) + 1


def test_a_dismissed_hazard_ends_cancelled(factory, world):
    hazard_id = drive(factory, world, START, "dismissed")
    sink = RecordingSink()
    stream.drain(UnitOfWork(factory), sink)
    (op,) = sink.ops(f"hazard:{hazard_id}")
    assert [(s.type, s.name) for s in op.states] == [(PAUSED, "待核查"), (CANCELLED, "不予立案")]


def test_an_item_prefect_refuses_keeps_its_rows_backs_off_and_then_resumes(factory, world, clock):
    hazard_id = drive(factory, world, START, "registered")
    item, sink, uow = f"hazard:{hazard_id}", RecordingSink(), UnitOfWork(factory)
    other = drive(factory, world, START, "reported")
    sink.fail.add(item)
    report = stream.drain(uow, sink)
    assert report.failed == 1 and _queued(factory, item) > 0 and _queued(factory, f"hazard:{other}") == 0
    marker = _marker(factory, item)
    assert marker.writing and marker.failures == 1 and marker.retry_at is not None and marker.seq == 0
    stream.drain(uow, sink)  # waiting out its backoff: not tried
    assert len(sink.ops(item)) == 1
    sink.fail.clear()
    with transaction(factory) as s:
        s.execute(update(MirrorItem).where(MirrorItem.item == item).values(retry_at=START - timedelta(seconds=1)))
    stream.drain(uow, sink)
    op = sink.ops(item)[-1]
    assert op.resume  # it may have half reached Prefect: the sink reads back before writing
    marker = _marker(factory, item)
    assert (marker.writing, marker.failures, marker.retry_at) == (False, 0, None) and _queued(factory, item) == 0


def test_a_run_gone_from_prefect_is_built_again_from_the_first_event(factory, world):
    hazard_id = drive(factory, world, START, "registered")
    item, sink, uow = f"hazard:{hazard_id}", RecordingSink(), UnitOfWork(factory)
    stream.drain(uow, sink)
    with transaction(factory) as s:
        transitions.perform(s, world.p("inspector"), hazard_id, "comment", {"text": "补充说明"}, now=START)
    sink.missing.add(item)
    stream.drain(uow, sink)
    sink.missing.clear()
    stream.drain(uow, sink)
    rebuilt = sink.ops(item)[-1]
    assert rebuilt.flow_run_id is None and rebuilt.logs[0].token == "第1步" and rebuilt.states[0].name == "待核查"


def test_one_mirror_writes_at_a_time(factory, world):
    drive(factory, world, START, "reported")
    uow = UnitOfWork(factory)
    assert stream.acquire(uow, "other")
    sink = RecordingSink()
    report = stream.drain(uow, sink)
    assert sink.batches == [] and report.errors
    stream.release(uow, "other")
    assert stream.drain(uow, sink).items == 1


def test_resync_rebuilds_one_item_from_the_first_event(factory, world):
    first = drive(factory, world, START, "rectifying")
    second = drive(factory, world, START, "reported")
    sink, uow = RecordingSink(), UnitOfWork(factory)
    stream.drain(uow, sink)
    with read_only(factory) as s:
        code = s.get(Hazard, first).code
    assert stream.enqueue_all(uow, code=code) == [f"hazard:{first}"]
    stream.drain(uow, sink)
    again = sink.ops(f"hazard:{first}")[-1]
    assert again.flow_run_id is None and [line.token for line in again.logs][:2] == ["第1步", "第2步"]
    assert len(sink.ops(f"hazard:{second}")) == 1
    assert stream.enqueue_all(uow, code="141102-2099-999999") == []


def test_a_unit_s_part_has_its_own_run(factory, tasks_world):
    with read_only(factory) as s:
        part_id = tasks_world.parts(s, "1")[0].id
    with transaction(factory) as s:
        tasks.perform(s, tasks_world.ema, part_id, "acknowledge", {}, now=START)
    sink = RecordingSink()
    stream.drain(UnitOfWork(factory), sink)
    (op,) = sink.ops(f"assignment:{part_id}")
    assert op.code == f"task-{part_id}" and op.run_name.startswith(f"task-{part_id} 市应急局：")
    assert [s.name for s in op.states] == ["待签收", "已签收"]
    assert op.events[0]["resource"]["prefect.resource.id"] == f"hazard.task-{part_id}"
    with read_only(factory) as s:
        parts = s.scalar(select(func.count()).select_from(TaskAssignment))
    assert len([op for batch in sink.batches for op in batch if op.item.startswith("assignment:")]) == parts


def _deliver(factory, outbox_id: int, key: str) -> None:
    with transaction(factory) as s:
        s.execute(text("INSERT INTO deliveries (outbox_id, channel, recipient, user_id, hazard_id, dedupe_key, subject,"
                       " body, status, attempts, available_at, created_at) VALUES (:o, 'inbox', 'u', NULL, NULL, :k,"
                       " 's', 'b', 'pending', 0, :now, :now)"), {"o": outbox_id, "k": key, "now": START})
    with transaction(factory) as s:  # the set-based mark of a delivery batch
        s.execute(update(Delivery).where(Delivery.dedupe_key == key).values(status="sent", sent_at=START))


def test_a_task_notification_queues_its_part_and_a_plan_wide_one_queues_nothing(factory, tasks_world):
    """A plan's publishing notice (one per unit, about several parts) names no part: sending it
    must neither fail (a trigger that failed would stop the outbox) nor queue anything."""
    from db.models import OutboxMessage

    with read_only(factory) as s:
        part_id = tasks_world.parts(s, "1")[0].id
    with transaction(factory) as s:
        tasks.perform(s, tasks_world.ema, part_id, "report_completion",
                      {"summary": "清单已印发", "completed_on": "2026-11-24", "evidence_text": "印发文件"}, now=START)
    with read_only(factory) as s:
        rows = s.execute(select(OutboxMessage.id, OutboxMessage.payload)
                         .where(OutboxMessage.kind.in_(("notify.task_unit", "notify.task_office")))).all()
    plan_wide = [r.id for r in rows if '"assignment_id"' not in r.payload]
    about_part = [r.id for r in rows if f'"assignment_id":{part_id},' in r.payload]
    assert plan_wide and about_part
    with transaction(factory) as s:
        s.execute(MirrorQueue.__table__.delete())
    _deliver(factory, plan_wide[0], "plan-wide")
    assert _queued(factory, f"assignment:{part_id}") == 0
    with read_only(factory) as s:
        assert s.scalar(select(func.count()).select_from(MirrorQueue)) == 0
    _deliver(factory, about_part[0], "about-part")
    assert _queued(factory, f"assignment:{part_id}") == 1
