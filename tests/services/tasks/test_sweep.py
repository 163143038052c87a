"""The task ladder (services/tasks/sweep.py) against real databases: the steps' days on the
working-day calendar (a deadline on the Friday before 春节), each step once (two sweeps in a row, and
two at once on PostgreSQL), the catch-up that fires only the most severe step, the 通报 entry of a
publicized part, the monthly progress reminder of year-long parts, and a part a user acted on
between the sweep's selection and its firing."""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from db.engine import UnitOfWork, read_only, transaction
from db.models import Bulletin, BulletinItem, Organisation, OutboxMessage, TaskAssignment
from services.audit import records
from services.bulletins import issue, review
from services.calendar.workdays import WorkCalendar
from services.escalation.ladder import LadderConfig
from services.kernel.errors import Conflict
from services.tasks import engine
from services.tasks import sweep as sweep_mod
from tests.conftest import START

CAL = WorkCalendar()
CONFIG = LadderConfig()
DONE = {"summary": "已完成", "completed_on": "2026-11-20", "evidence_text": "忻应急发〔2026〕12号"}


def run(factory, as_of: date, **kw) -> sweep_mod.TaskSweepReport:
    return sweep_mod.sweep(UnitOfWork(factory), now=START, calendar=CAL, config=CONFIG, as_of=as_of,
                           keep_details=True, **kw)


def ids(factory, w, number: str) -> list[int]:
    with read_only(factory) as s:
        return [p.id for p in w.parts(s, number)]


def set_deadline(factory, part_ids: list[int], deadline: date) -> None:
    with transaction(factory) as s:
        s.execute(update(TaskAssignment).where(TaskAssignment.id.in_(part_ids)).values(deadline=deadline))


def escalations(factory, part_id: int) -> list[dict]:
    with read_only(factory) as s:
        return [json.loads(e.payload)["body"] for e in records.trail(s, f"assignment:{part_id}")
                if e.action == "escalate"]


def nth_working_day(start: date, n: int) -> date:
    """Counted here day by day with `is_working_day` (not the calendar's own arithmetic)."""
    step, day, left = (1 if n >= 0 else -1), start, abs(n)
    while left:
        day += timedelta(days=step)
        if CAL.is_working_day(day):
            left -= 1
    return day


def test_steps_fall_on_working_days_around_a_holiday(factory, tasks_world):
    """Deadline on Friday 13 February 2026, the last working day before 春节: overdue that day, the
    督办函 five working days on, after the holiday; nothing fires on the days in between."""
    (part,) = ids(factory, tasks_world, "1")
    friday = date(2026, 2, 13)
    assert friday.weekday() == 4 and CAL.is_working_day(friday) and not CAL.is_working_day(friday + timedelta(days=3))
    set_deadline(factory, [part], friday)
    remind_day, urge_day = nth_working_day(friday, -3), nth_working_day(friday, 5)
    assert (urge_day - friday).days > 7  # the holiday pushes it well past a plain week
    expected = {remind_day: "remind", friday: "overdue", urge_day: "urge"}
    day = remind_day - timedelta(days=1)
    while day <= urge_day:
        report = run(factory, day)
        fired = [f.steps for f in report.fired if f.assignment_id == part]
        assert fired == ([[expected[day]]] if day in expected else []), day
        day += timedelta(days=1)
    assert [b["step"] for b in escalations(factory, part)] == ["remind", "overdue", "urge"]
    assert escalations(factory, part)[-1]["as_of"] == urge_day.isoformat()
    with read_only(factory) as s:
        row = s.get(TaskAssignment, part)
        assert row.escalation_step == "urge" and row.escalation_fired == 1 | 2 | 4
        letters = s.scalars(select(OutboxMessage.payload).where(
            OutboxMessage.kind == "document.task_urge_letter")).all()
        assert [json.loads(p)["assignment_id"] for p in letters] == [part]
        assert records.verify(s)[2] == []


def test_a_second_sweep_the_same_day_fires_nothing(factory, tasks_world):
    lead, co = ids(factory, tasks_world, "2")
    set_deadline(factory, [lead, co], date(2026, 11, 24))
    first = run(factory, date(2026, 11, 24))
    assert sorted(f.assignment_id for f in first.fired if "overdue" in f.steps) == [lead, co]
    with read_only(factory) as s:
        outbox = s.scalar(select(func.count()).select_from(OutboxMessage))
    second = run(factory, date(2026, 11, 24))
    assert second.events == 0 and second.fired == []
    with read_only(factory) as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == outbox
    assert [b["step"] for b in escalations(factory, lead)] == ["overdue"]
    assert escalations(factory, lead)[0]["skipped"] == ["remind"]  # remind was due too: collapsed


def test_catch_up_fires_only_publicize_and_puts_the_part_on_the_issuers_bulletin_list(factory, tasks_world):
    w = tasks_world
    lead, co = ids(factory, w, "2")
    deadline = date(2026, 10, 16)
    set_deadline(factory, [lead], deadline)
    as_of = nth_working_day(deadline, 22)  # the service was down since before the deadline
    report = run(factory, as_of)
    (mine,) = [f for f in report.fired if f.assignment_id == lead]
    assert mine.steps == ["publicize"] and mine.skipped == {"publicize": ["remind", "overdue", "urge", "summon"]}
    assert report.bulletin_entries == 1
    with read_only(factory) as s:
        part = s.get(TaskAssignment, lead)
        assert part.escalation_fired == 31 and part.escalation_step == "publicize"
        # the skipped 督办函 is not issued: a catch-up sends one notice, not five
        assert s.scalar(select(func.count()).select_from(OutboxMessage)
                        .where(OutboxMessage.kind == "document.task_urge_letter")) == 0
        (item,) = s.scalars(select(BulletinItem)).all()
        item_id = item.id
        days = sum(1 for i in range(1, (as_of - deadline).days + 1) if CAL.is_working_day(deadline + timedelta(days=i)))
        assert item.key == f"overdue_task:{lead}:{deadline.isoformat()}" and item.kind == "overdue_task"
        assert item.region_code == "140900" and item.month == f"{as_of:%Y-%m}" and item.status == "proposed"
        assert "任务2「开展危险化学品企业专项检查" in item.reason and f"逾期{days}个工作日" in item.reason
        unit = s.get(Organisation, part.org_id).name
        assert f"承担单位：{unit}（牵头）" in item.reason
        (out,) = review.items_of(s, "140900", f"{as_of:%Y-%m}")
        assert out.kind_label == "任务逾期未完成" and out.assignment_id == lead and out.task_number == "2"
        assert out.subject == unit and out.hazard_id is None and out.plan_id == w.plan_id
    again = run(factory, as_of + timedelta(days=1))
    assert [f for f in again.fired if f.assignment_id == lead] == [] and again.bulletin_entries == 0
    with read_only(factory) as s:
        assert s.scalar(select(func.count()).select_from(BulletinItem)) == 1
    # the office includes it and issues the 通报: a row of its own kind, naming the task and the unit
    now = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)
    with transaction(factory) as s:
        review.decide(s, w.office, item_id, "include", None, now=now)
        issued = issue.issue(s, w.office, region="140900", month=f"{as_of:%Y-%m}", now=now)
    with read_only(factory) as s:
        html = s.get(Bulletin, issued.id).html
    assert "任务逾期未完成（1项）" in html and "2. 开展危险化学品企业专项检查" in html
    assert f"<td>{unit}</td>" in html and f"逾期{days}个工作日未完成" in html


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_sweeps_at_once_fire_each_step_once(factory, tasks_world):
    with read_only(factory) as s:
        parts = [p.id for p in s.scalars(select(TaskAssignment).order_by(TaskAssignment.id))]
    as_of = date(2026, 11, 25)
    with transaction(factory) as s:  # spread the deadlines so the parts are due for different steps
        for i, part_id in enumerate(parts):
            s.execute(update(TaskAssignment).where(TaskAssignment.id == part_id)
                      .values(deadline=as_of - timedelta(days=i * 2 - 4)))
    barrier = threading.Barrier(2)
    reports = []

    def one():
        barrier.wait()
        reports.append(sweep_mod.sweep(UnitOfWork(factory), now=START, calendar=CAL, config=CONFIG, as_of=as_of,
                                       batch_size=3))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(reports) == 2 and all(r.selected > 0 for r in reports)
    with read_only(factory) as s:
        fired = Counter()
        for part_id in parts:
            for e in records.trail(s, f"assignment:{part_id}"):
                if e.action == "escalate":
                    fired[(part_id, json.loads(e.payload)["body"]["step"])] += 1
        assert fired and max(fired.values()) == 1
        assert sum(r.events for r in reports) == sum(fired.values())
        entries = s.scalar(select(func.count()).select_from(BulletinItem))
        assert entries == sum(r.bulletin_entries for r in reports) > 0
        assert records.verify(s)[2] == []
    assert run(factory, as_of).events == 0


# --- `hazard tasks sweep` -----------------------------------------------------------------------

from tests.app.cli.test_cli_audit import run_cli  # noqa: E402,F401 - the in-process CLI fixture


def test_cli_sweep_dry_run_lists_then_fires(factory, tasks_world, run_cli):  # noqa: F811
    (part,) = ids(factory, tasks_world, "1")
    set_deadline(factory, [part], date(2026, 11, 2))
    at = nth_working_day(date(2026, 11, 2), 5).isoformat()
    status, out, err = run_cli("tasks", "sweep", "--as-of", at, "--dry-run")
    assert status == 0, err
    assert f"任务分工 #{part}\t发督办函（已跳过：任务完成时限临近提醒、任务逾期预警）" in out
    assert escalations(factory, part) == []
    status, out, _ = run_cli("tasks", "sweep", "--as-of", at)
    assert status == 0 and f"任务督办完成：截至 {at}，1 项任务分工触发 1 个步骤（发督办函 1）" in out
    assert [b["step"] for b in escalations(factory, part)] == ["urge"]
    status, out, _ = run_cli("tasks", "sweep", "--as-of", at)
    assert "0 项任务分工触发 0 个步骤（无）" in out


def test_cli_sweep_refuses_a_bad_date(run_cli, capsys):  # noqa: F811
    with pytest.raises(SystemExit) as exc:
        run_cli("tasks", "sweep", "--as-of", "2026-02-30")
    assert exc.value.code == 2 and "日期格式应为 YYYY-MM-DD：2026-02-30" in capsys.readouterr().err


def test_reported_parts_wait_and_a_granted_extension_restarts_the_ladder(factory, tasks_world):
    w = tasks_world
    (part,) = ids(factory, w, "1")
    set_deadline(factory, [part], date(2026, 11, 24))
    with transaction(factory) as s:
        engine.perform(s, w.ema, part, "request_extension", {"new_deadline": "2026-12-31", "reason": "需协调"},
                       now=START)
    run(factory, date(2026, 11, 24))
    assert [b["step"] for b in escalations(factory, part)] == ["overdue"]
    with transaction(factory) as s:
        engine.perform(s, w.office, part, "grant_extension", {"note": "同意"}, now=START)
    assert [f for f in run(factory, date(2026, 11, 25)).fired if f.assignment_id == part] == []
    remind = nth_working_day(date(2026, 12, 31), -3)
    assert [f.steps for f in run(factory, remind).fired if f.assignment_id == part] == [["remind"]]
    with transaction(factory) as s:
        engine.perform(s, w.ema, part, "report_completion", DONE, now=START)
    assert [f for f in run(factory, date(2026, 12, 31)).fired if f.assignment_id == part] == []


def test_progress_reminder_once_a_month_for_year_long_parts_without_progress(factory, tasks_world):
    counties = ids(factory, tasks_world, "3")
    assert len(counties) == 14
    with read_only(factory) as s:
        assert all(p.year_long for p in s.scalars(select(TaskAssignment).where(TaskAssignment.id.in_(counties))))
    # the day: three working days before November's last working day, counted here
    last = date(2026, 11, 30)
    while not CAL.is_working_day(last):
        last -= timedelta(days=1)
    day = nth_working_day(last, -3)
    with transaction(factory) as s:  # one county reported progress this month
        s.execute(update(TaskAssignment).where(TaskAssignment.id == counties[0]).values(
            last_progress_at=datetime(2026, 11, 3, 2, 0, tzinfo=timezone.utc), progress_count=1))

    def reminded(report):
        return sorted(f.assignment_id for f in report.fired if "progress_remind" in f.steps)

    assert reminded(run(factory, day - timedelta(days=1))) == []
    assert reminded(run(factory, day)) == counties[1:]
    assert reminded(run(factory, day + timedelta(days=1))) == []  # once a month
    body = [b for b in escalations(factory, counties[1]) if b["step"] == "progress_remind"]
    assert body == [{"step": "progress_remind", "as_of": day.isoformat(), "skipped": [], "month": "2026-11"}]
    with read_only(factory) as s:
        assert s.get(TaskAssignment, counties[1]).progress_reminded == "2026-11"
    # December: again, for all of them (last month's progress does not count for this one)
    last = date(2026, 12, 31)
    while not CAL.is_working_day(last):
        last -= timedelta(days=1)
    assert reminded(run(factory, nth_working_day(last, -3))) == counties


def test_a_part_acted_on_between_selection_and_firing_is_read_again(factory, tasks_world, monkeypatch):
    w = tasks_world
    (own,) = ids(factory, w, "1")
    lead, co = ids(factory, w, "2")
    set_deadline(factory, [own, lead, co], date(2026, 11, 24))
    select_batches = sweep_mod.due_batches

    def racing(uow, cut, size):
        for rows in select_batches(uow, cut, size):
            with transaction(factory) as s:  # the unit reports completion after the selection
                engine.perform(s, w.ema, own, "report_completion", DONE, now=START)
            yield rows

    monkeypatch.setattr(sweep_mod, "due_batches", racing)
    report = run(factory, date(2026, 11, 24))
    assert sorted(f.assignment_id for f in report.fired) == [lead, co]
    assert escalations(factory, own) == []


def test_a_part_refused_in_its_batch_is_redone_alone(factory, tasks_world, monkeypatch):
    lead, co = ids(factory, tasks_world, "2")
    set_deadline(factory, [lead, co], date(2026, 11, 24))
    perform = engine.perform
    refused = []

    def lost_race(session, actor, part_id, action, data, **kw):
        if part_id == lead and not refused:
            refused.append(part_id)
            raise Conflict("该任务刚被他人处理，请刷新后重试", code="concurrent_update")
        return perform(session, actor, part_id, action, data, **kw)

    monkeypatch.setattr(engine, "perform", lost_race)
    report = run(factory, date(2026, 11, 24))
    assert refused == [lead] and report.retried == 1
    assert sorted(f.assignment_id for f in report.fired) == [lead, co]
    assert [b["step"] for b in escalations(factory, lead)] == ["overdue"]
    assert [b["step"] for b in escalations(factory, co)] == ["overdue"]


def test_dry_run_lists_and_changes_nothing(factory, tasks_world):
    (part,) = ids(factory, tasks_world, "1")
    set_deadline(factory, [part], date(2026, 11, 24))
    report = run(factory, date(2026, 11, 24), dry_run=True)
    assert [f.steps for f in report.fired if f.assignment_id == part] == [["overdue"]]
    assert escalations(factory, part) == []


# --- the 通报 page ---------------------------------------------------------------------------------

from tests.app.web.conftest import browser, csrf_of  # noqa: E402,F401 - the logged-in browser fixture


def test_the_bulletin_page_shows_an_overdue_task_and_issues_it(factory, tasks_world, browser):  # noqa: F811
    lead, _ = ids(factory, tasks_world, "2")
    deadline = date(2026, 10, 16)
    set_deadline(factory, [lead], deadline)
    run(factory, date(2026, 11, 24))
    with read_only(factory) as s:
        item_id = s.scalar(select(BulletinItem.id))
        unit = s.get(Organisation, s.get(TaskAssignment, lead).org_id).name
    office = browser("xz_office")
    page = office.get("/bulletins?month=2026-11&region=140900")
    assert page.status_code == 200 and "任务逾期未完成" in page.text
    assert f'{unit}：<a href="/tasks/{lead}">任务2</a>' in page.text and "开展危险化学品企业专项检查" in page.text
    token = csrf_of(page.text)
    ok = office.post(f"/bulletins/items/{item_id}/review", data={"csrf_token": token, "decision": "include", "note": ""})
    assert ok.status_code == 303
    issued = office.post("/bulletins/issue", data={"csrf_token": token, "month": "2026-11", "region": "140900"})
    assert issued.status_code == 303
    with read_only(factory) as s:
        bulletin_id = s.scalar(select(Bulletin.id))
    doc = office.get(f"/bulletins/{bulletin_id}/document")
    assert doc.status_code == 200 and "<th>任务</th><th>责任单位</th><th>情况</th>" in doc.text and unit in doc.text


def test_the_office_duty_answers_its_counts_and_changes_nothing_the_second_time(factory, tasks_world):
    from services.tasks import duties

    lead, co = ids(factory, tasks_world, "2")
    set_deadline(factory, [lead, co], date(2026, 10, 1))
    first = duties.sweep(UnitOfWork(factory), now=START, calendar=CAL)
    assert first["parts"] == 2 and first["step_publicize"] == 2 and first["bulletin_entries"] == 2
    second = duties.sweep(UnitOfWork(factory), now=START, calendar=CAL)
    assert second["events"] == 0 and second["bulletin_entries"] == 0
