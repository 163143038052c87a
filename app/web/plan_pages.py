"""任务清单 pages for committee offices (issue 14, item 2): `/plans` lists the plans of the office's
region and below; `/plans/import` uploads a plan (.txt .md .docx .xlsx, at most 10 MB) and keeps it
as a draft (services/tasklists/drafts.py; the same file twice is the same plan); `/plans/{id}`
shows every task with its units as resolved, its deadline and review flags, with a correction form
per task, 标记已核对 and 发布 for the issuer's 安委办. Acts run in a savepoint: a refusal is rolled
back and the page is shown again with the message."""

from __future__ import annotations

import json
import re
from datetime import date

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from app.api.deps import Db, ReadDb
from app.web.csrf import CsrfChecked
from app.web.errors import ErrorPage
from app.web.forms import PostedForm
from app.web.render import flash, render
from app.web.session import WebUser
from app.web import task_pages
from services.kernel.errors import DomainError, Invalid, NotFound
from services.kernel.inputs import ascii_id, form_text
from services.lifecycle.roles import Role
from services.tasklists import drafts

router = APIRouter()
MAX_UPLOAD = 10 * 1024 * 1024
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FIELDS = {"plan_title": "title", "title": "title", "issued_by": "issued_by", "year": "year", "file": "file"}


def _reader(user) -> None:
    if user.role != Role.COMMITTEE:
        raise ErrorPage(403, "无权查看任务清单", "任务清单由安委办导入、核对和发布。")


def _id(raw: str) -> int:
    found = ascii_id(raw)
    if found is None:
        raise ErrorPage(404, "页面不存在", "计划不存在或不在您的管辖范围内。")
    return found


@router.get("/plans")
def plans_page(request: Request, user: WebUser, db: ReadDb) -> Response:
    _reader(user)
    return render(request, "web/plans.html", rows=drafts.list_plans(db, user))


def _import_page(request: Request, user, db, values: dict[str, str], *, errors: dict[str, str] | None = None,
                 message: str | None = None, status: int = 200) -> Response:
    return render(request, "web/plan_import.html", status=status, values=values, errors=errors or {},
                  message=message, max_mb=MAX_UPLOAD // (1024 * 1024))


@router.get("/plans/import")
def import_form(request: Request, user: WebUser, db: ReadDb) -> Response:
    _reader(user)
    year = request.app.state.ctx.now().year
    return _import_page(request, user, db, {"title": "", "year": str(year), "issued_by": drafts.default_issuer(db, user)})


def _upload(form_data) -> tuple[bytes, str]:
    upload = form_data.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise Invalid("请选择文件", details=[{"field": "file", "message": "请选择计划文件（.txt .md .docx .xlsx）"}])
    data = upload.file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise Invalid("文件过大", details=[{"field": "file", "message": f"文件不能超过 {MAX_UPLOAD // (1024 * 1024)} MB"}])
    if not data:
        raise Invalid("文件为空", details=[{"field": "file", "message": "文件是空的"}])
    name = re.sub(r"[\x00-\x1f\x7f/\\]", "", upload.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip()
    return data, name[-255:] or "plan"


@router.post("/plans/import")
def import_plan(request: Request, user: WebUser, _: CsrfChecked, form_data: PostedForm, db: Db) -> Response:
    _reader(user)
    values = {"title": form_text(form_data.get("title"))[:300], "year": form_text(form_data.get("year"))[:10],
              "issued_by": form_text(form_data.get("issued_by"))[:100]}
    year = ascii_id(values["year"])
    try:
        if year is None:
            raise Invalid("年度不对", details=[{"field": "year", "message": "计划年度应为四位数字年份，例如 2021"}])
        data, filename = _upload(form_data)
        with db.begin_nested():
            plan, created = drafts.import_draft(db, user, data, filename=filename, title=values["title"],
                                                issued_by=values["issued_by"], year=year,
                                                now=request.app.state.ctx.now())
            plan_id = plan.id
    except Invalid as exc:
        errors: dict[str, str] = {}
        for d in exc.details or []:
            errors.setdefault(_FIELDS.get(d.get("field", ""), "file"), d.get("message", exc.message))
        return _import_page(request, user, db, values, errors=errors, message=None if errors else exc.message,
                            status=422)
    except DomainError as exc:
        return _import_page(request, user, db, values, message=exc.message, status=exc.status)
    response = RedirectResponse(f"/plans/{plan_id}", status_code=303)
    flash(request, response, "已导入草稿，请核对标记的任务后发布" if created else "该文件已导入过，未重复导入")
    return response


def _plan_page(request: Request, user, db, plan_id: int, *, status: int = 200, failed: int | None = None,
               errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
               message: str | None = None) -> Response:
    try:
        plan, issuer, tasks = drafts.load(db, user, plan_id)
    except NotFound as exc:
        raise ErrorPage(404, "页面不存在", exc.message) from None
    rows = []
    for task, units in tasks:
        flags = json.loads(task.flags)
        rows.append({"task": task, "units": units, "flags": [drafts.FLAG_LABELS.get(f, f) for f in flags],
                     "needs_review": drafts.needs_review(flags) and not task.reviewed,
                     "units_text": "、".join(u.name + (u.role if u.role in ("牵头", "配合") else "") for u in units),
                     "group_sizes": {u.id: len(json.loads(u.org_ids)) for u in units}})
    waiting = sum(r["needs_review"] for r in rows)
    return render(request, "web/plan.html", status=status, plan=plan, issuer=issuer, rows=rows, waiting=waiting,
                  editable=drafts.may_edit(user, plan), failed=failed, errors=errors or {}, values=values or {},
                  message=message)


@router.get("/plans/{plan_id}")
def plan_page(request: Request, user: WebUser, plan_id: str, db: ReadDb) -> Response:
    _reader(user)
    pid = _id(plan_id)
    # A published plan: where its tasks stand (app/web/task_pages.py); a draft: its review page.
    published = task_pages.published_plan_page(request, user, db, pid)
    if published is not None:
        return published
    return _plan_page(request, user, db, pid)


def _act(request: Request, user, db, plan_id: int, task_id: int | None, act, done: str, values=None) -> Response:
    try:
        with db.begin_nested():
            act()
    except NotFound as exc:
        raise ErrorPage(404, "页面不存在", exc.message) from None
    except Invalid as exc:
        errors = {d.get("field", ""): d.get("message", "") for d in exc.details or []}
        return _plan_page(request, user, db, plan_id, status=422, failed=task_id, errors=errors, values=values,
                          message=exc.message)
    except DomainError as exc:
        return _plan_page(request, user, db, plan_id, status=exc.status, failed=task_id, message=exc.message)
    response = RedirectResponse(f"/plans/{plan_id}" + (f"#task-{task_id}" if task_id else ""), status_code=303)
    flash(request, response, done)
    return response


@router.post("/plans/{plan_id}/tasks/{task_id}/correct")
def correct_task(request: Request, user: WebUser, _: CsrfChecked, plan_id: str, task_id: str, form_data: PostedForm,
                 db: Db) -> Response:
    _reader(user)
    pid, tid = _id(plan_id), _id(task_id)
    values = {"units": form_text(form_data.get("units"))[:2000], "deadline": form_text(form_data.get("deadline"))[:300]}
    day: date | None = None
    if _ISO_DAY.match(values["deadline"]):
        try:
            day = date.fromisoformat(values["deadline"])
        except ValueError:
            day = None
    now = request.app.state.ctx.now()
    return _act(request, user, db, pid, tid, lambda: drafts.correct_task(
        db, user, pid, tid, units_text=values["units"], deadline=day, deadline_text="" if day else values["deadline"],
        now=now), "已更正并标记为已核对", values)


@router.post("/plans/{plan_id}/tasks/{task_id}/reviewed")
def mark_reviewed(request: Request, user: WebUser, _: CsrfChecked, plan_id: str, task_id: str, db: Db) -> Response:
    _reader(user)
    pid, tid = _id(plan_id), _id(task_id)
    now = request.app.state.ctx.now()
    return _act(request, user, db, pid, tid, lambda: drafts.mark_reviewed(db, user, pid, tid, now=now), "已标记为已核对")


@router.post("/plans/{plan_id}/publish")
def publish(request: Request, user: WebUser, _: CsrfChecked, plan_id: str, form_data: PostedForm, db: Db) -> Response:
    _reader(user)
    pid = _id(plan_id)
    version = ascii_id(form_text(form_data.get("version")))
    now = request.app.state.ctx.now()
    return _act(request, user, db, pid, None,
                lambda: drafts.publish(db, user, pid, now=now, version=version if version is not None else -1),
                "计划已发布")
