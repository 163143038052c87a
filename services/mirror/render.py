"""What one item's flow run must show, from its chain and its notifications: pure, rows in and
operations out, so what Prefect shows is decided (and tested) without Prefect.

Each chain event after the item's marker becomes a log line in the run (the act's time, the
actor's role and name, the action, a document's number, a ladder step, the state change) and a
Prefect event on resource `hazard.<code>` whose id is derived from the event's hash, so sending it
twice stores it once. An event that changes the state (and the first one) also sets the run's state,
named by the state's Chinese label: open states are PAUSED (waiting on people; no pause timeout, so
Prefect never expires them), a closed hazard or verified part COMPLETED, a dismissed one CANCELLED.
Prefect stamps a state with the moment it is set, so the act's own time is in the message.

Every line carries a token (`第N步`, `〔投递 N〕`) that a resumed pass reads back to tell what
already reached Prefect.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from services.escalation.ladder import STEP_LABELS
from services.kernel.clock import SHANGHAI
from services.lifecycle.roles import ROLE_LABELS
from services.lifecycle.states import STATE_LABELS, State
from services.lifecycle.table import LIFECYCLE
from services.tasks.lifecycle import TASK_LIFECYCLE, TASK_STEP_LABELS
from services.tasks.states import TASK_STATE_LABELS, TaskState

PAUSED, COMPLETED, CANCELLED = "PAUSED", "COMPLETED", "CANCELLED"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)  # a notice with no moment of its own (never expected)
INFO, WARNING, ERROR = 20, 30, 40
FLOW_NAME = "hazard-lifecycle"
LOGGER = "hazard.lifecycle"
# uuid5 namespace of the Prefect events derived from audit events (fixed: ids must not change).
EVENT_NAMESPACE = uuid.UUID("6f3d8a52-1f0e-5c41-9a57-0c1d2e3f4a5b")
STEP_TOKEN = re.compile(r"^第(\d+)步")
NOTICE_TOKEN = re.compile(r"〔投递 (\d+)〕$")
CHANNEL_LABELS = {"inbox": "站内信", "email": "电子邮件", "webhook": "Webhook"}
DETAIL_FIELDS = ("reason", "reasons", "note", "opinion", "work_done", "summary", "measures", "text", "filename")


@dataclass(frozen=True)
class Kind:
    """What differs between a hazard and a unit's part: state and action labels, ladder steps,
    which states end the run, and the words of its resource and events."""

    name: str  # hazard | task
    state_labels: Mapping[str, str]
    actions: Mapping[str, Any]
    step_labels: Mapping[str, str]
    completed: frozenset[str]
    cancelled: frozenset[str]
    tag: str


HAZARD = Kind("hazard", STATE_LABELS, LIFECYCLE, {s.name: label for s, label in STEP_LABELS.items()},
              frozenset({State.CLOSED.value}), frozenset({State.DISMISSED.value}), "hazard-lifecycle")
TASK = Kind("task", TASK_STATE_LABELS, TASK_LIFECYCLE, dict(TASK_STEP_LABELS),
            frozenset({TaskState.VERIFIED.value}), frozenset(), "task-lifecycle")


@dataclass(frozen=True)
class ChainEvent:
    seq: int
    action: str
    actor_role: str
    actor_name: str
    from_state: str | None
    to_state: str
    occurred_at: datetime
    payload: dict[str, Any]
    hash: str


@dataclass(frozen=True)
class Notice:
    """A notification about the item that reached a final status (sent, or given up: dead)."""

    id: int
    channel: str
    recipient: str
    status: str
    at: datetime | None
    subject: str
    error: str | None = None


@dataclass
class Snapshot:
    """The item as it stands, with its whole chain (the artifact's timeline needs it) and the
    notifications after its marker."""

    item: str  # hazard:<id> | assignment:<id>
    kind: Kind
    code: str
    title: str
    state: str
    tags: list[str]
    facts: list[tuple[str, str]]
    events: list[ChainEvent]
    notices: list[Notice] = field(default_factory=list)


@dataclass
class Marker:
    flow_run_id: str | None = None
    seq: int = 0
    delivery_id: int = 0
    state: str | None = None
    tags: str | None = None
    writing: bool = False


@dataclass(frozen=True)
class StateOp:
    seq: int
    type: str
    name: str
    message: str


@dataclass(frozen=True)
class LogOp:
    token: str
    level: int
    message: str
    timestamp: datetime


@dataclass
class ItemOps:
    """Everything one pass writes for one item, in order, and the marker once it is written."""

    item: str
    code: str
    run_name: str
    tags: list[str]
    flow_run_id: str | None
    resume: bool  # the pass before died while writing: skip what reached Prefect
    retag: bool
    states: list[StateOp]
    logs: list[LogOp]
    events: list[dict[str, Any]]
    after: Marker

    @property
    def transitions(self) -> int:
        return len(self.events)


def run_name(code: str, title: str) -> str:
    return f"{code} {title}"[:200]


def resource_id(code: str) -> str:
    return f"hazard.{code}"


def artifact_key(code: str) -> str:
    """Prefect's artifact keys are lowercase letters, digits and dashes."""
    return "hazard-" + re.sub(r"[^a-z0-9-]+", "-", code.lower()).strip("-")


def state_type(kind: Kind, state: str) -> str:
    return COMPLETED if state in kind.completed else CANCELLED if state in kind.cancelled else PAUSED


def local(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _label(mapping: Mapping[str, str], key: str | None) -> str:
    return mapping.get(key, key or "") if key is not None else ""


def _detail(kind: Kind, ev: ChainEvent) -> str:
    body = ev.payload.get("body") or {}
    if ev.action == "issue_document":
        return f"：《{body.get('title', '')}》{body.get('number', '')}"
    if ev.action in ("escalate", "sweep_step", "ladder"):
        step = body.get("step")
        label = kind.step_labels.get(step, step) if step else ""
        return f"：{label}" if label else ""
    if ev.action == "assign":
        return f"：{body.get('unit_name', '')}（{body.get('role', '')}），完成时限 {body.get('deadline', '')}"
    for name in DETAIL_FIELDS:
        value = body.get(name)
        if isinstance(value, str) and value.strip():
            text = " ".join(value.split())
            return "：" + (text if len(text) <= 120 else text[:119] + "…")
    return ""


def _act(kind: Kind, ev: ChainEvent) -> str:
    spec = kind.actions.get(ev.action)
    action = spec.label if spec is not None else ev.action
    role = ROLE_LABELS.get(ev.actor_role, ev.actor_role)
    return f"第{ev.seq}步 · {local(ev.occurred_at)} · {role} {ev.actor_name}：{action}"


def event_line(kind: Kind, ev: ChainEvent) -> LogOp:
    moved = ev.from_state != ev.to_state
    change = (f"（{_label(kind.state_labels, ev.from_state) or '新建'} → {_label(kind.state_labels, ev.to_state)}）"
              if moved else "")
    level = WARNING if ev.action == "escalate" else INFO
    return LogOp(f"第{ev.seq}步", level, _act(kind, ev) + _detail(kind, ev) + change, ev.occurred_at)


def notice_line(notice: Notice) -> LogOp:
    channel = CHANNEL_LABELS.get(notice.channel, notice.channel)
    if notice.status == "sent":
        text, level = f"通知已送达 · {channel} → {notice.recipient}：{notice.subject}", INFO
    else:
        text = f"通知未能送达，已转人工处理 · {channel} → {notice.recipient}：{notice.error or notice.subject}"
        level = ERROR
    return LogOp(f"〔投递 {notice.id}〕", level, f"{text}〔投递 {notice.id}〕", notice.at or EPOCH)


def prefect_event(snap: Snapshot, ev: ChainEvent) -> dict[str, Any]:
    spec = snap.kind.actions.get(ev.action)
    return {
        "id": str(uuid.uuid5(EVENT_NAMESPACE, ev.hash)),
        "occurred": ev.occurred_at.isoformat(),
        "event": f"{snap.kind.name}.{ev.action}",
        "resource": {"prefect.resource.id": resource_id(snap.code), "prefect.resource.name": snap.title[:100],
                     "hazard.state": _label(snap.kind.state_labels, ev.to_state)},
        "related": [],  # the flow run, once its id is known (flows/mirror.py)
        "payload": {"seq": ev.seq, "action": ev.action, "label": spec.label if spec is not None else ev.action,
                    "actor": ev.actor_name, "role": ROLE_LABELS.get(ev.actor_role, ev.actor_role),
                    "from": _label(snap.kind.state_labels, ev.from_state),
                    "to": _label(snap.kind.state_labels, ev.to_state), "line": event_line(snap.kind, ev).message},
    }


def _cell(text: str) -> str:
    return str(text).replace("|", "｜").replace("\n", " ")


def artifact(snap: Snapshot) -> str:
    """The item's current facts and its whole timeline, as Markdown."""
    lines = [f"# {_cell(snap.code)} {_cell(snap.title)}", "", "| 项目 | 内容 |", "|---|---|"]
    lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in snap.facts]
    lines += ["", "## 办理经过", "", "| 步 | 时间 | 办理人 | 事项 | 状态 |", "|---:|---|---|---|---|"]
    for ev in snap.events:
        spec = snap.kind.actions.get(ev.action)
        action = (spec.label if spec is not None else ev.action) + _detail(snap.kind, ev)
        who = f"{ROLE_LABELS.get(ev.actor_role, ev.actor_role)} {ev.actor_name}"
        lines.append(f"| {ev.seq} | {local(ev.occurred_at)} | {_cell(who)} | {_cell(action)} | "
                     f"{_cell(_label(snap.kind.state_labels, ev.to_state))} |")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Artifact:
    """An item's keyed artifact, refreshed when its run has caught up (`stream.refresh_artifacts`)."""

    item: str
    key: str
    flow_run_id: str
    markdown: str
    seq: int  # the chain length it shows


def artifact_of(snap: Snapshot, flow_run_id: str) -> Artifact:
    return Artifact(snap.item, artifact_key(snap.code), flow_run_id, artifact(snap), len(snap.events))


def plan(snap: Snapshot, marker: Marker) -> ItemOps:
    """The operations that bring the item's run from `marker` to `snap` (a reset marker: from the
    first event; `flows/mirror.py` then replaces a run Prefect still holds for the item)."""
    new = [ev for ev in snap.events if ev.seq > marker.seq]
    states: list[StateOp] = []
    current = marker.state
    for ev in new:
        if current is None or ev.to_state != current:  # its message names the step: a resume reads it back
            label = _label(snap.kind.state_labels, ev.to_state)
            states.append(StateOp(ev.seq, state_type(snap.kind, ev.to_state), label, _act(snap.kind, ev)))
            current = ev.to_state
    notices = [n for n in snap.notices if n.id > marker.delivery_id]
    shown: list[Notice] = []
    for n in sorted(notices, key=lambda n: n.id):
        if n.status not in ("sent", "dead"):
            break  # in id order: a notification still on its way holds back the later ones
        shown.append(n)
    logs = [event_line(snap.kind, ev) for ev in new] + [notice_line(n) for n in shown]
    tags = ",".join(snap.tags)
    after = Marker(flow_run_id=marker.flow_run_id,
                   seq=new[-1].seq if new else marker.seq,
                   delivery_id=shown[-1].id if shown else marker.delivery_id,
                   state=current, tags=tags)
    return ItemOps(item=snap.item, code=snap.code, run_name=run_name(snap.code, snap.title), tags=list(snap.tags),
                   flow_run_id=after.flow_run_id, resume=marker.writing,
                   retag=after.flow_run_id is not None and tags != (marker.tags or ""),
                   states=states, logs=logs, events=[prefect_event(snap, ev) for ev in new],
                   after=after)
