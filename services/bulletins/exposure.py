"""曝光: the public list of major hazards under 挂牌督办 and of those closed (销号) lately.

Public, so it shows what the listing notice itself makes public and nothing internal: the code, the
enterprise's name, the title as summary, the deadline, the listing body and level, the dates of
listing and closing; never the description, the location, people, plans, tracking codes or the
trail. A hazard appears from its listing on (the rules ask publication within 5 working days of
listing; the page publishes at once). Set-based: two paginated queries.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Enterprise, Hazard
from services.bulletins.models import ExposureEntry, ExposurePage
from services.kernel.clock import local_date

LISTED_STATES = ("supervised", "rectifying", "acceptance_requested", "accepted")
LEVELS = {"county": "县级", "city": "市级", "province": "省级"}
PAGE_SIZE = 50
CLOSED_DAYS = 90
MAX_PAGE = 10_000

_COLUMNS = (Hazard.code, Hazard.title, Hazard.deadline, Hazard.listing_body, Hazard.listing_level,
            Hazard.listed_at, Hazard.closed_at, Enterprise.name.label("enterprise"))


def _listed():
    return (Hazard.level == "major", Hazard.listing_level.is_not(None), Hazard.state.in_(LISTED_STATES))


def _closed(since: datetime):
    return (Hazard.level == "major", Hazard.listing_level.is_not(None), Hazard.state == "closed",
            Hazard.closed_at >= since)


def _entry(row) -> ExposureEntry:
    return ExposureEntry(
        code=row.code, enterprise=row.enterprise or "—", summary=row.title,
        deadline=row.deadline.isoformat() if row.deadline else None, listing_body=row.listing_body or "—",
        listing_level=LEVELS.get(row.listing_level or "", "—"),
        listed_on=local_date(row.listed_at).isoformat() if row.listed_at else None,
        closed_on=local_date(row.closed_at).isoformat() if row.closed_at else None)


def _page(session: Session, where, order, page: int) -> tuple[list[ExposureEntry], int]:
    total = session.scalar(select(func.count()).select_from(Hazard).where(*where)) or 0
    rows = session.execute(select(*_COLUMNS).outerjoin(Enterprise, Enterprise.id == Hazard.enterprise_id)
                           .where(*where).order_by(*order).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    return [_entry(r) for r in rows], max(1, math.ceil(total / PAGE_SIZE))


def parse_page(raw: object) -> int:
    """Any query string is a page: what is not a number in range is the first (or the last allowed)."""
    try:
        page = int(str(raw).strip()[:6])
    except (TypeError, ValueError):
        return 1
    return min(max(page, 1), MAX_PAGE)


def exposure(session: Session, *, now: datetime, page: int = 1, days: int = CLOSED_DAYS) -> ExposurePage:
    page = min(max(page, 1), MAX_PAGE)
    listed, listed_pages = _page(session, _listed(), (Hazard.listed_at.desc(), Hazard.id.desc()), page)
    closed, closed_pages = _page(session, _closed(now - timedelta(days=days)),
                                 (Hazard.closed_at.desc(), Hazard.id.desc()), page)
    return ExposurePage(listed=listed, closed=closed, closed_within_days=days, page=page,
                        pages=max(listed_pages, closed_pages))
