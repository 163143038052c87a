"""Official documents: a hazard's list, and one document as HTML (as stored) or PDF.

Scope as for `GET /hazards/{id}`: out of scope or unknown answers 404; the public sees none.
"""

# No `from __future__ import annotations`: FastAPI reads the parameter annotations at import.

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from db.engine import read_only
from services import documents
from app.api.deps import Caller, Ctx, IdPath
from app.api.schemas import ErrorOut

router = APIRouter(prefix="/api/v1", tags=["documents"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "未登录或令牌无效", "model": ErrorOut},
    404: {"description": "隐患或文书不存在，或不在管辖范围内", "model": ErrorOut},
    422: {"description": "参数不合法", "model": ErrorOut},
}


class DocumentOut(BaseModel):
    id: int
    hazard_id: int
    kind: str
    kind_label: str
    number: str
    title: str
    issuer_name: str
    sha256: str
    issued_at: str
    event_id: int
    dated: str  # 成文日期 (YYYY-MM-DD): the day of the act the document records


def _out(info: documents.DocumentInfo) -> dict[str, Any]:
    return {**info.as_dict(), "issued_at": info.issued_at.isoformat(), "dated": info.dated.isoformat()}


def content_disposition(filename: str, fallback: str) -> str:
    """RFC 6266 with RFC 5987's `filename*` for the Chinese number; an ASCII name for old clients."""
    return f"inline; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get("/hazards/{hazard_id}/documents", response_model=list[DocumentOut], responses=ERRORS,
            summary="隐患的公文（限期整改通知书、挂牌督办通知书等）")
def hazard_documents(ctx: Ctx, caller: Caller, hazard_id: IdPath) -> list[dict[str, Any]]:
    with read_only(ctx.factory) as session:
        return [_out(i) for i in documents.list_for_hazard(session, caller, hazard_id)]


@router.get("/documents/{document_id}", responses={
    **ERRORS, 200: {"description": "文书：HTML（原样，SHA-256 与审计轨迹一致）或由其生成的 PDF",
                    "content": {"text/html": {}, "application/pdf": {}}}},
    summary="一份公文（format=html|pdf）")
def get_document(ctx: Ctx, caller: Caller, document_id: IdPath,
                 fmt: Annotated[Literal["html", "pdf"], Query(alias="format")] = "html") -> Response:
    with read_only(ctx.factory) as session:
        info, html = documents.get_document(session, caller, document_id)
    headers = {"ETag": f'"{info.sha256}"'}
    if fmt == "pdf":
        headers["Content-Disposition"] = content_disposition(f"{info.number}.pdf", f"document-{info.id}.pdf")
        return Response(documents.render_pdf(html), media_type="application/pdf", headers=headers)
    headers["Content-Disposition"] = content_disposition(f"{info.number}.html", f"document-{info.id}.html")
    return Response(html, media_type="text/html; charset=utf-8", headers=headers)
