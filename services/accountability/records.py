"""The ladder's `summon` and `refer` events become records, exactly once: a 约谈 (`Summons`) and a
问责移交 (`Referral`) with its numbered letter.

Not in any request's path: `sweep` runs after the escalation sweep (the flow, `hazard
accountability sweep`). Selection is one query for the events without their record (`event_id`
is unique on both tables); each record is then written in its own short transaction, the row
inserted in a savepoint first, so a concurrent sweep that made it already costs nothing (its
unique `event_id` refuses ours before any number is taken) and no two letters share an event.
A `summon` skipped by a catch-up (`refer` fired in its place) held no meeting: no record.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
import structlog
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.engine import UnitOfWork
from db.models import AuditEvent, Hazard, Referral, Summons
from services.accountability import bodies
from services.accountability.facts import facts_of
from services.bulletins.collect import office_region
from services.documents import issuers
from services.documents.issuers import COMMITTEE
from services.documents.kinds import Kind
from services.documents.render import render_html
from services.kernel.clock import local_date

log = structlog.get_logger("hazard.accountability")

E = AuditEvent.__table__
REFERRAL_LETTER = Kind("referral_letter", "问责移交函", "移")
RECORDS = {"summon": Summons, "refer": Referral}


def _step(payload: str) -> str | None:
    return (json.loads(payload).get("body") or {}).get("step")


def candidates(step: str):
    model = RECORDS[step]
    made = exists().where(model.event_id == E.c.id)
    return (select(E.c.id, E.c.hazard_id, E.c.payload).where(
        E.c.action == "escalate", E.c.payload.contains(f'"step":"{step}"', autoescape=True), ~made)
        .order_by(E.c.id))


def _make_summons(session: Session, event: AuditEvent, hazard: Hazard, now: datetime) -> None:
    session.add(Summons(hazard_id=hazard.id, event_id=event.id, enterprise_id=hazard.enterprise_id,
                        region_code=office_region(hazard.region_code, hazard.listing_level), created_at=now))


def _make_referral(session: Session, event: AuditEvent, hazard: Hazard, now: datetime) -> None:
    region = office_region(hazard.region_code, hazard.listing_level)
    to, configured = bodies.addressee(session, region)
    facts = facts_of(session, hazard, event)
    facts["addressee_configured"] = configured
    row = Referral(hazard_id=hazard.id, event_id=event.id, region_code=region, addressed_to=to,
                   facts=json.dumps(facts, ensure_ascii=False, sort_keys=True), outcome="pending", created_at=now)
    session.add(row)
    session.flush()  # the unique event_id refuses a second record before a number is taken
    level = issuers.official_level(region)
    who = issuers.issuer(session, COMMITTEE, region, level)
    dated = local_date(event.occurred_at)
    code = issuers.code_of(session, who, now=now)
    seq = issuers.next_seq(session, code + REFERRAL_LETTER.word, dated.year)
    number = issuers.number(code, REFERRAL_LETTER.word, dated.year, seq)
    html = render_html("referral_letter.html", {
        "doc": {"title": "关于移交重大事故隐患逾期未整改问题线索的函", "number": number, "issuer": who.name,
                "dated": dated, "addressee": to},
        "configured": configured, **facts})
    row.number, row.html = number, html
    row.sha256 = hashlib.sha256(html.encode("utf-8")).hexdigest()


MAKERS = {"summon": _make_summons, "refer": _make_referral}


def _one(uow: UnitOfWork, step: str, event_id: int, now: datetime) -> bool:
    with uow.write() as session:
        event = session.get(AuditEvent, event_id)
        hazard = session.get(Hazard, event.hazard_id) if event is not None else None
        if event is None or hazard is None or _step(event.payload) != step:
            return False
        try:
            with session.begin_nested():
                MAKERS[step](session, event, hazard, now)
        except IntegrityError:
            return False
        return True


def sweep(uow: UnitOfWork, *, now: datetime, calendar: object = None, batch: int = 500) -> dict[str, int]:
    """Make the records of every `summon` and `refer` event without one; returns how many.
    (`calendar` is accepted for the office duties' common signature; no working days are counted.)"""
    counts = {"summonses": 0, "referrals": 0}
    for step, name in (("summon", "summonses"), ("refer", "referrals")):
        after = 0
        while True:
            with uow.read() as session:
                ids = [r.id for r in session.connection().execute(
                    candidates(step).where(E.c.id > after).limit(batch))]
            if not ids:
                break
            after = ids[-1]
            for event_id in ids:
                counts[name] += _one(uow, step, event_id, now)
    log.info("accountability_records", **counts)
    return counts
