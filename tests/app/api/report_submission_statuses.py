"""The documented statuses of the 直报 routes (app/api/routers/reports.py), provoked for
tests/app/api/test_documented_statuses.py. The table runs operations in (method, path) order, so
each 200 sets up what it needs: submissions happen on the deadline day (the app's clock is moved
for the call), 离石区 goes to 吕梁市 (accept), 吕梁市 to the province (return, then submit again), and
孝义市's row is a snapshot that does not match its hash (the 409 of a read)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select

from db.engine import transaction
from db.models import ReportSubmission
from tests.app.api.support import API

R = f"{API}/reports"
NOV30 = datetime(2026, 11, 30, 1, 0, tzinfo=timezone.utc)
M = f"{R}/monthly/{{region}}/{{month}}"


def rows(t: Any) -> dict[tuple[str, str], dict[int, Any]]:
    c = t.call
    clock = t.app.state.ctx.clock

    def on_deadline_day(fn):
        def run():
            saved, clock.current = clock.current, NOV30
            try:
                return fn()
            finally:
                clock.current = saved
        return run

    def path(region: str, act: str) -> str:
        return f"{R}/monthly/{region}/2026-11/{act}"

    county = path("141102", "submit")
    city = path("141100", "submit")
    reason = {"reason": "汇总数与各县不符"}
    return {
        ("GET", f"{R}/submissions"): {
            **t.common("GET", f"{R}/submissions", f"{R}/submissions", id_param=False, body=False,
                       params={"month": "2026-11"}),
            200: lambda: c("GET", f"{R}/submissions", "city_committee", params={"month": "2026-11"}),
            403: lambda: c("GET", f"{R}/submissions", "ent_coal", params={"month": "2026-11"}),
            422: lambda: c("GET", f"{R}/submissions", params={"month": "2026-13"}),
        },
        ("GET", f"{M}/submitted"): {
            **t.common("GET", f"{M}/submitted", path("141102", "submitted"), id_param=False, body=False),
            200: on_deadline_day(lambda: (c("POST", county, "county_committee"),
                                          c("GET", path("141102", "submitted")))[1]),
            403: lambda: c("GET", path("141102", "submitted"), "xinzhou_inspector"),
            404: lambda: c("GET", path("141182", "submitted"), "city_committee"),
            409: lambda: (tamper(t), c("GET", path("141181", "submitted"), "city_committee"))[1],
            422: lambda: c("GET", f"{R}/monthly/141102/2026-13/submitted"),
        },
        ("POST", f"{M}/submit"): {
            **t.common("POST", f"{M}/submit", city, user="city_committee", id_param=False, body=False),
            200: on_deadline_day(lambda: c("POST", city, "city_committee")),  # returned below: submitted again
            403: lambda: c("POST", city, "inspector"),
            409: on_deadline_day(lambda: c("POST", city, "city_committee")),
            422: lambda: c("POST", f"{R}/monthly/141100/2026-13/submit", "city_committee"),
        },
        ("POST", f"{M}/accept"): {
            **t.common("POST", f"{M}/accept", path("141102", "accept"), user="city_committee", id_param=False,
                       body=False),
            200: on_deadline_day(lambda: (c("POST", county, "county_committee"),
                                          c("POST", path("141102", "accept"), "city_committee"))[1]),
            403: lambda: c("POST", path("141102", "accept"), "county_committee"),
            409: lambda: c("POST", path("141102", "accept"), "city_committee"),
            422: lambda: c("POST", f"{R}/monthly/141102/2026-13/accept", "city_committee"),
        },
        ("POST", f"{M}/return"): {
            **t.common("POST", f"{M}/return", path("141100", "return"), user="province_committee", id_param=False,
                       body=True, json=reason),
            200: on_deadline_day(lambda: (c("POST", city, "city_committee"),
                                          c("POST", path("141100", "return"), "province_committee", json=reason))[1]),
            403: lambda: c("POST", path("141100", "return"), "city_committee", json=reason),
            409: lambda: c("POST", path("141100", "return"), "province_committee", json=reason),
        },
    }


def tamper(t: Any) -> None:
    """孝义市's November as submitted, with a snapshot that does not match its hash (once)."""
    with transaction(t.env.factory) as s:
        if s.scalar(select(ReportSubmission.id).where(ReportSubmission.region_code == "141181")) is None:
            s.add(ReportSubmission(region_code="141181", month="2026-11", state="submitted", snapshot="{}",
                                   sha256="0" * 64, version=1, submitted_at=NOV30))


def monthly_conflict(t: Any) -> Any:
    """GET /reports/monthly's 409: a submitted month whose snapshot does not match its hash."""
    return lambda: (tamper(t), t.call("GET", f"{R}/monthly", "city_committee",
                                      params={"month": "2026-11", "region": "141181"}))[1]
