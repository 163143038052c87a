"""A hazard's uploaded files as its page lists and serves them. Scope is the caller's to check
(`services.engine.transitions.load_in_scope`) before asking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Attachment


@dataclass(frozen=True)
class FileInfo:
    id: int
    hazard_id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime

    @property
    def image(self) -> bool:
        return self.content_type.startswith("image/")


def _info(a: Attachment) -> FileInfo:
    return FileInfo(a.id, a.hazard_id, a.filename, a.content_type, a.size, a.sha256, a.created_at)


def of_hazard(session: Session, hazard_id: int) -> list[FileInfo]:
    """The hazard's files, in upload order."""
    rows = session.execute(select(Attachment).where(Attachment.hazard_id == hazard_id).order_by(Attachment.id))
    return [_info(a) for a in rows.scalars()]


def get(session: Session, hazard_id: int, file_id: int) -> FileInfo | None:
    """File `file_id` if it is one of this hazard's, else None."""
    att = session.get(Attachment, file_id)
    return _info(att) if att is not None and att.hazard_id == hazard_id else None
