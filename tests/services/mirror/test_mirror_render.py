"""What an item's run must show, decided without Prefect or a database (services/mirror/render.py)."""

from __future__ import annotations

from datetime import datetime, timezone

from services.mirror.render import (
    COMPLETED, HAZARD, PAUSED, ChainEvent, Marker, Notice, Snapshot, artifact_key, plan,
)

AT = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai


def _ev(seq: int, action: str, frm: str | None, to: str, body: dict | None = None) -> ChainEvent:
    return ChainEvent(seq, action, "inspector", "王振华", frm, to, AT, {"body": body or {}}, f"{seq:064x}")


def _snap(events: list[ChainEvent], notices: list[Notice] = ()) -> Snapshot:
    return Snapshot("hazard:7", HAZARD, "141102-2026-000007", "主运输巷道顶板离层", events[-1].to_state,
                    ["hazard-lifecycle"], [("当前状态", "x")], events, list(notices))


CHAIN = [_ev(1, "report", None, "reported"), _ev(2, "register", "reported", "registered"),
         _ev(3, "issue_document", "registered", "registered", {"title": "限期整改通知书", "number": "离石应急改〔2026〕1号"}),
         _ev(4, "comment", "registered", "registered", {"text": "已电话督促\n企业负责人"})]


def test_states_only_where_the_state_changes_and_lines_for_every_event():
    ops = plan(_snap(CHAIN), Marker())
    assert [(s.seq, s.type, s.name) for s in ops.states] == [(1, PAUSED, "待核查"), (2, PAUSED, "已登记（限期整改）")]
    assert ops.states[1].message == "第2步 · 2026-11-24 10:00 · 检查员 王振华：登记（限期整改）"
    assert [line.token for line in ops.logs] == ["第1步", "第2步", "第3步", "第4步"]
    assert ops.logs[2].message.endswith("签发文书：《限期整改通知书》离石应急改〔2026〕1号")
    assert ops.logs[3].message.endswith("备注：已电话督促 企业负责人")  # one line, whitespace folded
    assert ops.logs[1].message.endswith("（待核查 → 已登记（限期整改））")
    assert (ops.after.seq, ops.after.state) == (4, "registered")


def test_from_a_marker_only_what_is_new_and_no_state_repeated():
    ops = plan(_snap(CHAIN + [_ev(5, "close", "registered", "closed")]),
               Marker("run-1", 4, 0, "registered", "hazard-lifecycle"))
    assert [(s.type, s.name) for s in ops.states] == [(COMPLETED, "已销号")]
    assert [line.token for line in ops.logs] == ["第5步"] and not ops.retag and ops.flow_run_id == "run-1"


def test_event_ids_come_from_the_audit_event_so_a_resend_is_the_same_event():
    first, again = plan(_snap(CHAIN), Marker()), plan(_snap(CHAIN), Marker())
    assert [e["id"] for e in first.events] == [e["id"] for e in again.events]
    assert len({e["id"] for e in first.events}) == len(CHAIN)
    assert first.events[1]["resource"]["prefect.resource.id"] == "hazard.141102-2026-000007"


def test_notifications_are_shown_in_id_order_up_to_the_first_still_on_its_way():
    notices = [Notice(11, "inbox", "张三", "sent", AT, "已登记"), Notice(12, "email", "a@x.cn", "pending", None, "x"),
               Notice(13, "webhook", "hook", "dead", AT, "y", "HTTP 500")]
    ops = plan(_snap(CHAIN, notices), Marker("run-1", 4, 10, "registered", "hazard-lifecycle"))
    assert [line.token for line in ops.logs] == ["〔投递 11〕"] and ops.after.delivery_id == 11
    assert ops.logs[0].message == "通知已送达 · 站内信 → 张三：已登记〔投递 11〕"
    notices[1] = Notice(12, "email", "a@x.cn", "sent", AT, "x")
    ops = plan(_snap(CHAIN, notices), Marker("run-1", 4, 11, "registered", "hazard-lifecycle"))
    assert [line.token for line in ops.logs] == ["〔投递 12〕", "〔投递 13〕"] and ops.after.delivery_id == 13
    assert ops.logs[1].level == 40 and "未能送达" in ops.logs[1].message and "HTTP 500" in ops.logs[1].message


def test_a_changed_tag_retags_the_run_and_a_reset_marker_starts_from_the_first_event():
    ops = plan(_snap(CHAIN), Marker("run-1", 4, 0, "registered", "hazard-lifecycle,level:一般隐患"))
    assert ops.retag and not ops.logs
    again = plan(_snap(CHAIN), Marker())
    assert again.flow_run_id is None and len(again.logs) == len(CHAIN) and again.states[0].name == "待核查"


def test_artifact_keys_are_what_prefect_accepts():
    assert artifact_key("141102-2026-000007") == "hazard-141102-2026-000007"
    assert artifact_key("task-17") == "hazard-task-17"
    assert artifact_key("AB_12/x") == "hazard-ab-12-x"
