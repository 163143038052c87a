"""The documented statuses of the 企业自查 routes (app/api/routers/inspections.py), provoked for
tests/app/api/test_documented_statuses.py (kept here so that table gains one line per feature)."""

from __future__ import annotations

from typing import Any

from db.engine import transaction
from services.inspections import returns
from tests.app.api.support import API, png_bytes
from tests.services.inspections.support import return_body

SI = f"{API}/self-inspections"
FIX = {"description": "消防通道堆放杂物", "location": "二号仓库", "measures": "当场清理", "fixed_on": "2026-11-20"}


def rows(t: Any) -> dict[tuple[str, str], dict[int, Any]]:
    c, world = t.call, t.world
    with transaction(t.env.factory) as s:
        rid = returns.file_return(s, world.p("ent_coal"), return_body(), now=t.env.now)
    one, item = f"{SI}/{rid}", f"{SI}/{{return_id}}"
    evidence = {"evidence": ("fix.png", png_bytes(), "image/png")}
    return {
        ("POST", SI): {
            **t.common("POST", SI, SI, user="ent_chem", id_param=False, body=True, json=return_body()),
            200: lambda: c("POST", SI, "ent_chem", json=return_body()),
            403: lambda: c("POST", SI, "inspector", json=return_body()),
        },
        ("GET", SI): {
            **t.common("GET", SI, SI, id_param=False, body=False),
            200: lambda: c("GET", SI, params={"month": "2026-11"}),
            403: lambda: c("GET", SI, params={"region": "140900"}),
            422: lambda: c("GET", SI, params={"month": "2026-13"}),
        },
        ("GET", item): {**t.common("GET", item, one, id_param=True, body=False), 200: lambda: c("GET", one)},
        ("POST", f"{item}/spot-fixes"): {
            **t.common("POST", f"{item}/spot-fixes", f"{one}/spot-fixes", user="ent_coal", id_param=True,
                       body=False, data=FIX, files=evidence),
            201: lambda: c("POST", f"{one}/spot-fixes", "ent_coal", data=FIX, files=evidence),
            400: lambda: c("POST", f"{one}/spot-fixes", "ent_coal", content=b"x",
                           headers={"Content-Type": "multipart/form-data"}),
            403: lambda: c("POST", f"{one}/spot-fixes", "inspector", data=FIX, files=evidence),
        },
    }
