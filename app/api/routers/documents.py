"""Official documents: a hazard's list, and one document as HTML (as stored) or PDF.

Scope as for `GET /hazards/{id}`: out of scope or unknown answers 404; the public sees none. A task
list's document (issue 14) is served by the same route under its parts' scope (services/tasks/documents.py).
"""

# No `from __future__ import annotations`: FastAPI reads the parameter annotations at import.

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Response

from services import documents
from services.kernel.errors import NotFound
from services.tasks import documents as task_documents
from app.api.deps import Caller, IdPath, ReadDb
from app.api.schemas import DocumentOut, ErrorOut

router = APIRouter(prefix="/api/v1", tags=["documents"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "未登录或令牌无效", "model": ErrorOut},
    404: {"description": "隐患或文书不存在，或不在管辖范围内", "model": ErrorOut},
    422: {"description": "参数不合法", "model": ErrorOut},
}


def content_disposition(filename: str, fallback: str) -> str:
    """RFC 6266 with RFC 5987's `filename*` for the Chinese number; an ASCII name for old clients."""
    return f"inline; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get("/hazards/{hazard_id}/documents", response_model=list[DocumentOut], responses=ERRORS,
            summary="隐患的公文（限期整改通知书、挂牌督办通知书等）")
def hazard_documents(caller: Caller, db: ReadDb, hazard_id: IdPath) -> list[DocumentOut]:
    return documents.list_for_hazard(db, caller, hazard_id)


# response_model=None: the answer is the stored HTML or the PDF printed from it, bytes that FastAPI
# cannot validate or serialise as a model; `responses` documents both media types.
@router.get("/documents/{document_id}", response_model=None, responses={
    **ERRORS, 200: {"description": "文书：HTML（原样，SHA-256 与审计轨迹一致）或由其生成的 PDF",
                    "content": {"text/html": {}, "application/pdf": {}}}},
    summary="一份公文（format=html|pdf）")
def get_document(caller: Caller, db: ReadDb, document_id: IdPath,
                 fmt: Annotated[Literal["html", "pdf"], Query(alias="format")] = "html") -> Response:
    try:
        info, html = documents.get_document(db, caller, document_id)
    except NotFound:  # a task list's (任务交办通知, 督办函): the plan's office and the part's unit read it
        info, html = task_documents.get_document(db, caller, document_id)
    headers = {"ETag": f'"{info.sha256}"'}
    if fmt == "pdf":
        headers["Content-Disposition"] = content_disposition(f"{info.number}.pdf", f"document-{info.id}.pdf")
        return Response(documents.render_pdf(html), media_type="application/pdf", headers=headers)
    headers["Content-Disposition"] = content_disposition(f"{info.number}.html", f"document-{info.id}.html")
    return Response(html, media_type="text/html; charset=utf-8", headers=headers)
