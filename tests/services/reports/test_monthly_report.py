"""The monthly report against a count written separately: hazards in every state, their dates
spread over autumn 2026 with a seeded generator, and each column of each industry's row, the total
and the 动态清零 account compared with what plain Python counts over the same rows."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import NamedTuple

import pytest
from sqlalchemy import select, update

from db.engine import read_only, transaction
from db.models import Enterprise, Hazard, SelfInspection, SpotFix
from services.accounts import admin
from services.kernel.uscc import make as make_uscc
from services.kernel.clock import SHANGHAI
from services.kernel.errors import Forbidden, Invalid
from services.reports import monthly as report
from tests.helpers import drive

STATES = ["registered", "rectifying", "acceptance_requested", "closed", "supervised", "accepted", "dismissed"]


def _local_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=SHANGHAI)


@pytest.fixture
def spread(factory, world, clock):
    """About 40 hazards of two industries in two counties, their dates rewritten at random."""
    rng = random.Random(7)
    ids = []
    for i, state in enumerate(STATES * 6):
        level = "major" if state in ("supervised", "accepted") or (state != "dismissed" and i % 3 == 0) else "general"
        ids.append(drive(factory, world, clock(), state, level=level))
    base = datetime(2026, 9, 20, tzinfo=SHANGHAI)
    with transaction(factory) as s:
        chem = s.execute(select(Enterprise).where(Enterprise.uscc == world.enterprises["chem"])).scalar_one()
        for n, hid in enumerate(ids):
            h = s.get(Hazard, hid)
            discovered = base + timedelta(hours=rng.randrange(0, 24 * 80))
            closed = discovered + timedelta(hours=rng.randrange(1, 24 * 40)) if h.closed_at else None
            values = {"discovered_at": discovered, "closed_at": closed,
                      "deadline": (discovered + timedelta(days=rng.randrange(3, 40))).date() if h.deadline else None}
            if h.listed_at:
                values["listed_at"] = discovered + timedelta(days=1)
            if n % 4 == 1:  # a second industry and county
                values.update(industry="危险化学品", region_code="141181", enterprise_id=chem.id)
            if n % 5 == 2 and h.plan_measures:
                values["plan_contingency"] = None  # 五落实 incomplete
            if h.plan_measures:
                values["plan_funds_wan"] = Decimal(rng.randrange(1, 5000)) / 100
            s.execute(update(Hazard).where(Hazard.id == hid).values(**values))
    _self_inspections(factory, clock())
    with read_only(factory) as s:
        rows = list(s.execute(select(Hazard)).scalars())
        ents = list(s.execute(select(Enterprise)).scalars())
        returns = [(r.enterprise_id, r.month) for r in s.execute(select(SelfInspection)).scalars()]
        fixes = [(f.enterprise_id, f.fixed_on) for f in s.execute(select(SpotFix)).scalars()]
        s.expunge_all()  # keep them loaded past the read-only session's rollback
    return rows, ents, Office(returns, fixes)


class Office(NamedTuple):
    returns: list[tuple[int, str]]  # (enterprise id, month) of each self-inspection return
    fixes: list[tuple[int, date]]  # (enterprise id, fixed on) of each 立查立改


def _self_inspections(factory, now: datetime) -> None:
    """Two more enterprises that found no hazard: one with returns for October and November and
    立查立改 in both, one with a return for August only; and a 立查立改 of the chemical plant."""
    with transaction(factory) as s:
        coal2 = admin.add_enterprise(s, make_uscc("91141102MA0HRD004"), "离石区东风煤矿", "141102", "煤矿", now=now)
        chem2 = admin.add_enterprise(s, make_uscc("91141181MA0HRD005"), "孝义市化工二厂", "141181", "危险化学品", now=now)
        chem = s.execute(select(Enterprise).where(Enterprise.industry == "危险化学品",
                                                  Enterprise.id != chem2.id)).scalar_one()
        for ent, month, fixed in ((coal2, "2026-10", ["2026-10-12"]), (coal2, "2026-11", ["2026-11-03", "2026-11-30"]),
                                  (chem2, "2026-08", []), (chem, "2026-11", ["2026-11-20"])):
            first = date.fromisoformat(f"{month}-01")
            ret = SelfInspection(enterprise_id=ent.id, month=month, checked_from=first, checked_to=first, scope="全厂",
                                 principal="负责人", nil_return=True, filed_at=now, version=1)
            s.add(ret)
            s.flush()
            for day in fixed:
                s.add(SpotFix(self_inspection_id=ret.id, enterprise_id=ent.id, description="通道堆物", location="仓库",
                              measures="清理", fixed_on=date.fromisoformat(day), evidence_filename="a.png",
                              evidence_content_type="image/png", evidence_size=4, evidence_sha256="ab" * 32,
                              created_at=now))


def _pct(a, b):
    return round(100.0 * a / b, 1) if b else None


def expected(rows, ents, prefix: str, first: date, last: date, industry: str, office: Office) -> dict:
    """What the report should say, counted one hazard (and one return, one 立查立改) at a time."""
    start, end = _local_start(first), _local_start(last + timedelta(days=1))
    mine = [h for h in rows if h.level and h.region_code.startswith(prefix) and h.industry == industry]

    def open_at(h, t):
        return h.discovered_at < t and (h.closed_at is None or h.closed_at >= t)

    found = [h for h in mine if start <= h.discovered_at < end]
    done = [h for h in found if h.state == "closed" and h.closed_at < end]
    closed_in = [h for h in mine if h.state == "closed" and start <= h.closed_at < end]
    on_time = [h for h in closed_in if h.deadline and h.closed_at.astimezone(SHANGHAI).date() <= h.deadline]
    rect = [h for h in mine if h.level == "major" and open_at(h, end)]
    five = [h for h in rect if all((h.plan_responsible_person, h.plan_measures, h.plan_funds_wan is not None,
                                    h.plan_time_limit, h.plan_contingency))]
    units = [e for e in ents if e.active and e.region_code.startswith(prefix) and e.industry == industry]
    months = (f"{first:%Y-%m}", f"{last:%Y-%m}")
    checked = {h.enterprise_id for h in found} | {e for e, m in office.returns if months[0] <= m <= months[1]}
    by_id = {e.id: e for e in ents}
    spot = [e for e, day in office.fixes if first <= day <= last
            and by_id[e].region_code.startswith(prefix) and by_id[e].industry == industry]
    g = [h for h in found if h.level == "general"]
    m = [h for h in found if h.level == "major"]
    listed = {lv: sum(1 for h in mine if h.listing_level == lv and h.listed_at and h.listed_at < end and open_at(h, end))
              for lv in ("province", "city", "county")}
    return {
        "units_due": len(units), "units_checked": sum(1 for e in units if e.id in checked),
        "general_found": len(g) + len(spot), "general_fixed": sum(1 for h in done if h.level == "general") + len(spot),
        "major_found": len(m), "major_closed": sum(1 for h in done if h.level == "major"),
        "major_rectifying": len(rect), "major_rectifying_five_items": len(five),
        "listed_province": listed["province"], "listed_city": listed["city"], "listed_county": listed["county"],
        "funds_wan": f"{sum((h.plan_funds_wan or 0) for h in found):.2f}",
        "overdue": sum(1 for h in mine if h.deadline and h.deadline < last and open_at(h, end)),
        "closed": len(closed_in), "closed_on_time": len(on_time),
        "stock_start": sum(1 for h in mine if h.level == "major" and open_at(h, start)),
        "major_closed_in": sum(1 for h in closed_in if h.level == "major"),
    }


@pytest.mark.parametrize("region,prefix", [("141100", "1411"), ("141102", "141102")])
def test_every_column_matches_a_separate_count(factory, spread, region, prefix):
    rows, ents, office = spread
    with read_only(factory) as s:
        got = report.monthly(s, region, "地区", "2026-11")
    for part, first in ((got.month_figures, date(2026, 11, 1)), (got.year_to_date, date(2026, 1, 1))):
        last = date(2026, 11, 30)
        totals: dict = {}
        by_industry = {r.industry: r for r in part.rows}
        for industry in ("煤矿", "危险化学品"):
            want = expected(rows, ents, prefix, first, last, industry, office)
            row = by_industry.get(industry)
            if row is None:
                assert want["units_due"] == 0 and want["general_found"] == want["major_found"] == 0
                continue
            shown = row.model_dump()
            for key, value in want.items():
                if key in shown:
                    assert shown[key] == value, (part.first, industry, key)
            assert row.coverage_pct == _pct(want["units_checked"], want["units_due"])
            assert row.on_time_pct == _pct(want["closed_on_time"], want["closed"])
            for key, value in want.items():
                totals[key] = (totals.get(key, Decimal(0)) + Decimal(value)) if key == "funds_wan" else totals.get(key, 0) + value
        total = part.total.model_dump()
        for key in ("general_found", "major_found", "major_closed", "overdue", "closed", "closed_on_time", "units_due"):
            assert total[key] == totals[key], key
        assert total["funds_wan"] == f"{totals['funds_wan']:.2f}"
        c = part.clearing
        assert (c.stock_start, c.found, c.closed) == (totals["stock_start"], totals["major_found"], totals["major_closed_in"])
        assert c.stock_start + c.found - c.closed == c.stock_end  # 动态清零: the account balances
    # The month's figures are not the year's: the data reach back to September.
    assert got.year_to_date.total.general_found > got.month_figures.total.general_found


def test_the_data_exercise_what_they_should(spread):
    """Guard for the comparison above: the seeded data hit every kind of row it checks."""
    rows, _, office = spread
    nov = _local_start(date(2026, 11, 1)), _local_start(date(2026, 12, 1))
    found = [h for h in rows if h.level and nov[0] <= h.discovered_at < nov[1]]
    assert {h.level for h in found} == {"general", "major"}
    assert {h.industry for h in found} == {"煤矿", "危险化学品"}
    closed = [h for h in rows if h.state == "closed" and nov[0] <= h.closed_at < nov[1]]
    assert closed and any(h.deadline and h.closed_at.astimezone(SHANGHAI).date() > h.deadline for h in closed)
    assert any(h.listing_level for h in rows)
    # Returns and 立查立改 inside and outside November, of enterprises with and without hazards.
    assert {m for _, m in office.returns} == {"2026-08", "2026-10", "2026-11"}
    assert {d.month for _, d in office.fixes} == {10, 11}


def test_readers_and_their_scope(factory, world, spread):
    today = date(2026, 12, 6)
    with read_only(factory) as s:
        with pytest.raises(Forbidden):
            report.for_reader(s, world.p("ent_coal"), month="2026-11", region_code=None, today=today)
        with pytest.raises(Forbidden):  # Xinzhou's inspector asks for Lüliang
            report.for_reader(s, world.p("xinzhou_inspector"), month="2026-11", region_code="141100", today=today)
        for month, field in (("2026-13", "month"), ("2027-01", "month"), ("", "month")):
            with pytest.raises(Invalid) as bad:
                report.for_reader(s, world.p("city_committee"), month=month, region_code=None, today=today)
            assert [d["field"] for d in bad.value.details] == [field]
        with pytest.raises(Invalid):
            report.for_reader(s, world.p("city_committee"), month="2026-11", region_code="149999", today=today)
        own = report.for_reader(s, world.p("city_committee"), month="2026-11", region_code=None, today=today)
        assert own.region_code == "141100" and own.region_name
        coal = report.for_reader(s, world.p("coal_only_inspector"), month="2026-11", region_code=None, today=today)
        assert coal.industry == "煤矿" and [r.industry for r in coal.month_figures.rows] == ["煤矿"]


def test_the_form_writes_what_people_typed_safely(factory):
    """The 填报人's display name is typed by people: a stray control character is marked (U+FFFD)
    instead of failing the download (openpyxl alone refuses it), and the text stays text."""
    from io import BytesIO

    from openpyxl import load_workbook

    from services.reports import form

    with read_only(factory) as s:
        got = report.monthly(s, "141100", "吕梁市", "2026-11")
    content = form.workbook(got, unit="吕梁市安全生产委员会办公室", filler='张\x1b三=1+1',
                            filled_on=date(2026, 12, 1))
    ws = load_workbook(BytesIO(content))["本月"]
    cell = next(c for row in ws.iter_rows() for c in row if isinstance(c.value, str) and "填报人" in c.value)
    assert cell.data_type == "s" and cell.value == "填报人：张\ufffd三=1+1"
    assert ws["A1"].value == "吕梁市安全生产事故隐患排查治理情况统计表" and "A1:T1" in ws.merged_cells


def test_a_month_still_running_counts_up_to_today(factory, spread):
    """On 15 November the month's figures are those of 1–15 November: a deadline of the 20th is not
    overdue yet, and nothing found after today is counted."""
    rows, ents, office = spread
    today = date(2026, 11, 15)
    with read_only(factory) as s:
        got = report.monthly(s, "141100", "吕梁市", "2026-11", today=today)
    assert (got.month_figures.first, got.month_figures.last, got.year_to_date.last) == (
        "2026-11-01", "2026-11-15", "2026-11-15")
    coal = next(r for r in got.month_figures.rows if r.industry == "煤矿")
    want = expected(rows, ents, "1411", date(2026, 11, 1), today, "煤矿", office)
    assert (coal.overdue, coal.general_found, coal.major_found, coal.closed) == (
        want["overdue"], want["general_found"], want["major_found"], want["closed"])
    whole = expected(rows, ents, "1411", date(2026, 11, 1), date(2026, 11, 30), "煤矿", office)
    assert (whole["overdue"], whole["general_found"]) != (want["overdue"], want["general_found"])
