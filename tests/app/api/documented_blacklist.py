"""The documented statuses of the 一张表 and 黑名单 routes, provoked (test_documented_statuses.py)."""

from __future__ import annotations

from typing import Any

from tests.app.api.support import API
from tests.services.blacklist.support import enterprise_id, rejected_twice


def rows(t: Any) -> dict[tuple[str, str], dict[int, Any]]:
    c, env = t.call, t.env
    rejected_twice(env.factory, env.world, env.now)  # the coal enterprise: a candidate of 2026-Q4
    coal = enterprise_id(env.factory, env.world, "coal")
    one = f"{API}/enterprises/{coal}"
    decide = f"{API}/blacklist/{coal}/decisions"
    body = {"quarter": "2026-Q4", "decision": "listed", "reason": "验收两次不通过"}
    return {
        ("GET", f"{API}/enterprises"): {
            **t.common("GET", f"{API}/enterprises", f"{API}/enterprises", id_param=False, body=False),
            200: lambda: c("GET", f"{API}/enterprises"),
            403: lambda: c("GET", f"{API}/enterprises", "ent_coal"),
            422: lambda: c("GET", f"{API}/enterprises", params={"per_page": 0}),
        },
        ("GET", f"{API}/enterprises/{{enterprise_id}}"): {
            **t.common("GET", f"{API}/enterprises/{{enterprise_id}}", one, id_param=True, body=False),
            200: lambda: c("GET", one),
        },
        ("GET", f"{API}/blacklist"): {
            **t.common("GET", f"{API}/blacklist", f"{API}/blacklist", user="county_committee", id_param=False,
                       body=False),
            200: lambda: c("GET", f"{API}/blacklist", "county_committee"),
            403: lambda: c("GET", f"{API}/blacklist"),
            422: lambda: c("GET", f"{API}/blacklist", "county_committee", params={"quarter": "2026-Q9"}),
        },
        ("POST", f"{API}/blacklist/{{enterprise_id}}/decisions"): {
            **t.common("POST", f"{API}/blacklist/{{enterprise_id}}/decisions", decide, user="county_committee",
                       id_param=True, body=True, json=body),
            201: lambda: c("POST", decide, "county_committee", json=body),
            403: lambda: c("POST", decide, "inspector", json=body),
            409: lambda: (c("POST", decide, "county_committee", json=body),
                          c("POST", decide, "county_committee", json=body))[1],
        },
    }
