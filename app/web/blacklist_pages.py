"""黑名单 page for committee offices: `/blacklist?quarter=` shows the quarter's candidates of the
office's region with their evidence and the decision form (列入 / 不列入, reason required), and the
enterprises listed now. A decision is taken in a savepoint: a refusal is rolled back and the page
shows it again with the message."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from app.api.deps import Db, ReadDb
from app.web.csrf import CsrfChecked
from app.web.forms import PostedForm
from app.web.render import flash, render
from app.web.session import WebUser
from services.blacklist import board as boards
from services.blacklist import decisions
from services.kernel.errors import DomainError, Invalid
from services.kernel.inputs import ascii_id, form_text
from services.lifecycle.roles import Role

router = APIRouter()


def _refused(request: Request) -> Response:
    return render(request, "web/error.html", status=403, title="无权查看黑名单",
                  message="黑名单候选与决定由安委办办理。")


def _page(request: Request, user: Any, db: Any, quarter: str, *, status: int = 200, errors: dict[str, str] | None = None,
          message: str | None = None, failed: int | None = None, values: dict[str, str] | None = None) -> Response:
    try:
        result = boards.board(db, user, quarter=quarter or None, region_code=None, now=request.app.state.ctx.now())
    except Invalid as exc:
        return render(request, "web/blacklist.html", status=400, board=None, quarter=quarter,
                      errors={d["field"]: d["message"] for d in exc.details or []}, message=None, failed=None,
                      values={})
    return render(request, "web/blacklist.html", status=status, board=result, quarter=result.quarter,
                  errors=errors or {}, message=message, failed=failed, values=values or {})


@router.get("/blacklist")
def blacklist_page(request: Request, user: WebUser, db: ReadDb, quarter: str = "") -> Response:
    if user.role != Role.COMMITTEE:
        return _refused(request)
    return _page(request, user, db, quarter[:20])


@router.post("/blacklist/{enterprise_id}/decide")
def blacklist_decide(request: Request, user: WebUser, _: CsrfChecked, enterprise_id: str, form_data: PostedForm,
                     db: Db) -> Response:
    if user.role != Role.COMMITTEE:
        return _refused(request)
    quarter = form_text(form_data.get("quarter"))[:20]
    values = {"decision": form_text(form_data.get("decision"))[:20], "reason": form_text(form_data.get("reason"))[:5000]}
    ident = ascii_id(enterprise_id)
    try:
        if ident is None:
            raise Invalid("未找到该企业", details=[{"field": "enterprise_id", "message": "企业编号无效"}])
        with db.begin_nested():
            out = decisions.decide(db, user, ident, quarter=quarter, decision=values["decision"],
                                   reason=values["reason"], now=request.app.state.ctx.now())
    except Invalid as exc:
        errors = {d["field"]: d["message"] for d in (exc.details or [])}
        return _page(request, user, db, quarter, status=422, errors=errors, message=exc.message, failed=ident,
                     values=values)
    except DomainError as exc:
        return _page(request, user, db, quarter, status=exc.status, message=exc.message, failed=ident, values=values)
    response = RedirectResponse("/blacklist?" + urlencode({"quarter": out.quarter}), status_code=303)
    flash(request, response, f"已作出 {out.quarter} 黑名单决定：{out.decision_label}")
    return response
