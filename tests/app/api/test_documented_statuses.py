"""Every status the OpenAPI document declares is real: for each operation and each documented
status there is a request here that gets it, and nothing else is in the table (schemathesis, in
test_schema_fuzz.py, checks the converse: every status that occurs is documented).

The table is keyed by the document's own operations, so a new route or a new documented status
without its provoking request fails here. Statuses every route shares are made the same way
everywhere: 401 without a token, 404 with an id no row has, 422 with an id that is not a number or
an empty body, 400 with a body that is not UTF-8, and 500 with the service context made to fail
(the one way an unexpected error can be asked for; its answer must still be the error envelope).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from db.engine import UnitOfWork, read_only, transaction
from db.models import Delivery, Document, InboxItem
from services import documents
from services.outbox.deliver import run_once
from app.api.deps import get_context
from services.lifecycle.states import State
from services.lifecycle.table import LIFECYCLE
from tests.app.api import documented_blacklist
from tests.app.api import self_inspection_statuses
from tests.app.api import report_submission_statuses
from tests.app.api import accountability_statuses
from tests.app.api import task_statuses
from tests.app.api.support import API, MISSING_ID, PDF, assert_error, png_bytes
from tests.services.engine.matrix import ACTOR_OF_ROLE, GUARD_REFUSALS, Env, expectation, variants

Provoke = Callable[[], Any]
ACTIONS = tuple(a for a, s in LIFECYCLE.items() if a != "report" and s.lifecycle)
NOT_UTF8 = b'{"text": "\xff\xfe"}'


class Table:
    def __init__(self, env: Env, client: TestClient, app) -> None:
        self.env, self.client, self.app = env, client, app
        self.world = env.world

    def call(self, method: str, path: str, user: str | None = "inspector", **kw) -> Any:
        headers = {**(self.world.auth(user) if user else {}), **kw.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kw)

    def failing(self, method: str, path: str, user: str | None = "inspector", **kw) -> Provoke:
        def run():
            self.app.dependency_overrides[get_context] = _broken
            try:
                return self.call(method, path, user, **kw)
            finally:
                self.app.dependency_overrides.pop(get_context)
        return run

    def common(self, method: str, template: str, ok_path: str, *, user: str = "inspector", id_param: bool,
               body: bool, secured: bool = True, **ok_kw) -> dict[int, Provoke]:
        """401, 404, 422, 400 and 500 made the shared way (only those the operation can have)."""
        rows: dict[int, Provoke] = {500: self.failing(method, ok_path, user, **ok_kw)}
        if secured:
            rows[401] = lambda: self.call(method, ok_path, None, **ok_kw)
        if id_param:
            param = template[template.index("{"):template.index("}") + 1]
            rows[404] = lambda: self.call(method, template.replace(param, str(MISSING_ID)), user, **ok_kw)
            rows[422] = lambda: self.call(method, template.replace(param, "x1"), user, **ok_kw)
        if body:
            rows[400] = lambda: self.call(method, ok_path, user, content=NOT_UTF8,
                                          headers={"Content-Type": "application/json"})
            rows.setdefault(422, lambda: self.call(method, ok_path, user, json={}))
        return rows

    # --- the lifecycle actions --------------------------------------------------------------------

    def allowed(self, action: str) -> tuple[int, str, dict[str, Any]]:
        """A fresh hazard, a caller and a body for which the table allows `action`."""
        spec = LIFECYCLE[action]
        for state in sorted(spec.sources, key=list(State).index):
            for role in sorted(spec.roles & set(ACTOR_OF_ROLE), key=str):
                if ACTOR_OF_ROLE[role] is None or expectation(state, action, role).outcome != "ok":
                    continue
                if (state, action, role) in GUARD_REFUSALS:
                    continue
                level = variants(state, action, role)[0].level
                hid = self.env.make(state, level)
                self.env.prepare(hid, action, level)
                return hid, ACTOR_OF_ROLE[role], self.env.body(action, hid, level)
        raise AssertionError(f"no allowed cell for {action}")

    def action(self, action: str) -> dict[int, Provoke]:
        template = f"{API}/hazards/{{hazard_id}}/actions/{action}"
        hid, user, body = self.allowed(action)
        path = template.replace("{hazard_id}", str(hid))
        rows = self.common("POST", template, path, user=user, id_param=True, body=True, json=body)
        # A hazard of its own: the body is judged only where the action is allowed (scope, role and
        # state come first), and the 200 below moves the first hazard on.
        other, other_user, _ = self.allowed(action)
        other_path = template.replace("{hazard_id}", str(other))
        rows[422] = lambda: self.call("POST", other_path, other_user, json={})
        rows[403] = lambda: self.call("POST", path, "auditor", json=body)  # no lifecycle action for an auditor
        rows[409] = lambda: self.call("POST", path, user, json=body, headers={"If-Match": '"999"'})  # stale
        rows[200] = lambda: self.call("POST", path, user, json=body)
        return rows


async def _broken() -> None:
    raise RuntimeError("injected: the service context failed")


def build(t: Table, hazards: dict[str, int], ids: dict[str, int]) -> dict[tuple[str, str], dict[int, Provoke]]:
    c, h = t.call, hazards
    report = {"title": "巷道积水", "description": "回风巷积水 0.5 米。", "location": "井下回风巷", "region_code": "141102",
              "industry": "煤矿", "source": "inspection"}
    public = {"title": "楼道堆放杂物", "description": "消防通道被杂物堵塞。", "location": "离石区滨河北路 1 号",
              "region_code": "141102", "industry": "消防"}
    hz = f"{API}/hazards/{{hazard_id}}"
    one = hz.replace("{hazard_id}", str(h["registered"]))
    table: dict[tuple[str, str], dict[int, Provoke]] = {
        ("POST", f"{API}/hazards"): {
            **t.common("POST", f"{API}/hazards", f"{API}/hazards", id_param=False, body=True, json=report),
            201: lambda: c("POST", f"{API}/hazards", json=report),
            403: lambda: c("POST", f"{API}/hazards", "auditor", json=report),
            409: lambda: (c("POST", f"{API}/hazards", json=report, headers={"Idempotency-Key": "k-409"}),
                          c("POST", f"{API}/hazards", json={**report, "title": "另一条"},
                            headers={"Idempotency-Key": "k-409"}))[1],
        },
        ("GET", f"{API}/hazards"): {
            **t.common("GET", f"{API}/hazards", f"{API}/hazards", id_param=False, body=False),
            200: lambda: c("GET", f"{API}/hazards"),
            422: lambda: c("GET", f"{API}/hazards", params={"limit": 0}),
        },
        ("GET", hz): {**t.common("GET", hz, one, id_param=True, body=False), 200: lambda: c("GET", one)},
        ("GET", f"{hz}/events"): {**t.common("GET", f"{hz}/events", f"{one}/events", id_param=True, body=False),
                                  200: lambda: c("GET", f"{one}/events")},
        ("GET", f"{hz}/documents"): {**t.common("GET", f"{hz}/documents", f"{one}/documents", id_param=True,
                                                body=False), 200: lambda: c("GET", f"{one}/documents")},
        ("POST", f"{hz}/attachments"): {
            **t.common("POST", f"{hz}/attachments", f"{one}/attachments", id_param=True, body=False,
                       files={"file": ("a.png", png_bytes(), "image/png")}),
            201: lambda: c("POST", f"{one}/attachments", files={"file": ("a.png", png_bytes(), "image/png")}),
            400: lambda: c("POST", f"{one}/attachments", content=b"x", headers={"Content-Type": "multipart/form-data"}),
            403: lambda: c("POST", f"{one}/attachments", "auditor", files={"file": ("a.png", png_bytes(), "image/png")}),
            409: lambda: c("POST", hz.replace("{hazard_id}", str(h["closed"])) + "/attachments",
                           files={"file": ("a.pdf", PDF, "application/pdf")}),
            422: lambda: c("POST", f"{one}/attachments", files={"file": ("a.exe", b"MZ\x90\x00", "image/png")}),
        },
        ("POST", f"{API}/public/reports"): {
            **t.common("POST", f"{API}/public/reports", f"{API}/public/reports", user=None, id_param=False,
                       body=True, secured=False, json=public),
            201: lambda: c("POST", f"{API}/public/reports", None, json=public),
            429: lambda: [c("POST", f"{API}/public/reports", None, json=public) for _ in range(5)][-1],
        },
        ("GET", f"{API}/public/reports/{{tracking_code}}"): {
            200: lambda: c("GET", f"{API}/public/reports/{ids['tracking_code']}", None),
            404: lambda: c("GET", f"{API}/public/reports/NOSUCHCODE22", None),
            422: lambda: c("GET", f"{API}/public/reports/AB%01CD", None),
            429: lambda: [c("GET", f"{API}/public/reports/NOSUCHCODE22", None)
                          for _ in range(t.app.state.ctx.settings.public_lookups_per_hour + 1)][-1],
            500: t.failing("GET", f"{API}/public/reports/NOSUCHCODE22", None),
        },
        ("GET", f"{API}/audit/verify"): {
            200: lambda: c("GET", f"{API}/audit/verify", "auditor"),
            401: lambda: c("GET", f"{API}/audit/verify", None),
            403: lambda: c("GET", f"{API}/audit/verify", "ent_coal"),
            500: t.failing("GET", f"{API}/audit/verify", "auditor"),
        },
        ("GET", "/healthz"): {200: lambda: c("GET", "/healthz", None), 500: t.failing("GET", "/healthz", None)},
        ("GET", "/metrics"): {
            200: lambda: c("GET", "/metrics", "admin"),
            401: lambda: c("GET", "/metrics", None),
            403: lambda: c("GET", "/metrics", "inspector"),
            500: t.failing("GET", "/metrics", "admin"),
        },
        ("GET", f"{API}/me/inbox"): {
            **t.common("GET", f"{API}/me/inbox", f"{API}/me/inbox", id_param=False, body=False),
            200: lambda: c("GET", f"{API}/me/inbox"),
            422: lambda: c("GET", f"{API}/me/inbox", params={"limit": 0}),
        },
        ("POST", f"{API}/me/inbox/{{item_id}}/read"): {
            **t.common("POST", f"{API}/me/inbox/{{item_id}}/read", f"{API}/me/inbox/{ids['item']}/read",
                       user=ids["item_user"], id_param=True, body=False),
            200: lambda: c("POST", f"{API}/me/inbox/{ids['item']}/read", ids["item_user"]),
        },
        ("POST", f"{API}/me/inbox/read"): {
            **t.common("POST", f"{API}/me/inbox/read", f"{API}/me/inbox/read", user=ids["item_user"], id_param=False,
                       body=False),
            200: lambda: c("POST", f"{API}/me/inbox/read", ids["item_user"]),
        },
        ("GET", f"{API}/outbox/dead"): {
            **t.common("GET", f"{API}/outbox/dead", f"{API}/outbox/dead", user="admin", id_param=False, body=False),
            200: lambda: c("GET", f"{API}/outbox/dead", "admin"),
            403: lambda: c("GET", f"{API}/outbox/dead", "inspector"),
            422: lambda: c("GET", f"{API}/outbox/dead", "admin", params={"limit": 0}),
        },
        ("POST", f"{API}/outbox/dead/{{delivery_id}}/retry"): {
            **t.common("POST", f"{API}/outbox/dead/{{delivery_id}}/retry", f"{API}/outbox/dead/{ids['dead']}/retry",
                       user="admin", id_param=True, body=False),
            200: lambda: c("POST", f"{API}/outbox/dead/{ids['dead']}/retry", "admin"),
            403: lambda: c("POST", f"{API}/outbox/dead/{ids['dead']}/retry", "inspector"),
            409: lambda: c("POST", f"{API}/outbox/dead/{ids['pending']}/retry", "admin"),
        },
        ("GET", f"{API}/reports/monthly"): {
            **t.common("GET", f"{API}/reports/monthly", f"{API}/reports/monthly", id_param=False, body=False,
                       params={"month": "2026-11"}),
            200: lambda: c("GET", f"{API}/reports/monthly", "city_committee", params={"month": "2026-11"}),
            403: lambda: c("GET", f"{API}/reports/monthly", "ent_coal", params={"month": "2026-11"}),
            422: lambda: c("GET", f"{API}/reports/monthly", params={"month": "2026-13"}),
        },
        ("GET", f"{API}/documents/{{document_id}}"): {
            **t.common("GET", f"{API}/documents/{{document_id}}", f"{API}/documents/{ids['document']}",
                       id_param=True, body=False),
            200: lambda: c("GET", f"{API}/documents/{ids['document']}"),
        },
    }
    table.update(documented_blacklist.rows(t))
    for action in ACTIONS:
        table[("POST", f"{hz}/actions/{action}")] = t.action(action)
    table.update(accountability_statuses.rows(t))
    table.update(self_inspection_statuses.rows(t))
    table.update(report_submission_statuses.rows(t))
    table.update(task_statuses.rows(t))
    table[("GET", f"{API}/reports/monthly")][409] = report_submission_statuses.monthly_conflict(t)
    return table


@pytest.fixture
def table(app, factory, world, clock, backend, settings):
    env = Env(factory, world, clock(), backend)
    hazards = {"registered": env.make(State.REGISTERED, "general"), "closed": env.make(State.CLOSED, "general")}
    documents.issue_pending(UnitOfWork(factory), now=clock())
    run_once(UnitOfWork(factory), now=clock(), settings=settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        tracking = client.post(f"{API}/public/reports", json={
            "title": "路灯倒伏", "description": "路灯杆倒伏压住燃气管。", "location": "离石区永宁路", "region_code": "141102",
            "industry": "燃气"}, headers={"X-Forwarded-For": "198.51.100.7"}).json()["tracking_code"]
        with transaction(factory) as s:
            dead, pending = (s.execute(insert(Delivery).values(
                channel="webhook", recipient="bureau", dedupe_key=f"statuses:{status}", subject="测试", body="{}",
                status=status, attempts=6, available_at=clock(), created_at=clock()).returning(Delivery.id)).scalar_one()
                for status in ("dead", "pending"))
        with read_only(factory) as s:
            item, user_id = s.execute(select(InboxItem.id, InboxItem.user_id).order_by(InboxItem.id)).first()
            document = s.scalar(select(Document.id).limit(1))
        item_user = next(name for name, p in world.principals.items() if p.id == user_id)
        ids = {"tracking_code": tracking, "dead": dead, "pending": pending, "item": item, "item_user": item_user,
               "document": document}
        yield Table(env, client, app), hazards, ids


def test_every_documented_status_is_provoked(table):
    t, hazards, ids = table
    doc = t.client.get("/openapi.json").json()
    documented = {(m.upper(), p): {int(s) for s in op["responses"]}
                  for p, item in doc["paths"].items() for m, op in item.items() if isinstance(op, dict)}
    rows = build(t, hazards, ids)
    assert set(rows) == set(documented), (set(documented) - set(rows), set(rows) - set(documented))
    problems = []
    for op, statuses in sorted(documented.items()):
        if statuses - set(rows[op]):
            problems.append(f"{op}: documented {sorted(statuses - set(rows[op]))}, but nothing here provokes it")
        if set(rows[op]) - statuses:
            problems.append(f"{op}: {sorted(set(rows[op]) - statuses)} provoked but not documented")
        for status, provoke in sorted(rows[op].items()):
            resp = provoke()
            if resp.status_code != status:
                problems.append(f"{op} {status}: got {resp.status_code} {resp.text[:200]}")
            elif status >= 400:
                try:
                    assert_error(resp, status)
                except AssertionError as exc:
                    problems.append(f"{op} {status}: not the error envelope: {exc}")
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)
