"""The one hazard filter (services/reads/filters.py): overdue's SQL and Python agree (the 看板's
trend included), and `q` means the same in the API's list and the 台账."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from db.engine import read_only, transaction
from db.models import Hazard
from services.kernel.clock import local_date
from services.reads import dashboard
from services.reads import hazards as hazard_reads
from services.reads import ledger
from services.reads.filters import HazardFilter, is_overdue, overdue_clause
from tests.conftest import START
from tests.helpers import drive, new_hazard


def test_overdue_in_sql_and_in_python_agree(factory, world, clock):
    today = local_date(clock())
    ids = [new_hazard(factory, world, clock())]  # no deadline
    for state in ("registered", "rectifying", "acceptance_requested", "closed", "dismissed"):
        ids.append(drive(factory, world, clock(), state))
    with transaction(factory) as s:  # deadlines around today: past, today, future
        for i, hid in enumerate(ids[1:]):
            s.execute(update(Hazard).where(Hazard.id == hid).values(deadline=today + timedelta(days=i % 3 - 1)))
    for offset in (-2, 0, 1, 3):
        day = today + timedelta(days=offset)
        with read_only(factory) as s:
            in_sql = set(s.execute(select(Hazard.id).where(overdue_clause(day))).scalars())
            rows = s.execute(select(Hazard.id, Hazard.deadline, Hazard.state)).all()
        in_python = {r.id for r in rows if is_overdue(r.deadline, r.state, day)}
        assert in_sql == in_python, (day, in_sql, in_python)
    assert in_sql  # the last day has some overdue, so the comparison was not of two empty sets


def test_overdue_trend_counts_what_is_overdue_says(factory, world):
    """Each point of the 看板's overdue trend is the number of hazards in scope that `is_overdue`
    finds overdue at the end of its day (open then by their history); today's point also equals
    those overdue now by their state, the 当前逾期 of the headline."""
    day0 = local_date(START)
    ids = [new_hazard(factory, world, START)]  # no deadline
    ids += [drive(factory, world, START, state) for state in ("registered", "rectifying", "closed", "dismissed")]
    ids.append(drive(factory, world, START + timedelta(days=45), "registered"))  # reported after its deadline
    with transaction(factory) as s:  # deadlines in the first weeks; the finished ones finished weeks later
        for i, hid in enumerate(ids[1:]):
            s.execute(update(Hazard).where(Hazard.id == hid).values(deadline=day0 + timedelta(days=3 + 7 * (i % 3))))
        for hid, days in zip(ids[3:5], (30, 60), strict=True):
            s.execute(update(Hazard).where(Hazard.id == hid).values(closed_at=START + timedelta(days=days)))
    later = START + timedelta(days=84)
    today, who = local_date(later), world.p("supervisor")
    with read_only(factory) as s:
        figures = dashboard.figures(s, who, now=later)
        rows = s.execute(select(Hazard.deadline, Hazard.state, Hazard.discovered_at, Hazard.closed_at)
                         .where(*HazardFilter().conditions(who, today))).all()
    assert len(rows) == len(ids)
    points = figures["overdue_trend"]
    for p in points:
        at = dashboard.end_of(p.day)
        want = sum(is_overdue(r.deadline, r.state, p.day, at=at, discovered_at=r.discovered_at,
                              closed_at=r.closed_at) for r in rows)
        assert p.value == want, (p.day, p.value, want)
    assert points[-1].day == today
    now_overdue = sum(is_overdue(r.deadline, r.state, today) for r in rows)
    assert points[-1].value == now_overdue == int(dict(figures["headline"])["当前逾期"])
    # the past differs from what today's states would say: the history was what was counted
    assert any(p.value != sum(is_overdue(r.deadline, r.state, p.day) for r in rows) for p in points[:-1])


def test_q_means_the_same_in_the_api_list_and_the_ledger(factory, world, clock):
    a = new_hazard(factory, world, clock(), title="皮带机护罩缺失", location="二号井口")
    b = drive(factory, world, clock(), "registered")  # of 离石区金源煤业有限公司
    now = clock()
    with read_only(factory) as s:
        code_b = s.get(Hazard, b).code
    for term, expected in (("金源煤业", {b}), ("二号井口", {a}), ("护罩", {a}), (code_b, {b})):
        with read_only(factory) as s:
            api = {i.id for i in hazard_reads.list_view(s, world.p("supervisor"), now=now, q=term).items}
            page = ledger.page(s, world.p("supervisor"), ledger.LedgerQuery(q=term), now=now)
            in_ledger = {r["id"] for r in page["items"]}
            plain = set(s.execute(select(Hazard.id).where(
                *HazardFilter(q=term).conditions(world.p("supervisor"), local_date(now)))).scalars())
        assert api == in_ledger == plain == expected, term
