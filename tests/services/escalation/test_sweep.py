"""The escalation sweep against real databases: what it fires, at most once, through the lifecycle's
`escalate` action (audit event by `system` and outbox rows), and two sweeps at once on PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from db.engine import UnitOfWork, read_only, transaction
from db.models import AuditEvent, Hazard, OutboxMessage
from services.audit import verification as audit
from services.escalation import sweep as sweep_mod
from services.escalation import writer
from services.engine import transitions
from services.kernel.clock import local_date
from services.escalation.ladder import DEADLINE_STEPS, Step
from services.escalation.sweep import sweep
from tests.services.escalation.sweeping import CAL, CONFIG, deadline_of, run
from tests.helpers import body_for, drive, new_hazard


def escalations(factory, hid: int) -> list[str]:
    with read_only(factory) as s:
        rows = s.execute(select(AuditEvent).where(AuditEvent.hazard_id == hid, AuditEvent.action == "escalate")
                         .order_by(AuditEvent.seq)).scalars()
        return [json.loads(e.payload)["body"]["step"] for e in rows]


def test_fires_the_most_severe_due_step_as_a_system_event_with_outbox_rows(factory, world, clock):
    """Three steps due at once (a sweep that missed days): one event, for the most severe
    (services/escalation/ladder.py, catch-up); the others are marked fired with it."""
    hid = drive(factory, world, clock(), "rectifying")
    deadline = deadline_of(factory, hid)
    report = run(factory, clock, CAL.add_working_days(deadline, 5))
    assert [(f.hazard_id, f.steps, f.skipped) for f in report.fired] == [(hid, ["urge"], {"urge": ["remind", "overdue"]})]
    assert (report.hazards, report.events, report.skipped) == (1, 1, 2)
    with read_only(factory) as s:
        h = s.get(Hazard, hid)
        assert h.escalation_step == "urge" and h.escalation_fired == Step.remind | Step.overdue | Step.urge
        assert h.state == "rectifying" and h.version == 4
        events = s.execute(select(AuditEvent).where(AuditEvent.hazard_id == hid, AuditEvent.seq > 3)
                           .order_by(AuditEvent.seq)).scalars().all()
        assert [(e.action, e.actor_role, e.actor_id) for e in events] == [("escalate", "system", None)]
        outbox = s.execute(select(OutboxMessage).where(OutboxMessage.kind == "escalation")
                           .order_by(OutboxMessage.id)).scalars().all()
        assert [o.event_id for o in outbox] == [e.id for e in events]
        assert '"step":"urge"' in outbox[0].payload and f'"hazard_id":{hid}' in outbox[0].payload
        assert '"skipped":["remind","overdue"]' in outbox[0].payload
        assert audit.verify(s).ok
    assert escalations(factory, hid) == ["urge"]


def test_a_step_fires_once_per_deadline_and_later_steps_on_their_day(factory, world, clock):
    hid = drive(factory, world, clock(), "rectifying")
    deadline = deadline_of(factory, hid)
    run(factory, clock, CAL.add_working_days(deadline, 0))
    again = run(factory, clock, CAL.add_working_days(deadline, 4))
    assert again.events == 0
    later = run(factory, clock, CAL.add_working_days(deadline, 10))
    assert [(f.steps, f.skipped) for f in later.fired] == [(["summon"], {"summon": ["urge"]})]
    assert escalations(factory, hid) == ["overdue", "summon"]  # remind and urge caught up by the next step


def test_nothing_is_due_before_the_remind_day_nor_on_closed_or_dismissed(factory, world, clock):
    open_id = drive(factory, world, clock(), "rectifying")
    drive(factory, world, clock(), "closed")
    drive(factory, world, clock(), "dismissed")
    deadline = deadline_of(factory, open_id)
    assert run(factory, clock, CAL.add_working_days(deadline, -4)).events == 0
    report = run(factory, clock, CAL.add_working_days(deadline, 90))
    assert [f.hazard_id for f in report.fired] == [open_id]
    assert report.fired[0].steps == ["refer"]
    assert report.fired[0].skipped == {"refer": [s.name for s in DEADLINE_STEPS[:-1]]}


def test_granted_extension_restarts_the_ladder(factory, world, clock):
    hid = drive(factory, world, clock(), "rectifying")
    deadline = deadline_of(factory, hid)
    run(factory, clock, CAL.add_working_days(deadline, -3))  # remind
    today = local_date(clock())
    for action, who in (("request_extension", "ent_coal"), ("grant_extension", "supervisor")):
        with transaction(factory) as s:
            transitions.perform(s, world.p(who), hid, action,
                                body_for(action, today=today, level="general", uscc=world.enterprises["coal"]),
                                now=clock())
    new_deadline = deadline_of(factory, hid)
    assert new_deadline > deadline
    assert run(factory, clock, CAL.add_working_days(deadline, 1)).events == 0
    report = run(factory, clock, CAL.add_working_days(new_deadline, -3))
    assert [f.steps for f in report.fired] == [["remind"]]
    assert escalations(factory, hid) == ["remind", "remind"]


def test_elevate_hands_the_listing_to_the_next_level(factory, world, clock):
    hid = drive(factory, world, clock(), "supervised", level="major")
    deadline = deadline_of(factory, hid)
    report = run(factory, clock, CAL.add_working_days(deadline, 30))
    assert report.fired[0].steps[-1] == "elevate"
    with read_only(factory) as s:
        h = s.get(Hazard, hid)
        assert (h.listing_level, h.listing_body) == ("province", "山西省安全生产委员会办公室")
        payload = s.execute(select(OutboxMessage.payload).where(OutboxMessage.kind == "escalation")
                            .order_by(OutboxMessage.id.desc())).scalars().first()
        assert '"listing_level":"province"' in payload and '"step":"elevate"' in payload


def test_unregistered_report_and_unreviewed_acceptance(factory, world, clock):
    reported = drive(factory, world, clock(), "reported")
    waiting = drive(factory, world, clock(), "acceptance_requested")
    today = local_date(clock())
    assert run(factory, clock, CAL.add_working_days(today, 2)).events == 0
    r3 = run(factory, clock, CAL.add_working_days(today, 3))
    assert {f.hazard_id: f.steps for f in r3.fired} == {reported: ["unregistered_remind"]}
    r5 = run(factory, clock, CAL.add_working_days(today, 5))
    assert {f.hazard_id: f.steps for f in r5.fired} == {reported: ["unregistered_escalate"]}
    r10 = run(factory, clock, CAL.add_working_days(today, 10))
    assert {f.hazard_id: f.steps for f in r10.fired} == {waiting: ["review_overdue"]}
    # registering restarts from nothing: the unregistered bits do not stop the deadline ladder
    with transaction(factory) as s:
        transitions.perform(s, world.p("inspector"), reported, "register",
                            body_for("register", today=today, level="general", uscc=world.enterprises["coal"]),
                            now=clock())
    with read_only(factory) as s:
        assert s.get(Hazard, reported).escalation_fired == 0


def test_unregistered_days_count_from_the_report_not_the_discovery(factory, world, clock):
    """A hazard found a week before it was written up is not "unregistered for 5 days" at once:
    the rule is about reports left waiting here."""
    today = local_date(clock())
    late = new_hazard(factory, world, clock(), discovered_on=(today - timedelta(days=14)).isoformat())
    assert run(factory, clock, today).events == 0
    assert run(factory, clock, CAL.add_working_days(today, 2)).events == 0
    r3 = run(factory, clock, CAL.add_working_days(today, 3))
    assert {f.hazard_id: f.steps for f in r3.fired} == {late: ["unregistered_remind"]}


def test_two_failed_acceptances_summon_before_the_deadline(factory, world, clock):
    hid = drive(factory, world, clock(), "acceptance_requested")
    today = local_date(clock())
    uscc = world.enterprises["coal"]
    for round_ in range(2):
        if round_:
            with transaction(factory) as s:
                transitions.perform(s, world.p("ent_coal"), hid, "request_acceptance",
                                    body_for("request_acceptance", today=today, level="general", uscc=uscc,
                                             evidence=[transitions_attachment(factory, hid, clock)]),
                                    now=clock())
        with transaction(factory) as s:
            transitions.perform(s, world.p("inspector"), hid, "reject",
                                body_for("reject", today=today, level="general", uscc=uscc), now=clock())
    report = run(factory, clock, today + timedelta(days=1))
    assert [f.steps for f in report.fired] == [["summon"]]


def transitions_attachment(factory, hid, clock) -> int:
    from tests.helpers import add_attachment

    return add_attachment(factory, hid, clock())


def test_dry_run_lists_and_changes_nothing(factory, world, clock):
    hid = drive(factory, world, clock(), "rectifying")
    as_of = CAL.add_working_days(deadline_of(factory, hid), 0)
    with read_only(factory) as s:
        before = s.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    report = run(factory, clock, as_of, dry_run=True)
    assert [(f.hazard_id, f.steps, f.skipped) for f in report.fired] == [(hid, ["overdue"], {"overdue": ["remind"]})]
    with read_only(factory) as s:
        assert s.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == before
        assert s.get(Hazard, hid).escalation_fired == 0


def test_a_batch_that_loses_a_race_is_redone_hazard_by_hazard(factory, world, clock, monkeypatch):
    """A user acts on one hazard between the sweep's selection and its write: the batch's
    compare-and-set misses that row, the batch is rolled back and each hazard redone alone."""
    ids = [drive(factory, world, clock(), "rectifying") for _ in range(3)]
    as_of = CAL.add_working_days(deadline_of(factory, ids[0]), 0)
    select_batch = sweep_mod._select_batch
    done = []

    def racing(session, cut, after_id, limit):
        rows = select_batch(session, cut, after_id, limit)
        if rows and not done:
            done.append(True)
            with transaction(factory) as s:
                transitions.perform(s, world.p("ent_coal"), ids[1], "comment", {"text": "已在整改"}, now=clock())
        return rows

    monkeypatch.setattr(sweep_mod, "_select_batch", racing)
    report = run(factory, clock, as_of)
    assert report.retried == 3
    assert sorted(f.hazard_id for f in report.fired) == ids and report.events == 3
    assert all(f.steps == ["overdue"] and f.skipped == {"overdue": ["remind"]} for f in report.fired)
    assert escalations(factory, ids[1]) == ["overdue"]
    with read_only(factory) as s:
        assert audit.verify(s).ok


def test_batches_cover_everything_due(factory, world, clock):
    ids = [drive(factory, world, clock(), "rectifying") for _ in range(7)]
    as_of = CAL.add_working_days(deadline_of(factory, ids[0]), -3)
    report = run(factory, clock, as_of, batch_size=3)
    assert report.batches == 3 and sorted(f.hazard_id for f in report.fired) == ids


@pytest.mark.parametrize("sweeps", [2])
def test_two_sweeps_at_once_never_fire_a_step_twice(pg_url, sweeps, clock):
    from db.engine import make_engine, make_session_factory
    from tests.conftest import build_world

    engine = make_engine(pg_url, pool_size=sweeps * 2, max_overflow=4)
    factory = make_session_factory(engine)
    try:
        world = build_world(factory)
        ids = [drive(factory, world, clock(), "rectifying") for _ in range(40)]
        # spread the deadlines so the hazards are due for different steps
        with transaction(factory) as s:
            for i, hid in enumerate(ids):
                s.execute(update(Hazard).where(Hazard.id == hid).values(
                    deadline=local_date(clock()) - timedelta(days=i * 2)))
        barrier = threading.Barrier(sweeps)
        reports = []

        def one():
            barrier.wait()
            reports.append(sweep(UnitOfWork(factory), now=clock(), calendar=CAL, config=CONFIG, batch_size=5))

        threads = [threading.Thread(target=one) for _ in range(sweeps)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(reports) == sweeps
        # both sweeps saw due rows (they ran at once), yet every step fired once
        assert all(r.selected > 0 for r in reports)
        with read_only(factory) as s:
            rows = s.execute(select(AuditEvent.hazard_id, AuditEvent.payload)
                             .where(AuditEvent.action == "escalate")).all()
            fired = Counter((hid, json.loads(p)["body"]["step"]) for hid, p in rows)
            assert fired and max(fired.values()) == 1
            assert sum(r.events for r in reports) == len(rows)
            assert s.execute(select(func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.kind == "escalation")).scalar_one() == len(rows)
            # The chains; not the replay, which rightly reports the deadlines set above without events.
            assert audit.verify(s, replay=False).ok
        # and a third sweep finds nothing left
        assert sweep(UnitOfWork(factory), now=clock(), calendar=CAL, config=CONFIG).events == 0
    finally:
        engine.dispose()


# --- `hazard escalate` ----------------------------------------------------------------------------

from tests.app.cli.test_cli_audit import run_cli  # noqa: E402,F401 - the in-process CLI fixture


def test_cli_dry_run_lists_then_a_run_fires(factory, world, clock, run_cli):
    hid = drive(factory, world, clock(), "rectifying")
    with read_only(factory) as s:
        code = s.get(Hazard, hid).code
    at = CAL.add_working_days(deadline_of(factory, hid), 5).isoformat()
    status, out, err = run_cli("escalate", "--at", at, "--dry-run")
    assert status == 0, err
    assert f"{code}\t发督办函(urge)（已跳过：整改期限临近提醒、逾期预警）" in out
    assert f"演练（未执行）：截至 {at}，1 条隐患应触发 1 个督办步骤（另有 2 个同时到期的较轻步骤跳过）" in out
    assert escalations(factory, hid) == []
    status, out, _ = run_cli("escalate", "--at", at)
    assert status == 0
    assert f"督办升级完成：截至 {at}，1 条隐患触发 1 个步骤（发督办函 1），同时到期的较轻步骤跳过 2 个" in out
    assert escalations(factory, hid) == ["urge"]
    status, out, _ = run_cli("escalate", "--at", at)
    assert "0 条隐患触发 0 个步骤（无）" in out


def test_cli_refuses_a_bad_date(run_cli, capsys):
    with pytest.raises(SystemExit) as exc:
        run_cli("escalate", "--at", "2026-13-01")
    assert exc.value.code == 2
    assert "日期格式应为 YYYY-MM-DD：2026-13-01" in capsys.readouterr().err


def test_cli_warns_when_the_year_is_provisional(factory, world, clock, run_cli):
    drive(factory, world, clock(), "rectifying")
    status, _, err = run_cli("escalate", "--at", "2031-03-03", "--dry-run")
    assert status == 0
    assert "警告：2031 年的节假日安排尚未公布" in err


def test_a_decided_column_the_batched_writer_does_not_write_is_refused_not_dropped(factory, world, clock,
                                                                                  monkeypatch):
    """The batched writer writes `CAS_COLUMNS`; a decision that sets a column left out of it (here:
    the list without `escalation_step`, as if the ladder had begun to write a new column) stops the
    sweep with nothing written, instead of committing the event without the change."""
    hid = drive(factory, world, clock(), "rectifying")
    as_of = CAL.add_working_days(deadline_of(factory, hid), 0)
    monkeypatch.setattr(writer, "CAS_COLUMNS", tuple(c for c in writer.CAS_COLUMNS if c != "escalation_step"))
    with pytest.raises(writer.UnwrittenColumn, match="escalation_step"):
        run(factory, clock, as_of)
    assert escalations(factory, hid) == []
    monkeypatch.undo()
    assert run(factory, clock, as_of).events == 1 and escalations(factory, hid) == ["overdue"]


def test_fire_ids_reads_the_hazards_again_and_fires_only_those_still_due(factory, world, clock):
    """What a flow's task gets is ids (never rows read earlier): a hazard whose deadline moved
    since the sweep selected it is no longer due and is left alone."""
    ids = [drive(factory, world, clock(), "rectifying") for _ in range(2)]
    as_of = CAL.add_working_days(deadline_of(factory, ids[0]), 0)
    cut = sweep_mod.cutoffs(as_of, CAL, CONFIG)
    [selected] = list(sweep_mod.due_batches(UnitOfWork(factory), cut, 10))
    assert sorted(r.id for r in selected) == ids
    with transaction(factory) as s:  # meanwhile the deadline of the second is extended
        s.execute(update(Hazard).where(Hazard.id == ids[1]).values(deadline=as_of + timedelta(days=60)))
    report = sweep_mod.fire_ids(UnitOfWork(factory), [r.id for r in selected], cut, now=clock(), as_of=as_of)
    assert report.events == 1 and escalations(factory, ids[0]) == ["overdue"] and escalations(factory, ids[1]) == []
