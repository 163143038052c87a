"""Scope through the real `transitions.perform`, on SQLite and PostgreSQL: a caller out of scope
(another city, a sibling county, another enterprise, the public, an inspector bound to another
industry) gets 404 for every action in every state before anything else is checked, and changes
nothing; unknown actions and `report` are not transitions. The combinations: matrix.py.
"""

from __future__ import annotations

from services.accounts.auth import public_principal
from services.lifecycle.roles import Role
from services.lifecycle.states import State
from services.lifecycle.table import TRANSITION_ACTIONS
from tests.helpers import new_hazard
from tests.services.engine.matrix import STATES, Expect, Shared, check_refused, env  # noqa: F401 - env is a fixture


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
