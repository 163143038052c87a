"""Every request example of the OpenAPI document works, as is, against `hazard demo`'s data, on
SQLite and PostgreSQL.

The demo is loaded into an empty database; the app runs on the demo's day. Each example is read
from /openapi.json and sent once: `report` as a 离石区 inspector, the public report with no token,
and each action as a demo user on a demo hazard that the lifecycle table says is ready for it
(a source state, the caller's role and scope, the body-free guards and the guards on this very
body, and attachments of that hazard where the body cites some). Every answer must be 2xx. The
examples are dated from the app's today, so they still work on another day.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from db.engine import read_only, transaction
from db.models import Attachment, Enterprise, Hazard, User
from services.audit import verification as audit
from services.lifecycle import body_examples
from app import demo
from app.api.app import create_app
from app.api.examples import action_of
from services.accounts.auth import in_scope, issue_token, principal_of
from services.kernel.clock import local_date
from app.demo import example
from services.calendar.workdays import default_calendar
from services.lifecycle.facts import Context
from services.lifecycle.states import State
from services.lifecycle.table import LIFECYCLE, check_body, check_pre
from services.kernel.settings import Settings
from services.kernel.validation import parse
from tests.conftest import FakeClock

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)
HAZARDS = 90
ACTIONS = tuple(a for a, s in LIFECYCLE.items() if a != "report" and s.lifecycle)


@pytest.fixture
def demo_client(factory, db_url, tmp_path):
    data = tmp_path / "var"
    demo.load(factory, hazards=HAZARDS, seed=demo.DEFAULT_SEED, now=NOW, attachments_root=data / "attachments")
    clock = FakeClock(NOW)
    app = create_app(Settings(database_url=db_url, data_dir=data, token_cache_seconds=0.0), clock=clock)
    with TestClient(app) as client:
        yield client, clock
    app.state.engine.dispose()


def documented_examples(doc: dict[str, Any]) -> list[tuple[str, str | None, Any]]:
    """(path, action, example value) for every request body example in the document."""
    out = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            content = op.get("requestBody", {}).get("content", {}).get("application/json", {}) if isinstance(op, dict) else {}
            for ex in content.get("examples", {}).values():
                out.append((path, action_of(path, method), ex["value"]))
    return out


class Demo:
    def __init__(self, factory, client: TestClient, now: datetime) -> None:
        self.factory, self.client, self.now = factory, client, now
        self.tokens: dict[str, str] = {}

    def auth(self, username: str) -> dict[str, str]:
        if username not in self.tokens:
            with transaction(self.factory) as s:
                user = s.execute(select(User).where(User.username == username)).scalar_one()
                self.tokens[username] = issue_token(s, user, label="openapi-examples", now=self.now)
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    def ready(self, action: str, value: dict[str, Any]) -> tuple[int, str] | None:
        """The first demo hazard (离石区 first: the examples are about a 离石区 coal mine) and user
        for which the table lets `value` through."""
        spec = LIFECYCLE[action]
        body = parse(spec.body, value)
        ctx = Context(today=local_date(self.now), now=self.now, calendar=default_calendar())
        cited = set(value.get("evidence") or []) | ({value["assessment_report"]} if value.get("assessment_report") else set())
        with read_only(self.factory) as s:
            users = [principal_of(u) for u in s.scalars(select(User).where(User.role.in_(spec.roles)).order_by(User.username))]
            hazards = s.scalars(select(Hazard).where(Hazard.state.in_([st.value for st in spec.sources]))
                                .order_by(Hazard.region_code != "141102", Hazard.id)).all()
            owners = dict(s.execute(select(Attachment.id, Attachment.hazard_id).where(Attachment.id.in_(cited))).all())
            for hazard in hazards:
                if any(owners.get(i) != hazard.id for i in cited):
                    continue
                for user in users:
                    if (in_scope(user, hazard) and check_pre(spec, hazard, user) is None
                            and check_body(spec, hazard, user, body, ctx) is None):
                        return hazard.id, user.username
        return None


def test_every_openapi_example_works_against_the_demo(demo_client, factory):
    client, clock = demo_client
    doc = client.get("/openapi.json").json()
    examples = documented_examples(doc)
    assert {a for _, a, _ in examples if a} == {"report", *ACTIONS}
    assert any(p == "/api/v1/public/reports" for p, _, _ in examples)
    run = Demo(factory, client, clock())
    problems = []
    for action in ("report", *ACTIONS):  # the table's order: a request_extension before its decisions
        for path, _, value in (e for e in examples if e[1] == action):
            if action == "report":
                resp = client.post(path, json=value, headers=run.auth("lishi_inspector"))
                where = "as lishi_inspector"
            else:
                found = run.ready(action, value)
                if found is None:
                    problems.append(f"{action}: no demo hazard and user the example can work for")
                    continue
                hid, username = found
                resp = client.post(path.replace("{hazard_id}", str(hid)), json=value, headers=run.auth(username))
                where = f"on #{hid} as {username}"
            if not 200 <= resp.status_code < 300:
                problems.append(f"{action} {where}: {resp.status_code} {resp.text[:300]}")
    public = [v for p, _, v in examples if p == "/api/v1/public/reports"]
    for value in public:
        resp = client.post("/api/v1/public/reports", json=value)
        if resp.status_code != 201:
            problems.append(f"public report: {resp.status_code} {resp.text[:300]}")
    assert not problems, "\n".join(problems)
    with read_only(factory) as s:
        report = audit.verify(s)
    assert report.ok, report.as_dict()


def test_examples_name_the_demo_and_are_dated_from_today(demo_client, factory):
    client, clock = demo_client
    with read_only(factory) as s:
        assert s.scalar(select(Enterprise.name).where(Enterprise.uscc == body_examples.EXAMPLE_USCC)) == example.ORG.name
        files = s.execute(select(Attachment.id, Hazard.title, Hazard.state).join(Hazard)
                          .where(Attachment.id.in_([*body_examples.EXAMPLE_EVIDENCE, body_examples.EXAMPLE_REPORT]))).all()
    assert {(t, st) for _, t, st in files} == {(body_examples.examples(local_date(NOW))["report"]["title"], State.RECTIFYING.value)}
    assert len(files) == 3

    def accept_example() -> dict[str, Any]:
        doc = client.get("/openapi.json").json()
        op = doc["paths"]["/api/v1/hazards/{hazard_id}/actions/accept"]["post"]
        return next(iter(op["requestBody"]["content"]["application/json"]["examples"].values()))

    today = local_date(clock())
    assert accept_example()["value"]["reviewed_on"] == today.isoformat()
    clock.advance(days=40)  # the same app, another day: the document follows
    assert accept_example()["value"]["reviewed_on"] == (today + timedelta(days=40)).isoformat()
    doc = client.get("/openapi.json").json()
    acceptance = doc["paths"]["/api/v1/hazards/{hazard_id}/actions/request_acceptance"]["post"]
    [ex] = acceptance["requestBody"]["content"]["application/json"]["examples"].values()
    assert "/attachments" in ex["description"] and ex["value"]["evidence"] == body_examples.EXAMPLE_EVIDENCE
