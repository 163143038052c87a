"""Reports under real concurrency through the HTTP API, on PostgreSQL only: 50 reports in one
county get gapless codes, and one client's public reports stop at the hourly limit. How overlap is
proven: race_rig.py.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from db.engine import read_only
from db.models import Hazard, HazardSequence
from services.kernel.clock import local_date
from tests.app.api.race_rig import (  # noqa: F401 - rig is a fixture
    API, N, Rig, assert_overlap, expect_statuses, rig, verify_ok,
)
from tests.helpers import report_body

pytestmark = pytest.mark.pg_only


def test_50_reports_in_one_county_get_gapless_codes(rig: Rig):
    gate = rig.gate("report_hazard", N)

    responses = rig.race([
        ("POST", f"{API}/hazards", report_body(title=f"并发报告的隐患{i:02d}"), rig.auth(token))
        for i, token in enumerate(rig.inspectors)
    ])

    assert_overlap(rig, gate, N)
    expect_statuses(responses, {201: N})
    year = local_date(rig.clock()).year
    codes = [r.json()["code"] for r in responses]
    assert len(set(codes)) == N
    pattern = re.compile(rf"^141102-{year}-(\d{{6}})$")
    seqs = sorted(int(pattern.match(c).group(1)) for c in codes)
    assert seqs == list(range(1, N + 1))
    with read_only(rig.factory) as s:
        stored = sorted(s.execute(select(Hazard.code)).scalars())
        last = s.execute(
            select(HazardSequence.last_value).where(HazardSequence.region_code == "141102",
                                                    HazardSequence.year == year)
        ).scalar_one()
    assert stored == sorted(codes)
    assert last == N
    report = verify_ok(rig.factory)
    assert (report.hazards_checked, report.events_checked) == (N, N)


def test_public_reports_race_from_one_client(rig: Rig):
    """20 reports at once from one address: at most the hourly limit get through (issue 10 item 4);
    the count and the insert are serialised per client."""
    limit = rig.app.state.ctx.settings.public_reports_per_hour
    body = {"title": "小区车库堆放液化气钢瓶", "description": "二十余个钢瓶无人看管。", "location": "滨河北路某小区",
            "region_code": "141102", "industry": "燃气"}
    gate = rig.gate("public_report", 20)

    responses = rig.race([("POST", f"{API}/public/reports", body, {}) for _ in range(20)])

    assert gate.max_in_flight == 20
    expect_statuses(responses, {201: limit, 429: 20 - limit})
    with read_only(rig.factory) as s:
        assert s.execute(select(func.count()).select_from(Hazard)).scalar_one() == limit
