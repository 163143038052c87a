"""The `office-duties` flow for real against the test Prefect server: each duty one task run, the
sweeps' counts returned (直报's drafts and reminders, the returns' reminders), and a second run on the same day changing nothing; a failing duty does
not stop the others but fails the run."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from db.engine import read_only
from db.models import ReportSubmission
from flows import office
from flows.office import office_duties
from tests.flows.test_flows import flow_settings, prefect_api, task_runs  # noqa: F401 - fixtures

NOV30 = datetime(2026, 11, 30, 0, 30, tzinfo=timezone.utc)  # 08:30 on the deadline day


@pytest.mark.usefixtures("prefect_api", "flow_settings")
def test_office_duties_flow_prepares_drafts_and_reminds_once(factory, world):
    state = office_duties(now=NOV30, return_state=True)
    assert state.is_completed(), state
    result = state.result()
    counts = result["report-submissions"]
    assert result["as_of"] == "2026-11-30"
    with read_only(factory) as s:
        drafts = s.scalar(select(func.count()).select_from(ReportSubmission).where(ReportSubmission.state == "draft"))
    assert counts["drafts_created"] == drafts > 0 and counts["remind"] > 0 and counts["late"] == 0
    # Every duty ran, in the declared order. (Their task runs are not read back from the server:
    # Prefect 3 records task runs from its event stream, which the SQLite test server drops under
    # a parallel test run — "database is locked".)
    assert [k for k in result if k != "as_of"] == list(office.DUTIES)
    assert result["self-inspection-returns"]["remind"] == 3  # the world's three enterprises owe November's
    again = office_duties(now=NOV30)
    second = again["report-submissions"]
    assert second["drafts_created"] == 0 and second["remind"] == 0 and second["messages"] == 0
    assert again["self-inspection-returns"] == dict.fromkeys(result["self-inspection-returns"], 0)


@pytest.mark.usefixtures("flow_settings")
def test_a_failing_duty_fails_the_run_after_the_others(factory, world, monkeypatch):
    ran = []

    def broken(uow, *, now, calendar):
        raise ValueError("boom")

    def fine(uow, *, now, calendar):
        ran.append(now)
        return {"done": 1}

    monkeypatch.setattr(office, "DUTIES", {"broken": broken, "fine": fine})
    with pytest.raises(RuntimeError, match="broken"):
        office_duties.fn(now=NOV30)
    assert ran == [NOV30]
    assert office_duties.fn(now=NOV30, only=["fine"]) == {"as_of": "2026-11-30", "fine": {"done": 1}}
