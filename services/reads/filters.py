"""The one hazard filter: which hazards a list shows, for the API's `GET /hazards`, the 台账 and its
export (and whatever lists come next), always within the caller's scope (`scope_clause`).

Two definitions live here and nowhere else:
- overdue: open (not 已销号 or 不予立案) with a deadline before today (Asia/Shanghai), as SQL
  (`overdue_clause`) and as Python (`is_overdue`), tested to agree. Open is the state's now; at a
  past moment `at` (the 看板's trend: overdue at the end of a past day) the row's history says it:
  reported before `at` and not finished (`closed_at`, set by closing and dismissing) by then;
- `q`, the keyword: a substring, case-insensitive, of the hazard's code, title, location or
  description, or of its enterprise's name; `%` and `_` match themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.orm import Session

from db.models import Enterprise, Hazard
from services.accounts.auth import Principal, scope_clause
from services.blacklist.status import listed_ids
from services.kernel import regions
from services.kernel.clock import SHANGHAI
from services.lifecycle.states import FINAL_STATES, State

OPEN_STATES = tuple(s.value for s in State if s not in FINAL_STATES)


def open_at_clause(at: datetime | ColumnElement[Any]) -> ColumnElement[bool]:
    """Open at the moment `at` (or a column of moments) by the row's history: reported before it and
    not finished by then."""
    return and_(Hazard.discovered_at < at, or_(Hazard.closed_at.is_(None), Hazard.closed_at >= at))


def overdue_clause(today: date | ColumnElement[Any],
                   at: datetime | ColumnElement[Any] | None = None) -> ColumnElement[bool]:
    """Open past its deadline on `today` (SQL): open now by its state, or, given the moment `at`
    (`today`'s end; either may be a column), open then by its history. `is_overdue` is its twin."""
    still_open = Hazard.state.in_(OPEN_STATES) if at is None else open_at_clause(at)
    return and_(Hazard.deadline.is_not(None), Hazard.deadline < today, still_open)


def is_overdue(deadline: date | None, state: str, today: date, *, at: datetime | None = None,
               discovered_at: datetime | None = None, closed_at: datetime | None = None) -> bool:
    """Open past its deadline on `today` (Python); `overdue_clause` is its twin, with `at` too (then
    openness comes from the row's `discovered_at` and `closed_at`, not from `state`)."""
    if at is None:
        still_open = state in OPEN_STATES
    else:
        still_open = discovered_at is not None and discovered_at < at and (closed_at is None or closed_at >= at)
    return deadline is not None and still_open and deadline < today


def keyword_clause(term: str) -> ColumnElement[bool]:
    """What `q` finds (see the module's docstring)."""
    term = term.strip()
    named = select(Enterprise.id).where(Enterprise.name.icontains(term, autoescape=True))
    return or_(*(col.icontains(term, autoescape=True)
                 for col in (Hazard.code, Hazard.title, Hazard.location, Hazard.description)),
               Hazard.enterprise_id.in_(named))


def _start_of(day: date) -> datetime:
    """Local midnight of `day` (Asia/Shanghai) as an aware timestamp, to compare with UTC columns."""
    return datetime.combine(day, time.min, tzinfo=SHANGHAI)


@dataclass(frozen=True)
class HazardFilter:
    state: tuple[str, ...] = ()
    level: str | None = None
    region: str | None = None  # a region code: its whole subtree
    industry: str | None = None
    enterprise: str | None = None  # 统一社会信用代码
    overdue: bool | None = None
    q: str | None = None
    reported_from: date | None = None  # 发现日期, inclusive
    reported_to: date | None = None
    deadline_from: date | None = None  # 整改期限, inclusive
    deadline_to: date | None = None
    blacklisted: bool | None = None  # its enterprise is on the 黑名单 now (services/blacklist/status.py)
    listed: frozenset[int] | None = None  # the listed enterprises, filled by `with_listed`

    def with_listed(self, session: Session, today: date) -> "HazardFilter":
        """This filter with the listed enterprises looked up, when `blacklisted` asks for them."""
        if self.blacklisted is None:
            return self
        return replace(self, listed=frozenset(listed_ids(session, today)))

    def conditions(self, principal: Principal, today: date) -> list[ColumnElement[bool]]:
        """The WHERE clauses of this filter within the caller's scope."""
        out: list[ColumnElement[bool]] = [scope_clause(principal)]
        if self.state:
            out.append(Hazard.state.in_(self.state))
        if self.level:
            out.append(Hazard.level == self.level)
        if self.region:
            out.append(Hazard.region_code.startswith(regions.scope_prefix(self.region), autoescape=True))
        if self.industry:
            out.append(Hazard.industry == self.industry)
        if self.enterprise:
            out.append(Hazard.enterprise_id.in_(
                select(Enterprise.id).where(Enterprise.uscc == self.enterprise.upper())))
        if self.overdue is True:
            out.append(overdue_clause(today))
        elif self.overdue is False:
            out.append(~overdue_clause(today))
        if self.q and self.q.strip():
            out.append(keyword_clause(self.q))
        if self.reported_from:
            out.append(Hazard.discovered_at >= _start_of(self.reported_from))
        if self.reported_to:
            out.append(Hazard.discovered_at < _start_of(self.reported_to + timedelta(days=1)))
        if self.deadline_from:
            out.append(Hazard.deadline >= self.deadline_from)
        if self.deadline_to:
            out.append(Hazard.deadline <= self.deadline_to)
        if self.blacklisted is not None:
            if self.listed is None:
                raise ValueError("HazardFilter.blacklisted needs with_listed(session, today) first")
            on_list = Hazard.enterprise_id.in_(sorted(self.listed)) if self.listed else false()
            out.append(on_list if self.blacklisted else
                       or_(Hazard.enterprise_id.is_(None), ~on_list) if self.listed else true())
        return out
