"""A major hazard walks from report to 销号 through the real transaction path."""

from __future__ import annotations

from sqlalchemy import func, select

from db.engine import read_only, transaction
from db.models import AuditEvent, Hazard, OutboxMessage
from services.audit import verification as audit
from services.engine import transitions
from services.kernel.clock import local_date
from tests.helpers import body_for, drive


def test_major_hazard_full_lifecycle(factory, world, clock):
    hid = drive(factory, world, clock(), "accepted", level="major")
    body = body_for("close", today=local_date(clock()), level="major", uscc=world.enterprises["coal"])
    with transaction(factory) as s:
        h = transitions.perform(s, world.p("city_committee2"), hid, "close", body, now=clock())
        assert h.state == "closed"
    with read_only(factory) as s:
        h = s.get(Hazard, hid)
        assert h.version == 7 and h.suspended is False and h.closed_at is not None
        assert (h.listing_level, h.listing_body) == ("city", "吕梁市安全生产委员会办公室")
        n = s.execute(select(func.count()).where(AuditEvent.hazard_id == hid)).scalar_one()
        assert n == 7
        kinds = set(s.execute(select(OutboxMessage.kind).where(OutboxMessage.hazard_id == hid)).scalars())
        assert {"document.listing_notice", "document.closure_notice"} <= kinds
        report = audit.verify(s)
        assert report.ok, report.as_dict()
        assert report.events_checked == 7


def test_elevation_moves_the_listing_and_its_body_one_level_up(factory, world, clock):
    from services.accounts.auth import SYSTEM

    hid = drive(factory, world, clock(), "supervised", level="major")
    with transaction(factory) as s:
        h = transitions.perform(s, SYSTEM, hid, "escalate", {"step": "elevate"}, now=clock())
        assert (h.listing_level, h.listing_body) == ("province", "山西省安全生产委员会办公室")
    with read_only(factory) as s:
        payload = s.execute(select(OutboxMessage.payload).where(
            OutboxMessage.hazard_id == hid, OutboxMessage.kind == "escalation")).scalar_one()
        assert '"listing_level":"province"' in payload


def test_verify_streams_a_trail_longer_than_one_batch(factory, world, clock):
    """The trail is read in batches; a trail of many batches verifies (and a tamper in a late batch
    is still found) without the session's identity map getting in the way."""
    ids = [drive(factory, world, clock(), "rectifying") for _ in range(6)]  # 18 events
    with read_only(factory) as s:
        report = audit.verify(s, batch=4)
        assert report.ok, report.as_dict()
        assert (report.hazards_checked, report.events_checked) == (6, 18)
        assert audit.verify(s, batch=4, hazard_ids=ids[-2:]).events_checked == 6
