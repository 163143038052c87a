"""A city 安委办 turns its plan into a list it can chase, in a real headless Chromium against a real
uvicorn server: it uploads the plan (.txt) on /plans/import, publishes the draft, the 应急局's
officer finds the part on 我的任务, acknowledges it (签收) and reports it done with its evidence, and
the 安委办 checks it (核查通过): the part is 已核查 and, being the task's only part, the task 已销号 on
the plan page. Screenshots at both widths. SQLite only, like the other browser tests.
"""

from __future__ import annotations

from datetime import datetime, timezone

from playwright.sync_api import expect
from sqlalchemy import select

from db.engine import read_only, transaction
from db.models import PlanTask, TaskAssignment, TaskPlan
from services.accounts import admin
from services.audit import records
from services.organisations.queries import organisation_for
from services.organisations.shanxi import load_shanxi
from tests.app.web.browser_support import browsers, chromium, db_url, live_server  # noqa: F401 (fixtures)
from tests.app.web.conftest import PASSWORD
from tests.services.tasks.conftest import PLAN as TASKS_PLAN

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)  # Tuesday 10:00 in Shanghai
PLAN = TASKS_PLAN.split("3.各县")[0]  # tasks 1 and 2 of the task tests' plan


def _people(factory) -> None:
    with transaction(factory) as s:
        load_shanxi(s, now=NOW)
        for name, role, org in (("xz_office", "committee", "忻州市安委办"), ("xz_ema", "supervisor", "市应急局")):
            user, _ = admin.add_user(s, name, role, "140900", now=NOW, password=PASSWORD, display_name=name)
            user.organisation_id = organisation_for(s, "140900", org)


def test_import_publish_report_and_verify_a_task(browsers, factory, world, clock, tmp_path):
    clock.current = NOW
    _people(factory)
    source = tmp_path / "xinzhou-2026-tasks.txt"
    source.write_text(PLAN, encoding="utf-8")

    # --- the 安委办 uploads the plan and publishes it ---
    office = browsers.login("xz_office")
    page = office.go("/plans/import")
    page.set_input_files("#p-file", str(source))
    page.fill("#p-title", "忻州市2026年安全生产重点任务清单")
    page.fill("#p-year", "2026")
    page.fill("#p-issued_by", "忻州市安委办")
    page.click("button[type=submit]:has-text('导入为草稿')")
    expect(page.locator("main")).to_contain_text("建立安全生产责任清单")
    office.shot("plan-draft")
    page.click("form[aria-label=发布计划] button[type=submit]")
    expect(page.locator("main")).to_contain_text("已发布")
    with read_only(factory) as s:
        plan = s.scalars(select(TaskPlan)).one()
        assert plan.state == "published"
        parts = s.scalars(select(TaskAssignment).where(TaskAssignment.plan_id == plan.id)
                          .order_by(TaskAssignment.id)).all()
        assert [(p.unit_name, p.role) for p in parts] == [("市应急局", "负责"), ("市应急局", "牵头"), ("市住建局", "配合")]
        part_id, plan_id = parts[0].id, plan.id
    office.shot("plan-published")

    # --- the 应急局 officer acknowledges and reports it done ---
    ema = browsers.login("xz_ema")
    page = ema.go("/tasks")
    page.locator("table tbody tr", has_text="建立安全生产责任清单").locator("a").first.click()
    expect(page.locator("#part-state")).to_have_text("待签收")
    page.click("form[aria-label=签收] button[type=submit]")
    expect(page.locator("#part-state")).to_have_text("已签收")
    form = page.locator("form[aria-label=报告完成情况]")
    form.locator("#act-report_completion-summary").fill("已印发市级部门安全生产监管职责清单")
    form.locator("#act-report_completion-completed_on").fill("2026-11-20")
    form.locator("#act-report_completion-evidence_text").fill("忻应急发〔2026〕12号")
    form.locator("button[type=submit]").click()
    expect(page.locator("#part-state")).to_have_text("待核查")
    ema.shot("part-reported")

    # --- the 安委办 checks it ---
    page = office.go(f"/tasks/{part_id}")
    expect(page.locator("main")).to_contain_text("已印发市级部门安全生产监管职责清单")
    page.locator("form[aria-label=核查通过] textarea, form[aria-label=核查通过] input[type=text]").first.fill("材料齐全")
    page.click("form[aria-label=核查通过] button[type=submit]")
    expect(page.locator("#part-state")).to_have_text("已核查")
    office.shot("part-verified")
    page = office.go(f"/plans/{plan_id}")
    expect(page.locator("main")).to_contain_text("已销号")
    office.shot("plan-progress")

    with read_only(factory) as s:
        part = s.get(TaskAssignment, part_id)
        assert part.state == "verified" and s.get(PlanTask, part.task_id).state == "closed"
        assert [e.action for e in records.trail(s, f"assignment:{part_id}")] == [
            "assign", "acknowledge", "report_completion", "verify"]
        assert records.verify(s)[2] == []
