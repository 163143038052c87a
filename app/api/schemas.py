"""Response shapes for the OpenAPI document.

The answers themselves are the domain's read models, declared once beside the services that build
them (services/reads/models.py, services/documents/access.py, services/audit/verification.py,
services/outbox/dead_letters.py) and re-exported here under the component names the document has
always used. What is defined here is HTTP's own: the error envelope and the small acknowledgements.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from services.audit.verification import Problem, VerifyOut
from services.documents.access import DocumentOut
from services.outbox.dead_letters import DeadLetterOut, DeadLetterPage
from services.reads.models import (AttachmentOut, EnterpriseRef, EventActor, EventOut, HazardOut, HazardPage,
                                   InboxOut, Listing, MessageOut, PendingExtension, Plan, PublicReceipt,
                                   PublicStatus, TodoOut)

__all__ = [
    "AttachmentOut", "DeadLetterOut", "DeadLetterPage", "DocumentOut", "EnterpriseRef", "ErrorDetail", "ErrorOut",
    "EventActor", "EventOut", "HazardOut", "HazardPage", "HealthOut", "InboxOut", "Listing", "MessageOut",
    "PendingExtension", "Plan", "Problem", "PublicReceipt", "PublicStatus", "RetryOut", "TodoOut", "VerifyOut",
]


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorOut(BaseModel):
    error: ErrorDetail

    model_config = {"json_schema_extra": {"examples": [{"error": {
        "code": "invalid", "message": "提交的内容有误，请按提示修改。",
        "details": [{"field": "deadline", "message": "日期格式应为 YYYY-MM-DD", "type": "date_from_datetime_parsing"}],
    }}]}}


class RetryOut(BaseModel):
    id: int
    status: str


class HealthOut(BaseModel):
    status: Literal["ok"]
