"""Authorization over HTTP, generated from the lifecycle table and the scope rules (DESIGN 2.2,
2.3), on SQLite and PostgreSQL.

Cells: hazard kind (every state, both levels where a state has both, and the working states with an
extension request pending) × caller × route. Routes: every action route
`POST /hazards/{id}/actions/{action}` plus `GET /hazards/{id}`, `GET /hazards/{id}/events` and
`POST /hazards/{id}/attachments`. Callers: one user of every role in scope (and an industry-bound
inspector, and a committee office of another level), and for every role one out of scope by how
scope is lost: another county or city, another industry, another enterprise.

The expectation of a cell is computed, never written down: out of scope answers 404 with exactly the
body of a hazard that does not exist; in scope, `check_pre` (role 403, state 409, the body-free
guards) and then `check_body` of the table decide, and otherwise the action succeeds into
`spec.target`. Refused cells share one hazard per kind, which must not change; each allowed cell
gets a fresh hazard. Last, `allowed_actions` of `GET /hazards/{id}` must be exactly the actions
that succeeded for that caller on that kind of hazard.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from db.engine import transaction
from services.accounts import admin
from services.accounts.auth import in_scope, principal_of
from services.kernel.clock import local_date
from services.calendar.workdays import default_calendar
from services.lifecycle.facts import Context
from services.lifecycle.roles import USER_ROLES, Role
from services.lifecycle.states import State
from services.lifecycle.table import LIFECYCLE, check_body, check_pre
from services.kernel.validation import parse
from tests.app.api.support import API, MISSING_ID, png_bytes
from tests.services.engine.matrix import Env

ACTION_ROUTES = tuple(a for a, s in LIFECYCLE.items() if a != "report" and s.lifecycle)
READS = ("get", "events")
ROUTES = ACTION_ROUTES + READS + ("attachments",)

IN = "in scope"
OTHER_LEVEL = "in scope, committee of another level"
OUT_REGION = "out of scope: another county or city"
OUT_INDUSTRY = "out of scope: another industry"
OUT_ENTERPRISE = "out of scope: another enterprise"


@dataclass(frozen=True)
class Caller:
    username: str
    role: Role
    relation: str
    region: str | None = None  # set: a user this test adds (the shared world does not have one)
    industry: str | None = None

    @property
    def in_scope(self) -> bool:
        return self.relation in (IN, OTHER_LEVEL)


# The hazards are 离石区 (141102) 煤矿 hazards of `ent_coal`, reported and accepted by `inspector`
# and listed at city level by `city_committee` (tests/helpers.py): these callers are never excluded
# by four-eyes, so every refusal below comes from role, scope, state or authority.
CALLERS = (
    Caller("ent_coal", Role.ENTERPRISE, IN),
    Caller("inspector2", Role.INSPECTOR, IN),
    Caller("coal_only_inspector", Role.INSPECTOR, IN),  # 吕梁市, bound to 煤矿
    Caller("supervisor", Role.SUPERVISOR, IN),
    Caller("city_committee2", Role.COMMITTEE, IN),
    Caller("county_committee", Role.COMMITTEE, OTHER_LEVEL),
    Caller("auditor", Role.AUDITOR, IN),
    Caller("admin", Role.ADMIN, IN),
    Caller("ent_chem", Role.ENTERPRISE, OUT_ENTERPRISE),
    Caller("xiaoyi_inspector", Role.INSPECTOR, OUT_REGION),
    Caller("m_xiaoyi_supervisor", Role.SUPERVISOR, OUT_REGION, "141181"),
    Caller("m_xiaoyi_committee", Role.COMMITTEE, OUT_REGION, "141181"),
    Caller("m_xinzhou_auditor", Role.AUDITOR, OUT_REGION, "140900"),
    Caller("m_xinzhou_admin", Role.ADMIN, OUT_REGION, "140900"),
    Caller("m_gas_inspector", Role.INSPECTOR, OUT_INDUSTRY, "141102", "燃气"),
    Caller("m_gas_supervisor", Role.SUPERVISOR, OUT_INDUSTRY, "141102", "燃气"),
)


@dataclass(frozen=True)
class Kind:
    state: State
    level: str | None
    extension_pending: bool = False

    @property
    def routes(self) -> tuple[str, ...]:
        # With an extension pending, what differs is deciding (or asking again): those routes.
        return ("request_extension", "grant_extension", "deny_extension", "get") if self.extension_pending else ROUTES

    @property
    def id(self) -> str:
        return f"{self.state.value}-{self.level or 'unregistered'}{'+extension' if self.extension_pending else ''}"


KINDS = (
    Kind(State.REPORTED, None),
    *(Kind(state, level, ext) for state in (State.REGISTERED, State.RECTIFYING)
      for level in ("general", "major") for ext in (False, True)),
    Kind(State.SUPERVISED, "major"), Kind(State.SUPERVISED, "major", True),
    Kind(State.ACCEPTANCE_REQUESTED, "general"), Kind(State.ACCEPTANCE_REQUESTED, "major"),
    Kind(State.ACCEPTED, "major"),
    Kind(State.CLOSED, "general"), Kind(State.CLOSED, "major"),
    Kind(State.DISMISSED, None),
)


# --- expectations, from the table -----------------------------------------------------------------


def expectation(env: Env, caller: Caller, route: str, facts: Any, body: dict[str, Any] | None) -> tuple[int, str | None]:
    if not caller.in_scope:
        return 404, "not_found"
    if route in READS:
        return 200, None
    principal = env.world.p(caller.username)
    spec = LIFECYCLE["attach" if route == "attachments" else route]
    refusal = check_pre(spec, facts, principal)
    if refusal is not None:
        return refusal.status, refusal.code
    if route == "attachments":
        return 201, None
    ctx = Context(today=local_date(env.now), now=env.now, calendar=default_calendar())
    refusal = check_body(spec, facts, principal, parse(spec.body, body), ctx)
    return (refusal.status, refusal.code) if refusal is not None else (200, None)


# --- the cells ------------------------------------------------------------------------------------


class Matrix:
    def __init__(self, env: Env, client) -> None:
        self.env, self.client = env, client
        self.problems: list[str] = []
        self.cells = self.fresh = 0
        self.shared_facts: dict[int, SimpleNamespace] = {}  # refused cells leave it as it was
        self.succeeded: dict[str, set[str]] = {}  # caller → action routes that answered 200
        self.not_found: dict[tuple[str, str], Any] = {}

    def auth(self, caller: Caller) -> dict[str, str]:
        return self.env.world.auth(caller.username)

    def make(self, kind: Kind) -> int:
        if kind.state == State.CLOSED and kind.level == "major":  # accepted, then 销号 by the listing office
            hid = self.env.make(State.ACCEPTED, "major")
            self.env.perform("city_committee", hid, "close", self.env.body("close", hid, "major"))
        else:
            hid = self.env.make(kind.state, kind.level)
        if kind.extension_pending:
            self.env.perform("ent_coal", hid, "request_extension", self.env.body("request_extension", hid, kind.level))
        row = self.env.row(hid)
        assert (row["state"], row["level"], row["extension_requested_at"] is not None) == (
            kind.state.value, kind.level, kind.extension_pending), f"{kind.id}: setup made {row['state']}"
        return hid

    def facts(self, hid: int) -> SimpleNamespace:
        return SimpleNamespace(**self.env.row(hid))

    def body(self, caller: Caller, route: str, hid: int, level: str | None) -> dict[str, Any] | None:
        if route in READS or route == "attachments":
            return None
        body = self.env.body(route, hid, level)
        if route == "supervise" and caller.role == Role.COMMITTEE:  # a committee office lists at its own level
            body["listing_level"] = {"141102": "county", "141100": "city", "140000": "province"}.get(
                self.env.world.p(caller.username).region_code, "county")
        return body

    def send(self, caller: Caller, route: str, hid: int, body: dict[str, Any] | None):
        if route == "get":
            return self.client.get(f"{API}/hazards/{hid}", headers=self.auth(caller))
        if route == "events":
            return self.client.get(f"{API}/hazards/{hid}/events", headers=self.auth(caller))
        if route == "attachments":
            return self.client.post(f"{API}/hazards/{hid}/attachments", headers=self.auth(caller),
                                    files={"file": ("photo.png", png_bytes(), "image/png")})
        return self.client.post(f"{API}/hazards/{hid}/actions/{route}", json=body, headers=self.auth(caller))

    def missing(self, caller: Caller, route: str, body: dict[str, Any] | None) -> Any:
        """The answer for a hazard that does not exist: what an out-of-scope caller must get too."""
        key = (caller.username, route)
        if key not in self.not_found:
            resp = self.send(caller, route, MISSING_ID, body)
            self.not_found[key] = (resp.status_code, resp.json())
        return self.not_found[key]

    def cell(self, kind: Kind, caller: Caller, route: str, shared: int) -> None:
        self.cells += 1
        name = f"[{self.env.backend}] {kind.id} × {caller.username} ({caller.role.value}, {caller.relation}) × {route}"
        if shared not in self.shared_facts:
            self.shared_facts[shared] = self.facts(shared)
        facts = self.shared_facts[shared]
        principal = self.env.world.p(caller.username)
        if in_scope(principal, facts) != caller.in_scope:  # services.accounts.auth agrees with the relation
            self.problems.append(f"{name}: in_scope says {not caller.in_scope}")
            return
        body = self.body(caller, route, shared, kind.level)
        status, code = expectation(self.env, caller, route, facts, body)
        hid = shared
        if status in (200, 201) and route not in READS:  # it changes the hazard: a fresh one
            hid = self.make(kind)
            self.fresh += 1
            body = self.body(caller, route, hid, kind.level)
            facts = self.facts(hid)
        resp = self.send(caller, route, hid, body)
        data = resp.json()
        got_code = data.get("error", {}).get("code") if isinstance(data, dict) and "error" in data else None
        if (resp.status_code, got_code) != (status, code):
            self.problems.append(f"{name}: expected {status} {code or ''}, got {resp.status_code} {got_code or ''}"
                                 f" {resp.text[:200] if resp.status_code >= 400 else ''}")
            return
        if status == 404 and ((resp.status_code, data) != self.missing(caller, route, body) or "etag" in resp.headers):
            self.problems.append(f"{name}: the 404 differs from a missing hazard's: {data}")
        if status == 200 and route in ACTION_ROUTES:
            self.succeeded.setdefault(caller.username, set()).add(route)
            spec = LIFECYCLE[route]
            target = spec.target(facts, parse(spec.body, body))
            if (data["state"], data["version"]) != (target.value, facts.version + 1):
                self.problems.append(f"{name}: landed in {data['state']} v{data['version']}, "
                                     f"table says {target.value} v{facts.version + 1}")
        if status == 201 and data.get("hazard_version") != facts.version + 1:
            self.problems.append(f"{name}: upload answered {data}")


@pytest.fixture
def matrix(factory, world, clock, backend, client) -> Matrix:
    with transaction(factory) as s:
        for c in CALLERS:
            if c.region is not None:
                user, token = admin.add_user(s, c.username, c.role.value, c.region, now=clock(),
                                             display_name=c.username, industry=c.industry)
                world.tokens[c.username] = token
                world.principals[c.username] = principal_of(user)
    return Matrix(Env(factory, world, clock(), backend), client)


def test_the_matrix_covers_every_role_scope_relation_and_route(app):
    roles = set(USER_ROLES) - {Role.SYSTEM}  # the escalation job has no token
    assert {c.role for c in CALLERS if c.relation == IN} == roles
    assert {c.role for c in CALLERS if not c.in_scope} == roles
    assert {c.role for c in CALLERS if c.relation == OUT_INDUSTRY} == {Role.INSPECTOR, Role.SUPERVISOR}
    assert {c.relation for c in CALLERS} == {IN, OTHER_LEVEL, OUT_REGION, OUT_INDUSTRY, OUT_ENTERPRISE}
    assert {k.state for k in KINDS} == set(State)
    served = {p.rsplit("/", 1)[-1] for p in app.openapi()["paths"]
              if p.startswith("/api/v1/hazards/") and "/actions/" in p}  # a task part's: tests/app/api/test_tasks_api.py
    assert served == set(ACTION_ROUTES)
    assert len(ROUTES) == 18 and len(CALLERS) == 16 and len(KINDS) == 17
    cells = sum(len(CALLERS) * len(k.routes) for k in KINDS)
    assert cells == 16 * (5 * 4 + 12 * 18) == 3776


@pytest.mark.parametrize("kind", KINDS, ids=[k.id for k in KINDS])
def test_authorization_matrix(matrix, kind):
    env = matrix.env
    shared = matrix.make(kind)
    before = env.snapshot(shared)
    for caller in CALLERS:
        for route in kind.routes:
            try:
                matrix.cell(kind, caller, route, shared)
            except Exception as exc:  # noqa: BLE001 - a setup error must name its cell too
                matrix.problems.append(f"[{env.backend}] {kind.id} × {caller.username} × {route}: "
                                       f"{type(exc).__name__}: {exc}")
    assert matrix.cells == len(CALLERS) * len(kind.routes)
    after = env.snapshot(shared)
    if after != before:
        matrix.problems.append(f"{kind.id}: the shared hazard changed under refused cells")
    # allowed_actions: exactly what succeeded, for every caller in scope
    for caller in (c for c in CALLERS if c.in_scope):
        resp = matrix.client.get(f"{API}/hazards/{shared}", headers=matrix.auth(caller))
        offered = set(resp.json()["allowed_actions"])
        done = matrix.succeeded.get(caller.username, set())
        tried = set(kind.routes) & set(ACTION_ROUTES)
        if offered & tried != done:
            matrix.problems.append(f"[{env.backend}] {kind.id} × {caller.username}: allowed_actions "
                                   f"{sorted(offered & tried)}, succeeded {sorted(done)}")
    assert not matrix.problems, f"{len(matrix.problems)} problem(s):\n" + "\n".join(matrix.problems)
    print(f"[{env.backend}] {kind.id}: {matrix.cells} cells, {matrix.fresh} of them allowed (a fresh hazard each)")
