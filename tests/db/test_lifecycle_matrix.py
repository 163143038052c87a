"""Every (state, action, role) of the lifecycle through the real `transitions.perform`, on SQLite and
PostgreSQL.

The combinations are generated from the table (`State` × `TRANSITION_ACTIONS` × `USER_ROLES`) and so
are the expectations: a role outside `spec.roles` answers 403, a state outside `spec.sources` 409
(role first), otherwise the action succeeds and lands in `spec.target(...)`. Refusals must leave the
hazard row, its audit trail and its outbox exactly as they were.

To keep this fast, one test per (backend, state) walks all 18 × 7 combinations of that state: the
refused ones share one hazard driven to the state; each allowed one gets a fresh hazard (it changes
it). Every failure message names its combination, and all failures of a state are reported at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.engine import read_only, transaction
from db.models import AuditEvent, Hazard, OutboxMessage
from services.audit import verification as audit
from services.engine import transitions
from services.accounts.auth import SYSTEM, Principal, public_principal
from services.kernel.clock import local_date
from services.kernel.errors import DomainError
from services.lifecycle.roles import USER_ROLES, Role
from services.lifecycle.states import State
from services.lifecycle.table import LIFECYCLE, TRANSITION_ACTIONS
from services.kernel.validation import parse
from tests.conftest import World
from tests.helpers import add_attachment, body_for, drive, new_hazard

STATES = tuple(State)
COMBOS: tuple[tuple[State, str, Role], ...] = tuple(
    (state, action, role)
    for state in STATES
    for action in TRANSITION_ACTIONS
    for role in USER_ROLES
)

# One in-scope user per role (the hazards are 离石区 coal hazards of `ent_coal`), chosen so that no
# four-eyes rule excludes them: the reporter and the acceptor of driven hazards is `inspector`
# (helpers.ACTOR_OF), so the inspector here is `inspector2`; hazards are listed at city level by
# `body_for("supervise")`, so the committee is the city office `city_committee2` (never the
# acceptor; its level is the listing level for supervise, close and major extensions).
ACTOR_OF_ROLE: dict[Role, str | None] = {
    Role.ENTERPRISE: "ent_coal",
    Role.INSPECTOR: "inspector2",
    Role.SUPERVISOR: "supervisor",
    Role.COMMITTEE: "city_committee2",
    Role.AUDITOR: "auditor",
    Role.ADMIN: "admin",
    Role.SYSTEM: None,  # services.accounts.auth.SYSTEM: the escalation job has no user row
}

# Cells the table allows by role and state, but where no hazard in that state can satisfy a
# body-free guard: a supervised hazard is always major, and a major hazard's extension is decided
# by the committee office, never the supervisor (DESIGN 2.2). Expected: the guard's 403.
GUARD_REFUSALS: dict[tuple[State, str, Role], str] = {
    (State.SUPERVISED, "grant_extension", Role.SUPERVISOR): "extension_authority",
    (State.SUPERVISED, "deny_extension", Role.SUPERVISOR): "extension_authority",
}

NO_LEVEL = {State.REPORTED, State.DISMISSED}  # not registered yet / never
MAJOR_ONLY = {State.SUPERVISED, State.ACCEPTED}  # only major hazards are listed or wait for 销号


# --- expectations, from the table -----------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    outcome: str  # "ok", or the error class name
    code: str | None = None


def expectation(state: State, action: str, role: Role) -> Expect:
    spec = LIFECYCLE[action]
    if role not in spec.roles:
        return Expect("Forbidden", "role")
    if state not in spec.sources:
        return Expect("Conflict", "state")
    if (state, action, role) in GUARD_REFUSALS:
        return Expect("Forbidden", GUARD_REFUSALS[(state, action, role)])
    return Expect("ok")


@dataclass(frozen=True)
class Variant:
    level: str | None
    on_spot: bool = False


def variants(state: State, action: str, role: Role) -> list[Variant]:
    """The hazards an allowed combination is tried on: a level that satisfies the action's body-free
    guards where the state permits, and every target of a two-target action."""
    if state in NO_LEVEL:
        if action == "register":  # both targets: registered, and closed (立查立改)
            return [Variant(None), Variant(None, on_spot=True)]
        return [Variant(None)]
    if state in MAJOR_ONLY:
        return [Variant("major")]
    if action == "supervise":
        return [Variant("major")]
    if action in ("grant_extension", "deny_extension"):
        return [Variant("major" if role == Role.COMMITTEE else "general")]
    if action == "accept":  # both targets: closed (general), accepted (major)
        return [Variant("general"), Variant("major")]
    return [Variant("general")]


def default_level(state: State) -> str | None:
    return None if state in NO_LEVEL else "major" if state in MAJOR_ONLY else "general"


# --- driving hazards ------------------------------------------------------------------------------


@dataclass
class Env:
    factory: sessionmaker[Session]
    world: World
    now: datetime
    backend: str
    attachments: dict[tuple[int, str], int] = field(default_factory=dict)

    @property
    def uscc(self) -> str:
        return self.world.enterprises["coal"]

    def actor(self, role: Role) -> Principal:
        name = ACTOR_OF_ROLE[role]
        return SYSTEM if name is None else self.world.p(name)

    def perform(self, actor: str, hid: int, action: str, body: dict[str, Any]) -> None:
        with transaction(self.factory) as s:
            transitions.perform(s, self.world.p(actor), hid, action, body, now=self.now)

    def body(
        self, action: str, hid: int, level: str | None, *, on_spot: bool = False
    ) -> dict[str, Any]:
        """A valid body for `action` on this hazard (attachments are added to the hazard as needed;
        they do not touch the hazard row or its audit trail)."""
        evidence = report = None
        if action == "request_acceptance" or on_spot:
            evidence = [self.attachment(hid, "photo.png")]
        if action == "request_acceptance" and level == "major":
            report = self.attachment(hid, "report.pdf")
        body = body_for(
            action,
            today=local_date(self.now),
            level=level or "general",
            uscc=self.uscc,
            evidence=evidence,
            assessment_report=report,
        )
        if on_spot:
            body = {**body, "rectified_on_spot": True, "evidence": evidence}
        return body

    def attachment(self, hid: int, filename: str) -> int:
        key = (hid, filename)
        if key not in self.attachments:
            self.attachments[key] = add_attachment(self.factory, hid, self.now, filename)
        return self.attachments[key]

    def make(self, state: State, level: str | None) -> int:
        """A hazard of `ent_coal` in `state`, through real actions. Reported and dismissed hazards are
        reported with the enterprise named, so the enterprise user has them in scope too."""
        if state in NO_LEVEL:
            hid = new_hazard(self.factory, self.world, self.now, enterprise_uscc=self.uscc)
            if state == State.DISMISSED:
                self.perform("inspector2", hid, "dismiss", self.body("dismiss", hid, None))
            return hid
        return drive(self.factory, self.world, self.now, state.value, level=level or "general")

    def prepare(self, hid: int, action: str, level: str | None) -> None:
        """Preconditions of an allowed action that are not a state, set by real actions."""
        if action in ("order_suspension", "lift_suspension"):
            want = action == "lift_suspension"
            if self.row(hid)["suspended"] != want:  # a supervised hazard is already suspended
                flip = "order_suspension" if want else "lift_suspension"
                self.perform("supervisor", hid, flip, self.body(flip, hid, level))
        if action in ("grant_extension", "deny_extension"):
            self.perform(
                "ent_coal", hid, "request_extension", self.body("request_extension", hid, level)
            )

    def row(self, hid: int) -> dict[str, Any]:
        with read_only(self.factory) as s:
            return dict(
                s.execute(select(Hazard.__table__).where(Hazard.id == hid)).mappings().one()
            )

    def snapshot(self, hid: int) -> tuple[dict[str, Any], list[tuple], int]:
        with read_only(self.factory) as s:
            row = dict(s.execute(select(Hazard.__table__).where(Hazard.id == hid)).mappings().one())
            events = [
                tuple(e)
                for e in s.execute(
                    select(
                        AuditEvent.id,
                        AuditEvent.seq,
                        AuditEvent.action,
                        AuditEvent.from_state,
                        AuditEvent.to_state,
                        AuditEvent.actor_id,
                        AuditEvent.actor_role,
                        AuditEvent.hash,
                    )
                    .where(AuditEvent.hazard_id == hid)
                    .order_by(AuditEvent.seq)
                )
            ]
            outbox = s.execute(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.hazard_id == hid)
            ).scalar_one()
        return row, events, outbox

    def attempt(
        self, actor: Principal, hid: int, action: str, body: dict[str, Any]
    ) -> tuple[str, str | None]:
        try:
            with transaction(self.factory) as s:
                hazard = transitions.perform(s, actor, hid, action, body, now=self.now)
                result = ("ok", hazard.state)
        except DomainError as exc:
            return type(exc).__name__, exc.code
        return result


@pytest.fixture
def env(factory, world, clock, backend) -> Env:
    return Env(factory, world, clock(), backend)


@dataclass
class Shared:
    """A hazard in a state for the refused combinations, with what it looked like: a refusal must
    leave it so (compared after every attempt, so a change is blamed on its combination)."""

    hid: int
    state: State
    baseline: tuple[dict[str, Any], list[tuple], int]

    @classmethod
    def make(cls, env: Env, state: State, level: str | None = None) -> Shared:
        hid = env.make(state, level if level is not None else default_level(state))
        return cls(hid, state, env.snapshot(hid))


def check_refused(
    env: Env,
    shared: Shared,
    action: str,
    role: Role,
    expect: Expect,
    actor: Principal | None = None,
) -> list[str]:
    state = shared.state
    name = f"[{env.backend}] {state.value} × {action} × {actor.username if actor else role.value}"
    actor = actor or env.actor(role)
    before = shared.baseline
    assert before[0]["state"] == state.value, (
        f"{name}: setup left the hazard in {before[0]['state']}"
    )
    got = env.attempt(actor, shared.hid, action, env.body(action, shared.hid, before[0]["level"]))
    after = env.snapshot(shared.hid)
    problems = []
    if got != (expect.outcome, expect.code):
        problems.append(f"{name}: expected {expect.outcome}({expect.code}), got {got[0]}({got[1]})")
    for label, b, a in zip(("hazard row", "audit trail", "outbox"), before, after):
        if b != a:
            problems.append(f"{name}: refused, but the {label} changed")
    shared.baseline = after
    return problems


def check_allowed(env: Env, state: State, action: str, role: Role, variant: Variant) -> list[str]:
    spec = LIFECYCLE[action]
    actor = env.actor(role)
    name = (
        f"[{env.backend}] {state.value} × {action} × {role.value} "
        f"(level={variant.level}{', on the spot' if variant.on_spot else ''})"
    )
    hid = env.make(state, variant.level)
    env.prepare(hid, action, variant.level)
    body = env.body(action, hid, variant.level, on_spot=variant.on_spot)
    before_row, before_events, _ = env.snapshot(hid)
    if before_row["state"] != state.value:
        return [f"{name}: setup left the hazard in {before_row['state']}"]
    if actor.id is not None:  # four-eyes sanity: not the reporter, not the acceptor
        assert actor.id not in (before_row["reported_by_id"], before_row["accepted_by_id"]), name

    target = spec.target(SimpleNamespace(**before_row), parse(spec.body, body))
    problems = []
    if (spec.targets and target not in spec.targets) or (not spec.targets and target != state):
        problems.append(
            f"{name}: the table's target {target} is not among its targets {spec.targets}"
        )

    got = env.attempt(actor, hid, action, body)
    after_row, after_events, _ = env.snapshot(hid)
    if got != ("ok", target.value):
        return problems + [f"{name}: expected success into {target.value}, got {got[0]}({got[1]})"]
    if after_row["state"] != target.value:
        problems.append(f"{name}: stored state {after_row['state']}, table says {target.value}")
    if after_row["version"] != before_row["version"] + 1:
        problems.append(f"{name}: version {before_row['version']} → {after_row['version']}, not +1")
    if len(after_events) != len(before_events) + 1 or after_events[:-1] != before_events:
        problems.append(
            f"{name}: {len(after_events) - len(before_events)} new audit events "
            f"(or earlier ones changed), expected exactly one"
        )
    else:
        _, seq, ev_action, from_state, to_state, actor_id, actor_role, ev_hash = after_events[-1]
        expected = (
            before_row["version"] + 1,
            action,
            state.value,
            target.value,
            actor.id,
            role.value,
            after_row["audit_head"],
        )
        got_ev = (seq, ev_action, from_state, to_state, actor_id, actor_role, ev_hash)
        if got_ev != expected:
            problems.append(f"{name}: audit event {got_ev}, expected {expected}")
    return problems


# --- the matrix -------------------------------------------------------------------------------------


def test_the_matrix_covers_every_combination():
    assert len(STATES) == 8 and len(TRANSITION_ACTIONS) == 18 and len(USER_ROLES) == 7
    assert (
        len(COMBOS)
        == len(set(COMBOS))
        == len(State) * len(TRANSITION_ACTIONS) * len(USER_ROLES)
        == 1008
    )
    assert set(TRANSITION_ACTIONS) == set(LIFECYCLE) - {"report", "import"}
    assert set(ACTOR_OF_ROLE) == set(USER_ROLES) and Role.PUBLIC not in USER_ROLES
    # the per-state tests below together walk exactly COMBOS
    assert [c for s in STATES for c in combos_of(s)] == list(COMBOS)
    # the guard refusals are cells the table allows, nothing else
    for state, action, role in GUARD_REFUSALS:
        spec = LIFECYCLE[action]
        assert role in spec.roles and state in spec.sources
    expectations = [expectation(*c) for c in COMBOS]
    allowed = sum(e.outcome == "ok" for e in expectations)
    assert allowed == sum(
        len(s.sources) * len(s.roles & set(USER_ROLES))
        for s in LIFECYCLE.values()
        if s.action != "report"
    ) - len(GUARD_REFUSALS)
    # the system acts only by escalating and by recording the documents it issues
    assert {
        a for (s, a, r), e in zip(COMBOS, expectations) if r == Role.SYSTEM and e.outcome == "ok"
    } == {"escalate", "issue_document"}


def combos_of(state: State) -> list[tuple[State, str, Role]]:
    return [c for c in COMBOS if c[0] == state]


@pytest.mark.parametrize("state", STATES, ids=[s.value for s in STATES])
def test_lifecycle_matrix(env, state):
    shared = Shared.make(env, state)  # for the refused combinations: they change nothing
    problems: list[str] = []
    checked = 0
    for _, action, role in combos_of(state):
        expect = expectation(state, action, role)
        try:
            if expect.outcome == "ok":
                for variant in variants(state, action, role):
                    problems += check_allowed(env, state, action, role, variant)
            elif (state, action, role) in GUARD_REFUSALS:
                # refused by a guard: on a hazard that meets every other precondition
                (variant,) = variants(state, action, role)
                guarded = env.make(state, variant.level)
                env.prepare(guarded, action, variant.level)
                problems += check_refused(
                    env, Shared(guarded, state, env.snapshot(guarded)), action, role, expect
                )
            else:
                problems += check_refused(env, shared, action, role, expect)
        except Exception as exc:  # noqa: BLE001 - a setup error must name its combination too
            problems.append(
                f"[{env.backend}] {state.value} × {action} × {role.value}: "
                f"{type(exc).__name__}: {exc}"
            )
        checked += 1
    assert checked == len(TRANSITION_ACTIONS) * len(USER_ROLES)
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)
    with read_only(env.factory) as s:
        report = audit.verify(s)
        assert report.ok, report.as_dict()


# --- scope: out of scope answers 404 before anything else ------------------------------------------

OUTSIDERS = (
    "xinzhou_inspector",  # another city (忻州)
    "xiaoyi_inspector",  # a sibling county (孝义)
    "ent_chem",  # another enterprise
)


def test_out_of_scope_actors_get_not_found_for_every_action(env):
    outsiders = [env.world.p(name) for name in OUTSIDERS] + [public_principal("141102")]
    problems: list[str] = []
    for state in STATES:
        shared = Shared.make(env, state)
        for actor in outsiders:
            for action in TRANSITION_ACTIONS:
                problems += check_refused(
                    env,
                    shared,
                    action,
                    Role(actor.role),
                    Expect("NotFound", "not_found"),
                    actor=actor,
                )
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)


def test_industry_bound_inspector_does_not_see_other_industries(env):
    coal_only = env.world.p("coal_only_inspector")
    gas = new_hazard(env.factory, env.world, env.now, industry="燃气", enterprise_uscc=env.uscc)
    shared = Shared(gas, State.REPORTED, env.snapshot(gas))
    problems: list[str] = []
    for action in TRANSITION_ACTIONS:
        problems += check_refused(
            env, shared, action, Role.INSPECTOR, Expect("NotFound", "not_found"), actor=coal_only
        )
    assert not problems, "\n".join(problems)
    # the same inspector acts on a coal hazard of the same region
    coal = new_hazard(env.factory, env.world, env.now, enterprise_uscc=env.uscc)
    assert env.attempt(coal_only, coal, "comment", {"text": "已核实"}) == ("ok", "reported")


def test_unknown_and_report_actions_are_not_transitions(env):
    hid = env.make(State.REPORTED, None)
    for action in ("report", "fly", ""):
        before = env.snapshot(hid)
        assert env.attempt(env.world.p("inspector2"), hid, action, {}) == (
            "NotFound",
            "unknown_action",
        )
        assert env.snapshot(hid) == before
    assert env.attempt(env.world.p("inspector2"), 10_000, "comment", {"text": "x"}) == (
        "NotFound",
        "not_found",
    )
