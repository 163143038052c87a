"""The audit verification covers a task list's parts (services/audit/verification.py, replay.py):
each part's row agrees with its chain `assignment:<id>` (version = its events, audit_head = the last
hash, state = the last `to_state`, and every column an event wrote); a row changed by hand, with
SQL and no event, is reported naming the part, by the service, `hazard audit verify` and the API."""

from __future__ import annotations

import json

from sqlalchemy import select, text

from db.engine import read_only, transaction
from db.models import Organisation
from services.audit import verification
from services.tasks import engine
from tests.app.cli.test_cli_audit import run_cli  # noqa: F401 - the in-process CLI fixture
from tests.conftest import START

DONE = {"summary": "已印发责任清单", "completed_on": "2026-11-20", "evidence_text": "忻应急发〔2026〕12号"}


def _verify(factory):
    with read_only(factory) as s:
        return verification.verify(s)


def _walk(factory, w) -> int:
    """Part of task 1 through acknowledgement, progress, an extension and a reported completion."""
    with read_only(factory) as s:
        (own,) = [p.id for p in w.parts(s, "1")]
    for who, action, body in ((w.ema, "acknowledge", {}), (w.ema2, "report_progress", {"text": "已起草"}),
                              (w.ema, "request_extension", {"new_deadline": "2027-02-28", "reason": "待审定"}),
                              (w.office, "grant_extension", {"note": "同意"}), (w.ema, "report_completion", DONE)):
        with transaction(factory) as s:
            engine.perform(s, who, own, action, body, now=START)
    return own


def test_untouched_parts_agree_with_their_chains(factory, tasks_world):
    _walk(factory, tasks_world)
    report = _verify(factory)
    assert report.ok, report.problems
    assert report.parts_checked == 17 and report.out().model_dump()["parts_checked"] == 17
    assert report.records_checked >= 17  # the parts' chains are among the records walked


def test_a_part_edited_by_hand_is_named(factory, tasks_world, run_cli):  # noqa: F811 - the fixture
    w = tasks_world
    own = _walk(factory, w)
    with transaction(factory) as s:  # the deadline moved back, without an event
        s.execute(text("UPDATE task_assignments SET deadline = '2026-12-31' WHERE id = :id"), {"id": own})
    report = _verify(factory)
    assert not report.ok
    (problem,) = report.problems
    with read_only(factory) as s:
        unit = s.scalar(select(Organisation.name).where(Organisation.id == w.ema.organisation_id))
    assert (problem.kind, problem.subject, problem.hazard_id) == ("row_mismatch", f"assignment:{own}", None)
    assert problem.message.startswith(f"任务 1 {unit}的承担记录（assignment:{own}）")
    assert "完成时限（deadline）为 2026-12-31，按审计事件应为 2027-02-28" in problem.message

    code, out, err = run_cli("audit", "verify")
    assert code == 1 and f"记录 assignment:{own}" in err and "row_mismatch" in err
    code, out, _ = run_cli("audit", "verify", "--json")
    assert code == 1 and json.loads(out)["first_bad_event"]["subject"] == f"assignment:{own}"


def test_a_state_version_or_head_changed_by_hand_is_named(factory, tasks_world):
    w = tasks_world
    own = _walk(factory, w)
    with read_only(factory) as s:
        other = [p.id for p in w.parts(s, "2")][1]  # 住建局's part: only its assign event
    with transaction(factory) as s:  # 核查 skipped: verified with no verify event
        s.execute(text("UPDATE task_assignments SET state = 'verified' WHERE id = :id"), {"id": own})
        s.execute(text("UPDATE task_assignments SET version = 2, audit_head = :h WHERE id = :id"),
                  {"id": other, "h": "0" * 64})
    problems = {p.subject: p.message for p in _verify(factory).problems}
    assert set(problems) == {f"assignment:{own}", f"assignment:{other}"}
    assert "状态（state）为 verified，按审计事件应为 reported" in problems[f"assignment:{own}"]
    assert "版本（version）为 2，按审计事件应为 1" in problems[f"assignment:{other}"]
    assert "链头哈希（audit_head）" in problems[f"assignment:{other}"]


def test_the_api_reports_a_tampered_part(factory, tasks_world, client, world):
    own = _walk(factory, tasks_world)
    with transaction(factory) as s:
        s.execute(text("UPDATE task_assignments SET returned_count = 3 WHERE id = :id"), {"id": own})
    answer = client.get("/api/v1/audit/verify", headers=world.auth("auditor")).json()
    assert answer["ok"] is False and answer["parts_checked"] == 17
    assert answer["first_bad_event"]["subject"] == f"assignment:{own}"
    assert "退回次数（returned_count）为 3，按审计事件应为 0" in answer["first_bad_event"]["message"]
