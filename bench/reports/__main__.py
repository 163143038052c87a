"""The monthly report of a whole province on PostgreSQL, two ways, side by side in one run:

(s) the service: `services.reports.monthly.monthly` (grouped SQL, two scans a period);
(o) a per-region loop through the ORM: for each county, its hazards as ORM objects (streamed), each
    counted in Python by the same definitions — what a report written hazard by hazard costs.

Data: `--hazards` hazards over the province's counties and 16 industries, `--enterprises`
enterprises, dates spread over the year, states and levels in fixed shares; each month's
self-inspection returns of four enterprises in five, one in ten of them with a 立查立改 record;
generated in SQL (`generate_series`), so the setup takes seconds, not hours. Both ways must agree
on the month's totals (units checked included), or the run fails. Peak memory is the process's RSS growth while each way runs.

    uv run python -m bench.reports --hazards 1000000 --enterprises 100000
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select, text

from bench.transitions.world import fresh_database
from db.engine import make_engine, make_session_factory, read_only, transaction
from db.models import Enterprise, Hazard, SelfInspection, SpotFix
from services.accounts import admin
from services.kernel.clock import SHANGHAI
from services.kernel.vocab import INDUSTRIES
from services.reports import monthly

MONTH = "2026-11"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
STATES = ("registered", "supervised", "rectifying", "acceptance_requested", "accepted", "closed", "closed",
          "closed", "closed", "closed")  # half closed


def rss_mib() -> float:
    """The process's current resident set (Linux /proc), MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def seed(url: str, hazards: int, enterprises: int) -> None:
    engine = make_engine(url, pool_size=1, max_overflow=0)
    factory = make_session_factory(engine)
    now = datetime(2026, 1, 1, tzinfo=SHANGHAI)
    with transaction(factory) as s:
        admin.load_regions_csv(s)
    with engine.begin() as conn:
        counties = [r[0] for r in conn.execute(text(
            "SELECT code FROM regions WHERE code LIKE '14%' AND length(code) = 6 AND code NOT LIKE '%00'"
            " ORDER BY code"))]
        conn.execute(text("CREATE TEMP TABLE c (n int PRIMARY KEY, code text)"))
        conn.execute(text("INSERT INTO c SELECT ordinality - 1, code FROM unnest(CAST(:codes AS text[])) WITH ORDINALITY code"),
                     {"codes": counties})
        conn.execute(text("CREATE TEMP TABLE ind (n int PRIMARY KEY, name text)"))
        conn.execute(text("INSERT INTO ind SELECT ordinality - 1, name FROM unnest(CAST(:names AS text[])) WITH ORDINALITY name"),
                     {"names": list(INDUSTRIES)})
        conn.execute(text("CREATE TEMP TABLE st (n int PRIMARY KEY, name text)"))
        conn.execute(text("INSERT INTO st SELECT ordinality - 1, name FROM unnest(CAST(:names AS text[])) WITH ORDINALITY name"),
                     {"names": list(STATES)})
        nc, ni = len(counties), len(INDUSTRIES)
        conn.execute(text(f"""
            INSERT INTO enterprises (uscc, name, region_code, industry, created_at, active)
            SELECT 'B' || lpad(g::text, 17, '0'), '企业' || g, c.code, ind.name, :now, g % 50 <> 0
            FROM generate_series(1, :e) g JOIN c ON c.n = g % {nc} JOIN ind ON ind.n = g % {ni}"""),
            {"e": enterprises, "now": now})
        first_id = conn.execute(text("SELECT min(id) FROM enterprises")).scalar_one()
        conn.execute(text(f"""
            INSERT INTO hazards (code, title, description, location, industry, source, level, region_code,
              enterprise_id, state, version, audit_head, suspended, discovered_at, deadline, listing_level,
              listed_at, plan_responsible_person, plan_measures, plan_funds_wan, plan_time_limit,
              plan_contingency, extensions_granted, failed_acceptances, closed_at, created_at, updated_at,
              escalation_fired)
            SELECT 'B' || g, '隐患' || g, '描述', '地点', e.industry, 'inspection',
              CASE WHEN g % 5 = 0 THEN 'major' ELSE 'general' END, e.region_code, e.id,
              CASE WHEN g % 5 <> 0 AND st.name IN ('supervised', 'accepted') THEN 'rectifying' ELSE st.name END,
              3, repeat('0', 64), false, d.at, (d.at + (10 + g % 60) * interval '1 day')::date,
              CASE WHEN g % 5 = 0 AND g % 15 = 0 THEN (ARRAY['province','city','county'])[1 + g % 3] END,
              CASE WHEN g % 5 = 0 AND g % 15 = 0 THEN d.at + interval '2 days' END,
              CASE WHEN g % 7 <> 0 THEN '负责人' END, '措施', (g % 900) / 10.0, (d.at + interval '30 days')::date,
              CASE WHEN g % 11 <> 0 THEN '预案' END, 0, 0,
              CASE WHEN st.name = 'closed' THEN d.at + (1 + g % 70) * interval '1 day' END, d.at, d.at, 0
            FROM generate_series(1, :h) g
            JOIN enterprises e ON e.id = {first_id} + g % :e
            JOIN st ON st.n = (g / 7) % 10
            CROSS JOIN LATERAL (SELECT timestamptz '2026-01-01 00:00+08' + (g % 333) * interval '1 day'
                                       + (g % 24) * interval '1 hour' AS at) d"""),
            {"h": hazards, "e": enterprises})
        # Each month's returns (January to November) of 4 enterprises in 5, varying by month; one
        # return in ten with one 立查立改 record fixed on the return's last day.
        conn.execute(text("""
            INSERT INTO self_inspections (enterprise_id, month, checked_from, checked_to, scope, principal,
              nil_return, filed_by_id, filed_at, version)
            SELECT e.id, to_char(m.first, 'YYYY-MM'), m.first, m.first + 20, '全厂区', '负责人', true, NULL,
              m.first + interval '20 days', 1
            FROM enterprises e CROSS JOIN generate_series(1, 11) k
            CROSS JOIN LATERAL (SELECT make_date(2026, k, 1) AS first) m
            WHERE (e.id + k) % 5 <> 0"""))
        conn.execute(text("""
            INSERT INTO spot_fixes (self_inspection_id, enterprise_id, description, location, measures, fixed_on,
              evidence_filename, evidence_content_type, evidence_size, evidence_sha256, created_by_id, created_at)
            SELECT r.id, r.enterprise_id, '灭火器过期', '仓库', '更换', r.checked_to, 'e.jpg', 'image/jpeg', 1,
              repeat('0', 64), NULL, r.filed_at
            FROM self_inspections r WHERE r.id % 10 = 0"""))
        conn.execute(text("ANALYZE"))
    engine.dispose()


def service_totals(report: monthly.MonthlyReport) -> dict[str, int]:
    """(s)'s month totals in the shape `orm_loop` answers."""
    total = report.month_figures.total
    return {"units_due": total.units_due, "units_checked": total.units_checked,
            "general_found": total.general_found, "major_found": total.major_found, "closed": total.closed,
            "overdue": total.overdue, "stock_end": report.month_figures.clearing.stock_end,
            "funds_cents": int(Decimal(total.funds_wan) * 100)}


def orm_loop(factory, region: str, month: str) -> dict[str, int]:
    """(o): county by county, every hazard, enterprise, return and 立查立改 record an ORM object,
    counted in Python (a few of the columns: enough to cost what a loop costs, and to check the
    totals against (s))."""
    p = monthly.month_period(month)
    start, end = p.start, p.end
    totals = {"units_due": 0, "units_checked": 0, "general_found": 0, "major_found": 0, "closed": 0, "overdue": 0,
              "stock_end": 0}
    funds = Decimal(0)
    with read_only(factory) as s:
        counties = [c for (c,) in s.execute(text(
            "SELECT code FROM regions WHERE code LIKE :p AND length(code) = 6 AND code NOT LIKE '%00' ORDER BY code"),
            {"p": region[:2] + "%"})]
    for county in counties:
        with read_only(factory) as s:
            active = {e.id for e in s.execute(select(Enterprise).where(Enterprise.region_code == county)).scalars()
                      if e.active}
            checked = {r.enterprise_id for r in s.execute(select(SelfInspection).join(
                Enterprise, Enterprise.id == SelfInspection.enterprise_id).where(
                Enterprise.region_code == county, SelfInspection.month == month)).scalars()}
            for fix in s.execute(select(SpotFix).join(Enterprise, Enterprise.id == SpotFix.enterprise_id)
                                 .where(Enterprise.region_code == county)).scalars():
                if p.first <= fix.fixed_on <= p.last:
                    totals["general_found"] += 1
            for h in s.execute(select(Hazard).where(Hazard.region_code == county)
                               .execution_options(yield_per=2000)).scalars():
                if h.level is None:
                    continue
                open_end = h.discovered_at < end and (h.closed_at is None or h.closed_at >= end)
                if start <= h.discovered_at < end:
                    totals["general_found" if h.level == "general" else "major_found"] += 1
                    funds += h.plan_funds_wan or 0
                    checked.add(h.enterprise_id)
                if h.state == "closed" and start <= h.closed_at < end:
                    totals["closed"] += 1
                if h.deadline and h.deadline < p.last and open_end:
                    totals["overdue"] += 1
                if h.level == "major" and open_end:
                    totals["stock_end"] += 1
                s.expunge(h)
            totals["units_due"] += len(active)
            totals["units_checked"] += len(checked & active)
    totals["funds_cents"] = int(funds * 100)
    return totals


def main() -> int:
    ap = argparse.ArgumentParser(prog="bench.reports", description=__doc__.split("\n\n")[0])
    ap.add_argument("--hazards", type=int, default=1_000_000)
    ap.add_argument("--enterprises", type=int, default=100_000)
    ap.add_argument("--server-url", default=DEFAULT_SERVER)
    ap.add_argument("--rounds", type=int, default=3, help="(s) runs this many times; the best is shown")
    args = ap.parse_args()
    print(f"bench/reports: {args.hazards:,} hazards, {args.enterprises:,} enterprises, Shanxi (province 140000), "
          f"month {MONTH}", flush=True)
    with fresh_database(args.server_url) as url:
        t = time.perf_counter()
        seed(url, args.hazards, args.enterprises)
        print(f"  seeded in {time.perf_counter() - t:.1f} s", flush=True)
        factory = make_session_factory(make_engine(url, pool_size=2, max_overflow=0))
        service_times, base = [], rss_mib()
        for _ in range(args.rounds):
            t = time.perf_counter()
            with read_only(factory) as s:
                report = monthly.monthly(s, "140000", "山西省", MONTH)
            service_times.append(time.perf_counter() - t)
        service_mem = rss_mib() - base
        base = rss_mib()
        t = time.perf_counter()
        loop = orm_loop(factory, "140000", MONTH)
        loop_s = time.perf_counter() - t
        loop_mem = rss_mib() - base
    mine = service_totals(report)
    best = min(service_times)
    print()
    print(f"  {'way':44} {'seconds':>9} {'RSS growth MiB':>15}")
    print(f"  {'(s) service, grouped SQL (month + year to date)':44} {best:9.2f} {service_mem:15.1f}"
          f"   rounds: {', '.join(f'{x:.2f}' for x in service_times)}")
    print(f"  {'(o) per-county ORM loop (month only)':44} {loop_s:9.2f} {loop_mem:15.1f}")
    print(f"  ratio (o)/(s): {loop_s / best:.1f}x   target: (s) under 5 s for the province: "
          f"{'PASS' if best < 5 else 'FAIL'}")
    print(f"  month totals (s): {mine}")
    print(f"  peak RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"  date: {datetime.now(SHANGHAI).isoformat(timespec='seconds')}; command: {' '.join(sys.argv)}")
    if mine != loop:
        print(f"  MISMATCH: (o) counted {loop}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
