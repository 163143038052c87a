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

from types import SimpleNamespace

import pytest

from db.engine import read_only
from services.audit import verification as audit
from services.lifecycle.roles import USER_ROLES, Role
from services.lifecycle.states import State
from services.lifecycle.table import LIFECYCLE, TRANSITION_ACTIONS
from services.kernel.validation import parse
from tests.services.engine.matrix import (  # noqa: F401 - env is a fixture
    ACTOR_OF_ROLE, COMBOS, GUARD_REFUSALS, STATES, Env, Shared, Variant, check_refused, combos_of, env,
    expectation, variants,
)


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
