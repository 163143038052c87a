"""Reading what a batch of items must show: the item as it stands, its whole chain and the
notifications about it after its marker. A fixed number of queries per batch, whatever its size:
hazards and their events in two, parts and their record events in two, notifications in one each."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import (
    AuditEvent, Delivery, Enterprise, Hazard, OutboxMessage, PlanTask, RecordEvent, Region, TaskAssignment, TaskPlan,
    User,
)
from services.escalation.ladder import STEP_LABELS
from services.kernel.vocab import LEVELS, LISTING_LEVELS
from services.mirror.render import HAZARD, TASK, ChainEvent, Marker, Notice, Snapshot
from services.outbox.kinds import TASK_NOTIFY
from services.tasks.states import TASK_STATE_LABELS

HAZARD_PREFIX, PART_PREFIX = "hazard:", "assignment:"


def hazard_item(hazard_id: int) -> str:
    return f"{HAZARD_PREFIX}{hazard_id}"


def part_item(part_id: int) -> str:
    return f"{PART_PREFIX}{part_id}"


def part_code(part_id: int) -> str:
    """A unit's part has no code of its own; this one names its run, resource and artifact."""
    return f"task-{part_id}"


def split(items: Iterable[str]) -> tuple[list[int], list[int]]:
    hazards, parts = [], []
    for item in items:
        prefix, _, number = item.partition(":")
        if number.isdigit():
            (hazards if prefix + ":" == HAZARD_PREFIX else parts if prefix + ":" == PART_PREFIX else []).append(int(number))
    return hazards, parts


def read(session: Session, items: list[str], markers: Mapping[str, Marker] | None) -> dict[str, Snapshot]:
    """The snapshots of these items; an item that no longer exists is left out. `markers` None:
    without notifications (an artifact shows the chain only)."""
    hazards, parts = split(items)
    out: dict[str, Snapshot] = {}
    if hazards:
        out.update(_hazards(session, hazards, markers))
    if parts:
        out.update(_parts(session, parts, markers))
    return out


def _since(markers: Mapping[str, Marker], items: list[str]) -> int:
    return min((markers[i].delivery_id if i in markers else 0) for i in items) if items else 0


def _notice(row: Any) -> Notice:
    """An inbox delivery's recipient is a user id: shown by the person's name."""
    who = row.person if row.channel == "inbox" and row.person else row.recipient
    # A dead letter has no sent_at: dated by its last attempt's moment.
    return Notice(row.id, row.channel, who, row.status, row.sent_at or row.available_at, row.subject, row.last_error)


def _hazards(session: Session, ids: list[int], markers: Mapping[str, Marker] | None) -> dict[str, Snapshot]:
    H = Hazard
    rows = session.execute(
        select(H.id, H.code, H.title, H.state, H.level, H.industry, H.listing_level, H.listing_body, H.deadline,
               H.escalation_step, H.closed_at, Region.name.label("region"), Enterprise.name.label("enterprise"))
        .join(Region, Region.code == H.region_code).outerjoin(Enterprise, Enterprise.id == H.enterprise_id)
        .where(H.id.in_(ids))).all()
    events: dict[int, list[ChainEvent]] = defaultdict(list)
    E = AuditEvent
    for e in session.execute(select(E.hazard_id, E.seq, E.action, E.actor_role, E.actor_name, E.from_state, E.to_state,
                                    E.occurred_at, E.payload, E.hash).where(E.hazard_id.in_(ids))
                             .order_by(E.hazard_id, E.seq)):
        events[e.hazard_id].append(ChainEvent(e.seq, e.action, e.actor_role, e.actor_name, e.from_state, e.to_state,
                                              e.occurred_at, json.loads(e.payload), e.hash))
    items = [hazard_item(i) for i in ids]
    notices: dict[int, list[Notice]] = defaultdict(list)
    D = Delivery
    for d in session.execute(select(D.id, D.hazard_id, D.channel, D.recipient, D.status, D.sent_at, D.available_at,
                                    D.subject, D.last_error, User.display_name.label("person"))
                             .outerjoin(User, User.id == D.user_id)
                             .where(D.hazard_id.in_(ids), D.id > _since(markers, items))
                             .order_by(D.id)) if markers is not None else ():
        notices[d.hazard_id].append(_notice(d))
    out = {}
    for h in rows:
        item = hazard_item(h.id)
        level = LEVELS.get(h.level, "未定级") if h.level else "未定级"
        tags = [HAZARD.tag, f"level:{level}", f"industry:{h.industry}"]
        if h.listing_level:
            tags.append(f"listing:{LISTING_LEVELS.get(h.listing_level, h.listing_level)}")
        facts = [("当前状态", HAZARD.state_labels.get(h.state, h.state)),
                 ("隐患等级", level),
                 ("行业领域", h.industry), ("属地", h.region), ("企业", h.enterprise or "—"),
                 ("整改期限", h.deadline.isoformat() if h.deadline else "—"),
                 ("挂牌督办", f"{LISTING_LEVELS.get(h.listing_level, h.listing_level)}（{h.listing_body or ''}）"
                  if h.listing_level else "—"),
                 ("督办升级", _step(h.escalation_step)), ("办理步数", str(len(events[h.id])))]
        out[item] = Snapshot(item, HAZARD, h.code, h.title, h.state, tags, facts, events[h.id], notices[h.id])
    return out


def _step(step: str | None) -> str:
    if not step:
        return "—"
    return next((label for s, label in STEP_LABELS.items() if s.name == step), step)


def _parts(session: Session, ids: list[int], markers: Mapping[str, Marker] | None) -> dict[str, Snapshot]:
    A = TaskAssignment
    rows = session.execute(
        select(A.id, A.state, A.unit_name, A.role, A.deadline, A.year_long, A.last_progress, A.escalation_step,
               PlanTask.number, PlanTask.title, TaskPlan.title.label("plan"))
        .join(PlanTask, PlanTask.id == A.task_id).join(TaskPlan, TaskPlan.id == A.plan_id)
        .where(A.id.in_(ids))).all()
    items = [part_item(i) for i in ids]
    events: dict[str, list[ChainEvent]] = defaultdict(list)
    R = RecordEvent
    for e in session.execute(select(R.subject, R.seq, R.action, R.actor_role, R.actor_name, R.occurred_at, R.payload,
                                    R.hash).where(R.subject.in_(items)).order_by(R.subject, R.seq)):
        payload = json.loads(e.payload)
        events[e.subject].append(ChainEvent(e.seq, e.action, e.actor_role, e.actor_name, payload.get("from_state"),
                                            payload.get("to_state") or "", e.occurred_at, payload, e.hash))
    notices: dict[int, list[Notice]] = defaultdict(list)
    D, O = Delivery, OutboxMessage
    wanted = set(ids)
    for d in session.execute(select(D.id, D.channel, D.recipient, D.status, D.sent_at, D.available_at, D.subject,
                                    D.last_error, O.payload, User.display_name.label("person"))
                             .join(O, O.id == D.outbox_id)
                             .outerjoin(User, User.id == D.user_id)
                             .where(D.hazard_id.is_(None), O.kind.in_(TASK_NOTIFY), D.id > _since(markers, items))
                             .order_by(D.id)) if markers is not None else ():
        part = json.loads(d.payload).get("assignment_id")
        if part in wanted:
            notices[part].append(_notice(d))
    out = {}
    for p in rows:
        item = part_item(p.id)
        title = f"{p.unit_name}：{p.title}"
        facts = [("当前状态", TASK_STATE_LABELS.get(p.state, p.state)), ("任务清单", p.plan),
                 ("任务", f"第{p.number}项 {p.title}"), ("责任单位", f"{p.unit_name}（{p.role}）"),
                 ("完成时限", p.deadline.isoformat() + ("（全年持续）" if p.year_long else "")),
                 ("最新进展", p.last_progress or "—"), ("督办升级", TASK.step_labels.get(p.escalation_step or "", "—")),
                 ("办理步数", str(len(events[item])))]
        tags = [TASK.tag, f"role:{p.role}"]
        out[item] = Snapshot(item, TASK, part_code(p.id), title, p.state, tags, facts, events[item], notices[p.id])
    return out
