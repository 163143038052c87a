"""bench/sweep's generated hazards are due exactly as the benchmark claims: the right number, evenly
spread so any prefix holds its share, each shape due or not by construction, and the per-row
ORM loop's working-day counting agrees with the sweep's cutoffs on every one of them."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.sweep import population as pop
from bench.sweep.orm import naive_due
from services.calendar.workdays import WorkCalendar
from services.escalation.ladder import LadderConfig, due

CAL = WorkCalendar()
CONFIG = LadderConfig()
CUT = pop.day_cutoffs(pop.BENCH_DAY, CAL, CONFIG)


@pytest.mark.parametrize(("n", "due_count"), [(1000, 100), (997, 101), (50, 0), (50, 50)])
def test_due_hazards_are_exactly_the_wanted_share_of_every_prefix(n, due_count):
    flags = [pop.is_due(i, n, due_count) for i in range(n)]
    assert sum(flags) == due_count
    for k in (0, 1, n // 4, n // 2, n - 1, n):
        assert sum(flags[:k]) == pop.due_in_prefix(k, n, due_count)


def test_generated_profiles_are_due_as_constructed_and_the_naive_loop_agrees():
    n, due_count = 1200, 120
    shapes: Counter = Counter()
    due_hazards = 0
    for i, p in enumerate(pop.profiles(n, due_count, CUT, seed=7)):
        steps = due(p.facts(), CUT)
        assert bool(steps) == pop.is_due(i, n, due_count) == p.shape.startswith("due"), p
        assert naive_due(p.facts(), CUT.today, CAL, CONFIG) == steps, p
        if p.shape.startswith("due: next step") or p.shape.startswith("due: summon after"):
            assert len(steps) == 1, p
        if p.shape.startswith("due: several") or p.shape.startswith("due: both"):
            assert len(steps) >= 2, p
        assert p.reported_on <= CUT.today and (p.acceptance_requested_on or CUT.today) <= CUT.today
        due_hazards += bool(steps)
        shapes[p.shape.split(":")[0]] += 1
    assert due_hazards == due_count
    assert shapes == {"due": due_count, "not due": n - due_count}


def test_the_same_seed_gives_the_same_hazards():
    a = list(pop.profiles(200, 20, CUT, seed=3))
    assert a == list(pop.profiles(200, 20, CUT, seed=3))
    assert a != list(pop.profiles(200, 20, CUT, seed=4))


def test_windows_exist_for_another_ladder_and_bad_counts_are_refused():
    cut = pop.day_cutoffs(pop.BENCH_DAY, CAL, LadderConfig(remind=-5, urge=3, refer=90, review_overdue=5))
    lo_hi = pop.windows(cut).deadline
    assert all(lo < hi for lo, hi in lo_hi)
    with pytest.raises(ValueError):
        next(pop.profiles(10, 11, CUT, seed=1))
