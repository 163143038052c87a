"""Evidence files of a unit's part (issue 14): stored exactly like a hazard's attachments (on disk
under their SHA-256, typed by their content, size-limited: `services.engine.attachments.store`),
recorded as `attachments` rows of the part (`assignment_id`, no hazard).

The upload itself is no event: the part's lifecycle has no `attach` action. A file enters the
trail when an action names it in `evidence` (report_progress, report_completion): the engine then
checks that it is the part's own and puts its name and SHA-256 in the event
(`services.tasks.engine._details`). Only the unit's own users upload, and not to a verified part;
all of it is checked before a byte is written.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.engine import UnitOfWork
from db.models import Attachment, TaskAssignment
from services.accounts.auth import Principal
from services.engine.attachments import ALLOWED, path_for, remove_unreferenced, store, stored_name
from services.kernel.errors import Conflict, Forbidden, NotFound
from services.kernel.inputs import MAX_ID
from services.tasks import engine
from services.tasks.lifecycle import OFFICIALS, is_unit
from services.tasks.models import TaskAttachmentOut
from services.tasks.reads import attachment_out
from services.tasks.states import TASK_STATE_LABELS, TaskState

__all__ = ["ALLOWED", "check_upload", "find", "path_for", "save"]


def check_upload(part: TaskAssignment, principal: Principal) -> None:
    """Who may add a file to this part now: a user of the unit itself (403 otherwise), while the
    part is not verified (409)."""
    if principal.role not in OFFICIALS or not is_unit(part, principal):
        raise Forbidden("只能由承担该任务的单位上传佐证材料", code="own_unit")
    if part.state == TaskState.VERIFIED.value:
        raise Conflict(f"任务处于“{TASK_STATE_LABELS[TaskState.VERIFIED]}”状态，不能再上传附件", code="state")


def save(uow: UnitOfWork, principal: Principal, assignment_id: int, *, filename: str, stream: BinaryIO,
         root: Path, max_bytes: int, now: datetime) -> TaskAttachmentOut:
    """Store an upload as an evidence file of the part and record its row. Scope (404), role and
    state are checked before a byte is written, and again under the part's row lock when the row
    is written (a check may have verified it meanwhile). If that transaction fails, a file this
    upload created and no row references is removed again."""
    name = stored_name(filename)
    with uow.read() as session:
        check_upload(engine.load(session, principal, assignment_id), principal)
    stored = store(stream, root=root, max_bytes=max_bytes)
    try:
        with uow.write() as session:
            check_upload(engine.load(session, principal, assignment_id, lock=True), principal)
            att = Attachment(hazard_id=None, assignment_id=assignment_id, filename=name,
                             content_type=stored.content_type, size=stored.size, sha256=stored.sha256,
                             uploaded_by_id=principal.id, created_at=now)
            session.add(att)
            session.flush()
            return attachment_out(att)
    except BaseException:
        if stored.created:
            remove_unreferenced(uow, stored)
        raise


def find(session: Session, principal: Principal, assignment_id: int, attachment_id: int) -> TaskAttachmentOut:
    """File `attachment_id` of the part, for whoever may see the part; 404 for anything else (a
    file of another part or of a hazard is not found here)."""
    engine.load(session, principal, assignment_id)
    att = (session.scalars(select(Attachment).where(Attachment.id == attachment_id,
                                                    Attachment.assignment_id == assignment_id)).one_or_none()
           if 0 < attachment_id <= MAX_ID else None)
    if att is None:
        raise NotFound("附件不存在或不属于该任务")
    return attachment_out(att)
