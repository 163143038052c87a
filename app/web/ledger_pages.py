"""The 台账 pages: `/ledger` (filters, sortable columns, pages) and `/ledger.xlsx` (the same filters
as an Excel download). Thin: parse the query, call services.reads.ledger, render."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.api.deps import ReadDb
from services.reads import ledger
from services.kernel import xlsx
from services.kernel.errors import Invalid
from services.lifecycle.states import STATE_LABELS, State
from services.kernel.vocab import INDUSTRIES, LEVELS
from app.web.render import render
from app.web.session import WebUser

router = APIRouter()

_FIELDS = ("level", "region", "industry", "enterprise", "overdue", "q", "reported_from", "reported_to",
           "deadline_from", "deadline_to", "sort", "dir", "overdue_first", "per_page", "blacklisted")


def _link(query: ledger.LedgerQuery, path: str = "/ledger"):
    def link(**over: Any) -> str:
        return path + "?" + urlencode(query.params(**over), doseq=True)
    return link


def _sort_link(query: ledger.LedgerQuery):
    """A column header's link: the same column flips direction, another starts descending."""
    link = _link(query)

    def sort_link(column: str) -> str:
        desc = not query.desc if query.sort == column else True
        return link(sort=column, desc=desc, page=1)
    return sort_link


@router.get("/ledger")
def ledger_page(request: Request, user: WebUser, db: ReadDb) -> Response:
    ctx = request.app.state.ctx
    query = _query(request)
    if isinstance(query, Response):
        return query
    result = ledger.page(db, user, query, now=ctx.now())
    return render(request, "web/ledger.html", errors=[], form=_form(request), result=result, query=query,
                  link=_link(query), sort_link=_sort_link(query),
                  xlsx_link=_link(query, "/ledger.xlsx")(page=1), **_choices())


def _form(request: Request) -> dict[str, Any]:
    """What the person typed, to show it again in the filter form."""
    form: dict[str, Any] = {k: request.query_params.get(k, "") for k in _FIELDS}
    form["state"] = request.query_params.getlist("state")
    return form


def _query(request: Request) -> Any:
    """The filter the query string asks for, or the page that says what is wrong with it (400)."""
    try:
        return ledger.parse_query(request.query_params)
    except Invalid as exc:
        return _invalid(request, exc)


def _invalid(request: Request, exc: Invalid) -> Response:
    return render(request, "web/ledger.html", status=400, errors=exc.details, form=_form(request), result=None,
                  query=None, **_choices())


def _choices() -> dict[str, Any]:
    return {"states": [(s.value, STATE_LABELS[s]) for s in State], "levels": list(LEVELS.items()),
            "industries": INDUSTRIES, "sorts": list(ledger.SORTS.items()),
            "per_page_choices": ledger.PER_PAGE_CHOICES}


@router.get("/ledger.xlsx")
def ledger_xlsx(request: Request, user: WebUser, db: ReadDb) -> Response:
    ctx = request.app.state.ctx
    query = _query(request)
    if isinstance(query, Response):
        return query
    now = ctx.now()
    content = ledger.export_xlsx(db, user, query, now=now)
    name = f"hazard-ledger-{ledger.local_date(now).isoformat()}.xlsx"
    return Response(content, media_type=xlsx.MEDIA_TYPE, headers={
        "Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''%E9%9A%90%E6%82%A3%E5%8F%B0%E8%B4%A6-{name}",
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
