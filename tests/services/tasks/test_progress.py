"""Where a published task list stands (services/tasks/progress.py): the plan's figures (on-time rate
included), its filters and pages, the Excel export's cells, the query-string checks, scope, and a
page that costs the same number of queries for 3 tasks as for 63."""

from __future__ import annotations

from datetime import datetime, timezone
from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlalchemy import event, select

from db.engine import read_only, transaction
from db.models import TaskAssignment
from services.kernel.errors import Forbidden, Invalid, NotFound
from services.tasklists import drafts
from services.tasks import engine as task_engine, export, progress
from tests.conftest import START

DONE = {"summary": "已印发责任清单", "completed_on": "2026-11-20", "evidence_text": "忻应急发〔2026〕12号"}
AFTER_DEADLINE = datetime(2026, 12, 20, 2, 0, tzinfo=timezone.utc)  # task 2's deadline is 12-15
ALL_KEYS = frozenset({"org", "state", "task", "overdue", "plan", "page"})


def _act(factory, who, part_id, action, body=None, *, now=START):
    with transaction(factory) as s:
        task_engine.perform(s, who, part_id, action, body or {}, now=now)


def _ids(factory, w, number):
    with read_only(factory) as s:
        return [p.id for p in w.parts(s, number)]


def _org(factory, part_id) -> int:
    with read_only(factory) as s:
        return s.get(TaskAssignment, part_id).org_id


def _view(factory, who, plan_id, now=START, **flt):
    with read_only(factory) as s:
        view = progress.plan_view(s, who, plan_id, progress.PartFilter(**flt), now=now)
        s.expunge_all()
        return view


def _numbers(view) -> list[str]:
    return [r.task.number for r in view.rows]


# --- the query string -----------------------------------------------------------------------------


def test_filters_parse_and_every_bad_value_is_named_in_chinese():
    good = progress.parse_filter({"org": "12", "state": "reported", "task": "closed", "overdue": "yes", "page": "3",
                                  "plan": "7"}, keys=ALL_KEYS)
    assert good == progress.PartFilter(org_id=12, state="reported", task_state="closed", overdue=True, plan_id=7, page=3)
    assert good.params(page=1) == {"org": "12", "state": "reported", "task": "closed", "overdue": "yes", "plan": "7"}
    assert progress.parse_filter({"overdue": "NO", "state": " "}, keys=ALL_KEYS) == progress.PartFilter(overdue=False)
    assert progress.parse_filter({"org": "x"}, keys=frozenset({"state"})) == progress.PartFilter()  # not asked for
    with pytest.raises(Invalid) as bad:
        progress.parse_filter({"org": "١٢", "state": "<script>", "task": "done", "overdue": "maybe", "page": "0",
                               "plan": "-1"}, keys=ALL_KEYS)
    fields = {d["field"]: d["message"] for d in bad.value.details}
    assert set(fields) == {"org", "state", "task", "overdue", "page", "plan"}
    assert "待签收" in fields["state"] and "<script>" not in " ".join(fields.values())
    for hostile in ({"page": "99999999999999999999999"}, {"org": "1" * 41}, {"org": "1\x00"}, {"page": "1e3"}):
        with pytest.raises(Invalid):
            progress.parse_filter(hostile, keys=ALL_KEYS)


# --- the plan's figures, filters and pages ---------------------------------------------------------


def test_figures_filters_and_the_on_time_rate(factory, tasks_world):
    w = tasks_world
    (one,) = _ids(factory, w, "1")
    lead, co = _ids(factory, w, "2")
    _act(factory, w.ema, one, "acknowledge")
    _act(factory, w.ema, one, "report_progress", {"text": "已起草责任清单"})
    _act(factory, w.housing, co, "report_completion", DONE)
    _act(factory, w.office, co, "verify", {"note": "材料齐全"})
    view = _view(factory, w.office, w.plan_id)
    h = view.header
    assert (h.tasks, h.closed, h.parts, h.reported, h.overdue, h.verified) == (3, 0, 17, 0, 0, 1)
    assert (h.on_time, h.due, h.on_time_pct) == (1, 1, 100.0)
    assert _numbers(view) == ["1", "2", "3"] and view.total == 3 and view.pages == 1
    row1 = view.rows[0]
    assert [(p.part.unit_name, p.label) for p in row1.parts] == [("市应急局", "推进中")]
    assert row1.parts[0].part.last_progress == "已起草责任清单" and row1.state_label == "办理中"
    assert [p.part.role for p in view.rows[1].parts] == ["牵头", "配合"]
    assert view.rows[2].year_long and len(view.rows[2].parts) == 14
    assert {name for _, name in view.units} >= {"市应急局", "市住建局", "忻府区人民政府"}

    # After task 2's deadline: its lead part is overdue; the rate counts it as due and not done.
    late = _view(factory, w.office, w.plan_id, now=AFTER_DEADLINE)
    assert (late.header.overdue, late.header.due, late.header.on_time_pct) == (1, 2, 50.0)
    overdue = _view(factory, w.office, w.plan_id, now=AFTER_DEADLINE, overdue=True)
    assert _numbers(overdue) == ["2"] and [p.part.id for p in overdue.rows[0].parts] == [lead]
    assert overdue.rows[0].parts[0].overdue
    not_overdue = _view(factory, w.office, w.plan_id, now=AFTER_DEADLINE, overdue=False)
    assert _numbers(not_overdue) == ["1", "2", "3"] and [p.part.id for p in not_overdue.rows[1].parts] == [co]
    housing = _view(factory, w.office, w.plan_id, org_id=_org(factory, co))
    assert _numbers(housing) == ["2"] and [p.part.id for p in housing.rows[0].parts] == [co]
    assert _numbers(_view(factory, w.office, w.plan_id, state="verified")) == ["2"]
    assert _numbers(_view(factory, w.office, w.plan_id, state="in_progress")) == ["1"]
    assert _numbers(_view(factory, w.office, w.plan_id, task_state="closed")) == []
    assert _view(factory, w.office, w.plan_id, org_id=999999).rows == []

    # Reported after the deadline and verified: done, but not on time; the task closes.
    _act(factory, w.ema, lead, "report_completion", {**DONE, "completed_on": "2026-12-19"}, now=AFTER_DEADLINE)
    _act(factory, w.office2, lead, "verify", {"note": "ok"}, now=AFTER_DEADLINE)
    final = _view(factory, w.office, w.plan_id, now=AFTER_DEADLINE)
    assert (final.header.closed, final.header.verified, final.header.on_time, final.header.due) == (1, 2, 1, 2)
    closed = _view(factory, w.office, w.plan_id, now=AFTER_DEADLINE, task_state="closed")
    assert _numbers(closed) == ["2"] and closed.rows[0].state_label == "已销号"
    assert _numbers(_view(factory, w.office, w.plan_id, task_state="open")) == ["1", "3"]


def test_pages_of_a_plan(factory, tasks_world):
    w = tasks_world
    with read_only(factory) as s:
        first = progress.plan_view(s, w.office, w.plan_id, progress.PartFilter(), now=START, per_page=2)
        second = progress.plan_view(s, w.office, w.plan_id, progress.PartFilter(page=2), now=START, per_page=2)
        beyond = progress.plan_view(s, w.office, w.plan_id, progress.PartFilter(page=40), now=START, per_page=2)
        assert (first.total, first.pages, _numbers(first)) == (3, 2, ["1", "2"])
        assert (second.page, _numbers(second)) == (2, ["3"])
        assert (beyond.page, _numbers(beyond)) == (2, ["3"])  # past the end: the last page


def test_who_reads_a_plan(factory, world, tasks_world):
    w = tasks_world
    with read_only(factory) as s:
        assert progress.plan_view(s, world.p("province_committee"), w.plan_id, progress.PartFilter(),
                                  now=START) is not None  # an office above
        with pytest.raises(NotFound):  # 吕梁's office: another city's plan is not there
            progress.plan_view(s, world.p("city_committee"), w.plan_id, progress.PartFilter(), now=START)
        for unit in (w.ema, w.housing):  # units read their own parts on 我的任务, not the plan
            with pytest.raises(Forbidden):
                progress.plan_view(s, unit, w.plan_id, progress.PartFilter(), now=START)
        with pytest.raises(NotFound):
            progress.plan_view(s, w.office, 987654, progress.PartFilter(), now=START)
    with transaction(factory) as s:
        draft, _ = drafts.import_draft(s, w.office, "草稿\n一、其他\n1.某项工作。\n责任单位：市应急局\n完成时限：2026年12月底\n".encode(),
                                       filename="draft.txt", title="草稿计划", issued_by="忻州市安委办", year=2026, now=START)
        draft_id = draft.id
    with read_only(factory) as s:
        assert progress.plan_view(s, w.office, draft_id, progress.PartFilter(), now=START) is None
        with pytest.raises(NotFound):
            export.export_xlsx(s, w.office, draft_id, progress.PartFilter(), now=START)


# --- the export -----------------------------------------------------------------------------------


def _sheet(content: bytes):
    return load_workbook(BytesIO(content)).active


def test_export_cells(factory, tasks_world):
    w = tasks_world
    lead, co = _ids(factory, w, "2")
    _act(factory, w.ema, lead, "report_progress", {"text": "=HYPERLINK(\"http://x\")已检查 12 家"})
    _act(factory, w.housing, co, "report_completion", {**DONE, "summary": "完成燃气专项检查"})
    _act(factory, w.office, co, "verify", {"note": "ok"})
    with read_only(factory) as s:
        plan, content = export.export_xlsx(s, w.office, w.plan_id, progress.PartFilter(), now=START)
        assert plan.id == w.plan_id
    ws = _sheet(content)
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows[0] == ["序号", "任务", "责任单位", "完成时限", "进展情况", "完成情况"]
    assert rows[1] == [None, "一、责任落实", None, None, None, None]  # the plan's section, as a heading row
    assert [r[0] for r in rows[2:]] == ["1", "2", "3"]
    two = rows[3]
    assert two[1].startswith("开展危险化学品企业专项检查\n")
    assert two[2] == "市应急局牵头，市住建局配合" and two[3] == "2026年12月15日前"
    assert two[4].split("\n") == ["市应急局：=HYPERLINK(\"http://x\")已检查 12 家（2026-11-24）", "市住建局：暂无进展报告"]
    assert two[5].split("\n") == ["市应急局：推进中", "市住建局：已核查；完成燃气专项检查；2026-11-24 核查通过"]
    assert rows[4][2] == "各县（市、区）政府" and rows[4][3] == "全年" and len(rows[4][5].split("\n")) == 14
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)  # what a unit typed is text
    # The filter applies: 住建局's parts only.
    with read_only(factory) as s:
        housing = s.get(TaskAssignment, co).org_id
        _, content = export.export_xlsx(s, w.office, w.plan_id, progress.PartFilter(org_id=housing), now=START)
    rows = [[c.value for c in row] for row in _sheet(content).iter_rows()]
    assert [r[0] for r in rows[1:]] == [None, "2"] and rows[2][5].startswith("市住建局：已核查")
    assert "市应急局" not in rows[2][4]


def test_a_formula_like_task_title_stays_text(factory, tasks_world):
    w = tasks_world
    text = "公式\n一、其他\n1.=1+1 组织开展专项检查。\n责任单位：市应急局\n完成时限：2026年12月底\n"
    with transaction(factory) as s:
        plan, _ = drafts.import_draft(s, w.office, text.encode(), filename="f.txt", title="公式计划",
                                      issued_by="忻州市安委办", year=2026, now=START)
        plan_id = plan.id
    with transaction(factory) as s:
        for task in drafts.open_reviews(s, plan_id):
            drafts.mark_reviewed(s, w.office, plan_id, task.id, now=START)
    with transaction(factory) as s:
        drafts.publish(s, w.office, plan_id, now=START)
    with read_only(factory) as s:
        _, content = export.export_xlsx(s, w.office, plan_id, progress.PartFilter(), now=START)
    cell = _sheet(content)["B3"]
    assert cell.value.startswith("=1+1") and cell.data_type == "s" and cell.quotePrefix


# --- bounded queries ------------------------------------------------------------------------------


def test_a_page_costs_the_same_queries_for_3_tasks_as_for_63(factory, engine, tasks_world):
    w = tasks_world
    more = "".join(f"{n}.专项任务第{n}项，按要求组织实施。\n责任单位：市应急局牵头，市住建局配合\n完成时限：2026年12月底\n"
                   for n in range(2, 64))
    text = "大计划\n一、专项\n1.建立清单。\n责任单位：各县（市、区）政府\n完成时限：全年\n" + more
    with transaction(factory) as s:
        plan, _ = drafts.import_draft(s, w.office, text.encode(), filename="big.txt", title="大计划",
                                      issued_by="忻州市安委办", year=2026, now=START)
        big = plan.id
    with transaction(factory) as s:
        for task in drafts.open_reviews(s, big):
            drafts.mark_reviewed(s, w.office, big, task.id, now=START)
    with transaction(factory) as s:
        drafts.publish(s, w.office, big, now=START)
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    def cost(plan_id: int, **flt) -> int:
        statements.clear()
        with read_only(factory) as s:
            view = progress.plan_view(s, w.office, plan_id, progress.PartFilter(**flt), now=START)
            assert view.rows
            export.export_xlsx(s, w.office, plan_id, progress.PartFilter(**flt), now=START)
        return len(statements)

    event.listen(engine, "before_cursor_execute", count)
    try:
        small, large = cost(w.plan_id), cost(big)
        filtered = cost(big, org_id=w.ema.organisation_id, overdue=False)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    with read_only(factory) as s:
        assert s.scalar(select(TaskAssignment.id).where(TaskAssignment.plan_id == big).limit(1)) is not None
        big_view = progress.plan_view(s, w.office, big, progress.PartFilter(), now=START)
    assert big_view.header.tasks > 50 and big_view.pages == 2
    assert small == large == filtered and small <= 20  # page and export together
