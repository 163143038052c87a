"""The everyday pages: 待办, a hazard's page with the forms of its allowed actions, attachments.

Thin routes: what a page shows comes from the same services the API uses (services.reads.inbox for the
to-dos, services.reads.hazards for the hazard, its allowed actions and its trail), and a form is carried
out by services.engine.commands.perform_action with If-Match = the version the form was rendered with, so
a form left open while someone else acted is refused (409) instead of acting on changed facts.
"""

from __future__ import annotations

import importlib
from datetime import date
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import FileResponse, RedirectResponse, Response

from app.api.deps import Db, ReadDb
from services.accountability import reads as accountability_reads
from services.engine import attachments, commands
from services.reads import directory, files as hazard_files, hazards, inbox
from services.reads import enterprises as enterprise_reads
from services.kernel import categories
from services.reads.models import HazardOut
from services.calendar.workdays import default_calendar
from services.kernel.clock import local_date
from services.kernel.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from services.escalation.ladder import load_config
from services.kernel.inputs import ascii_id
from services.lifecycle.guards import extension_too_late
from services.lifecycle.states import FINAL_STATES, State
from services.lifecycle.table import LIFECYCLE, check_pre
from services.engine.transitions import load_in_scope
from app.web.errors import not_found
from app.web.forms import LABELS, ActionForm, PostedForm, action_form, body_from_form, uploads
from app.web.render import flash, render
from app.web.csrf import CsrfChecked
from app.web.session import WebUser

router = APIRouter()
_ladder = lru_cache(maxsize=4)(load_config)  # the reminder offset sets what is "due soon"
# What the timeline names besides the forms' fields: the ladder's step and the issued document.
TIMELINE_LABELS = LABELS | {"step": "督办环节", "kind": "文书种类", "number": "文号",
                            # the `import` event: where the hazard's history here began
                            "ledger_file": "导入文件", "ledger_sheet": "工作表", "ledger_row": "行号",
                            "state": "导入时状态", "listed_on": "挂牌日期", "plan_filed_on": "方案报送日期",
                            "acceptance_requested_on": "验收申请日期"}


def _ctx(request: Request):
    return request.app.state.ctx


def _id(value: str) -> int:
    found = ascii_id(value)
    if found is None:
        raise not_found()
    return found


@router.get("/")
def todo_page(request: Request, user: WebUser, db: ReadDb) -> Response:
    ctx = _ctx(request)
    data = inbox.view(db, user, now=ctx.now(), limit=20, ladder=_ladder(ctx.settings.escalation_config))
    # One list: hazards and task parts, overdue first, then by when each is due.
    todos = sorted([*data.todos, *data.task_todos], key=lambda t: (not t.overdue, t.due or "9999-12-31", t.kind))
    return render(request, "web/todo.html", todos=todos, messages=data.messages, unread=data.unread,
                  total=data.total)


# --- the hazard page ------------------------------------------------------------------------------


def _deadline_info(view: HazardOut, today) -> dict[str, Any] | None:
    """Working days left (Chinese working days), or how many the hazard is overdue by."""
    if not view.deadline or State(view.state) in FINAL_STATES:
        return None
    return _days_info(date.fromisoformat(view.deadline), today)


def _days_info(due: date | None, today: date) -> dict[str, Any] | None:
    if due is None:
        return None
    return {"due": due, "overdue": due < today, "days": abs(default_calendar().working_days_between(today, due))}


def _documents(session, user, hazard_id: int) -> list[dict[str, Any]] | None:
    """The hazard's documents when the documents module provides them (None: not available)."""
    try:
        module = importlib.import_module("services.documents")
    except ImportError:
        return None
    lister = getattr(module, "list_for_hazard", None)
    if lister is None:
        return None
    return [d.model_dump() for d in lister(session, user, hazard_id)]  # placed at their acts below


def _place_documents(events: list[dict[str, Any]], documents: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The trail with each document at its act: an `issue_document` event (the engine may get to
    a decision a while after it was taken) is shown under the event of the act it records, with
    its own time, rather than as a later line of its own."""
    by_id = {d.get("id"): d for d in documents or []}
    acts = {e["id"]: e for e in events}
    out = []
    for e in events:
        e.setdefault("documents", [])
        body = e["payload"].get("body") if isinstance(e["payload"], dict) else None
        doc = by_id.get(body.get("document_id")) if e["action"] == "issue_document" and isinstance(body, dict) else None
        act = acts.get(doc.get("event_id")) if doc else None
        if act is not None:
            act.setdefault("documents", []).append({**doc, "issued": e})
        else:
            out.append(e)
    return out


def _explanations(hazard, user) -> list[dict[str, str]]:
    """Actions the user's role could take in this state but a four-eyes or authority rule forbids:
    said in plain words where the form would be, so nobody wonders why it is missing."""
    out = []
    for name, spec in LIFECYCLE.items():
        if name == "report" or not spec.lifecycle or user.role not in spec.roles:
            continue
        if State(hazard.state) not in spec.sources:
            continue
        refusal = check_pre(spec, hazard, user)
        if refusal is not None and refusal.kind == "forbidden":
            out.append({"action": name, "label": spec.label, "message": refusal.message})
    return out


def _hazard_page(request: Request, session: Session, user, hazard_id: int, *, status: int = 200,
                 failed: ActionForm | None = None, page_error: str | None = None) -> Response:
    """The page, read through `session`: the route's `ReadDb`, or after a refused form its `Db`
    (the refusal's savepoint already rolled back)."""
    ctx = _ctx(request)
    now = ctx.now()
    try:
        hazard = load_in_scope(session, user, hazard_id)
    except NotFound:
        raise not_found() from None
    view = hazards.view_loaded(session, hazard, user, now=now)
    explanations = _explanations(hazard, user)
    events = [e.model_dump() for e in hazards.events_view(session, user, hazard_id)]  # + their documents
    files = hazard_files.of_hazard(session, hazard_id)
    documents = _documents(session, user, hazard_id)
    events = _place_documents(events, documents)
    registration = None
    if hazard.state == State.REPORTED.value:  # a report's own date: its 登记期限, as 待办 shows it
        due, _ = inbox.step_due(hazard, user.role, _ladder(ctx.settings.escalation_config), default_calendar())
        registration = _days_info(due, local_date(now))
    region_name = directory.region_name(session, hazard.region_code)
    deadline = date.fromisoformat(view.deadline) if view.deadline else None
    late = extension_too_late(deadline, local_date(now), ctx.settings.extension_min_working_days, default_calendar())
    if late and "request_extension" in view.allowed_actions:
        # The lifecycle would refuse it (a rule of the request's day): no form, and the reason said.
        offered = [a for a in view.allowed_actions if a != "request_extension"]
        view = view.model_copy(update={"allowed_actions": offered})
        explanations.append({"action": "request_extension", "label": LIFECYCLE["request_extension"].label,
                             "message": late})
    forms = []
    for name in view.allowed_actions:
        if failed is not None and failed.action == name:
            forms.append(failed)
        else:
            forms.append(action_form(name))
    if failed is not None and failed.action not in view.allowed_actions:
        page_error = page_error or failed.message or "该操作当前不可执行"
    return render(request, "web/hazard.html", status=status, hazard=view, events=events, attachments=files,
                  documents=documents, forms=forms, explanations=explanations, page_error=page_error,
                  deadline_info=_deadline_info(view, local_date(now)), registration=registration,
                  labels=TIMELINE_LABELS,
                  region_name=region_name, file_names={f.id: f.filename for f in files},
                  records=_records(session, user, hazard_id),
                  oversight=enterprise_reads.oversight(session, user, hazard.enterprise_id),
                  hazard_categories=categories.categories_for(view.industry))


def _records(session: Session, user, hazard_id: int) -> dict[str, Any]:
    """The hazard's 问责移交 (officials only) and 约谈 records (the enterprise sees its commitments)."""
    referrals, summonses = accountability_reads.of_hazard(session, hazard_id)
    return {"referrals": referrals if user.role in accountability_reads.READERS else [], "summonses": summonses}


@router.get("/hazards/{hazard_id}")
def hazard_page(request: Request, user: WebUser, hazard_id: str, db: ReadDb) -> Response:
    return _hazard_page(request, db, user, _id(hazard_id))


def _perform(request: Request, db: Session, user, hazard_id: int, action: str, form: FormData) -> Response:
    """The form's files are stored first, each in a unit of its own (`attachments.save` removes its
    file when its unit fails); `db`, the route's unit, is first used after them."""
    ctx = _ctx(request)
    failed = action_form(action)
    failed.open = True
    raw_version = form.get("version")
    version = None
    if isinstance(raw_version, str) and raw_version:
        # Not a number in ASCII digits: no hazard has version -1, so the form is refused as stale.
        version = int(raw_version) if raw_version.isascii() and raw_version.isdigit() and len(raw_version) < 10 else -1
    uploaded: dict[str, list[int]] = {}
    try:
        for field_name, files in uploads(action, form).items():
            for upload in files:
                saved = attachments.save(  # a unit of its own: it removes its file again if that unit fails
                    ctx.uow, user, hazard_id, filename=upload.filename or "upload", stream=upload.file,
                    root=ctx.settings.attachments_dir, max_bytes=ctx.settings.max_attachment_bytes, now=ctx.now())
                uploaded.setdefault(field_name, []).append(saved.id)
                if version is not None:
                    version += 1  # each stored file is an `attach` event of this very form
    except Invalid as exc:
        _, failed.values = body_from_form(action, form, uploaded)
        for detail in exc.details or []:
            failed.errors[field_name] = detail["message"]
        return _hazard_page(request, db, user, hazard_id, status=422, failed=failed)
    except NotFound:
        raise not_found() from None
    except (Forbidden, Conflict) as exc:  # role, or a closed hazard taking no new files
        failed.message = exc.message
        return _hazard_page(request, db, user, hazard_id, status=exc.status, failed=failed)
    body, failed.values = body_from_form(action, form, uploaded)
    try:
        with db.begin_nested():  # a refusal rolls its writes back before the page shows it
            commands.perform_action(db, ctx.settings, user, hazard_id, action, body, now=ctx.now(),
                                    if_match=version)
    except NotFound:
        raise not_found() from None
    except Invalid as exc:
        known = {f.name for f in failed.fields}
        for detail in exc.details or []:
            field = str(detail.get("field", "")).split(".")[0]
            if field in known:
                failed.errors.setdefault(field, detail["message"])
            else:
                failed.message = detail["message"]
        if not failed.errors and failed.message is None:
            failed.message = exc.message
        return _hazard_page(request, db, user, hazard_id, status=422, failed=failed)
    except (Forbidden, Conflict, DomainError) as exc:
        failed.message = exc.message
        if isinstance(exc, Conflict) and exc.code in ("stale_version", "concurrent_update"):
            failed.message = "该隐患已被他人更新，页面已刷新为最新情况，请核对后重新提交。"
        return _hazard_page(request, db, user, hazard_id, status=exc.status, failed=failed)
    response = RedirectResponse(f"/hazards/{hazard_id}", status_code=303)
    flash(request, response, f"已完成：{LIFECYCLE[action].label}")
    return response


@router.post("/hazards/{hazard_id}/actions/{action}")
def hazard_action(request: Request, user: WebUser, _: CsrfChecked, hazard_id: str, action: str, form: PostedForm,
                  db: Db) -> Response:
    spec = LIFECYCLE.get(action)
    if spec is None or action == "report" or not spec.lifecycle:
        raise not_found()
    return _perform(request, db, user, _id(hazard_id), action, form)


@router.get("/hazards/{hazard_id}/documents/{document_id}")
def document_file(request: Request, user: WebUser, hazard_id: str, document_id: str, db: ReadDb,
                  format: str = "html") -> Response:
    """A hazard's issued document for the logged-in browser (the API's route wants a Bearer token):
    the stored HTML, or the PDF printed from it; same scope rule as the hazard page."""
    from services import documents

    hid, did = _id(hazard_id), _id(document_id)
    try:
        info, html = documents.get_document(db, user, did)
    except NotFound:
        raise not_found() from None
    if info.hazard_id != hid or format not in ("html", "pdf"):
        raise not_found()
    name = quote(f"{info.number}.{format}", safe="")
    headers = {"Content-Disposition": f"inline; filename=\"document-{info.id}.{format}\"; filename*=UTF-8''{name}",
               "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"}
    if format == "pdf":
        return Response(documents.render_pdf(html), media_type="application/pdf", headers=headers)
    return Response(html, media_type="text/html; charset=utf-8", headers=headers)


@router.get("/hazards/{hazard_id}/attachments/{attachment_id}")
def attachment_file(request: Request, user: WebUser, hazard_id: str, attachment_id: str, db: ReadDb) -> Response:
    """A hazard's file, for whoever may see the hazard (the same scope rule as the page)."""
    ctx = _ctx(request)
    hid, aid = _id(hazard_id), _id(attachment_id)
    try:
        load_in_scope(db, user, hid)
    except NotFound:
        raise not_found() from None
    found = hazard_files.get(db, hid, aid)
    if found is None:
        raise not_found()
    path = attachments.path_for(ctx.settings.attachments_dir, found.sha256)
    if not path.is_file():
        raise not_found()
    disposition = "inline" if found.content_type in attachments.ALLOWED else "attachment"
    return FileResponse(path, media_type=found.content_type, headers={
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(found.filename)}",
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=300",
    })
