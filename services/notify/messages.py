"""What a notification says (zh-CN), built from outbox payloads only: the labels come from the
lifecycle table and the ladder, the hazard's code and title from its row.

A delivery's body is this JSON (the webhook receives it byte for byte, signed):
`{"kind", "subject", "text", "as_of"?, "items": [{"hazard_id", "hazard_code", "title", "events":
[{"action", "step"?, "label", "seq", "event_id"}]}]}`. Inbox items and e-mails show
`subject` and `text`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from services.escalation import STEP_LABELS, Step
from services.lifecycle import LIFECYCLE
from services.notify.recipients import HazardFacts
from services.regions import LEVEL_LABELS

DIGEST_KIND = "escalation.digest"
SIGN_OFF = "请登录事故隐患闭环管理系统查看详情并及时办理。"
# What the reader is asked to do, per kind (the action's label says what happened).
HINTS = {
    "notify.enterprise": "请按要求落实隐患整改。",
    "notify.inspectors": "企业已申请验收，请及时组织验收核查。",
    "notify.supervisors": "企业已报送整改方案，请跟踪督促整改。",
    "notify.extension_deciders": "企业申请延期，请及时审批。",
    "notify.reporter": "您报告的隐患已有处理结果。",
}


def event_label(payload: dict[str, Any]) -> str:
    """`登记(限期整改)` for an action; the ladder step's label for an escalation, with the new
    listing level for an elevation (`提级督办（省级）`)."""
    step = payload.get("step")
    if step is None:
        spec = LIFECYCLE.get(payload.get("action", ""))
        return spec.label if spec else payload.get("action", "")
    label = STEP_LABELS[Step[step]]
    if step == Step.elevate.name and payload.get("listing_level"):
        label += f"（{LEVEL_LABELS[payload['listing_level']]}）"
    return label


def _event(payload: dict[str, Any]) -> dict[str, Any]:
    event = {"action": payload.get("action"), "label": event_label(payload), "seq": payload.get("seq"),
             "event_id": payload.get("event_id")}
    if "step" in payload:
        event["step"] = payload["step"]
    return event


@dataclass
class Message:
    """A notification's content; `items` lists each hazard once, its events in order."""

    kind: str
    subject: str
    text: str
    items: list[dict[str, Any]]
    as_of: str | None = None

    def body(self) -> str:
        data: dict[str, Any] = {"kind": self.kind, "subject": self.subject, "text": self.text, "items": self.items}
        if self.as_of:
            data["as_of"] = self.as_of
        return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def single(kind: str, hazard: HazardFacts, payload: dict[str, Any]) -> Message:
    label = event_label(payload)
    lines = [f"隐患 {hazard.code}（{hazard.title}）：{label}。"]
    if kind in HINTS:
        lines.append(HINTS[kind])
    lines.append(SIGN_OFF)
    item = {"hazard_id": hazard.id, "hazard_code": hazard.code, "title": hazard.title, "events": [_event(payload)]}
    return Message(kind, f"隐患 {hazard.code}：{label}", "\n".join(lines), [item])


@dataclass
class Digest:
    """One recipient's escalations of one sweep day, gathered hazard by hazard."""

    as_of: str
    items: dict[int, dict[str, Any]] = field(default_factory=dict)

    def add(self, hazard: HazardFacts, payload: dict[str, Any]) -> None:
        item = self.items.setdefault(hazard.id, {"hazard_id": hazard.id, "hazard_code": hazard.code,
                                                 "title": hazard.title, "events": []})
        event = _event(payload)
        if event not in item["events"]:
            item["events"].append(event)

    @classmethod
    def from_body(cls, body: str) -> Digest:
        """The digest a queued delivery holds (its body, as `Message.body` wrote it)."""
        data = json.loads(body)
        return cls(data["as_of"], {item["hazard_id"]: item for item in data["items"]})

    def merge(self, other: Digest) -> None:
        for hazard_id, theirs in other.items.items():
            mine = self.items.setdefault(hazard_id, {**theirs, "events": []})
            mine["events"] += [e for e in theirs["events"] if e not in mine["events"]]

    def message(self) -> Message:
        items = sorted(self.items.values(), key=lambda i: i["hazard_code"])
        for item in items:
            item["events"].sort(key=lambda e: e["seq"] or 0)
        lines = [f"截至 {self.as_of}，以下 {len(items)} 条隐患触发督办升级："]
        lines += [f"隐患 {i['hazard_code']}：{'；'.join(e['label'] for e in i['events'])}" for i in items]
        lines.append(SIGN_OFF)
        subject = f"督办提醒（{self.as_of}）：{len(items)} 条隐患触发督办升级"
        return Message(DIGEST_KIND, subject, "\n".join(lines), items, as_of=self.as_of)


def alert(kind: str, payload: dict[str, Any]) -> Message:
    """An alert about the service (today: `alert.audit`, the nightly verification failed)."""
    first = payload.get("first_bad_event") or {}
    hazard = first.get("hazard_code") or first.get("hazard_id")
    if not first:
        where = "检查点与审计链不一致"
    elif hazard is None:  # about the checkpoints or their log, not one hazard's events
        where = first.get("message") or "检查点与审计链不一致"
    else:
        event = f"，第 {first['seq']} 号事件" if first.get("seq") is not None else ""
        where = f"隐患 {hazard}{event}（{first.get('message', '')}）"
    text = (f"审计链校验失败：{where}。共发现 {len(payload.get('problems', []) or [1])} 处问题。\n"
            "请立即核查数据库访问记录，运行 hazard audit verify 查看详情，并保全现场。")
    return Message(kind, "【告警】审计链校验失败", text, [])
