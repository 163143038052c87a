"""Whether an enterprise is on the 黑名单 now: the one rule (`listed_ids`), which the hazard views,
the ledger filter, the enterprise pages and the reminders all ask.

Listed on `today` (Asia/Shanghai) means: a 列入 decision with listed_from ≤ today and either
today ≤ listed_until, or a major hazard of the enterprise discovered before the end of that
listed_until is still open (the listing runs on while it stays open).

Why two grouped queries and not one SQL clause: "discovered before the end of listed_until" compares
a UTC timestamp with the end of a local day, which SQLite and PostgreSQL spell differently; the
listed decisions are few, so the second query only looks at enterprises whose period has run out.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, false, func, select
from sqlalchemy.orm import Session

from db.models import BlacklistDecision, Hazard
from services.kernel.clock import SHANGHAI
from services.lifecycle.states import FINAL_STATES, State

LISTED = "listed"
NOT_LISTED = "not_listed"
DECISIONS = {LISTED: "列入", NOT_LISTED: "不列入"}
OPEN_STATES = tuple(s.value for s in State if s not in FINAL_STATES)


def end_of(day: date) -> datetime:
    """The first moment after `day` in Asia/Shanghai."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=SHANGHAI)


def listed_ids(session: Session, today: date, among: Iterable[int] | None = None) -> set[int]:
    """The enterprises (of `among`, or all) listed on `today`."""
    query = (select(BlacklistDecision.enterprise_id, func.max(BlacklistDecision.listed_until))
             .where(BlacklistDecision.decision == LISTED, BlacklistDecision.listed_from <= today)
             .group_by(BlacklistDecision.enterprise_id))
    if among is not None:
        wanted = sorted(set(among))
        if not wanted:
            return set()
        query = query.where(BlacklistDecision.enterprise_id.in_(wanted))
    until = {eid: last for eid, last in session.execute(query)}
    listed = {eid for eid, last in until.items() if last is not None and today <= last}
    lapsed = [eid for eid in until if eid not in listed]
    if lapsed:
        earliest = session.execute(
            select(Hazard.enterprise_id, func.min(Hazard.discovered_at))
            .where(Hazard.enterprise_id.in_(lapsed), Hazard.level == "major", Hazard.state.in_(OPEN_STATES))
            .group_by(Hazard.enterprise_id)
        ).all()
        for eid, first in earliest:
            if first is not None and first < end_of(until[eid]):
                listed.add(eid)
    return listed


def ever_listed(column: ColumnElement[Any], today: date) -> ColumnElement[bool]:
    """`column` (an enterprise id) has a 列入 decision in force from `today` or before: listed now,
    or lapsed; only then need `listed_ids` look further (a column to select beside the enterprise)."""
    return (select(BlacklistDecision.id).where(
        BlacklistDecision.enterprise_id == column, BlacklistDecision.decision == LISTED,
        BlacklistDecision.listed_from <= today).exists())


def is_listed(session: Session, enterprise_id: int | None, today: date) -> bool:
    return enterprise_id is not None and enterprise_id in listed_ids(session, today, [enterprise_id])


def listed_clause(column: ColumnElement[Any], session: Session, today: date) -> ColumnElement[bool]:
    """`column` (an enterprise id) is listed on `today`, as a WHERE clause."""
    ids = listed_ids(session, today)
    return column.in_(sorted(ids)) if ids else false()

