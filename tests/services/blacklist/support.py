"""Hazards with known 黑名单 evidence, made through the real actions."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from db.engine import transaction
from db.models import BlacklistDecision
from services.engine import transitions
from services.kernel.clock import local_date
from tests.helpers import add_attachment, body_for, drive, new_hazard


def registered(factory, world, at: datetime, category: str | None, *, enterprise: str = "coal",
               industry: str = "煤矿", region: str = "141102", inspector: str = "inspector",
               level: str = "general", source: str = "inspection") -> int:
    hazard_id = new_hazard(factory, world, at, reporter=inspector, industry=industry, region_code=region,
                           source=source)
    body = {"level": level, "enterprise_uscc": world.enterprises[enterprise],
            "deadline": (local_date(at) + timedelta(days=60)).isoformat()}
    if category is not None:
        body["category"] = category
    with transaction(factory) as s:
        transitions.perform(s, world.p(inspector), hazard_id, "register", body, now=at)
    return hazard_id


def rejected_twice(factory, world, at: datetime) -> int:
    """A general hazard of the coal enterprise whose acceptance failed twice."""
    hazard_id = drive(factory, world, at, "acceptance_requested")
    today = local_date(at)
    with transaction(factory) as s:
        transitions.perform(s, world.p("inspector"), hazard_id, "reject",
                            body_for("reject", today=today, level="general", uscc=""), now=at)
    body = body_for("request_acceptance", today=today, level="general", uscc="",
                    evidence=[add_attachment(factory, hazard_id, at)])
    with transaction(factory) as s:
        transitions.perform(s, world.p("ent_coal"), hazard_id, "request_acceptance", body, now=at)
    with transaction(factory) as s:
        transitions.perform(s, world.p("inspector"), hazard_id, "reject",
                            body_for("reject", today=today, level="general", uscc=""), now=at)
    return hazard_id


def listed_major(factory, world, at: datetime) -> int:
    """A major hazard of the coal enterprise listed (挂牌) on `at`, deadline 60 days later, open."""
    return drive(factory, world, at, "supervised", level="major")


def decision(factory, enterprise_id: int, quarter: str, listed_from: date | None, listed_until: date | None,
             at: datetime, kind: str = "listed") -> None:
    with transaction(factory) as s:
        s.add(BlacklistDecision(enterprise_id=enterprise_id, quarter=quarter, decision=kind, reason="测试",
                                evidence="{}", listed_from=listed_from, listed_until=listed_until,
                                decided_by_id=None, decided_at=at))


def enterprise_id(factory, world, key: str) -> int:
    from services.engine.lookups import enterprise_by_uscc

    with transaction(factory) as s:
        return enterprise_by_uscc(s, world.enterprises[key], "uscc").id
