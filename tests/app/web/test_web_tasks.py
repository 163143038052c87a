"""The web views of published task lists: the plan's progress page and its export, 我的任务, a part's
page with its forms (acknowledge → progress with a file → completion → verify), a stale form, refusals
that keep what was typed, who sees what, and hostile query strings that never reach a 500."""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path
from urllib.parse import quote

from openpyxl import load_workbook
from sqlalchemy import event

from db.engine import read_only, transaction
from db.models import PlanTask, TaskAssignment
from services.audit import records
from services.tasklists import drafts
from tests.app.api.task_world import build
from tests.app.web.conftest import csrf_of
from tests.conftest import START

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
LVLIANG = Path(__file__).parents[3] / "app" / "demo" / "plans" / "lvliang-2022-task-list.txt"
STALE = "该任务已被他人更新"


def _get(client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code, response.text[:500])
    return response.text


def _version(html: str) -> str:
    return re.search(r'name="version" value="(\d+)"', html).group(1)


def _post(client, part_id: int, action: str, data: dict | None = None, *, page: str | None = None, files=None):
    page = page if page is not None else _get(client, f"/tasks/{part_id}")
    form = {"csrf_token": csrf_of(page), "version": _version(page), **(data or {})}
    return client.post(f"/tasks/{part_id}/actions/{action}", data=form, files=files)


def _trail(factory, part_id: int) -> list[str]:
    with read_only(factory) as s:
        return [e.action for e in records.trail(s, f"assignment:{part_id}")]


def _state(factory, part_id: int) -> str:
    with read_only(factory) as s:
        return s.get(TaskAssignment, part_id).state


def _nav(html: str) -> str:
    return html.split("</nav>")[0]


def test_acknowledge_progress_completion_verify(factory, world, browser):
    w = build(factory, world)
    (one,) = w.part_ids(factory, "1")
    ema, office = browser("xz_ema"), browser("xz_office")
    page = _get(ema, f"/tasks/{one}")
    assert "待签收" in page and '<button type="submit" class="primary">签收</button>' in page
    assert "核查通过</button>" not in page and "建立安全生产责任清单" in page
    done = _post(ema, one, "acknowledge", page=page)
    assert done.status_code == 303 and done.headers["location"] == f"/tasks/{one}"
    page = _get(ema, f"/tasks/{one}")
    assert "已完成：签收" in page and 'id="part-state">已签收<' in page and "签收</button>" not in page

    done = _post(ema, one, "report_progress", {"text": "已起草责任清单初稿"}, page=page,
                 files=[("evidence_upload", ("清单初稿.png", PNG, "image/png"))])
    assert done.status_code == 303, done.text[:500]
    page = _get(ema, f"/tasks/{one}")
    file_id = int(re.search(rf'href="/tasks/{one}/attachments/(\d+)">清单初稿.png<', page).group(1))
    assert "已起草责任清单初稿" in page and "推进中" in page
    assert ema.get(f"/tasks/{one}/attachments/{file_id}").content == PNG
    assert browser("xz_housing").get(f"/tasks/{one}/attachments/{file_id}").status_code == 404
    trail = page.split('id="trail"')[1]
    assert "报告进展" in trail and "清单初稿.png" in trail

    done = _post(ema, one, "report_completion", {"summary": "已印发责任清单", "completed_on": "2026-11-23",
                                                 "evidence_text": "忻应急发〔2026〕12号", "evidence": str(file_id)},
                 page=page)
    assert done.status_code == 303, done.text[:500]
    assert _state(factory, one) == "reported"

    page = _get(office, f"/tasks/{one}")
    assert "核查通过</button>" in page and "核查退回</button>" in page and "签收</button>" not in page
    assert "报告完成情况</button>" not in page and "已印发责任清单" in page
    done = _post(office, one, "verify", {"note": "材料齐全，同意销号"}, page=page)
    assert done.status_code == 303
    page = _get(office, f"/tasks/{one}")
    assert "已完成：核查通过" in page and 'id="part-state">已核查<' in page and "任务已销号" in page
    assert _trail(factory, one) == ["assign", "acknowledge", "report_progress", "report_completion", "verify"]
    with read_only(factory) as s:
        events = records.trail(s, f"assignment:{one}")
        assert '"filename":"清单初稿.png"' in events[2].payload and '"filename":"清单初稿.png"' in events[3].payload
        assert records.verify(s)[2] == []
    plan = _get(office, f"/plans/{w.plan_id}")
    row = plan.split('id="task-')[1].split("</tr>")[0]
    assert "已销号" in row and "已核查" in row and 'id="fig-closed">1<' in plan
    assert 'id="fig-on-time">100.0%<' in plan


def test_a_stale_form_and_refusals_keep_what_was_typed(factory, world, browser):
    w = build(factory, world)
    lead, co = w.part_ids(factory, "2")
    ema, ema2, office = browser("xz_ema"), browser("xz_ema2"), browser("xz_office")
    old = _get(ema, f"/tasks/{lead}")
    assert _post(ema2, lead, "report_progress", {"text": "已检查 5 家企业"}).status_code == 303
    stale = _post(ema, lead, "report_progress", {"text": "第二次进展：已检查 8 家"}, page=old)
    assert stale.status_code == 409 and STALE in stale.text
    assert ">第二次进展：已检查 8 家</textarea>" in stale.text  # what was typed is still there
    assert _version(stale.text) == "2"  # the form now carries the part as it is
    assert _trail(factory, lead) == ["assign", "report_progress"]
    garbage = _post(ema, lead, "comment", {"text": "备注", "version": "²"})
    assert garbage.status_code == 409 and STALE in garbage.text

    missing = _post(ema, lead, "report_completion", {"summary": "专项检查已完成", "completed_on": "2026-11-20"})
    assert missing.status_code == 422
    assert 'id="act-report_completion-evidence_text-error"' in missing.text
    assert ">专项检查已完成</textarea>" in missing.text and 'value="2026-11-20"' in missing.text
    future = _post(ema, lead, "report_completion", {"summary": "专项检查已完成", "completed_on": "2027-01-05",
                                                    "evidence_text": "检查台账"})
    assert future.status_code == 422 and "完成日期不能晚于今天" in future.text
    control = _post(ema, lead, "comment", {"text": "含控制字符\x01"})
    assert control.status_code == 422 and 'id="act-comment-text-error"' in control.text
    not_a_picture = _post(ema, lead, "report_progress", {"text": "附上照片"},
                          files=[("evidence_upload", ("照片.png", b"MZ\x90\x00 not an image", "image/png"))])
    assert not_a_picture.status_code == 422 and 'id="act-report_progress-evidence-error"' in not_a_picture.text
    assert ">附上照片</textarea>" in not_a_picture.text
    late = _post(ema, lead, "request_extension", {"new_deadline": "2026-12-01", "reason": "需要更多时间"})
    assert late.status_code == 422 and "延期后的完成时限应晚于当前完成时限" in late.text

    not_theirs = _post(office, co, "acknowledge")  # the office reads the part; the unit acknowledges it
    assert not_theirs.status_code == 403 and "只能办理本单位承担的任务" in not_theirs.text
    early = _post(office, lead, "verify", {"note": "同意"})
    assert early.status_code == 409 and "推进中" in early.text
    for action in ("escalate", "assign", "issue_document", "nope"):
        assert _post(ema, lead, action, {"text": "x"}).status_code == 404
    other = browser("xz_housing")
    assert other.post(f"/tasks/{lead}/actions/comment", data={"csrf_token": csrf_of(_get(other, "/tasks")),
                                                             "version": "2", "text": "x"}).status_code == 404
    no_csrf = ema.post(f"/tasks/{lead}/actions/comment", data={"text": "x", "version": "2"})
    assert no_csrf.status_code == 403
    assert _trail(factory, lead) == ["assign", "report_progress"]  # no refusal wrote anything

    # The return and the extension forms of the office, walked once.
    assert _post(ema, lead, "request_extension", {"new_deadline": "2027-01-31", "reason": "涉及企业较多"}).status_code == 303
    page = _get(office, f"/tasks/{lead}")
    assert "批准延期</button>" in page and "不予延期</button>" in page and "涉及企业较多" in page
    assert _post(office, lead, "grant_extension", {"note": "同意延期"}, page=page).status_code == 303
    assert "2027年1月31日" in _get(ema, f"/tasks/{lead}")
    assert _post(browser("xz_housing"), co, "report_completion", {"summary": "完成", "completed_on": "2026-11-24",
                                                                  "evidence_text": "台账"}).status_code == 303
    returned = _post(office, co, "return", {"reason": "缺少检查台账"})
    assert returned.status_code == 303 and _state(factory, co) == "in_progress"


def test_who_sees_what(factory, world, browser):
    w = build(factory, world)
    (one,) = w.part_ids(factory, "1")
    lead, co = w.part_ids(factory, "2")
    ema = browser("xz_ema")
    mine = _get(ema, "/tasks")
    assert {int(i) for i in re.findall(r'id="part-(\d+)"', mine)} == {one, lead}
    assert "我的任务" in _nav(mine) and "任务清单</a>" not in _nav(mine)
    housing = _get(browser("xz_housing"), "/tasks")
    assert {int(i) for i in re.findall(r'id="part-(\d+)"', housing)} == {co}
    for reader in ("xz_office", "xz_auditor"):
        assert len(re.findall(r'id="part-\d+"', _get(browser(reader), "/tasks"))) == 17
    assert "没有符合条件的任务" in _get(browser("ll_ema"), "/tasks")
    assert _get(browser("city_committee"), "/tasks").count('id="part-') == 0  # 吕梁's office: not 忻州's plan
    for outsider in ("ent_coal", "admin"):
        client = browser(outsider)
        assert client.get("/tasks").status_code == 403 and "我的任务" not in _nav(_get(client, "/messages"))

    for who in ("xz_housing", "ll_ema", "city_committee", "inspector"):
        assert browser(who).get(f"/tasks/{one}").status_code == 404, who
    for who in ("province_committee", "xz_auditor"):
        page = _get(browser(who), f"/tasks/{one}")
        assert "当前没有您可以办理的操作" in page and "<form method=\"post\" action=\"/tasks/" not in page
    for ident in ("abc", "0", "99999999999999999999", "%E4%B8%80"):
        assert ema.get(f"/tasks/{ident}").status_code == 404
        assert browser("xz_office").get(f"/plans/{ident}/export.xlsx").status_code == 404

    assert ema.get(f"/plans/{w.plan_id}").status_code == 403
    assert ema.get(f"/plans/{w.plan_id}/export.xlsx").status_code == 403
    assert browser("city_committee").get(f"/plans/{w.plan_id}").status_code == 404
    assert browser("city_committee").get(f"/plans/{w.plan_id}/export.xlsx").status_code == 404
    province = _get(browser("province_committee"), f"/plans/{w.plan_id}")
    assert 'id="fig-parts">17<' in province and "已发布" in province and "/publish" not in province


def test_plan_page_filters_and_hostile_query_strings(factory, world, browser, clock):
    w = build(factory, world)
    lead, co = w.part_ids(factory, "2")
    with read_only(factory) as s:
        housing_org = s.get(TaskAssignment, co).org_id
    office = browser("xz_office")
    assert _post(browser("xz_housing"), co, "report_progress", {"text": "住建局已排查燃气企业 6 家"}).status_code == 303
    page = _get(office, f"/plans/{w.plan_id}")
    assert 'id="fig-tasks">3<' in page and 'id="fig-parts">17<' in page and 'id="fig-overdue">0<' in page
    assert "住建局已排查燃气企业 6 家" in page and "共 3 项任务" in page
    assert f'<option value="{housing_org}">' in page

    only = _get(office, f"/plans/{w.plan_id}?org={housing_org}")
    assert re.findall(r'id="task-(\d+)"', only) and f'id="part-{co}"' in only and f'id="part-{lead}"' not in only
    assert "符合条件的任务 1 项" in only and f'<option value="{housing_org}" selected>' in only
    assert f"export.xlsx?org={housing_org}" in only
    assert "符合条件的任务 1 项" in _get(office, f"/plans/{w.plan_id}?state=in_progress")
    assert "没有符合条件的任务" in _get(office, f"/plans/{w.plan_id}?task=closed")
    clock.advance(days=26)  # 2026-12-20: task 2's deadline (12-15) has passed
    office = browser("xz_office")  # (the earlier session has expired meanwhile)
    overdue = _get(office, f"/plans/{w.plan_id}?overdue=yes")
    assert "符合条件的任务 1 项" in overdue and f'id="part-{lead}"' in overdue and 'id="fig-overdue">2<' in overdue

    hostile = ["?org=abc", "?org=%00", "?org=1%00", "?state=%3Cscript%3Ealert(1)%3C/script%3E", "?overdue=maybe",
               "?page=0", "?page=-1", "?page=99999999999999999999999", "?task=%E5%B7%B2%E9%94%80%E5%8F%B7",
               "?org=" + "9" * 200, "?state=%FF", "?org=%EF%BC%91%EF%BC%92"]
    for query in hostile:
        # A control character in a URL is refused before any page (422); every other bad value by the page.
        status = 422 if "%00" in query else 400
        response = office.get(f"/plans/{w.plan_id}{query}")
        assert response.status_code == status, (query, response.status_code)
        assert "<script>alert" not in response.text and response.headers["content-type"].startswith("text/html")
        assert status == 422 or "筛选条件有误" in response.text, query
        if "page" not in query:  # the export has no pages
            export = office.get(f"/plans/{w.plan_id}/export.xlsx{query}")
            assert export.status_code == status and export.headers["content-type"].startswith("text/html"), query
    for query in ("?state=x", "?plan=abc", "?overdue=2", "?cursor=%FF%FE", "?cursor=eyJpZCI6IDB9"):
        response = office.get(f"/tasks{query}")
        assert response.status_code == 400 and "筛选条件有误" in response.text, query
    mine = _get(office, f"/tasks?state=in_progress&plan={w.plan_id}")
    assert re.findall(r'id="part-(\d+)"', mine) == [str(co)]
    assert set(re.findall(r'id="part-(\d+)"', _get(office, "/tasks?overdue=yes"))) == {str(lead), str(co)}


def test_export_download(factory, world, browser):
    w = build(factory, world)
    lead, co = w.part_ids(factory, "2")
    assert _post(browser("xz_ema"), lead, "report_progress", {"text": "+SUM(A1:A9) 已检查 12 家"}).status_code == 303
    office = browser("xz_office")
    response = office.get(f"/plans/{w.plan_id}/export.xlsx")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=\"task-plan-") and disposition.isascii()
    assert "filename*=UTF-8''" + quote("忻州市2026年重点任务", safe="") in disposition
    ws = load_workbook(BytesIO(response.content)).active
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows[0] == ["序号", "任务", "责任单位", "完成时限", "进展情况", "完成情况"]
    two = next(r for r in rows if r[0] == "2")
    assert two[2] == "市应急局牵头，市住建局配合" and two[3] == "2026年12月15日前"
    assert two[4].startswith("市应急局：+SUM(A1:A9) 已检查 12 家（2026-11-24）")
    assert two[5] == "市应急局：推进中\n市住建局：待签收"
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
    with read_only(factory) as s:
        housing_org = s.get(TaskAssignment, co).org_id
    filtered = office.get(f"/plans/{w.plan_id}/export.xlsx?org={housing_org}&state=assigned")
    rows = [[c.value for c in row] for row in load_workbook(BytesIO(filtered.content)).active.iter_rows()]
    assert [r[0] for r in rows[1:]] == [None, "2"] and rows[2][5] == "市住建局：待签收"


def test_a_long_plan_is_paged(factory, world, browser):
    w = build(factory, world, extra=60)
    office = browser("xz_office")
    first = _get(office, f"/plans/{w.plan_id}")
    assert len(re.findall(r'<tr id="task-\d+"', first)) == 50 and "第 1 / 2 页" in first
    second = _get(office, f"/plans/{w.plan_id}?page=2")
    assert len(re.findall(r'<tr id="task-\d+"', second)) == 13 and "第 2 / 2 页" in second
    assert 'id="fig-tasks">63<' in second
    listing = _get(office, "/tasks")
    assert len(re.findall(r'<tr id="part-\d+"', listing)) == 50 and 'rel="next"' in listing
    following = re.search(r'href="(/tasks\?cursor=[^"]+)" rel="next"', listing).group(1)
    rest = _get(office, following.replace("&amp;", "&"))
    assert len(re.findall(r'<tr id="part-\d+"', rest)) == 60 + 17 - 50


def test_lvliang_plan_costs_the_queries_of_a_small_one(factory, world, browser, app):
    w = build(factory, world)
    city = "city_committee"
    with transaction(factory) as s:
        plan, _ = drafts.import_draft(s, world.p(city), LVLIANG.read_bytes(), filename=LVLIANG.name,
                                      title="吕梁市2022年安全生产工作任务清单", issued_by="吕梁市安委办", year=2022,
                                      now=START)
        big = plan.id
    with transaction(factory) as s:
        for task in drafts.open_reviews(s, big):
            drafts.mark_reviewed(s, world.p(city), big, task.id, now=START)
    with transaction(factory) as s:
        drafts.publish(s, world.p(city), big, now=START)
    with read_only(factory) as s:
        tasks = len(s.scalars(PlanTask.__table__.select().where(PlanTask.plan_id == big)).all())
    assert tasks > 200
    statements: list[str] = []
    engine = app.state.engine
    clients = {"big": browser(city), "small": browser("xz_office")}
    urls = {"big": f"/plans/{big}", "small": f"/plans/{w.plan_id}"}
    costs = {}

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    for key in ("small", "big"):
        clients[key].get(urls[key])  # the session's first request costs its own lookups
        event.listen(engine, "before_cursor_execute", count)
        try:
            statements.clear()
            page = clients[key].get(urls[key] + "?state=assigned")
            costs[key] = len(statements)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert page.status_code == 200
    assert costs["big"] == costs["small"]
    big_page = _get(clients["big"], urls["big"])
    assert f"共 {tasks} 项任务" in big_page and "第 1 / " in big_page


def test_every_offered_action_has_a_form_with_chinese_labels():
    from app.web.task_pages import offered_action, task_form
    from services.tasks.lifecycle import TASK_LIFECYCLE

    offered = [a for a in TASK_LIFECYCLE if offered_action(a)]
    assert set(offered) == {"acknowledge", "report_progress", "report_completion", "verify", "return",
                            "request_extension", "grant_extension", "deny_extension", "comment"}
    for action in offered:
        form = task_form(action)
        assert form.label == TASK_LIFECYCLE[action].label
        assert all(f.label != f.name and not f.label.isascii() for f in form.fields), action
    assert [f.name for f in task_form("report_completion").fields] == ["summary", "completed_on", "evidence_text",
                                                                      "evidence"]
    assert task_form("report_progress").multipart and not task_form("verify").multipart
