"""Reading units' parts (services/tasks/reads.py), their evidence files (services/tasks/files.py)
and the parts in the 待办 (services/reads/inbox.py): scope, filters, the trail from the record
chain, bounded queries, and what waits on a unit and on the issuing office."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from db.engine import UnitOfWork, read_only, transaction
from db.models import Attachment, RecordEvent
from services.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from services.reads import inbox
from services.tasks import engine, files, reads
from tests.app.api.support import PDF, png_bytes
from tests.conftest import START

DONE = {"summary": "已印发责任清单", "completed_on": "2026-11-20", "evidence_text": "忻应急发〔2026〕12号"}


def _act(factory, who, part_id, action, body=None, *, now=START):
    with transaction(factory) as s:
        engine.perform(s, who, part_id, action, body or {}, now=now)


def _ids(factory, w, number):
    with read_only(factory) as s:
        return [p.id for p in w.parts(s, number)]


def _list(factory, who, **kw):
    with read_only(factory) as s:
        return reads.list_view(s, who, now=kw.pop("now", START), **kw)


def test_lists_follow_the_engines_scope(factory, tasks_world):
    w = tasks_world
    (one,) = _ids(factory, w, "1")
    lead, co = _ids(factory, w, "2")
    counties = _ids(factory, w, "3")
    assert [p.id for p in _list(factory, w.ema, limit=200).items] == [one, lead]
    assert [p.id for p in _list(factory, w.housing, limit=200).items] == [co]
    assert [p.id for p in _list(factory, w.office, limit=200).items] == sorted([one, lead, co, *counties])
    assert _list(factory, w.lvliang).items == []
    with read_only(factory) as s:  # each listed part is one `engine.in_scope` accepts, and no other
        for who in (w.ema, w.housing, w.office, w.lvliang):
            listed = {p.id for p in reads.list_view(s, who, now=START, limit=200).items}
            visible = {p.id for p in s.scalars(select(engine.TaskAssignment)) if engine.in_scope(who, p)}
            assert listed == visible, who.username
    with pytest.raises(Invalid) as bad:
        _list(factory, w.office, state=["done"])
    assert bad.value.details[0]["field"] == "state"
    with pytest.raises(Invalid):
        _list(factory, w.office, cursor="!!")


def test_filters_overdue_and_pages(factory, tasks_world):
    w = tasks_world
    lead, co = _ids(factory, w, "2")
    _act(factory, w.ema, lead, "report_completion", DONE)
    later = START + timedelta(days=30)  # 2026-12-24: task 2 is past its 12-15 deadline
    assert [p.id for p in _list(factory, w.office, overdue=True, now=later).items] == [co]  # the lead has reported
    overdue = _list(factory, w.office, overdue=True, now=later).items[0]
    assert overdue.overdue and overdue.state_label == "待签收"
    assert [p.id for p in _list(factory, w.office, state=["reported"]).items] == [lead]
    assert len(_list(factory, w.office, org_id=w.ema.organisation_id, limit=200).items) == 2
    first = _list(factory, w.office, limit=10)
    second = _list(factory, w.office, limit=10, cursor=first.next_cursor)
    assert len(first.items) == 10 and len(second.items) == 7 and second.next_cursor is None
    assert {p.id for p in first.items}.isdisjoint({p.id for p in second.items})


@pytest.fixture
def statements(factory):
    bind = factory.kw["bind"]
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(bind, "before_cursor_execute", count)
    yield seen
    event.remove(bind, "before_cursor_execute", count)


def test_list_and_detail_are_bounded_queries(factory, tasks_world, statements):
    w = tasks_world
    counts = {}
    for limit in (1, 17):
        with read_only(factory) as s:
            statements.clear()
            assert len(reads.list_view(s, w.office, now=START, limit=limit).items) == limit
            counts[limit] = len([q for q in statements if q.lstrip().upper().startswith("SELECT")])
    assert counts[1] == counts[17] == 1, counts
    (one,) = _ids(factory, w, "1")
    for _ in range(3):
        _act(factory, w.ema, one, "report_progress", {"text": "进展"})
    with read_only(factory) as s:
        statements.clear()
        view = reads.get_view(s, w.office, one, now=START)
        assert len(view.trail) == 4
        assert len([q for q in statements if q.lstrip().upper().startswith("SELECT")]) <= 5


def test_the_detail_and_its_trail(factory, tasks_world, settings):
    w = tasks_world
    (one,) = _ids(factory, w, "1")
    att = files.save(UnitOfWork(factory), w.ema, one, filename="台账.pdf", stream=io.BytesIO(PDF),
                     root=settings.attachments_dir, max_bytes=settings.max_attachment_bytes, now=START)
    _act(factory, w.ema, one, "acknowledge")
    _act(factory, w.ema2, one, "report_progress", {"text": "已检查 12 家", "evidence": [att.id]})
    _act(factory, w.ema, one, "request_extension", {"new_deadline": "2027-03-31", "reason": "需省厅部署"})
    with read_only(factory) as s:
        view = reads.get_view(s, w.office, one, now=START)
        chain = [json.loads(e.payload) for e in s.scalars(select(RecordEvent).where(
            RecordEvent.subject == f"assignment:{one}").order_by(RecordEvent.seq))]
    assert view.task.title.startswith("建立安全生产责任清单") and view.task.state_label == "办理中"
    assert view.state == "in_progress" and view.progress.count == 1 and view.progress.last_text == "已检查 12 家"
    assert view.pending_extension.new_deadline == "2027-03-31"
    assert view.pending_extension.requested_by.name == "xz_ema"
    assert view.allowed_actions == ["grant_extension", "deny_extension", "comment"]
    assert view.action_labels == {"grant_extension": "批准延期", "deny_extension": "不予延期", "comment": "备注"}
    assert [e.action for e in view.trail] == ["assign", "acknowledge", "report_progress", "request_extension"]
    assert [e.label for e in view.trail] == ["交办", "签收", "报告进展", "申请延期"]
    assert [(e.from_state, e.to_state) for e in view.trail] == [(c["from_state"], c["to_state"]) for c in chain]
    assert view.trail[2].body == {"text": "已检查 12 家", "evidence": [att.id]}
    assert view.trail[2].attachments == [{"id": att.id, "sha256": att.sha256, "filename": "台账.pdf"}]
    assert view.trail[2].actor.name == "xz_ema2" and view.trail[2].actor.role_label == "检查员"
    assert [a.id for a in view.attachments] == [att.id]
    with read_only(factory) as s:
        assert reads.get_view(s, w.ema, one, now=START).allowed_actions == [
            "report_progress", "report_completion", "comment"]  # an extension is pending: no second request
        with pytest.raises(NotFound):
            reads.get_view(s, w.housing, one, now=START)
        with pytest.raises(NotFound):
            reads.get_view(s, w.lvliang, one, now=START)
        for bad in (0, -1, 10**30):
            with pytest.raises(NotFound):
                reads.get_view(s, w.office, bad, now=START)


def test_evidence_files_are_checked_before_a_byte_is_written(factory, tasks_world, settings):
    w = tasks_world
    (one,) = _ids(factory, w, "1")
    root = settings.attachments_dir
    uow = UnitOfWork(factory)

    def save(who, part=one, data=png_bytes()):
        return files.save(uow, who, part, filename="a.png", stream=io.BytesIO(data), root=root,
                          max_bytes=settings.max_attachment_bytes, now=START)

    with pytest.raises(Forbidden):
        save(w.office)
    with pytest.raises(NotFound):
        save(w.housing)
    with pytest.raises(NotFound):
        save(w.lvliang)
    assert not root.exists() or not [p for p in root.rglob("*") if p.is_file()]  # nothing written
    saved = save(w.ema2)
    with read_only(factory) as s:
        row = s.get(Attachment, saved.id)
        assert (row.assignment_id, row.hazard_id, row.sha256) == (one, None, saved.sha256)
        assert files.find(s, w.office, one, saved.id).sha256 == saved.sha256
        with pytest.raises(NotFound):
            files.find(s, w.housing, one, saved.id)
        with pytest.raises(NotFound):
            files.find(s, w.ema, _ids(factory, w, "2")[0], saved.id)
    _act(factory, w.ema, one, "report_completion", DONE)
    _act(factory, w.office, one, "verify", {"note": "ok"})
    with pytest.raises(Conflict):
        save(w.ema, data=png_bytes(3, 3))
    with read_only(factory) as s:  # the refused upload left no row
        assert s.scalar(select(Attachment.id).where(Attachment.assignment_id == one).order_by(Attachment.id.desc())) == saved.id


# --- 待办 -------------------------------------------------------------------------------------------


def _todos(factory, who, now=START):
    with read_only(factory) as s:
        assert all(t.kind == "hazard" for t in inbox.todos(s, who, now=now))
        return inbox.task_todos(s, who, now=now)


def test_todos_of_a_unit(factory, tasks_world):
    w = tasks_world
    (one,) = _ids(factory, w, "1")
    lead, co = _ids(factory, w, "2")
    todos = _todos(factory, w.ema)
    assert {t.assignment_id: t.actions for t in todos} == {one: ["acknowledge"], lead: ["acknowledge"]}
    assert all(t.kind == "task" and t.code.startswith("任务") and t.due_label == "完成时限" for t in todos)
    assert [t.assignment_id for t in todos] == [lead, one]  # by due: task 2 (12-15) before task 1 (12-31)
    assert {t.assignment_id for t in _todos(factory, w.housing)} == {co}
    _act(factory, w.ema, one, "acknowledge")
    _act(factory, w.ema, lead, "report_completion", DONE)
    todos = {t.assignment_id: t for t in _todos(factory, w.ema)}
    assert set(todos) == {one} and todos[one].actions == ["report_progress", "report_completion"]
    assert todos[one].state_label == "已签收" and todos[one].unit_name == "市应急局"
    assert _todos(factory, w.lvliang) == []


def test_todos_of_the_issuing_office(factory, tasks_world):
    w = tasks_world
    (one,) = _ids(factory, w, "1")
    lead, co = _ids(factory, w, "2")
    assert _todos(factory, w.office) == []  # nothing reported yet: the units owe the work
    _act(factory, w.ema, one, "report_completion", DONE)
    _act(factory, w.housing, co, "request_extension", {"new_deadline": "2027-01-31", "reason": "资金未到位"})
    todos = {t.assignment_id: t for t in _todos(factory, w.office)}
    assert todos[one].actions == ["verify", "return"] and todos[one].due_label == "核查期限"
    assert todos[co].actions == ["grant_extension", "deny_extension"] and todos[co].due_label == "完成时限"
    assert set(todos) == {one, co}
    assert {t.assignment_id for t in _todos(factory, w.office2)} == {one, co}
    assert _todos(factory, w.lvliang) == []


def test_year_long_parts_are_due_monthly(factory, tasks_world):
    """A county's year-long part: once acknowledged, due at the month's end until it reports
    progress this month."""
    w = tasks_world
    counties = _ids(factory, w, "3")
    with read_only(factory) as s:
        part = s.get(engine.TaskAssignment, counties[0])
        assert part.year_long
        org, region = part.org_id, part.region_code
    county = replace(w.ema, organisation_id=org, region_code=region, username="county")
    _act(factory, county, counties[0], "acknowledge")
    [todo] = _todos(factory, county)
    assert todo.due_label == "月度进展报送期限" and todo.due == "2026-11-30"
    _act(factory, county, counties[0], "report_progress", {"text": "本月已排查 30 处"})
    [todo] = _todos(factory, county)
    assert todo.due_label == "完成时限" and todo.due == "2026-12-31"
    [todo] = _todos(factory, county, now=START + timedelta(days=10))  # December: no report yet this month
    assert todo.due_label == "月度进展报送期限" and todo.due == "2026-12-31"
