"""Catch-up after downtime (issue 11, item 4): when several steps of one ladder fall due on one sweep,
only the most severe goes out, as one `escalate` event naming the others as skipped; the skipped
steps are marked fired (never sent later) and keep their effect on the hazard (an elevation).
Both writers of the sweep (the batch and the hazard-by-hazard redo) do the same."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from db.engine import read_only, transaction
from db.models import AuditEvent, Hazard, OutboxMessage
from services.audit import verification as audit
from services.escalation import sweep as sweep_mod
from services.engine import transitions
from services.accounts.auth import SYSTEM
from services.kernel.clock import local_date
from services.kernel.errors import Conflict, Invalid
from services.escalation.ladder import DEADLINE_STEPS, Step
from tests.services.escalation.sweeping import CAL, deadline_of, run
from tests.helpers import drive, new_hazard

LADDER_LETTERS = ("document.urge_letter", "document.summon_notice")


def escalate_bodies(factory, hid: int) -> list[dict]:
    """The bodies of the hazard's escalate events, without the sweep day."""
    with read_only(factory) as s:
        payloads = s.execute(select(AuditEvent.payload).where(AuditEvent.hazard_id == hid,
                                                              AuditEvent.action == "escalate")
                             .order_by(AuditEvent.seq)).scalars().all()
    return [{k: v for k, v in json.loads(p)["body"].items() if k != "as_of"} for p in payloads]


def ladder_outbox(factory, hid: int) -> list[tuple[str, dict]]:
    """The escalation notices and ladder documents written for the hazard, in order."""
    with read_only(factory) as s:
        rows = s.execute(select(OutboxMessage.kind, OutboxMessage.payload)
                         .where(OutboxMessage.hazard_id == hid,
                                OutboxMessage.kind.in_(("escalation", *LADDER_LETTERS)))
                         .order_by(OutboxMessage.id)).all()
    return [(kind, json.loads(payload)) for kind, payload in rows]


def test_twelve_working_days_late_sends_one_summon_and_skips_the_rest_for_good(factory, world, clock):
    hid = drive(factory, world, clock(), "rectifying")
    deadline = deadline_of(factory, hid)
    report = run(factory, clock, CAL.add_working_days(deadline, 12))
    assert [(f.hazard_id, f.steps, f.skipped) for f in report.fired] == [
        (hid, ["summon"], {"summon": ["remind", "overdue", "urge"]})]
    assert (report.events, report.skipped, report.by_step) == (1, 3, {"summon": 1})
    assert escalate_bodies(factory, hid) == [{"step": "summon", "skipped": ["remind", "overdue", "urge"]}]
    # one notice and one document: the 约谈通知书, no 督办函
    outbox = ladder_outbox(factory, hid)
    assert sorted(kind for kind, _ in outbox) == ["document.summon_notice", "escalation"]
    [(_, notice)] = [o for o in outbox if o[0] == "escalation"]
    assert notice["step"] == "summon" and notice["skipped"] == ["remind", "overdue", "urge"]
    with read_only(factory) as s:
        h = s.get(Hazard, hid)
        assert h.escalation_step == "summon"
        assert h.escalation_fired == Step.remind | Step.overdue | Step.urge | Step.summon
        assert audit.verify(s).ok
    # the skipped steps never come later; the next step comes on its own day, alone
    for n in (12, 13, 15, 19):
        assert run(factory, clock, CAL.add_working_days(deadline, n)).events == 0, n
    later = run(factory, clock, CAL.add_working_days(deadline, 20))
    assert [(f.steps, f.skipped) for f in later.fired] == [(["publicize"], {})]
    assert [b["step"] for b in escalate_bodies(factory, hid)] == ["summon", "publicize"]
    assert [kind for kind, _ in ladder_outbox(factory, hid)].count("document.urge_letter") == 0


def test_a_daily_sweep_still_fires_each_step_in_turn(factory, world, clock):
    hid = drive(factory, world, clock(), "rectifying")
    deadline = deadline_of(factory, hid)
    day, last = deadline - timedelta(days=7), CAL.add_working_days(deadline, 60)
    while day <= last:
        run(factory, clock, day)
        day += timedelta(days=1)
    assert escalate_bodies(factory, hid) == [{"step": s.name, "skipped": []} for s in DEADLINE_STEPS]
    letters = [kind for kind, _ in ladder_outbox(factory, hid) if kind != "escalation"]
    assert letters == ["document.urge_letter", "document.summon_notice"]


def test_an_elevation_skipped_for_the_referral_still_moves_the_listing_up(factory, world, clock):
    hid = drive(factory, world, clock(), "supervised", level="major")  # listed by the city
    deadline = deadline_of(factory, hid)
    report = run(factory, clock, CAL.add_working_days(deadline, 60))
    assert [(f.steps, f.skipped) for f in report.fired] == [
        (["refer"], {"refer": ["remind", "overdue", "urge", "summon", "publicize", "elevate"]})]
    with read_only(factory) as s:
        h = s.get(Hazard, hid)
        assert (h.listing_level, h.listing_body) == ("province", "山西省安全生产委员会办公室")
        assert h.escalation_step == "refer" and h.escalation_fired == sum(DEADLINE_STEPS)
    [(kind, notice)] = ladder_outbox(factory, hid)  # the referral's notice only: no letter, no summons
    assert (kind, notice["step"], notice["listing_level"]) == ("escalation", "refer", "province")
    assert "elevate" in notice["skipped"]
    assert run(factory, clock, CAL.add_working_days(deadline, 61)).events == 0


def test_the_hazard_by_hazard_redo_collapses_alike(factory, world, clock, monkeypatch):
    """A batch that lost a race is redone hazard by hazard (`_fire_one`): the same single event."""
    ids = [drive(factory, world, clock(), "rectifying") for _ in range(2)]
    as_of = CAL.add_working_days(deadline_of(factory, ids[0]), 12)
    select_batch = sweep_mod._select_batch

    def racing(session, cut, after_id, limit):
        rows = select_batch(session, cut, after_id, limit)
        if rows and not racing.done:
            racing.done = True
            with transaction(factory) as s:
                transitions.perform(s, world.p("ent_coal"), ids[0], "comment", {"text": "已在整改"}, now=clock())
        return rows

    racing.done = False
    monkeypatch.setattr(sweep_mod, "_select_batch", racing)
    report = run(factory, clock, as_of)
    assert report.retried == 2 and report.events == 2 and report.skipped == 6
    for hid in ids:
        assert escalate_bodies(factory, hid) == [{"step": "summon", "skipped": ["remind", "overdue", "urge"]}]
        assert sorted(kind for kind, _ in ladder_outbox(factory, hid)) == ["document.summon_notice", "escalation"]


def test_the_unregistered_pair_collapses_too(factory, world, clock):
    hid = new_hazard(factory, world, clock())
    today = local_date(clock())
    report = run(factory, clock, CAL.add_working_days(today, 5))
    assert [(f.steps, f.skipped) for f in report.fired] == [
        (["unregistered_escalate"], {"unregistered_escalate": ["unregistered_remind"]})]
    assert run(factory, clock, CAL.add_working_days(today, 6)).events == 0
    with read_only(factory) as s:
        assert s.get(Hazard, hid).escalation_fired == Step.unregistered_remind | Step.unregistered_escalate


def test_escalate_takes_only_lesser_steps_of_its_ladder_not_yet_fired(factory, world, clock):
    hid = drive(factory, world, clock(), "rectifying")
    for bad in (["summon"], ["unregistered_remind"], ["remind", "remind"]):
        with pytest.raises(Invalid) as refused, transaction(factory) as s:
            transitions.perform(s, SYSTEM, hid, "escalate", {"step": "urge", "skipped": bad}, now=clock())
        assert refused.value.details[0]["field"] == "skipped" and "轻的步骤" in refused.value.details[0]["message"]
    with transaction(factory) as s:
        transitions.perform(s, SYSTEM, hid, "escalate", {"step": "overdue", "skipped": ["remind"]}, now=clock())
    with pytest.raises(Conflict) as refused, transaction(factory) as s:  # remind has fired with overdue
        transitions.perform(s, SYSTEM, hid, "escalate", {"step": "urge", "skipped": ["remind"]}, now=clock())
    assert refused.value.code == "step_fired"
