"""The lifecycle's (state, action, role) combinations and their expectations, generated from the
table, and the hazards to try them on, driven through the real `transitions.perform`. Used by
test_lifecycle_matrix.py and test_lifecycle_scope.py here, and by the HTTP matrices
(tests/app/api/test_authorization_matrix.py, tests/app/api/test_documented_statuses.py).

A role outside `spec.roles` answers 403, a state outside `spec.sources` 409 (role first),
otherwise the action succeeds (but for GUARD_REFUSALS). `check_refused` tries a refused
combination and checks that the hazard row, its audit trail and its outbox stay exactly as they
were.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.engine import read_only, transaction
from db.models import AuditEvent, Hazard, OutboxMessage
from services.engine import transitions
from services.accounts.auth import SYSTEM, Principal
from services.kernel.clock import local_date
from services.kernel.errors import DomainError
from services.lifecycle.roles import USER_ROLES, Role
from services.lifecycle.states import State
from services.lifecycle.table import LIFECYCLE, TRANSITION_ACTIONS
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


def combos_of(state: State) -> list[tuple[State, str, Role]]:
    return [c for c in COMBOS if c[0] == state]
