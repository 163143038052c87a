"""The ladder's rules (DESIGN 2.5) as pure functions, with the real calendar and an injected day."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from services.calendar.workdays import WorkCalendar
from services.escalation.ladder import (
    DEADLINE_BITS, DEADLINE_STEPS, LadderConfig, LadderFacts, Step, cutoffs, due, due_steps, load_config,
    step_changes,
)

CAL = WorkCalendar()
CONFIG = LadderConfig()
# Friday 4 December 2026: no holiday within six weeks either side, so offsets are plain weekdays.
DEADLINE = date(2026, 12, 4)


def working(n: int) -> date:
    return CAL.add_working_days(DEADLINE, n)


def facts(**kw) -> LadderFacts:
    base = dict(state="rectifying", deadline=DEADLINE, reported_on=date(2026, 10, 9), acceptance_requested_on=None,
                failed_acceptances=0, fired=0)
    return LadderFacts(**{**base, **kw})


def fire(f: LadderFacts, steps: list[Step]) -> LadderFacts:
    fired = f.fired
    for s in steps:
        fired = step_changes(s, fired, None)["escalation_fired"]
    return replace(f, fired=fired)


@pytest.mark.parametrize("step,offset", [(s, CONFIG.offset(s)) for s in DEADLINE_STEPS])
def test_each_deadline_step_falls_due_on_its_working_day(step, offset):
    f = facts(fired=sum(s for s in DEADLINE_STEPS if s < step))  # the earlier steps have fired
    assert due_steps(f, working(offset) if offset else DEADLINE, CAL, CONFIG) == [step]
    day_before = CAL.add_working_days(working(offset), -1)
    assert due_steps(f, day_before, CAL, CONFIG) == []


def test_nothing_before_the_first_step():
    assert due_steps(facts(), working(-4), CAL, CONFIG) == []


def test_at_most_once_per_deadline():
    f = facts()
    today = working(5)
    first = due_steps(f, today, CAL, CONFIG)
    assert first == [Step.remind, Step.overdue, Step.urge]  # all due; the sweep fires urge for them (collapse)
    f = fire(f, first)
    assert due_steps(f, today, CAL, CONFIG) == []
    assert due_steps(f, working(9), CAL, CONFIG) == []
    assert due_steps(f, working(10), CAL, CONFIG) == [Step.summon]


def test_extension_restarts_the_ladder_against_the_new_deadline():
    f = fire(facts(), [Step.remind, Step.overdue])
    # grant_extension clears the deadline bits and moves the deadline
    new_deadline = CAL.add_working_days(DEADLINE, 20)
    f = replace(f, deadline=new_deadline, fired=f.fired & ~DEADLINE_BITS)
    assert due_steps(f, working(1), CAL, CONFIG) == []
    assert due_steps(f, CAL.add_working_days(new_deadline, -3), CAL, CONFIG) == [Step.remind]


def test_summon_after_two_failed_acceptances_even_before_the_deadline():
    early = working(-10)
    assert due_steps(facts(failed_acceptances=1), early, CAL, CONFIG) == []
    assert due_steps(facts(failed_acceptances=2), early, CAL, CONFIG) == [Step.summon]
    f = fire(facts(failed_acceptances=2), [Step.summon])
    # ... and not again at +10: once per deadline
    assert Step.summon not in due_steps(f, working(10), CAL, CONFIG)
    assert due_steps(f, working(0), CAL, CONFIG) == [Step.remind, Step.overdue]


def test_unregistered_report_reminds_then_goes_to_the_supervisor():
    reported = date(2026, 11, 23)  # a Monday
    f = facts(state="reported", deadline=None, reported_on=reported)
    assert due_steps(f, CAL.add_working_days(reported, 2), CAL, CONFIG) == []
    assert due_steps(f, CAL.add_working_days(reported, 3), CAL, CONFIG) == [Step.unregistered_remind]
    f = fire(f, [Step.unregistered_remind])
    assert due_steps(f, CAL.add_working_days(reported, 4), CAL, CONFIG) == []
    assert due_steps(f, CAL.add_working_days(reported, 5), CAL, CONFIG) == [Step.unregistered_escalate]


def test_unreviewed_acceptance_request_goes_to_the_supervisor_once_per_request():
    asked = date(2026, 11, 24)
    f = facts(state="acceptance_requested", acceptance_requested_on=asked)
    # the deadline ladder waits while the officials review (the deadline has long passed here)
    assert due_steps(f, CAL.add_working_days(asked, 9), CAL, CONFIG) == []
    assert due_steps(f, CAL.add_working_days(asked, 10), CAL, CONFIG) == [Step.review_overdue]
    f = fire(f, [Step.review_overdue])
    assert due_steps(f, CAL.add_working_days(asked, 30), CAL, CONFIG) == []


def test_counting_skips_the_spring_festival():
    # Deadline Fri 13 Feb 2026: +5 working days is Sat 14 (调休), then 24, 25, 26, 27 Feb.
    f = facts(deadline=date(2026, 2, 13), fired=int(Step.remind | Step.overdue))
    assert due_steps(f, date(2026, 2, 26), CAL, CONFIG) == []
    assert due_steps(f, date(2026, 2, 27), CAL, CONFIG) == [Step.urge]


def test_closed_and_accepted_hazards_have_nothing_due():
    for state in ("closed", "dismissed", "accepted"):
        assert due_steps(facts(state=state), working(60), CAL, CONFIG) == []


def test_elevate_moves_the_listing_one_level_up():
    assert step_changes(Step.elevate, 0, "county")["listing_level"] == "city"
    assert step_changes(Step.elevate, 0, "city")["listing_level"] == "province"
    assert "listing_level" not in step_changes(Step.elevate, 0, None)
    assert step_changes(Step.urge, int(Step.remind), "county") == {"escalation_step": "urge",
                                                                  "escalation_fired": int(Step.remind | Step.urge)}


def test_configuration_per_deployment(tmp_path):
    path = tmp_path / "ladder.toml"
    path.write_text("[ladder]\nremind = -5\nurge = 3\nsummon_after_failed_acceptances = 3\n", encoding="utf-8")
    config = load_config(path)
    assert (config.remind, config.urge, config.summon, config.summon_after_failed_acceptances) == (-5, 3, 10, 3)
    assert due_steps(facts(), working(-5), CAL, config) == [Step.remind]
    assert due_steps(facts(failed_acceptances=2), working(-10), CAL, config) == []


@pytest.mark.parametrize("text", ["[ladder]\nurge = 20\nsummon = 10\n", "[ladder]\nbogus = 1\n",
                                  "[ladder]\nunregistered_escalate = 2\n"])
def test_a_bad_configuration_is_refused(tmp_path, text):
    path = tmp_path / "ladder.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError):
        load_config(path)


def test_cutoffs_agree_with_counting_row_by_row():
    today = date(2026, 10, 12)  # just after 国庆 2026
    cut = cutoffs(today, CAL, CONFIG)
    for offset_days in range(-30, 120):
        deadline = date(2026, 10, 12).fromordinal(today.toordinal() - offset_days)
        f = facts(deadline=deadline)
        slow = [s for s in DEADLINE_STEPS if today >= CAL.add_working_days(deadline, CONFIG.offset(s))]
        assert due(f, cut) == slow, deadline
