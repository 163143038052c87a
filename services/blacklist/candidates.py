"""黑名单 candidates of a region subtree for a quarter (`2026-Q4`), with the evidence for each.

Measured over the 12 months (365 days) up to the quarter's last day, or up to today while the
quarter runs, per enterprise of the region subtree, each by one grouped query (never a loop over
enterprises):
- repeats (屡查屡犯): registered hazards of one category of the industry's closed vocabulary
  (services/kernel/categories.py) found more than once; repeats of a category = its hazards beyond
  the first;
- overdue major hazards after listing: listed (挂牌) major hazards whose deadline passed while they
  were open (still open, or closed after the deadline's day);
- refusals: the enterprise's extension requests denied (`deny_extension` events);
- failed acceptances: its acceptance requests rejected (`reject` events).

An enterprise is a candidate when any threshold is met. Defaults (`Thresholds`): 2 repeats of one
category (the same kind found three times), 1 overdue listed major hazard, 2 refusals, 2 failed
acceptances (the ladder's own summon after two failed acceptances).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import AuditEvent, Enterprise, Hazard
from services.kernel import categories, regions
from services.kernel.clock import SHANGHAI, local_date
from services.kernel.errors import Invalid
from services.lifecycle.states import State

QUARTER = re.compile(r"([0-9]{4})-Q([1-4])")
WINDOW = timedelta(days=365)
REFUSAL_ACTIONS = ("deny_extension",)
FAILED_ACCEPTANCE_ACTIONS = ("reject",)


@dataclass(frozen=True)
class Thresholds:
    repeats: int = 2  # repeats of one category
    overdue_major: int = 1
    refusals: int = 2
    failed_acceptances: int = 2


class RepeatEvidence(BaseModel):
    industry: str
    category: str
    repeats: int
    codes: list[str]


class EventEvidence(BaseModel):
    code: str
    action: str
    occurred_on: str


class Evidence(BaseModel):
    repeats: list[RepeatEvidence] = []
    overdue_major: list[str] = []
    refusals: list[EventEvidence] = []
    failed_acceptances: list[EventEvidence] = []


class Candidate(BaseModel):
    enterprise_id: int
    uscc: str
    name: str
    region_code: str
    industry: str
    max_repeats: int
    overdue_major: int
    refusals: int
    failed_acceptances: int
    reasons: list[str]
    evidence: Evidence


def quarter_bounds(quarter: str) -> tuple[date, date]:
    """First and last day of `YYYY-Qn`; anything else is refused on the field `quarter`."""
    m = QUARTER.fullmatch(quarter or "") if isinstance(quarter, str) else None
    if not m or not 2000 <= int(m.group(1)) <= 2100:
        raise Invalid("季度格式有误", details=[{"field": "quarter", "message": "季度格式应为 YYYY-Qn，例如 2026-Q4"}])
    year, q = int(m.group(1)), int(m.group(2))
    first = date(year, 3 * q - 2, 1)
    last = date(year + 1, 1, 1) - timedelta(days=1) if q == 4 else date(year, 3 * q + 1, 1) - timedelta(days=1)
    return first, last


def quarter_of(day: date) -> str:
    return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"


def _start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=SHANGHAI)


def compute(session: Session, region_code: str, quarter: str, *, today: date,
            thresholds: Thresholds = Thresholds(), only: int | None = None) -> list[Candidate]:
    """The candidates of the enterprises in `region_code`'s subtree (or only enterprise `only`)."""
    first, last = quarter_bounds(quarter)
    if first > today:
        raise Invalid("季度尚未开始", details=[{"field": "quarter", "message": "不能查看尚未开始的季度"}])
    as_of = min(last, today)
    since, until = _start(as_of + timedelta(days=1)) - WINDOW, _start(as_of + timedelta(days=1))
    in_region = Enterprise.region_code.startswith(regions.scope_prefix(region_code), autoescape=True)
    ents = select(Enterprise.id).where(in_region)
    if only is not None:
        ents = ents.where(Enterprise.id == only)
    mine = Hazard.enterprise_id.in_(ents)
    found = [Hazard.discovered_at >= since, Hazard.discovered_at < until]

    repeats: dict[int, list[RepeatEvidence]] = defaultdict(list)
    known = set(categories.known_pairs())
    groups = session.execute(
        select(Hazard.enterprise_id, Hazard.industry, Hazard.category, func.count())
        .where(mine, *found, Hazard.category.is_not(None),
               Hazard.state.not_in([State.REPORTED.value, State.DISMISSED.value]))
        .group_by(Hazard.enterprise_id, Hazard.industry, Hazard.category).having(func.count() > 1)
    ).all()
    wanted = [(e, i, c) for e, i, c, _ in groups if (i, c) in known]
    codes: dict[tuple[int, str, str], list[str]] = defaultdict(list)
    if wanted:
        for eid, ind, cat, code in session.execute(
            select(Hazard.enterprise_id, Hazard.industry, Hazard.category, Hazard.code)
            .where(mine, *found, Hazard.category.in_(sorted({c for _, _, c in wanted})),
                   Hazard.state.not_in([State.REPORTED.value, State.DISMISSED.value]))
            .order_by(Hazard.discovered_at, Hazard.id)
        ):
            codes[(eid, ind, cat)].append(code)
        for key in wanted:
            repeats[key[0]].append(RepeatEvidence(industry=key[1], category=key[2], repeats=len(codes[key]) - 1,
                                                  codes=codes[key]))

    overdue: dict[int, list[str]] = defaultdict(list)
    for eid, code, deadline, closed_at in session.execute(
        select(Hazard.enterprise_id, Hazard.code, Hazard.deadline, Hazard.closed_at)
        .where(mine, Hazard.level == "major", Hazard.listed_at.is_not(None), Hazard.listed_at < until,
               Hazard.deadline.is_not(None), Hazard.deadline < as_of,
               (Hazard.closed_at.is_(None)) | (Hazard.closed_at >= since))
        .order_by(Hazard.deadline, Hazard.id)
    ):
        if closed_at is None or local_date(closed_at) > deadline:
            overdue[eid].append(code)

    events: dict[str, dict[int, list[EventEvidence]]] = {"refusals": defaultdict(list),
                                                         "failed_acceptances": defaultdict(list)}
    for eid, code, action, at in session.execute(
        select(Hazard.enterprise_id, Hazard.code, AuditEvent.action, AuditEvent.occurred_at)
        .join(Hazard, Hazard.id == AuditEvent.hazard_id)
        .where(mine, AuditEvent.action.in_(REFUSAL_ACTIONS + FAILED_ACCEPTANCE_ACTIONS),
               AuditEvent.occurred_at >= since, AuditEvent.occurred_at < until)
        .order_by(AuditEvent.occurred_at, AuditEvent.id)
    ):
        kind = "refusals" if action in REFUSAL_ACTIONS else "failed_acceptances"
        events[kind][eid].append(EventEvidence(code=code, action=action, occurred_on=local_date(at).isoformat()))

    ids = set(repeats) | set(overdue) | set(events["refusals"]) | set(events["failed_acceptances"])
    if not ids:
        return []
    info = {e.id: e for e in session.scalars(select(Enterprise).where(Enterprise.id.in_(sorted(ids))))}
    out = []
    for eid in sorted(ids):
        ev = Evidence(repeats=repeats.get(eid, []), overdue_major=overdue.get(eid, []),
                      refusals=events["refusals"].get(eid, []),
                      failed_acceptances=events["failed_acceptances"].get(eid, []))
        most = max((r.repeats for r in ev.repeats), default=0)
        reasons = []
        if most >= thresholds.repeats:
            reasons.append(f"同类隐患12个月内重复出现{most}次")
        if len(ev.overdue_major) >= thresholds.overdue_major:
            reasons.append(f"挂牌督办的重大隐患逾期{len(ev.overdue_major)}项")
        if len(ev.refusals) >= thresholds.refusals:
            reasons.append(f"延期申请被驳回{len(ev.refusals)}次")
        if len(ev.failed_acceptances) >= thresholds.failed_acceptances:
            reasons.append(f"验收不通过{len(ev.failed_acceptances)}次")
        if not reasons:
            continue
        ent = info[eid]
        out.append(Candidate(enterprise_id=eid, uscc=ent.uscc, name=ent.name, region_code=ent.region_code,
                             industry=ent.industry, max_repeats=most, overdue_major=len(ev.overdue_major),
                             refusals=len(ev.refusals), failed_acceptances=len(ev.failed_acceptances),
                             reasons=reasons, evidence=ev))
    return out
