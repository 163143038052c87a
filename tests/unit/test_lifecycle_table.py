"""The lifecycle table against DESIGN 2.2 / 2.3, without a database.

`EXPECTED` below is transcribed by hand from the table in DESIGN 2.2 (sources, roles, targets of
every action). It is deliberately not derived from `services.lifecycle.table`: when the code's table and
the design drift apart, one of these tests fails and someone has to decide which one is right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

import pytest

from services.lifecycle import bodies
from services.calendar.workdays import default_calendar
from services.lifecycle.facts import Context
from services.lifecycle.roles import ROLE_LABELS, USER_ROLES, Role
from services.lifecycle.states import FINAL_STATES, OPEN_STATES, STATE_LABELS, State
from services.lifecycle.table import (
    ACTIONS,
    LIFECYCLE,
    TRANSITION_ACTIONS,
    Refusal,
    allowed_actions,
    check_body,
    check_pre,
    mermaid,
)

S = State
R = Role

# --- DESIGN 2.2, transcribed --------------------------------------------------------------------

DESIGN_STATES = {
    "reported": "待核查",
    "registered": "已登记（限期整改）",
    "supervised": "挂牌督办",
    "rectifying": "整改中",
    "acceptance_requested": "待验收",
    "accepted": "待销号",
    "closed": "已销号",
    "dismissed": "不予立案",
}
OPEN = {S.REPORTED, S.REGISTERED, S.SUPERVISED, S.RECTIFYING, S.ACCEPTANCE_REQUESTED, S.ACCEPTED}
ANY = OPEN | {S.CLOSED, S.DISMISSED}
WORKING = {S.REGISTERED, S.SUPERVISED, S.RECTIFYING}
OFFICIALS = {R.INSPECTOR, R.SUPERVISOR}
IN_SCOPE_PEOPLE = {R.ENTERPRISE, R.INSPECTOR, R.SUPERVISOR, R.COMMITTEE}
SAME = None  # "no state change"


@dataclass(frozen=True)
class Row:
    sources: frozenset[State]
    roles: frozenset[Role]
    targets: frozenset[State] | None  # None: the state does not change


def row(sources, roles, targets) -> Row:
    return Row(
        frozenset(sources), frozenset(roles), None if targets is None else frozenset(targets)
    )


EXPECTED: dict[str, Row] = {
    # action: (from, who, to)
    "report": row((), IN_SCOPE_PEOPLE | {R.PUBLIC}, {S.REPORTED}),  # (new) → reported
    # Issue 11: an office moving its running ledger in creates hazards in these states (one event).
    "import": row((), OFFICIALS | {R.COMMITTEE}, {S.SUPERVISED, S.RECTIFYING, S.ACCEPTANCE_REQUESTED}),
    "register": row({S.REPORTED}, OFFICIALS, {S.REGISTERED, S.CLOSED}),  # 立查立改 → closed
    "dismiss": row({S.REPORTED}, OFFICIALS, {S.DISMISSED}),
    "supervise": row({S.REGISTERED}, {R.COMMITTEE}, {S.SUPERVISED}),
    "file_plan": row({S.REGISTERED, S.SUPERVISED}, {R.ENTERPRISE}, {S.RECTIFYING}),
    "report_progress": row({S.RECTIFYING}, {R.ENTERPRISE}, SAME),  # rectifying → rectifying
    "request_extension": row(WORKING, {R.ENTERPRISE}, SAME),
    "grant_extension": row(WORKING, {R.SUPERVISOR, R.COMMITTEE}, SAME),
    "deny_extension": row(WORKING, {R.SUPERVISOR, R.COMMITTEE}, SAME),
    "request_acceptance": row(
        {S.REGISTERED, S.RECTIFYING}, {R.ENTERPRISE}, {S.ACCEPTANCE_REQUESTED}
    ),
    "accept": row({S.ACCEPTANCE_REQUESTED}, OFFICIALS, {S.CLOSED, S.ACCEPTED}),
    "reject": row({S.ACCEPTANCE_REQUESTED}, OFFICIALS, {S.RECTIFYING}),
    "close": row({S.ACCEPTED}, {R.COMMITTEE}, {S.CLOSED}),
    "order_suspension": row(OPEN, OFFICIALS | {R.COMMITTEE}, SAME),
    "lift_suspension": row(OPEN, OFFICIALS | {R.COMMITTEE}, SAME),
    "escalate": row(OPEN, {R.SYSTEM}, SAME),
    # DESIGN 2.6 (issue #4): each issued document is an audit event by `system`; the 销号 notice is
    # issued after the hazard closed, so every state takes it.
    "issue_document": row(ANY, {R.SYSTEM}, SAME),
    # Issue 10: every accepted upload is an audit event; closed and dismissed hazards take none.
    "attach": row(OPEN, IN_SCOPE_PEOPLE, SAME),
    "comment": row(ANY, IN_SCOPE_PEOPLE, SAME),
}

# DESIGN 2.3
DESIGN_ROLES = {"enterprise", "inspector", "supervisor", "committee", "auditor", "admin", "system"}


def _actual(action: str) -> Row:
    spec = LIFECYCLE[action]
    return Row(spec.sources, spec.roles, frozenset(spec.targets) if spec.targets else None)


# --- the table against the design ---------------------------------------------------------------


def test_same_actions_as_the_design():
    assert set(LIFECYCLE) == set(EXPECTED)
    assert set(ACTIONS) == set(EXPECTED)
    assert len(ACTIONS) == len(set(ACTIONS)) == 20
    assert set(TRANSITION_ACTIONS) == set(EXPECTED) - {"report", "import"}
    assert all(name == spec.action for name, spec in LIFECYCLE.items())


@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_action_row_matches_design(action):
    expected, actual = EXPECTED[action], _actual(action)
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

    actual = {a: _actual(a) for a in LIFECYCLE}
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


# --- decisions on small fakes ---------------------------------------------------------------------

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
CTX = Context(today=date(2026, 11, 24), now=NOW, calendar=default_calendar())


@dataclass(frozen=True)
class FakeActor:
    id: int | None
    role: str
    region_code: str = "141102"
    enterprise_id: int | None = None
    industry: str | None = None


INSPECTOR = FakeActor(10, "inspector")
INSPECTOR2 = FakeActor(11, "inspector")
SUPERVISOR = FakeActor(12, "supervisor")
ENTERPRISE = FakeActor(20, "enterprise", enterprise_id=1)
COUNTY = FakeActor(30, "committee", "141102")
CITY = FakeActor(31, "committee", "141100")
CITY2 = FakeActor(32, "committee", "141100")
PROVINCE = FakeActor(33, "committee", "140000")


@dataclass(frozen=True)
class FakeFacts:
    """What the rules read of a hazard; by default a report made by INSPECTOR."""

    state: str = "reported"
    level: str | None = None
    enterprise_id: int | None = 1
    reported_by_id: int | None = INSPECTOR.id
    accepted_by_id: int | None = None
    accepted_at: datetime | None = None
    listing_level: str | None = None
    suspended: bool = False
    deadline: date | None = None
    plan_filed_at: datetime | None = None
    extension_requested_at: datetime | None = None
    extension_new_deadline: date | None = None
    extensions_granted: int = 0
    failed_acceptances: int = 0


ACCEPTED_MAJOR = FakeFacts(
    state="accepted", level="major", listing_level="city", accepted_by_id=INSPECTOR2.id,
    accepted_at=NOW, plan_filed_at=NOW, deadline=date(2027, 1, 23),
)


def refusal(action: str, facts, actor) -> tuple[int, str] | None:
    r = check_pre(LIFECYCLE[action], facts, actor)
    return None if r is None else (r.status, r.code)


def test_decision_order_role_then_state_then_guards():
    # wrong role and wrong state: the role answers (403)
    assert refusal("close", FakeFacts(state="reported"), ENTERPRISE) == (403, "role")
    # right role, wrong state: 409
    assert refusal("close", FakeFacts(state="rectifying"), CITY2) == (409, "state")
    # right role and state, a four-eyes guard: 403 with the guard's code
    assert refusal("dismiss", FakeFacts(), INSPECTOR) == (403, "four_eyes_reporter")
    # a guard about the hazard's facts: 409
    assert refusal("supervise", FakeFacts(state="registered", level="general"), CITY) == (
        409,
        "major_only",
    )


def test_refusal_status_mapping():
    assert {
        k: Refusal(k, "x", "m").status
        for k in ("role", "forbidden", "state", "conflict", "invalid")
    } == {"role": 403, "forbidden": 403, "state": 409, "conflict": 409, "invalid": 422}


def test_dismisser_is_not_the_reporter():
    facts = FakeFacts(state="reported", reported_by_id=INSPECTOR.id)
    assert refusal("dismiss", facts, INSPECTOR) == (403, "four_eyes_reporter")
    assert refusal("dismiss", facts, INSPECTOR2) is None
    assert refusal("dismiss", facts, SUPERVISOR) is None
    # a public report has no reporter id: any official may dismiss it
    assert refusal("dismiss", replace(facts, reported_by_id=None), INSPECTOR) is None
    # a supervisor who reported it is excluded too
    assert refusal("dismiss", replace(facts, reported_by_id=SUPERVISOR.id), SUPERVISOR) == (
        403,
        "four_eyes_reporter",
    )
    # registering one's own report is allowed (the rule is about dismissing)
    assert refusal("register", facts, INSPECTOR) is None


def test_closer_is_not_the_acceptor():
    assert refusal("close", ACCEPTED_MAJOR, CITY) is None
    same_person = FakeActor(INSPECTOR2.id, "committee", "141100")
    assert refusal("close", ACCEPTED_MAJOR, same_person) == (403, "four_eyes_acceptor")


def test_enterprise_staff_never_accept():
    facts = FakeFacts(state="acceptance_requested", level="general", enterprise_id=1)
    for action in ("accept", "reject"):
        assert refusal(action, facts, ENTERPRISE) == (403, "role"), action
        # even an official account bound to the hazard's enterprise
        bound = FakeActor(40, "inspector", enterprise_id=1)
        assert refusal(action, facts, bound) == (403, "four_eyes_enterprise"), action
        # bound to another enterprise, or to none: fine
        assert refusal(action, facts, replace(bound, enterprise_id=2)) is None, action
        assert refusal(action, facts, INSPECTOR2) is None, action
        assert refusal(action, facts, SUPERVISOR) is None, action


def test_close_by_the_committee_of_the_listing_level():
    assert refusal("close", ACCEPTED_MAJOR, CITY2) is None
    assert refusal("close", ACCEPTED_MAJOR, COUNTY) == (403, "listing_level")
    assert refusal("close", ACCEPTED_MAJOR, PROVINCE) == (403, "listing_level")
    # after elevation to the province, only the province decides
    elevated = replace(ACCEPTED_MAJOR, listing_level="province")
    assert refusal("close", elevated, PROVINCE) is None
    assert refusal("close", elevated, CITY2) == (403, "listing_level")
    # a major hazard never listed is not closed by anyone: it is closed only by 摘牌
    unlisted = replace(ACCEPTED_MAJOR, listing_level=None)
    for actor in (COUNTY, CITY2, PROVINCE):
        assert refusal("close", unlisted, actor) == (409, "listing_required")
    # officials never close
    assert refusal("close", ACCEPTED_MAJOR, SUPERVISOR) == (403, "role")


def test_major_cannot_close_without_plan_and_acceptance():
    assert refusal("close", replace(ACCEPTED_MAJOR, plan_filed_at=None), CITY2) == (
        409,
        "close_prerequisites",
    )
    assert refusal("close", replace(ACCEPTED_MAJOR, accepted_at=None), CITY2) == (
        409,
        "close_prerequisites",
    )


def test_supervise_by_the_committee_of_its_own_level():
    spec = LIFECYCLE["supervise"]
    facts = FakeFacts(state="registered", level="major")
    assert check_pre(spec, facts, CITY) is None

    def body(level: str) -> bodies.SuperviseBody:
        return bodies.SuperviseBody(
            listing_level=level,
            deadline=date(2027, 1, 23),
            plan_due=date(2026, 12, 4),
            suspend_production=False,
        )

    assert check_body(spec, facts, CITY, body("city"), CTX) is None
    assert check_body(spec, facts, COUNTY, body("county"), CTX) is None
    assert check_body(spec, facts, PROVINCE, body("province"), CTX) is None
    for actor, level in (
        (CITY, "province"),
        (CITY, "county"),
        (COUNTY, "city"),
        (PROVINCE, "city"),
    ):
        r = check_body(spec, facts, actor, body(level), CTX)
        assert r is not None and (r.status, r.code) == (403, "listing_authority"), (actor, level)
    assert refusal("supervise", facts, SUPERVISOR) == (403, "role")
    assert refusal("supervise", replace(facts, level="general"), CITY) == (409, "major_only")


def test_extension_decider():
    pending = {"extension_requested_at": NOW}
    general = FakeFacts(state="rectifying", level="general", **pending)
    major_unlisted = FakeFacts(state="rectifying", level="major", **pending)
    major_listed = FakeFacts(state="supervised", level="major", listing_level="city", **pending)
    for action in ("grant_extension", "deny_extension"):
        # general: the supervisor, not a committee office
        assert refusal(action, general, SUPERVISOR) is None
        for committee in (COUNTY, CITY, PROVINCE):
            assert refusal(action, general, committee) == (403, "extension_authority")
        # major: a committee office (of the listing level once listed), not the supervisor
        assert refusal(action, major_unlisted, SUPERVISOR) == (403, "extension_authority")
        for committee in (COUNTY, CITY, PROVINCE):
            assert refusal(action, major_unlisted, committee) is None
        assert refusal(action, major_listed, CITY) is None
        assert refusal(action, major_listed, COUNTY) == (403, "extension_authority")
        assert refusal(action, major_listed, PROVINCE) == (403, "extension_authority")
        assert refusal(action, major_listed, SUPERVISOR) == (403, "extension_authority")
        # nothing to decide without a pending request
        assert refusal(action, replace(general, extension_requested_at=None), SUPERVISOR) == (
            409,
            "no_extension_pending",
        )
        # inspectors and enterprises never decide
        assert refusal(action, general, INSPECTOR2) == (403, "role")
        assert refusal(action, general, ENTERPRISE) == (403, "role")
    # one request at a time
    assert refusal("request_extension", general, ENTERPRISE) == (409, "extension_pending")
    assert (
        refusal("request_extension", replace(general, extension_requested_at=None), ENTERPRISE)
        is None
    )


def test_suspension_flags():
    open_facts = FakeFacts(state="rectifying", level="general")
    assert refusal("order_suspension", open_facts, INSPECTOR2) is None
    assert refusal("order_suspension", replace(open_facts, suspended=True), INSPECTOR2) == (
        409,
        "already_suspended",
    )
    assert refusal("lift_suspension", open_facts, INSPECTOR2) == (409, "not_suspended")
    assert refusal("lift_suspension", replace(open_facts, suspended=True), CITY) is None


def test_major_needs_a_plan_before_acceptance():
    assert (
        refusal("request_acceptance", FakeFacts(state="registered", level="general"), ENTERPRISE)
        is None
    )
    assert refusal(
        "request_acceptance", FakeFacts(state="rectifying", level="major", listing_level="city"), ENTERPRISE
    ) == (409, "plan_required")
    assert (
        refusal(
            "request_acceptance",
            FakeFacts(state="rectifying", level="major", plan_filed_at=NOW, listing_level="city"),
            ENTERPRISE,
        )
        is None
    )


def test_targets_chosen_by_the_table():
    reg = LIFECYCLE["register"]
    plain = bodies.RegisterBody(
        level="general", enterprise_uscc="91350100M000100Y43", deadline=date(2027, 1, 1)
    )
    on_spot = plain.model_copy(update={"rectified_on_spot": True, "evidence": [1]})
    assert reg.target(FakeFacts(), plain) == S.REGISTERED
    assert reg.target(FakeFacts(), on_spot) == S.CLOSED
    acc = LIFECYCLE["accept"]
    assert acc.target(FakeFacts(state="acceptance_requested", level="general"), None) == S.CLOSED
    assert acc.target(FakeFacts(state="acceptance_requested", level="major"), None) == S.ACCEPTED
    for name, r in EXPECTED.items():
        if r.targets is None:
            for state in r.sources:
                assert LIFECYCLE[name].target(FakeFacts(state=state.value), None) == state, (
                    name,
                    state,
                )


def test_allowed_actions_final_states_and_escalate():
    for state in FINAL_STATES:
        facts = FakeFacts(state=state.value, level="general")
        for actor in (ENTERPRISE, INSPECTOR2, SUPERVISOR, CITY):
            assert allowed_actions(facts, actor) == ["comment"], (state, actor)
    facts = FakeFacts(state="rectifying", level="general")
    assert "escalate" not in allowed_actions(facts, FakeActor(None, "system", "000000"))
    assert allowed_actions(facts, FakeActor(50, "auditor", "141100")) == []
    assert allowed_actions(facts, FakeActor(51, "admin", "140000")) == []
    assert allowed_actions(facts, ENTERPRISE) == [
        "report_progress",
        "request_extension",
        "request_acceptance",
        "comment",
    ]
