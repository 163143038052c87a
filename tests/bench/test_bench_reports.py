"""bench/reports on a small province: the generated data load, and the per-county ORM loop counts
what the service's grouped SQL counts (the bench refuses to print figures when they differ)."""

from __future__ import annotations

from bench.reports.__main__ import MONTH, orm_loop, seed, service_totals
from db.engine import make_engine, make_session_factory, read_only
from services.reports import monthly


def test_the_two_ways_agree_on_generated_data(pg_url):
    seed(pg_url, 3000, 300)
    engine = make_engine(pg_url, pool_size=1, max_overflow=0)
    try:
        factory = make_session_factory(engine)
        with read_only(factory) as s:
            report = monthly.monthly(s, "140000", "山西省", MONTH)
        total = report.month_figures.total
        loop = orm_loop(factory, "140000", MONTH)
    finally:
        engine.dispose()
    assert total.general_found > 0 and total.major_found > 0 and total.closed > 0 and total.overdue > 0
    # returns, hazards found and 立查立改 records all count: some units checked, not all
    assert 0 < total.units_checked < total.units_due and total.general_fixed > 0
    assert loop == service_totals(report)
