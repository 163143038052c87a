"""Loading the 2027 arrangement while deadlines already run into 2027, on SQLite and PostgreSQL:
`hazard calendar set-year|status|unset` as an admin uses them, open deadlines left as they were
written, the ladder counting the new working days from the next sweep on, and another process
seeing a newly loaded year within the refresh interval without a restart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from db.engine import UnitOfWork, make_session_factory, read_only, transaction
from db.models import AuditEvent, CalendarYear, Hazard
from services.calendar import arrangements, years as calendar_years
from services.engine import transitions
from services.calendar.workdays import default_calendar
from services.kernel.clock import local_date
from services.escalation.ladder import LadderConfig, Step, cutoffs
from services.escalation.sweep import sweep
from tests.conftest import START
from tests.helpers import body_for, new_hazard
from tests.app.cli.test_cli_audit import run_cli  # noqa: F401 - the in-process CLI fixture

ROOT = Path(__file__).resolve().parents[3]
CONFIG = LadderConfig()
# A 2027 arrangement as the State Council might publish it: 春节 5–12 Feb off, Sat 20 Feb worked.
HOLIDAYS = "2027-01-01..2027-01-03,2027-02-05..2027-02-12"
WORKDAYS = "2027-02-20"


@pytest.fixture(autouse=True)
def _no_loaded_years():
    """The process's calendar starts and ends with no admin-loaded year (it is process-wide)."""
    calendar_years.SYNC.forget()
    yield
    calendar_years.SYNC.forget()




def register(factory, world, clock, deadline: date) -> int:
    hid = new_hazard(factory, world, clock())
    body = body_for("register", today=local_date(clock()), level="general", uscc=world.enterprises["coal"])
    body["deadline"] = deadline.isoformat()
    with transaction(factory) as s:
        transitions.perform(s, world.p("inspector"), hid, "register", body, now=clock())
    return hid


def sweep_on(factory, clock, as_of: date, *, dry_run: bool = False):
    # As `hazard escalate` and the flow do: re-read the loaded years when the sweep starts.
    calendar = calendar_years.refresh(UnitOfWork(factory), force=True)
    return sweep(UnitOfWork(factory), now=clock(), calendar=calendar, config=CONFIG, as_of=as_of, dry_run=dry_run,
                 keep_details=True)


def hazard_row(factory, hid: int) -> tuple[date, int, int, int]:
    with read_only(factory) as s:
        h = s.get(Hazard, hid)
        events = s.execute(select(func.count()).select_from(AuditEvent).where(AuditEvent.hazard_id == hid)).scalar_one()
        return h.deadline, h.version, h.escalation_fired, events


def test_loading_2027_keeps_open_deadlines_and_moves_the_ladder_to_the_new_working_days(
        factory, world, clock, run_cli):
    hid = register(factory, world, clock, date(2027, 2, 1))  # a Monday
    on_new_holiday = register(factory, world, clock, date(2027, 2, 10))  # a Wednesday, off once loaded

    # Provisional 2027 (statutory days only: 除夕 5 Feb to 8 Feb): the 督办函 (+5 working days) is due
    # on Wed 10 Feb: 2, 3, 4, 9, 10 Feb.
    assert default_calendar().resolve(2027).source == "provisional"
    assert [f.steps for f in sweep_on(factory, clock, date(2027, 1, 27)).fired if f.hazard_id == hid] == [["remind"]]
    assert [f.steps for f in sweep_on(factory, clock, date(2027, 2, 1)).fired if f.hazard_id == hid] == [["overdue"]]
    assert not [f for f in sweep_on(factory, clock, date(2027, 2, 9), dry_run=True).fired if f.hazard_id == hid]
    provisional = sweep_on(factory, clock, date(2027, 2, 10), dry_run=True)
    assert [f.steps for f in provisional.fired if f.hazard_id == hid] == [["urge"]]
    with read_only(factory) as s:
        code_hid, code_off = s.get(Hazard, hid).code, s.get(Hazard, on_new_holiday).code
    code, out, _ = run_cli("escalate", "--at", "2027-02-10", "--dry-run")
    assert code == 0 and f"{code_hid}\t" in out and "(urge)" in out.split(code_hid)[1].splitlines()[0]
    before = hazard_row(factory, hid), hazard_row(factory, on_new_holiday)

    code, out, err = run_cli("calendar", "set-year", "2027", "--holidays", HOLIDAYS, "--workdays", WORKDAYS,
                             "--note", "国办发明电〔2026〕x号", "--by", "admin")
    assert code == 0, err
    assert "已载入 2027 年的节假日安排：放假日 11 天，调休上班日 1 天。" in out
    assert "2 条在办隐患的整改期限在 2027 年：期限日期保持不变" in out
    assert "其中 1 条的整改期限现落在休息日" in out and f"{code_off}\t2027年2月10日" in out

    # Nothing about the hazards was rewritten: same deadlines, versions, ladder bits and trail.
    assert (hazard_row(factory, hid), hazard_row(factory, on_new_holiday)) == before
    assert before[0][0] == date(2027, 2, 1) and before[1][0] == date(2027, 2, 10)

    # A process that started before the load (here: one that knows no loaded year) re-reads the
    # table when its sweep starts: on 10 Feb the 督办函 is no longer due.
    calendar_years.SYNC.forget()
    code, out, _ = run_cli("escalate", "--at", "2027-02-10", "--dry-run")
    assert code == 0 and code_hid not in out
    assert default_calendar().source(2027) == "admin"

    # The next sweeps count the published days: 5–12 Feb are off, so +5 is Tue 16 Feb (2, 3, 4, 15, 16).
    calendar = calendar_years.refresh(UnitOfWork(factory), force=True)
    assert calendar.source(2027) == "admin"
    assert cutoffs(date(2027, 2, 16), calendar, CONFIG).deadline[Step.urge] == date(2027, 2, 1)
    for day in (date(2027, 2, 10), date(2027, 2, 12), date(2027, 2, 15)):
        report = sweep_on(factory, clock, day)
        assert not [f for f in report.fired if f.hazard_id == hid and "urge" in f.steps], day
    assert hazard_row(factory, hid)[2] & Step.urge == 0
    report = sweep_on(factory, clock, date(2027, 2, 16))
    assert [f.steps for f in report.fired if f.hazard_id == hid] == [["urge"]]
    deadline, _, fired, _ = hazard_row(factory, hid)
    assert deadline == date(2027, 2, 1) and fired & Step.urge
    assert hazard_row(factory, on_new_holiday)[0] == date(2027, 2, 10)


def test_status_lists_the_years_and_the_open_deadlines_counted_on_a_provisional_one(factory, world, clock, run_cli):
    register(factory, world, clock, date(2027, 3, 1))
    register(factory, world, clock, date(2027, 6, 30))
    closed = register(factory, world, clock, date(2027, 7, 1))
    with transaction(factory) as s:  # a closed hazard's deadline is nobody's concern any more
        s.get(Hazard, closed).state = "closed"

    code, out, _ = run_cli("calendar", "status", "--json")
    assert code == 0
    years = {y["year"]: y for y in json.loads(out)["years"]}
    assert years[2026]["source"] == "package" and years[2026]["label"] == "官方安排（软件包）"
    assert years[2027] | {"working_days": 0} == {
        "year": 2027, "source": "provisional", "label": "暂定（按法定节假日推算）", "provisional": True,
        "working_days": 0, "open_deadlines": 2, "loaded_at": None, "loaded_by": None, "note": None}
    assert 2028 in years  # the year after the latest open deadline

    code, out, _ = run_cli("calendar", "status")
    assert "2027\t暂定（按法定节假日推算）\t254\t2" in out
    assert "注意：2027 年尚无正式安排，有 2 条在办隐患的整改期限在该年" in out
    assert "hazard calendar set-year 2027" in out

    code, out, _ = run_cli("calendar", "set-year", "2027", "--holidays", HOLIDAYS, "--workdays", WORKDAYS,
                           "--by", "li", "--note", "国办发明电〔2026〕x号", "--json")
    change = json.loads(out)
    assert change["source_before"] == "provisional" and change["source_after"] == "admin"
    assert (change["working_days_before"], change["working_days_after"]) == (254, 255)
    assert change["open_deadlines"] == 2 and change["statutory_not_listed"][:1] == ["2027-04-05"]

    code, out, _ = run_cli("calendar", "status", "--json")
    row = {y["year"]: y for y in json.loads(out)["years"]}[2027]
    assert (row["source"], row["label"], row["loaded_by"], row["note"]) == (
        "admin", "管理员载入", "li", "国办发明电〔2026〕x号")
    assert not row["provisional"] and row["loaded_at"]
    code, out, _ = run_cli("calendar", "status")
    assert "注意：2027" not in out and "管理员载入（" in out


def test_refusals_name_the_bad_value_and_load_nothing(factory, run_cli, tmp_path):
    code, _, err = run_cli("calendar", "set-year", "2027", "--holidays", "2027-01-01,2026-12-31",
                           "--workdays", "2027-02-15")
    assert code == 2
    assert "错误：2027 年的节假日安排有误，未载入。" in err
    assert "holidays: 「2026-12-31」不在 2027 年内" in err
    assert "workdays: 「2027-02-15」是星期一，调休上班日只能是星期六或星期日" in err
    code, _, err = run_cli("calendar", "set-year", "2027", "--file", str(tmp_path / "none.toml"))
    assert code == 2 and "找不到文件" in err
    code, _, err = run_cli("calendar", "unset", "2027")
    assert code == 2 and "2027 年没有管理员载入的节假日安排" in err
    with pytest.raises(SystemExit):
        run_cli("calendar", "set-year", "27", "--holidays", "2027-01-01")
    with read_only(factory) as s:
        assert s.execute(select(func.count()).select_from(CalendarYear)).scalar_one() == 0


def test_a_file_loads_like_the_options_and_loading_again_replaces_the_year(factory, run_cli, tmp_path):
    path = tmp_path / "2027.toml"
    path.write_text('[2027]\nnote = "国办发明电〔2026〕x号"\nholidays = ["2027-01-01", "2027-02-05"]\n'
                    'workdays = ["2027-02-20"]\n', encoding="utf-8")
    code, out, err = run_cli("calendar", "set-year", "2027", "--file", str(path), "--json")
    assert code == 0, err
    assert json.loads(out)["holidays"] == ["2027-01-01", "2027-02-05"]
    code, out, _ = run_cli("calendar", "set-year", "2027", "--holidays", "2027-01-01", "--json")
    assert json.loads(out)["source_before"] == "admin"
    with read_only(factory) as s:
        row = s.get(CalendarYear, 2027)
        assert json.loads(row.holidays) == ["2027-01-01"] and json.loads(row.workdays) == []
        assert row.note is None and row.loaded_by.startswith("cli")


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_another_process_sees_a_newly_loaded_year_within_the_refresh_interval(factory, db_url):
    """This test's process plays the API (its calendar kept by a `CalendarSync`, clock injected); a
    real `hazard` process loads and removes 2027 meanwhile."""
    tick = FakeMonotonic()
    sync = calendar_years.CalendarSync(30.0, monotonic=tick)
    assert sync.refresh(UnitOfWork(factory)).source(2027) == "provisional"

    env = {**os.environ, "HAZARD_DATABASE_URL": db_url, "HAZARD_LOG_FORMAT": "json"}

    def hazard(*argv: str) -> str:
        done = subprocess.run([sys.executable, "-m", "app.cli.main", *argv], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    hazard("calendar", "set-year", "2027", "--holidays", HOLIDAYS, "--workdays", WORKDAYS)
    tick.now += 29
    assert not sync.due(UnitOfWork(factory))
    assert sync.refresh(UnitOfWork(factory)).source(2027) == "provisional"  # not re-read yet: no query at all
    tick.now += 1
    assert sync.due(UnitOfWork(factory))
    calendar = sync.refresh(UnitOfWork(factory))
    assert calendar.source(2027) == "admin" and not calendar.is_working_day(date(2027, 2, 10))
    assert default_calendar() is calendar  # every caller of the process now counts with it

    hazard("calendar", "unset", "2027")
    assert sync.refresh(UnitOfWork(factory), force=True).source(2027) == "provisional"  # a sweep re-reads at once


def test_a_failed_read_keeps_the_years_known_and_retries_later(factory, tmp_path):
    tick = FakeMonotonic()
    sync = calendar_years.CalendarSync(30.0, monotonic=tick)
    with transaction(factory) as s:
        calendar_years.set_year(s, arrangements.from_text(2027, HOLIDAYS, WORKDAYS), calendar=default_calendar(),
                                note=None, by="t", now=START)
    assert sync.refresh(UnitOfWork(factory)).source(2027) == "admin"

    broken = make_session_factory(create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}"))
    assert sync.refresh(UnitOfWork(broken)).source(2027) == "admin"  # unreadable: keep what is known
    assert not sync.due(UnitOfWork(broken))  # and do not ask again at once
    tick.now += 30
    assert sync.due(UnitOfWork(broken))
