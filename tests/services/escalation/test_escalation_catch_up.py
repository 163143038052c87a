"""Issue 11, item 4, without a database: the catch-up of several steps due at once (`collapse`,
`step_changes` with skipped steps, the escalate body), the unlisted-major step of the ladder, and
the lifecycle's rule that a major hazard is listed (挂牌督办) before its plan, acceptance and 销号."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest

from services.lifecycle import bodies
from services.calendar.workdays import WorkCalendar
from services.escalation.ladder import (
    DEADLINE_STEPS, LadderConfig, LadderFacts, Step, collapse, due_steps, load_config, step_changes, step_label,
)
from services.lifecycle.table import LIFECYCLE, allowed_actions, check_pre
from services.notify.recipients import STEP_AUDIENCES, Audience
from services.kernel.validation import parse
from services.kernel.errors import Invalid

CAL = WorkCalendar()
CONFIG = LadderConfig()
REGISTERED_ON = date(2026, 11, 24)  # a Tuesday; no holiday within the next weeks


def test_of_the_steps_due_at_once_the_most_severe_fires_per_ladder():
    s = Step
    assert collapse([s.remind, s.overdue, s.urge, s.summon]) == [(s.summon, (s.remind, s.overdue, s.urge))]
    assert collapse([s.urge]) == [(s.urge, ())]
    assert collapse([s.unregistered_remind, s.unregistered_escalate]) == [
        (s.unregistered_escalate, (s.unregistered_remind,))]
    # different ladders are independent: each its own event
    assert collapse([s.unlisted_escalate, s.remind, s.overdue]) == [
        (s.unlisted_escalate, ()), (s.overdue, (s.remind,))]
    assert collapse([]) == []


def test_skipped_steps_are_marked_fired_and_an_elevation_still_happens():
    changes = step_changes(Step.refer, 0, "county", [Step.publicize, Step.elevate])
    assert changes == {"escalation_step": "refer", "listing_level": "city",
                       "escalation_fired": int(Step.refer | Step.publicize | Step.elevate)}
    assert "listing_level" not in step_changes(Step.summon, 0, "county", [Step.urge])
    assert step_label("summon", ["overdue", "urge"]) == "约谈（已跳过：逾期预警、发督办函）"
    assert step_label(Step.urge) == "发督办函"


def test_the_escalate_body_takes_only_lesser_steps_of_the_same_ladder():
    body = parse(bodies.EscalateBody, {"step": "summon", "skipped": ["remind", "urge"]})
    assert body.skipped == ["remind", "urge"]
    assert parse(bodies.EscalateBody, {"step": "remind"}).skipped == []
    for step, skipped in (("urge", ["summon"]), ("urge", ["urge"]), ("summon", ["unregistered_remind"]),
                          ("unregistered_escalate", ["remind"]), ("review_overdue", ["overdue"]),
                          ("overdue", ["remind", "remind"]), ("refer", ["bogus"])):
        with pytest.raises(Invalid) as refused:
            parse(bodies.EscalateBody, {"step": step, "skipped": skipped})
        assert refused.value.details[0]["field"].startswith("skipped"), (step, skipped)


def _facts(**kw) -> LadderFacts:
    base = dict(state="registered", deadline=date(2027, 3, 1), reported_on=REGISTERED_ON,
                acceptance_requested_on=None, failed_acceptances=0, fired=0, level="major",
                listing_level=None, registered_on=REGISTERED_ON)
    return LadderFacts(**{**base, **kw})


def test_an_unlisted_major_is_due_five_working_days_after_its_registration():
    day5 = CAL.add_working_days(REGISTERED_ON, 5)
    assert due_steps(_facts(), CAL.add_working_days(REGISTERED_ON, 4), CAL, CONFIG) == []
    assert due_steps(_facts(), day5, CAL, CONFIG) == [Step.unlisted_escalate]
    assert due_steps(_facts(fired=int(Step.unlisted_escalate)), day5 + (day5 - REGISTERED_ON), CAL, CONFIG) == []
    for other in (dict(level="general"), dict(listing_level="county"), dict(state="supervised"),
                  dict(state="rectifying"), dict(registered_on=None)):
        assert due_steps(_facts(**other), day5, CAL, CONFIG) == [], other


def test_the_unlisted_days_are_configurable_and_the_audience_is_the_committee(tmp_path):
    assert CONFIG.unlisted_escalate == 5
    path = tmp_path / "ladder.toml"
    path.write_text("[ladder]\nunlisted_escalate = 8\n", encoding="utf-8")
    config = load_config(path)
    assert due_steps(_facts(), CAL.add_working_days(REGISTERED_ON, 7), CAL, config) == []
    assert due_steps(_facts(), CAL.add_working_days(REGISTERED_ON, 8), CAL, config) == [Step.unlisted_escalate]
    path.write_text("[ladder]\nunlisted_escalate = 0\n", encoding="utf-8")
    with pytest.raises(ValueError):
        load_config(path)
    assert STEP_AUDIENCES[Step.unlisted_escalate] == (Audience.COMMITTEE, Audience.SUPERVISORS)
    assert Step.unlisted_escalate not in DEADLINE_STEPS  # a new deadline does not restart it


@dataclass(frozen=True)
class Actor:
    id: int
    role: str
    region_code: str = "141102"
    enterprise_id: int | None = None


@dataclass(frozen=True)
class Facts:
    state: str
    level: str | None = "major"
    listing_level: str | None = None
    enterprise_id: int | None = 1
    reported_by_id: int | None = 10
    accepted_by_id: int | None = None
    accepted_at: datetime | None = None
    suspended: bool = False
    deadline: date | None = date(2027, 1, 23)
    plan_filed_at: datetime | None = datetime(2026, 11, 24, 2, tzinfo=UTC)
    extension_requested_at: datetime | None = None
    escalation_fired: int = 0


ENTERPRISE, INSPECTOR, COUNTY = Actor(20, "enterprise", enterprise_id=1), Actor(10, "inspector"), Actor(30, "committee")


@pytest.mark.parametrize("action, state, actor", [
    ("file_plan", "registered", ENTERPRISE),
    ("request_acceptance", "registered", ENTERPRISE),
    ("request_acceptance", "rectifying", ENTERPRISE),
    ("accept", "acceptance_requested", INSPECTOR),
    ("close", "accepted", COUNTY),
])
def test_an_unlisted_major_hazard_waits_for_its_listing(action, state, actor):
    unlisted = Facts(state=state, accepted_by_id=11, accepted_at=datetime(2026, 11, 25, tzinfo=UTC))
    refusal = check_pre(LIFECYCLE[action], unlisted, actor)
    assert refusal is not None and (refusal.status, refusal.code) == (409, "listing_required")
    assert "须先由安委办挂牌督办" in refusal.message
    assert action not in allowed_actions(unlisted, actor)
    listed = Facts(state=state, listing_level="county", accepted_by_id=11,
                   accepted_at=datetime(2026, 11, 25, tzinfo=UTC))
    assert check_pre(LIFECYCLE[action], listed, actor) is None
    # a general hazard is never listed, and needs not be
    assert check_pre(LIFECYCLE[action], Facts(state=state, level="general"), actor) is None
