"""The flows' logic through `.fn()` (DESIGN 5.10), against real databases on both backends: the
sweep, the audit checkpoint and the nightly verification's alert. The flows build their own
session factory from settings, as a flow run does."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from db.engine import read_only
from db.models import AuditEvent, Hazard, InboxItem, OutboxMessage, User
from flows import audit as audit_flows, context
from flows.context import hazard_tags
from flows.escalation import escalation_sweep
from services import outbox
from services.calendar import WorkCalendar
from services.clock import utcnow
from services.settings import get_settings
from tests.db.test_audit_trail import attacker
from tests.helpers import drive


@pytest.fixture
def flow_settings(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("HAZARD_DATABASE_URL", db_url)
    monkeypatch.setenv("HAZARD_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    context.session_factory.cache_clear()
    yield
    context.session_factory().kw["bind"].dispose()
    context.session_factory.cache_clear()
    get_settings.cache_clear()


def test_sweep_flow_fires_and_summarises(flow_settings, factory, world, clock):
    hid = drive(factory, world, clock(), "rectifying")
    with read_only(factory) as s:
        deadline = s.get(Hazard, hid).deadline
    as_of = WorkCalendar().add_working_days(deadline, 5)
    dry = escalation_sweep.fn(as_of=as_of, dry_run=True)
    assert (dry["hazards"], dry["events"], dry["dry_run"]) == (1, 3, True)
    result = escalation_sweep.fn(as_of=as_of)
    assert result["as_of"] == as_of.isoformat()
    assert result["by_step"] == {"remind": 1, "overdue": 1, "urge": 1}
    assert escalation_sweep.fn(as_of=as_of)["events"] == 0


def test_checkpoint_flow(flow_settings, factory, world, clock):
    drive(factory, world, clock(), "registered")
    drive(factory, world, clock(), "reported")
    result = audit_flows.audit_checkpoint.fn()
    assert result["leaf_count"] == 2 and len(result["merkle_root"]) == 64


def test_nightly_verification_alerts_once_when_the_trail_is_broken(flow_settings, engine, factory, world, clock):
    hid = drive(factory, world, clock(), "registered")
    assert audit_flows.audit_verify.fn()["ok"] is True
    with attacker(engine) as conn:
        conn.execute(update(AuditEvent).where(AuditEvent.hazard_id == hid, AuditEvent.seq == 2)
                     .values(actor_name="别人"))
    for _ in range(2):
        with pytest.raises(audit_flows.AuditTrailBroken, match="审计链校验失败"):
            audit_flows.audit_verify.fn()
    with read_only(factory) as s:
        alerts = s.execute(select(OutboxMessage.hazard_id, OutboxMessage.payload)
                           .where(OutboxMessage.kind == "alert.audit")).all()
    assert len(alerts) == 1  # one alert a day per break, however often the check runs
    assert alerts[0].hazard_id is None and '"ok":false' in alerts[0].payload

    # ... and it reaches the admins and auditors through the channels
    outbox.run_once(factory, now=utcnow(), settings=get_settings())  # the flow stamps it with real time
    with read_only(factory) as s:
        told = s.execute(select(User.username, InboxItem.title, InboxItem.body)
                         .join(InboxItem, InboxItem.user_id == User.id)
                         .where(InboxItem.title.startswith("【告警】"))).all()
    assert sorted(u for u, _, _ in told) == ["admin", "auditor"]
    assert all(t == "【告警】审计链校验失败" and "141102-2026-000001" in b for _, t, b in told)


def test_hazard_tags_are_bounded_and_sorted():
    assert hazard_tags(["141102-2026-000002", "141102-2026-000001", "141102-2026-000002"]) == [
        "hazard:141102-2026-000001", "hazard:141102-2026-000002"]
    assert len(hazard_tags([f"c{i}" for i in range(80)])) == 50
