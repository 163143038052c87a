"""The lifecycle's decisions on small fakes, without a database: the order of refusals (role, then
state, then guards), the four-eyes rules, who lists, closes and decides extensions at which level,
the suspension flags, the plan before acceptance, the targets the table chooses and the actions it
offers (DESIGN 2.2 / 2.3; services/lifecycle/table.py, guards.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from services.lifecycle import bodies
from services.calendar.workdays import default_calendar
from services.lifecycle.facts import Context
from services.lifecycle.states import FINAL_STATES
from services.lifecycle.table import LIFECYCLE, Refusal, allowed_actions, check_body, check_pre
from tests.services.lifecycle.design import EXPECTED, S


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
