"""问责约谈 pages: the 问责移交 and 约谈 records of the reader's area, a referral with its letter and
the outcome form (its committee office), a 约谈 with the form for the meeting held (committee
office or supervisor). Thin: services/accountability decides; a refused form is shown again."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from app.api.deps import Db, ReadDb
from app.web.csrf import CsrfChecked
from app.web.errors import ErrorPage
from app.web.forms import PostedForm
from app.web.render import flash, render
from app.web.session import WebUser
from services.accountability import actions, reads
from services.documents.render import render_pdf
from services.kernel.errors import DomainError, Forbidden, Invalid, NotFound
from services.kernel.inputs import ascii_id, form_text
from services.lifecycle.roles import Role

router = APIRouter()
OUTCOME_CHOICES = [(k, v) for k, v in reads.OUTCOME_LABELS.items() if k != "pending"]


def _reader(user) -> None:
    if user.role not in reads.READERS:
        raise ErrorPage(403, "无权查看", "问责移交和约谈记录供安委办、监管部门和审计人员查看。")


def _id(raw: str) -> int:
    found = ascii_id(raw)
    if found is None:
        raise ErrorPage(404, "页面不存在", "记录不存在或不在您的管辖范围内。")
    return found


def _errors(exc: Invalid) -> dict[str, str]:
    out: dict[str, str] = {}
    for d in exc.details or []:
        out.setdefault(str(d.get("field", "_")), str(d.get("message", exc.message)))
    return out or {"_": exc.message}


@router.get("/accountability")
def accountability_page(request: Request, user: WebUser, db: ReadDb) -> Response:
    _reader(user)
    return render(request, "web/accountability.html", referrals=reads.referrals(db, user),
                  summonses=reads.summonses(db, user))


def _referral_page(request: Request, user, db, referral_id: int, *, values=None, errors=None, status=200):
    try:
        referral = reads.referral(db, user, referral_id)
    except NotFound as exc:
        raise ErrorPage(404, "页面不存在", exc.message) from None
    can = user.role == Role.COMMITTEE and user.region_code == referral.region_code and referral.outcome in actions.NEXT
    return render(request, "web/referral.html", status=status, r=referral, can_record=can,
                  choices=[(k, v) for k, v in OUTCOME_CHOICES if k in actions.NEXT.get(referral.outcome, set())],
                  values=values or {}, errors=errors or {})


@router.get("/accountability/referrals/{referral_id}")
def referral_page(request: Request, user: WebUser, referral_id: str, db: ReadDb) -> Response:
    _reader(user)
    return _referral_page(request, user, db, _id(referral_id))


@router.get("/accountability/referrals/{referral_id}/letter")
def referral_letter(user: WebUser, referral_id: str, db: ReadDb, format: str = "html") -> Response:
    _reader(user)
    try:
        row = reads.referral_row(db, user, _id(referral_id))
    except NotFound as exc:
        raise ErrorPage(404, "页面不存在", exc.message) from None
    if row.html is None:
        raise ErrorPage(404, "页面不存在", "移交函尚未生成。")
    ext = "pdf" if format == "pdf" else "html"
    disposition = f"inline; filename=\"referral-{row.id}.{ext}\"; filename*=UTF-8''{quote(f'{row.number}.{ext}', safe='')}"
    if ext == "pdf":
        return Response(render_pdf(row.html), media_type="application/pdf",
                        headers={"Content-Disposition": disposition})
    return Response(row.html, media_type="text/html; charset=utf-8", headers={"Content-Disposition": disposition})


@router.post("/accountability/referrals/{referral_id}/outcome")
def referral_outcome(request: Request, user: WebUser, referral_id: str, _: CsrfChecked, form: PostedForm,
                     db: Db) -> Response:
    found = _id(referral_id)
    values = {"outcome": form_text(form.get("outcome")), "note": form_text(form.get("note"))}
    try:
        with db.begin_nested():
            actions.set_outcome(db, user, found, values["outcome"], values["note"], now=request.app.state.ctx.now())
    except NotFound as exc:
        raise ErrorPage(404, "页面不存在", exc.message) from None
    except Invalid as exc:
        return _referral_page(request, user, db, found, values=values, errors=_errors(exc), status=422)
    except DomainError as exc:
        raise ErrorPage(exc.status, "无法完成", exc.message) from None
    response = RedirectResponse(f"/accountability/referrals/{found}", status_code=303)
    flash(request, response, "已登记办理结果")
    return response


def _summons_page(request: Request, user, db, summons_id: int, *, values=None, errors=None, status=200):
    try:
        summons = reads.summons(db, user, summons_id)
    except NotFound as exc:
        raise ErrorPage(404, "页面不存在", exc.message) from None
    can = user.role in (Role.COMMITTEE, Role.SUPERVISOR)
    return render(request, "web/summons.html", status=status, s=summons, can_record=can,
                  values=values or {"held_on": summons.held_on or "", "attendees": summons.attendees or "",
                                    "commitments": summons.commitments or ""}, errors=errors or {})


@router.get("/accountability/summonses/{summons_id}")
def summons_page(request: Request, user: WebUser, summons_id: str, db: ReadDb) -> Response:
    _reader(user)
    return _summons_page(request, user, db, _id(summons_id))


@router.post("/accountability/summonses/{summons_id}/record")
def summons_record(request: Request, user: WebUser, summons_id: str, _: CsrfChecked, form: PostedForm,
                   db: Db) -> Response:
    found = _id(summons_id)
    values = {k: form_text(form.get(k)) for k in ("held_on", "attendees", "commitments")}
    try:
        with db.begin_nested():
            actions.record_summons(db, user, found, now=request.app.state.ctx.now(), **values)
    except NotFound as exc:
        raise ErrorPage(404, "页面不存在", exc.message) from None
    except Invalid as exc:
        return _summons_page(request, user, db, found, values=values, errors=_errors(exc), status=422)
    except (Forbidden, DomainError) as exc:
        raise ErrorPage(exc.status, "无法完成", exc.message) from None
    response = RedirectResponse(f"/accountability/summonses/{found}", status_code=303)
    flash(request, response, "已登记约谈情况")
    return response
