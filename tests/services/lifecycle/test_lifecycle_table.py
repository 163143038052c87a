"""The lifecycle table against DESIGN 2.2 / 2.3, without a database, and the diagram drawn from it.

`EXPECTED` (design.py) is transcribed by hand from the table in DESIGN 2.2 (sources, roles,
targets of every action). It is deliberately not derived from `services.lifecycle.table`: when the
code's table and the design drift apart, one of these tests fails and someone has to decide which
one is right. The decisions on single hazards are test_lifecycle_guards.py.
"""

from __future__ import annotations

import re

import pytest

from services.lifecycle import bodies
from services.lifecycle.roles import ROLE_LABELS, USER_ROLES, Role
from services.lifecycle.states import FINAL_STATES, OPEN_STATES, STATE_LABELS, State
from services.lifecycle.table import ACTIONS, LIFECYCLE, TRANSITION_ACTIONS, mermaid
from tests.services.lifecycle.design import DESIGN_ROLES, DESIGN_STATES, EXPECTED, OPEN, R, S, code_row


# --- the table against the design ---------------------------------------------------------------


def test_same_actions_as_the_design():
    assert set(LIFECYCLE) == set(EXPECTED)
    assert set(ACTIONS) == set(EXPECTED)
    assert len(ACTIONS) == len(set(ACTIONS)) == 20
    assert set(TRANSITION_ACTIONS) == set(EXPECTED) - {"report", "import"}
    assert all(name == spec.action for name, spec in LIFECYCLE.items())


@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_action_row_matches_design(action):
    expected, actual = EXPECTED[action], code_row(action)
    assert actual.sources == expected.sources, f"{action}: sources"
    assert actual.roles == expected.roles, f"{action}: roles"
    assert actual.targets == expected.targets, f"{action}: targets"


def test_whole_matrix_matches_design():
    """The same comparison as one (state, action, role) → allowed? matrix, so a difference is
    reported as the exact cells that differ."""

    def cells(table):
        return {
            (state, action, role)
            for action, r in table.items()
            for state in r.sources
            for role in r.roles
        }

    actual = {a: code_row(a) for a in LIFECYCLE}
    only_code = sorted(cells(actual) - cells(EXPECTED))
    only_design = sorted(cells(EXPECTED) - cells(actual))
    assert not only_code and not only_design, {
        "allowed in code only": only_code,
        "allowed in design only": only_design,
    }


def test_states_are_the_designs_with_their_labels():
    assert [s.value for s in State] == list(DESIGN_STATES)
    assert {s.value: STATE_LABELS[s] for s in State} == DESIGN_STATES


def test_every_state_is_reachable_and_used():
    targets = {t for spec in LIFECYCLE.values() for t in spec.targets}
    sources = {s for spec in LIFECYCLE.values() for s in spec.sources}
    assert targets | sources == set(State)
    # every state but the entry one is the target of some action; the entry one of `report`
    assert targets == set(State)
    assert LIFECYCLE["report"].targets == (S.REPORTED,)
    # every open state has an action that leaves it
    for state in OPEN_STATES:
        assert any(
            state in spec.sources and set(spec.targets) - {state} for spec in LIFECYCLE.values()
        ), state


def test_final_states_allow_only_comment():
    assert FINAL_STATES == {S.CLOSED, S.DISMISSED}
    assert OPEN_STATES == set(State) - FINAL_STATES == OPEN
    for state in FINAL_STATES:
        allowed = {name for name, spec in LIFECYCLE.items() if state in spec.sources}
        assert allowed == {"comment", "issue_document"}, state  # people: comment only
    # and nothing leaves a final state
    for spec in LIFECYCLE.values():
        assert not (spec.sources & FINAL_STATES) or not spec.targets, spec.action


def test_roles_are_the_designs():
    assert {r.value for r in USER_ROLES} == DESIGN_ROLES
    assert Role.PUBLIC not in USER_ROLES
    assert set(ROLE_LABELS) == set(Role)
    acting = {role for spec in LIFECYCLE.values() for role in spec.roles}
    # auditor: read-only; admin: no lifecycle actions
    assert R.AUDITOR not in acting and R.ADMIN not in acting
    # system only escalates; the public only reports (through the public form)
    assert {a for a, spec in LIFECYCLE.items() if R.SYSTEM in spec.roles} == {"escalate", "issue_document"}
    assert {a for a, spec in LIFECYCLE.items() if R.PUBLIC in spec.roles} == {"report"}
    # escalate is not offered to people
    assert [a for a, spec in LIFECYCLE.items() if not spec.lifecycle] == ["import", "escalate", "issue_document", "attach"]


def test_every_action_has_a_body_and_a_chinese_label():
    for name, spec in LIFECYCLE.items():
        assert spec.body is not None and issubclass(spec.body, bodies.Body), name
        assert re.search(r"[\u4e00-\u9fff]", spec.label), name


# --- the diagram ----------------------------------------------------------------------------------

_EDGE = re.compile(r"^\s*(\w+) --> (\w+): (.+)$")


def _edges(text: str) -> dict[tuple[str, str], set[str]]:
    edges: dict[tuple[str, str], set[str]] = {}
    for line in text.splitlines():
        m = _EDGE.match(line)
        if m:
            edges.setdefault((m[1], m[2]), set()).update(a.strip() for a in m[3].split(","))
    return edges


def test_mermaid_has_an_edge_for_every_state_change_of_the_table():
    edges = _edges(mermaid())
    expected: dict[tuple[str, str], set[str]] = {}
    for action, r in EXPECTED.items():
        if action == "report" or r.targets is None:
            continue
        for source in r.sources:
            for target in r.targets:
                if target != source:
                    expected.setdefault((source.value, target.value), set()).add(action)
    assert edges == expected
    # and the same from the code's table
    for name, spec in LIFECYCLE.items():
        if name == "report":
            continue
        for source in spec.sources:
            for target in spec.targets:
                if target != source:
                    assert name in edges[(source.value, target.value)], (name, source, target)


def test_mermaid_declares_states_entry_and_exits():
    text = mermaid()
    assert text.splitlines()[0] == "stateDiagram-v2"
    for state in State:
        assert f"    {state.value}: {state.value} {STATE_LABELS[state]}" in text.splitlines()
    assert "    [*] --> reported: report 报告" in text.splitlines()
    exits = {
        line.strip().split(" --> ")[0] for line in text.splitlines() if line.endswith("--> [*]")
    }
    assert exits == {"closed", "dismissed"}
