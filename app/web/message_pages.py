"""消息: every message of the signed-in person, newest first, a page at a time (the 待办 page
shows the latest 20 and links here), with 标为已读 per message and for all."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from app.api.deps import Db, ReadDb
from services.reads import inbox
from services.kernel.errors import Invalid, NotFound
from services.kernel.inputs import ascii_id
from app.web.errors import not_found
from app.web.forms import PostedForm
from app.web.render import flash, render
from app.web.csrf import CsrfChecked
from app.web.session import WebUser

router = APIRouter()
PAGE = 50


@router.get("/messages")
def messages_page(request: Request, user: WebUser, db: ReadDb, cursor: str | None = None) -> Response:
    ctx = request.app.state.ctx
    try:
        data = inbox.view(db, user, now=ctx.now(), cursor=cursor or None, limit=PAGE)
    except Invalid:  # a cursor not of ours: start from the newest
        return RedirectResponse("/messages", status_code=303)
    return render(request, "web/messages.html", messages=data.messages, unread=data.unread,
                  total=data.total, next_cursor=data.next_cursor, first=not cursor)


def _back(form) -> str:
    """Back to the page the form was on (only our own /messages pages)."""
    target = form.get("back")
    return target if isinstance(target, str) and target.startswith("/messages") and "//" not in target else "/messages"


@router.post("/messages/read")
def read_all(request: Request, user: WebUser, _: CsrfChecked, form: PostedForm, db: Db) -> Response:
    ctx = request.app.state.ctx
    marked = inbox.mark_all_read(db, user, now=ctx.now())
    response = RedirectResponse(_back(form), status_code=303)
    flash(request, response, f"已将 {marked} 条消息标为已读" if marked else "没有未读消息")
    return response


@router.post("/messages/{item_id}/read")
def read_one(request: Request, user: WebUser, item_id: str, _: CsrfChecked, form: PostedForm, db: Db) -> Response:
    ctx = request.app.state.ctx
    found = ascii_id(item_id)
    if found is None:
        raise not_found()
    try:
        inbox.mark_read(db, user, found, now=ctx.now())
    except NotFound:  # raised on: the unit is rolled back
        raise not_found() from None
    return RedirectResponse(_back(form), status_code=303)
