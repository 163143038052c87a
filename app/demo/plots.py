"""The plot of a demo hazard's story (see `app.demo`): which acts (app/demo/stories.py), in which
order and how often, bring a hazard from its report to the target state the plan chose for it
(app/demo/plan.py), with the chances that make two hundred stories differ.
"""

from __future__ import annotations

import random
from datetime import datetime

from app.demo.stories import Spec, Story
from app.demo.timeline import Step
from services.lifecycle.states import State


def story(spec: Spec, rng: random.Random, start: datetime, anchor: datetime, ext_days: int) -> list[Step]:
    """The steps that bring one hazard to `spec.target`, in time order."""
    s = Story(spec, rng, anchor, ext_days)
    target, major, r = spec.target, spec.level == "major", rng
    s.report(start)
    s.comment(0.1)
    if target == State.REPORTED:
        return _done(s)
    if target == State.DISMISSED:
        s.dismiss()
        s.comment(0.1)
        return _done(s)
    on_spot = target == State.CLOSED and not major and r.random() < 0.25
    s.register(on_spot=on_spot)
    if on_spot:
        s.comment(0.1)
        return _done(s)
    s.comment(0.15)
    if not major and r.random() < 0.05:
        s.suspend()
    if target == State.REGISTERED:
        _extension(s, pending_ok=True)
        return _done(s)
    if spec.listing:
        s.supervise()
    if target == State.SUPERVISED:
        _extension(s, pending_ok=True)
        return _done(s)
    if major or target == State.RECTIFYING or r.random() < 0.6:
        s.file_plan()
        s.comment(0.1)
    _extension(s, pending_ok=False)
    if target == State.RECTIFYING:
        if r.random() < 0.2:
            s.work_until_acceptance()
            s.review(accept=False)
            s.progress()
        else:
            s.progress(3, 15)
        _extension(s, pending_ok=True)
        return _done(s)
    failures = r.choices((0, 1, 2), (75, 20, 5))[0]
    for _ in range(failures):
        s.work_until_acceptance()
        s.review(accept=False)
        s.progress(3, 12)
    s.work_until_acceptance()
    if target == State.ACCEPTANCE_REQUESTED:
        return _done(s)
    s.review(accept=True)
    if target == State.CLOSED and major:
        s.close()
    s.comment(0.1)
    return _done(s)


def _extension(s: Story, *, pending_ok: bool) -> None:
    """Sometimes an extension request: decided (granted or denied), or still pending at the end."""
    roll = s.rng.random()
    if roll < 0.2:
        s.request_extension(decide=True)
    elif pending_ok and roll < 0.35:
        s.request_extension(decide=False)


def _done(s: Story) -> list[Step]:
    s.finish()
    return s.steps
