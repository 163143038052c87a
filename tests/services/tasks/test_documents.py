"""A task list's documents through the document engine (services/tasks/documents.py): the plan's
任务交办通知 issued once at publication, a part's 督办函 on its `urge` step, both numbered gapless
per 代字, stored with their SHA-256 and recorded on the plan's or the part's chain; a retried run
issues nothing twice; reading them under the parts' scope."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from db.engine import UnitOfWork, read_only, transaction
from db.models import Document, Organisation, OutboxMessage, TaskAssignment
from services import documents
from services.accounts.auth import SYSTEM
from services.audit import records
from services.kernel.errors import NotFound
from services.tasks import documents as task_documents, engine
from tests.conftest import START

LATE = datetime(2027, 1, 12, 2, 0, tzinfo=timezone.utc)  # a Tuesday: task 1 (due 2026-12-31) is 12 days late


def _docs(factory) -> list[Document]:
    with read_only(factory) as s:
        rows = list(s.scalars(select(Document).order_by(Document.id)))
        s.expunge_all()
        return rows


def _part(factory, w, number: str) -> int:
    with read_only(factory) as s:
        return w.parts(s, number)[0].id


def _urge(factory, part_id: int, *, now=LATE) -> None:
    with transaction(factory) as s:
        engine.perform(s, SYSTEM, part_id, "escalate", {"step": "urge", "as_of": now.date().isoformat()}, now=now)


def test_the_published_plan_gets_one_numbered_notice_naming_its_units(factory, tasks_world):
    w = tasks_world
    # the flow's batches take rows about no hazard too (a plan's, a part's): no inner join on hazards
    ids, codes = documents.next_batch(UnitOfWork(factory), START, 200, 10)
    with read_only(factory) as s:
        notice_row = s.scalar(select(OutboxMessage.id).where(OutboxMessage.kind == "document.task_assignment_notice"))
    assert ids == [notice_row] and codes == []

    report = documents.issue_pending(UnitOfWork(factory), now=START)
    assert (report.issued, report.failed) == (1, 0)
    (doc,) = _docs(factory)
    assert (doc.kind, doc.title, doc.issuer_name, doc.number) == (
        "task_assignment_notice", "任务交办通知", "忻州市安全生产委员会办公室", "忻安委办交〔2026〕1号")
    assert (doc.plan_id, doc.assignment_id, doc.hazard_id, doc.event_id) == (w.plan_id, None, None, None)
    assert doc.sha256 == hashlib.sha256(doc.html.encode("utf-8")).hexdigest()
    with read_only(factory) as s:
        counties = s.scalar(select(func.count()).select_from(TaskAssignment).join(
            Organisation, Organisation.id == TaskAssignment.org_id).where(
            TaskAssignment.plan_id == w.plan_id, Organisation.name.like("%人民政府")))
        names = dict(s.execute(select(Organisation.id, Organisation.name).where(Organisation.id.in_(
            [w.ema.organisation_id, w.housing.organisation_id]))).all())
        trail = [(e.action, json.loads(e.payload)) for e in records.trail(s, f"plan:{w.plan_id}")]
        publish = next(e.id for e in records.trail(s, f"plan:{w.plan_id}") if e.action == "publish")
    assert counties == 14
    ema, housing = names[w.ema.organisation_id], names[w.housing.organisation_id]
    # 市应急局: task 1 (负责) and task 2 (牵头); 市住建局: task 2 (配合)
    assert f"<td>{ema}</td><td>2</td><td>2</td><td>0</td>" in doc.html
    assert f"<td>{housing}</td><td>1</td><td>0</td><td>1</td>" in doc.html
    assert "《忻州市2026年重点任务》（2026年，共3项任务）" in doc.html
    assert '<td colspan="2">合计</td><td>17</td><td>16</td><td>1</td>' in doc.html  # 1 + 2 + 14 parts
    assert "系统中" in doc.html and "2026年11月24日" in doc.html  # reported in the system; dated by publication
    assert trail[-1][0] == "issue_document"
    assert trail[-1][1] == {
        "kind": "task_assignment_notice", "number": doc.number, "title": "任务交办通知", "sha256": doc.sha256,
        "document_id": doc.id, "outbox_id": doc.outbox_id, "record_event_id": publish}

    again = documents.issue_pending(UnitOfWork(factory), now=START)  # a retried run issues nothing twice
    assert (again.issued, again.failed) == (0, 0) and len(_docs(factory)) == 1
    with read_only(factory) as s:
        assert [e.action for e in records.trail(s, f"plan:{w.plan_id}")].count("issue_document") == 1
        assert records.verify(s)[2] == []


def test_an_urge_step_issues_a_letter_to_the_unit(factory, tasks_world):
    w = tasks_world
    documents.issue_pending(UnitOfWork(factory), now=START)  # the notice
    part_id = _part(factory, w, "1")
    _urge(factory, part_id)
    ids, _ = documents.next_batch(UnitOfWork(factory), LATE, 200, 10)
    assert len(ids) == 1
    report = documents.issue_pending(UnitOfWork(factory), now=LATE)
    assert (report.issued, report.failed) == (1, 0)
    letter = _docs(factory)[-1]
    with read_only(factory) as s:
        unit = s.get(Organisation, w.ema.organisation_id).name
        p = s.get(TaskAssignment, part_id)
        part = (p.version, p.audit_head, p.state)
        trail = [(e.action, json.loads(e.payload), e.hash) for e in records.trail(s, engine.chain(part_id))]
    assert (letter.kind, letter.title, letter.number) == ("task_urge_letter", "督办函", "忻安委办函〔2027〕1号")
    assert (letter.plan_id, letter.assignment_id, letter.hazard_id) == (w.plan_id, part_id, None)
    html = letter.html
    assert f"{unit}：" in html and "建立安全生产责任清单" in html and "2026年12月31日" in html
    assert "已逾期12天" in html and "截至2027年1月12日" in html
    assert "2027年1月19日前（5个工作日内）" in html  # 5 working days from Tue 12 January
    assert [e[0] for e in trail][-2:] == ["escalate", "issue_document"]
    assert trail[-1][1]["body"] == {
        "kind": "task_urge_letter", "number": letter.number, "title": "督办函", "sha256": letter.sha256,
        "document_id": letter.id}
    assert part == (len(trail), trail[-1][2], "assigned")

    # another part's letter: the next number of the same series, nothing issued twice on a rerun
    _urge(factory, _part(factory, w, "2"))
    documents.issue_pending(UnitOfWork(factory), now=LATE)
    assert documents.issue_pending(UnitOfWork(factory), now=LATE).issued == 0
    assert [d.number for d in _docs(factory)] == ["忻安委办交〔2026〕1号", "忻安委办函〔2027〕1号", "忻安委办函〔2027〕2号"]


def test_the_letter_states_the_deadline_as_it_stood_at_the_step(factory, tasks_world):
    """An extension granted after the step but before the letter is issued does not change it."""
    w = tasks_world
    part_id = _part(factory, w, "1")
    _urge(factory, part_id)
    with transaction(factory) as s:
        engine.perform(s, w.ema, part_id, "request_extension", {"new_deadline": "2027-03-31", "reason": "待省厅部署"},
                       now=LATE)
    with transaction(factory) as s:
        engine.perform(s, w.office, part_id, "grant_extension", {"note": "同意"}, now=LATE)
    documents.issue_pending(UnitOfWork(factory), now=LATE)
    letter = next(d for d in _docs(factory) if d.kind == "task_urge_letter")
    assert "完成时限为2026年12月31日" in letter.html and "2027年3月31日" not in letter.html


def test_task_documents_are_read_in_the_parts_scope(factory, tasks_world):
    w = tasks_world
    documents.issue_pending(UnitOfWork(factory), now=START)
    own, other = _part(factory, w, "1"), _part(factory, w, "3")
    _urge(factory, own)
    _urge(factory, other)
    documents.issue_pending(UnitOfWork(factory), now=LATE)
    notice, letter, county_letter = _docs(factory)
    with read_only(factory) as s:
        info, html = task_documents.get_document(s, w.ema, letter.id)
        assert (info.number, info.kind_label, html) == (letter.number, "督办函", letter.html)
        assert task_documents.get_document(s, w.office, county_letter.id)[0].assignment_id == other
        assert task_documents.get_document(s, w.housing, notice.id)[0].kind == "task_assignment_notice"
        for who, doc_id in ((w.housing, letter.id), (w.ema, county_letter.id), (w.lvliang, notice.id),
                            (w.ema, 10**6)):
            with pytest.raises(NotFound):
                task_documents.get_document(s, who, doc_id)
        assert [d.id for d in task_documents.list_for_plan(s, w.ema, w.plan_id)] == [notice.id, letter.id]
        assert [d.id for d in task_documents.list_for_plan(s, w.office, w.plan_id)] == [
            notice.id, letter.id, county_letter.id]
        assert [d.id for d in task_documents.list_for_assignment(s, w.ema, own)] == [letter.id]
        with pytest.raises(NotFound):
            task_documents.list_for_plan(s, w.lvliang, w.plan_id)
        with pytest.raises(NotFound):  # a hazard's document route does not serve a task's
            documents.get_document(s, w.office, notice.id)


def test_the_document_route_serves_a_task_document_in_scope(factory, tasks_world, client):
    from services.accounts import admin

    w = tasks_world
    documents.issue_pending(UnitOfWork(factory), now=START)
    _urge(factory, _part(factory, w, "1"))
    documents.issue_pending(UnitOfWork(factory), now=LATE)
    notice, letter = _docs(factory)
    with transaction(factory) as s:
        tokens = {name: admin.new_token(s, name, now=START) for name in ("xz_ema", "xz_housing", "ll_ema")}

    def get(name, doc_id, fmt="html"):
        return client.get(f"/api/v1/documents/{doc_id}?format={fmt}", headers={"Authorization": f"Bearer {tokens[name]}"})

    ok = get("xz_ema", letter.id)
    assert ok.status_code == 200 and ok.text == letter.html and ok.headers["ETag"] == f'"{letter.sha256}"'
    assert "filename*=UTF-8''" in ok.headers["Content-Disposition"]
    assert get("xz_housing", notice.id).status_code == 200  # a unit of the plan reads its notice
    for name, doc_id in (("xz_housing", letter.id), ("ll_ema", notice.id), ("xz_ema", 999999)):
        refused = get(name, doc_id)
        assert refused.status_code == 404 and "文书不存在" in refused.json()["error"]["message"]
