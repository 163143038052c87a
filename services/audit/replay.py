"""Replaying a hazard's audit events against its row (DESIGN 3: "verification also replays").

The hash chain proves the events were not changed; it says nothing of the hazard row, which the
service reads to decide every action. Someone with database access could move a deadline, lift a
suspension or close a hazard with one UPDATE and no event. Every column an action writes is in
its event (`transitions.prepare`: `to_state`, the `seq`, and `payload.changes` with the values
written, Decimals and dates as text), and the `report` event carries the report's body, so folding
the events gives what the row must hold.

The fold is generic on purpose: any action, including one added later (an `attach` with no
changes), sets the state to its `to_state` and the version to its `seq`, and the columns its
`changes` name. A column is compared only once an event has said what it is (`enterprise_id`
before registration is not known from the events).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

# What a report writes from its body.
REPORT_FIELDS = ("title", "description", "location", "industry", "source", "region_code")

# What a report leaves at its initial value (creation._NEW_HAZARD), and actions change later.
INITIAL: dict[str, Any] = {
    "level": None, "category": None, "deadline": None, "repeat_of_id": None, "dismiss_reason": None,
    "listing_level": None, "listing_body": None, "listed_at": None, "plan_due": None, "suspended": False,
    "escalation_step": None, "escalation_fired": 0,
    "plan_responsible_person": None, "plan_measures": None, "plan_funds_wan": None, "plan_time_limit": None,
    "plan_contingency": None, "plan_filed_at": None,
    "extension_new_deadline": None, "extension_reason": None, "extension_requested_at": None,
    "extensions_granted": 0,
    "acceptance_requested_at": None, "funds_spent_wan": None, "accepted_by_id": None, "accepted_at": None,
    "failed_acceptances": 0, "closed_at": None,
}

# The columns compared, in the order a mismatch names them.
COLUMNS: tuple[str, ...] = (
    "state", "version", *INITIAL, "enterprise_id", "reported_by_id", "created_at", *REPORT_FIELDS,
)

LABELS = {
    "state": "状态", "version": "版本", "level": "隐患等级", "category": "类别", "deadline": "整改期限",
    "repeat_of_id": "屡查屡犯关联", "dismiss_reason": "不予立案理由", "listing_level": "挂牌层级",
    "listing_body": "挂牌督办单位", "listed_at": "挂牌时间", "plan_due": "方案报送期限", "suspended": "停产整顿",
    "escalation_step": "督办步骤", "escalation_fired": "已执行的督办步骤", "plan_responsible_person": "整改责任人",
    "plan_measures": "整改措施", "plan_funds_wan": "整改资金", "plan_time_limit": "整改时限",
    "plan_contingency": "应急预案", "plan_filed_at": "方案报送时间", "extension_new_deadline": "申请延期至",
    "extension_reason": "延期理由", "extension_requested_at": "延期申请时间", "extensions_granted": "已批准延期次数",
    "acceptance_requested_at": "验收申请时间", "funds_spent_wan": "实际投入资金", "accepted_by_id": "验收人",
    "accepted_at": "验收时间", "failed_acceptances": "验收不通过次数", "closed_at": "销号时间",
    "enterprise_id": "责任企业", "reported_by_id": "报告人", "created_at": "报告时间", "title": "隐患名称",
    "description": "隐患描述", "location": "隐患地点", "industry": "行业领域", "source": "隐患来源",
    "region_code": "行政区划",
}


def expected_row(events: Iterable[Any]) -> dict[str, Any]:
    """The row the events say, folded in seq order (columns no event has set are left out)."""
    known: dict[str, Any] = {}
    for ev in sorted(events, key=lambda e: e.seq):
        try:
            payload = json.loads(ev.payload)
        except ValueError:
            payload = {}
        payload = payload if isinstance(payload, dict) else {}
        if ev.seq == 1:
            known = dict(INITIAL, reported_by_id=ev.actor_id, created_at=ev.occurred_at)
            body = payload.get("body")
            if ev.action == "report" and isinstance(body, dict):
                known.update({name: body[name] for name in REPORT_FIELDS if name in body})
        changes = payload.get("changes")
        if isinstance(changes, dict):
            known.update({name: value for name, value in changes.items() if name in COLUMNS})
        known["state"] = ev.to_state
        known["version"] = ev.seq
    return known


def row_mismatch(events: list[Any], row: Any) -> str | None:
    """What of the hazard row differs from its replayed events, for people; None when nothing."""
    expected = expected_row(events)
    wrong = [name for name in COLUMNS if name in expected and not _same(expected[name], getattr(row, name))]
    if not wrong:
        return None
    parts = "；".join(
        f"{LABELS.get(name, name)}（{name}）为 {_shown(getattr(row, name))}，按审计事件应为 {_shown(expected[name])}"
        for name in wrong
    )
    return f"隐患 {row.code} 的记录与其审计事件不符（记录被绕过审计事件改动）：{parts}"


def _same(expected: Any, actual: Any) -> bool:
    """Equal once the event's JSON text (dates, timestamps and money as strings) is read back."""
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    if isinstance(actual, Decimal):
        try:
            return Decimal(str(expected)) == actual
        except InvalidOperation:
            return False
    if isinstance(actual, datetime):
        other = _instant(expected)
        return other is not None and other == actual.astimezone(timezone.utc)
    if isinstance(actual, date):
        return str(expected) == actual.isoformat()
    return bool(expected == actual)


def _instant(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc)
    return None


def _shown(value: Any) -> str:
    if value is None:
        return "空"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "…"


# ---- a task list's parts (issue 14) -------------------------------------------------------------
# One unit's part of a published task (`task_assignments`) keeps `version` and `audit_head` on its
# row like a hazard, its events on the record chain `assignment:<id>`. The same fold: the `assign`
# event's body says what was given, every event's `changes` what it wrote and `to_state` the state.

PART_ASSIGNED = ("plan_id", "task_id", "unit_name", "role", "deadline", "year_long")
PART_INITIAL: dict[str, Any] = {
    "acknowledged_at": None, "progress_count": 0, "last_progress_at": None, "last_progress": None,
    "completion_reported_at": None, "completion_reported_by_id": None, "completion": None, "verified_at": None,
    "verified_by_id": None, "returned_count": 0, "extension_new_deadline": None, "extension_reason": None,
    "extension_requested_at": None, "extension_requested_by_id": None, "extensions_granted": 0,
    "escalation_step": None, "escalation_fired": 0, "progress_reminded": None,
}
PART_COLUMNS: tuple[str, ...] = ("state", "version", "audit_head", *PART_ASSIGNED, *PART_INITIAL)
PART_LABELS = {
    "state": "状态", "version": "版本", "audit_head": "链头哈希", "plan_id": "任务清单", "task_id": "任务",
    "unit_name": "承担单位", "role": "承担方式", "deadline": "完成时限", "year_long": "全年任务",
    "acknowledged_at": "签收时间", "progress_count": "进展报告次数", "last_progress_at": "最近进展时间",
    "last_progress": "最近进展", "completion_reported_at": "完成报告时间", "completion_reported_by_id": "完成报告人",
    "completion": "完成情况", "verified_at": "核查时间", "verified_by_id": "核查人", "returned_count": "退回次数",
    "extension_new_deadline": "申请延期至", "extension_reason": "延期理由", "extension_requested_at": "延期申请时间",
    "extension_requested_by_id": "延期申请人", "extensions_granted": "已批准延期次数", "escalation_step": "督办步骤",
    "escalation_fired": "已执行的督办步骤", "progress_reminded": "已提醒进展的月份",
}


def expected_part(events: Iterable[Any]) -> dict[str, Any]:
    """The part's row as its chain says (record events: seq, action, payload, hash)."""
    known: dict[str, Any] = {}
    count = 0
    for ev in sorted(events, key=lambda e: e.seq):
        count += 1
        try:
            payload = json.loads(ev.payload)
        except ValueError:
            payload = {}
        payload = payload if isinstance(payload, dict) else {}
        if ev.seq == 1:
            known = dict(PART_INITIAL)
            body = payload.get("body")
            if ev.action == "assign" and isinstance(body, dict):
                known.update({name: body[name] for name in PART_ASSIGNED if name in body})
        changes = payload.get("changes")
        if isinstance(changes, dict):
            known.update({name: value for name, value in changes.items() if name in PART_INITIAL or name == "deadline"})
        if payload.get("to_state"):
            known["state"] = payload["to_state"]
        known["audit_head"] = ev.hash
    known["version"] = count
    return known


def part_mismatch(events: list[Any], row: Any, name: str) -> str | None:
    """What of a part's row differs from its chain, for people (`name` names the part); None when
    nothing. The chain's length is its version, its last hash the head, its last `to_state` the state."""
    expected = expected_part(events)
    wrong = [col for col in PART_COLUMNS if col in expected and not _same(expected[col], getattr(row, col))]
    if not wrong:
        return None
    parts = "；".join(
        f"{PART_LABELS.get(col, col)}（{col}）为 {_shown(getattr(row, col))}，按审计事件应为 {_shown(expected[col])}"
        for col in wrong
    )
    return f"{name}的记录与其审计事件不符（记录被绕过审计事件改动）：{parts}"
