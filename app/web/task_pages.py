"""The web views of published task lists (issue 14, item 5): the published plan's progress page
(`/plans/{id}` once published: figures, every task with its units' states and latest progress,
filters by unit, state and overdue, pages) and its Excel export (`/plans/{id}/export.xlsx`), 我的任务
(`/tasks`: the parts a person may see) and one part's page (`/tasks/{id}`) with the forms of the
actions the person may take now (from `TASK_LIFECYCLE`), carried out by
`POST /tasks/{id}/actions/{action}`.

Thin: what a page shows comes from services.tasks.progress and services.tasks.reads; a form goes
through services.tasks.commands (the API's path) with If-Match = the version the form was rendered
with, in a savepoint, so a refusal is rolled back and the page shows it with what was typed. Files
chosen in a form are stored first, each in a unit of its own (services.tasks.files.save), and named
in the action's `evidence`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile
from starlette.responses import FileResponse, RedirectResponse, Response

from app.api.deps import Db, ReadDb
from app.web.csrf import CsrfChecked
from app.web.errors import ErrorPage
from app.web.forms import PostedForm, fields_of
from app.web.render import flash, render
from app.web.session import WebUser
from services.kernel import xlsx
from services.kernel.clock import local_date
from services.kernel.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from services.kernel.inputs import ascii_id, form_text
from services.tasks import commands, files, progress, reads
from services.tasks import export as task_export
from services.tasks.lifecycle import TASK_LIFECYCLE

router = APIRouter()
PLAN_KEYS = frozenset({"org", "state", "task", "overdue", "page"})
LIST_KEYS = frozenset({"state", "overdue", "plan"})
LIST_LIMIT = 50

# A task form's fields are its body model's (services/tasks/bodies.py); these are their names here.
FIELD_LABELS: dict[str, str] = {
    "text": "进展情况", "evidence": "佐证材料文件（可选）", "summary": "完成情况", "completed_on": "完成日期",
    "evidence_text": "佐证材料说明（文件文号、台账、现场照片说明等）", "note": "意见", "reason": "理由",
    "new_deadline": "申请延期至",
}
ACTION_FIELD_LABELS: dict[tuple[str, str], str] = {
    ("comment", "text"): "备注内容", ("verify", "note"): "核查意见", ("return", "reason"): "退回理由",
    ("request_extension", "reason"): "延期理由", ("grant_extension", "note"): "审批意见",
    ("deny_extension", "note"): "审批意见",
}
FORM_INTROS = {
    "acknowledge": "确认本单位已收到该任务。",
    "report_progress": "报告本单位的工作进展；全年任务请每月报告一次。",
    "report_completion": "任务已完成时报告完成情况和佐证材料，由印发任务清单的安委办核查。",
    "verify": "核查通过后该单位的任务即完成；全部责任单位核查通过后任务销号。",
    "return": "退回后由承担单位继续办理并重新报告完成情况。",
    "request_extension": "延期申请由印发任务清单的安委办审批。",
}
# What the trail shows of an action's body besides the fields above.
TRAIL_LABELS = FIELD_LABELS | {"step": "督办环节", "kind": "文书种类", "number": "编号", "title": "任务",
                               "unit_name": "责任单位", "role": "承担方式", "deadline": "完成时限",
                               "year_long": "全年任务", "month": "月份"}
STALE = "该任务已被他人更新，页面已刷新为最新情况，请核对后重新提交。"


@dataclass
class TaskField:
    name: str
    label: str
    kind: str  # text | textarea | date | evidence
    required: bool


@dataclass
class TaskForm:
    action: str
    label: str
    intro: str
    fields: list[TaskField]
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    message: str | None = None

    @property
    def multipart(self) -> bool:
        return any(f.kind == "evidence" for f in self.fields)


def task_form(action: str) -> TaskForm:
    spec = TASK_LIFECYCLE[action]
    fields = [TaskField(f.name, ACTION_FIELD_LABELS.get((action, f.name), FIELD_LABELS.get(f.name, f.name)),
                        f.kind if f.kind in ("text", "textarea", "date", "evidence") else "text", f.required)
              for f in fields_of(spec.body)]
    return TaskForm(action, spec.label, FORM_INTROS.get(action, ""), fields)


def offered_action(action: str) -> bool:
    spec = TASK_LIFECYCLE.get(action)
    return spec is not None and spec.lifecycle and bool(spec.sources)


def _ctx(request: Request):
    return request.app.state.ctx


def _not_found() -> ErrorPage:
    return ErrorPage(404, "页面不存在", "任务不存在或不在您的办理范围内。")


def _id(raw: str) -> int:
    found = ascii_id(raw)
    if found is None:
        raise _not_found()
    return found


def _errors(exc: Invalid) -> dict[str, str]:
    out: dict[str, str] = {}
    for d in exc.details or []:
        out.setdefault(str(d.get("field", "")).split(".")[0], str(d.get("message", exc.message)))
    return out


# --- the published plan ---------------------------------------------------------------------------


def published_plan_page(request: Request, user, db: Session, plan_id: int) -> Response | None:
    """The published plan's progress page; None for a draft (its review page answers)."""
    params = request.query_params
    try:
        flt: progress.PartFilter | None = progress.parse_filter(params, keys=PLAN_KEYS)
        errors: dict[str, str] = {}
    except Invalid as exc:
        flt, errors = None, _errors(exc)
    try:
        view = progress.plan_view(db, user, plan_id, flt, now=_ctx(request).now())
    except NotFound as exc:
        raise ErrorPage(404, "页面不存在", exc.message) from None
    except Forbidden as exc:
        raise ErrorPage(403, "无权查看任务清单", exc.message) from None
    if view is None:
        return None
    shown = flt or progress.PartFilter()
    base = f"/plans/{plan_id}"

    def link(**over: Any) -> str:
        query = urlencode(shown.params(**over))
        return base + ("?" + query if query else "")

    export_query = urlencode(shown.params(page=1))
    return render(request, "web/plan_progress.html", status=400 if errors else 200, view=view, errors=errors,
                  form={k: str(params.get(k, ""))[:40] for k in PLAN_KEYS}, link=link,
                  filtered=bool(shown.params(page=1)),
                  export_link=f"{base}/export.xlsx" + ("?" + export_query if export_query else ""),
                  part_states=list(progress.PART_STATES.items()), task_states=list(progress.TASK_STATES.items()))


@router.get("/plans/{plan_id}/export.xlsx")
def plan_export(request: Request, user: WebUser, plan_id: str, db: ReadDb) -> Response:
    pid = _id(plan_id)
    try:
        flt = progress.parse_filter(request.query_params, keys=PLAN_KEYS - {"page"})
    except Invalid:
        page = published_plan_page(request, user, db, pid)  # the page says what is wrong (400)
        if page is None:
            raise _not_found() from None
        return page
    now = _ctx(request).now()
    try:
        plan, content = task_export.export_xlsx(db, user, pid, flt, now=now)
    except NotFound as exc:
        raise ErrorPage(404, "页面不存在", exc.message) from None
    except Forbidden as exc:
        raise ErrorPage(403, "无权查看任务清单", exc.message) from None
    day = local_date(now).isoformat()
    name = f"task-plan-{plan.id}-{day}.xlsx"
    readable = quote(f"{plan.title}-{day}.xlsx", safe="")
    return Response(content, media_type=xlsx.MEDIA_TYPE, headers={
        "Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{readable}",
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


# --- 我的任务 ---------------------------------------------------------------------------------------


def _list_filter(request: Request) -> tuple[dict[str, Any], dict[str, str], str | None]:
    """(the list's arguments, errors, the cursor)."""
    params = request.query_params
    try:
        flt = progress.parse_filter(params, keys=LIST_KEYS)
    except Invalid as exc:
        return {}, _errors(exc), None
    cursor = str(params.get("cursor", "")).strip() or None
    return {"plan_id": flt.plan_id, "state": [flt.state] if flt.state else None, "overdue": flt.overdue}, {}, cursor


@router.get("/tasks")
def tasks_page(request: Request, user: WebUser, db: ReadDb) -> Response:
    if not progress.may_list(user):
        raise ErrorPage(403, "无权查看任务", "任务由承担单位和安委办办理。")
    args, errors, cursor = _list_filter(request)
    plans = progress.plans_in_scope(db, user)
    page = None
    if not errors:
        try:
            page = reads.list_view(db, user, now=_ctx(request).now(), cursor=cursor, limit=LIST_LIMIT, **args)
        except Invalid as exc:
            errors = _errors(exc)
    form = {k: str(request.query_params.get(k, ""))[:40] for k in LIST_KEYS}
    kept = {k: v for k, v in form.items() if v}
    next_link = ("/tasks?" + urlencode({**kept, "cursor": page.next_cursor})) if page and page.next_cursor else None
    first_link = ("/tasks?" + urlencode(kept)) if kept else "/tasks"
    return render(request, "web/tasks.html", status=400 if errors else 200, page=page, errors=errors, form=form,
                  plans=plans, part_states=list(progress.PART_STATES.items()), next_link=next_link,
                  first_link=first_link if cursor else None, no_org=user.organisation_id is None)


# --- one part -------------------------------------------------------------------------------------


def _part_page(request: Request, session: Session, user, assignment_id: int, *, status: int = 200,
               failed: TaskForm | None = None, page_error: str | None = None) -> Response:
    try:
        page = progress.part_page(session, user, assignment_id, now=_ctx(request).now())
    except NotFound:
        raise _not_found() from None
    view = page.view
    forms = [failed if failed is not None and failed.action == name else task_form(name)
             for name in view.allowed_actions]
    if failed is not None and failed.action not in view.allowed_actions:
        page_error = page_error or failed.message or "该操作当前不可执行"
    return render(request, "web/task.html", status=status, part=view, forms=forms,
                  explanations=page.explanations, page_error=page_error, plan_readable=page.plan_readable,
                  labels=TRAIL_LABELS, state_names=progress.PART_STATES, file_names={a.id: a.filename for a in view.attachments})


@router.get("/tasks/{assignment_id}")
def task_page(request: Request, user: WebUser, assignment_id: str, db: ReadDb) -> Response:
    return _part_page(request, db, user, _id(assignment_id))


def _version(form: FormData) -> int | None:
    raw = form.get("version")
    if not isinstance(raw, str) or not raw:
        return None
    # Not a number in ASCII digits: no part has version -1, so the form is refused as stale.
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else -1


def _body(form: TaskForm, posted: FormData, uploaded: list[int]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the JSON body of the action, the values to put back into the form). Empty inputs are left
    out, so the body model says 此项为必填项 for a required one."""
    body: dict[str, Any] = {}
    kept: dict[str, Any] = {}
    for f in form.fields:
        if f.kind == "evidence":
            chosen = [v.strip() for v in posted.getlist(f.name) if isinstance(v, str) and v.strip()]
            values: list[Any] = [ascii_id(v) if ascii_id(v) is not None else v for v in chosen] + uploaded
            kept[f.name] = [str(v) for v in values]
            if values:
                body[f.name] = values
        else:
            text = form_text(posted.get(f.name))
            kept[f.name] = text
            if text:
                body[f.name] = text
    return body, kept


def _uploads(form: TaskForm, posted: FormData) -> list[UploadFile]:
    if not form.multipart:
        return []
    return [u for u in posted.getlist("evidence_upload") if isinstance(u, UploadFile) and u.filename][:10]


def _perform(request: Request, db: Session, user, assignment_id: int, action: str, posted: FormData) -> Response:
    """The form's files are stored first, each in a unit of its own (`files.save` removes its file
    when its unit fails); `db`, the route's unit, is first used after them."""
    ctx = _ctx(request)
    failed = task_form(action)
    version = _version(posted)
    uploaded: list[int] = []
    try:
        for upload in _uploads(failed, posted):
            saved = files.save(ctx.uow, user, assignment_id, filename=upload.filename or "upload", stream=upload.file,
                               root=ctx.settings.attachments_dir, max_bytes=ctx.settings.max_attachment_bytes,
                               now=ctx.now())
            uploaded.append(saved.id)
    except Invalid as exc:
        _, failed.values = _body(failed, posted, uploaded)
        failed.errors["evidence"] = next((str(d.get("message")) for d in exc.details or []), exc.message)
        return _part_page(request, db, user, assignment_id, status=422, failed=failed)
    except NotFound:
        raise _not_found() from None
    except (Forbidden, Conflict) as exc:
        _, failed.values = _body(failed, posted, uploaded)
        failed.message = exc.message
        return _part_page(request, db, user, assignment_id, status=exc.status, failed=failed)
    body, failed.values = _body(failed, posted, uploaded)
    try:
        with db.begin_nested():  # a refusal rolls its writes back before the page shows it
            commands.perform_action(db, user, assignment_id, action, body, now=ctx.now(), if_match=version)
    except NotFound:
        raise _not_found() from None
    except Invalid as exc:
        known = {f.name for f in failed.fields}
        for detail in exc.details or []:
            name = str(detail.get("field", "")).split(".")[0]
            if name in known:
                failed.errors.setdefault(name, str(detail.get("message", "")))
            else:
                failed.message = str(detail.get("message", exc.message))
        if not failed.errors and failed.message is None:
            failed.message = exc.message
        return _part_page(request, db, user, assignment_id, status=422, failed=failed)
    except DomainError as exc:
        failed.message = STALE if exc.code in ("stale_version", "concurrent_update") else exc.message
        return _part_page(request, db, user, assignment_id, status=exc.status, failed=failed)
    response = RedirectResponse(f"/tasks/{assignment_id}", status_code=303)
    flash(request, response, f"已完成：{TASK_LIFECYCLE[action].label}")
    return response


@router.post("/tasks/{assignment_id}/actions/{action}")
def task_action(request: Request, user: WebUser, _: CsrfChecked, assignment_id: str, action: str, form: PostedForm,
                db: Db) -> Response:
    if not offered_action(action):
        raise _not_found()
    return _perform(request, db, user, _id(assignment_id), action, form)


@router.get("/tasks/{assignment_id}/attachments/{attachment_id}")
def task_file(request: Request, user: WebUser, assignment_id: str, attachment_id: str, db: ReadDb) -> Response:
    """A part's evidence file, for whoever may see the part (the same scope rule as the page)."""
    aid, fid = _id(assignment_id), _id(attachment_id)
    try:
        found = files.find(db, user, aid, fid)
    except NotFound:
        raise _not_found() from None
    path = files.path_for(_ctx(request).settings.attachments_dir, found.sha256)
    if not path.is_file():
        raise _not_found()
    disposition = "inline" if found.content_type in files.ALLOWED else "attachment"
    return FileResponse(path, media_type=found.content_type, headers={
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(found.filename)}",
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=300"})
