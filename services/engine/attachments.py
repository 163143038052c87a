"""Attachments: evidence photos, reports. Stored on disk under their SHA-256 (so a file cannot be
swapped under its record), typed by their content rather than by what the client claims."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select

from db.engine import UnitOfWork
from db.models import Attachment, SpotFix
from services.engine import transitions
from services.accounts.auth import Principal
from services.kernel.errors import Conflict, Forbidden, Invalid
from services.kernel.inputs import control_message
from services.lifecycle.table import LIFECYCLE, check_pre
from services.engine.transitions import load_in_scope
from services.reads.models import AttachmentOut

ALLOWED = {
    "image/jpeg": "JPEG 图片",
    "image/png": "PNG 图片",
    "image/webp": "WebP 图片",
    "application/pdf": "PDF 文件",
}
UPLOADERS = LIFECYCLE["attach"].roles


def sniff(head: bytes) -> str | None:
    """The real type of a file from its first bytes."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def _human_size(n: int) -> str:
    """200_000 → "195 KB", not "0 MB"."""
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.3g} MB"
    return f"{n // 1024} KB" if n >= 1024 else f"{n} 字节"


def path_for(root: Path, digest: str) -> Path:
    return root / digest[:2] / digest


def stored_name(filename: str) -> str:
    """The name kept for the file: its last path part, at most 255 characters; a control
    character is refused (422), never dropped."""
    message = control_message(filename)
    if message:
        raise Invalid("附件文件名不合法", details=[{"field": "file", "message": "文件名" + message}])
    return (Path(filename.replace("\\", "/")).name or "upload")[:255]


def save(uow: UnitOfWork, principal: Principal, hazard_id: int, *, filename: str,
         stream: BinaryIO, root: Path, max_bytes: int, now: datetime) -> AttachmentOut:
    """Store an upload and record it: the file under its SHA-256, its row and its `attach` audit
    event in one transaction. Role, scope and state are checked before a byte is written (a
    closed or dismissed hazard takes no new files: 409). If the transaction fails, a file this
    upload created and no row references is removed again."""
    spec = LIFECYCLE["attach"]
    name = stored_name(filename)
    with uow.read() as session:  # nothing is written for a hidden, closed or wrong-role case
        hazard = load_in_scope(session, principal, hazard_id)
        refusal = check_pre(spec, hazard, principal)
    if refusal is not None:
        if refusal.kind == "role":
            raise Forbidden("当前角色无权上传附件", code="role")
        raise (Conflict if refusal.status == 409 else Forbidden)(refusal.message, code=refusal.code)
    stored = store(stream, root=root, max_bytes=max_bytes)
    sha, size, content_type = stored.sha256, stored.size, stored.content_type
    try:
        with uow.write() as session:
            att = Attachment(
                hazard_id=hazard_id, filename=name, content_type=content_type,
                size=size, sha256=sha, uploaded_by_id=principal.id, created_at=now,
            )
            session.add(att)
            session.flush()
            body = {"attachment_id": att.id, "filename": name, "content_type": content_type, "size": size,
                    "sha256": sha}
            hazard = transitions.perform(session, principal, hazard_id, "attach", body, now=now)
            return AttachmentOut(id=att.id, sha256=sha, size=size, content_type=content_type,
                                 filename=att.filename, hazard_version=hazard.version)
    except BaseException:
        if stored.created:
            remove_unreferenced(uow, stored)
        raise


@dataclass(frozen=True)
class Stored:
    """A file written under its SHA-256; `created`: this upload wrote it (no earlier one had)."""

    sha256: str
    size: int
    content_type: str
    path: Path
    created: bool


def store(stream: BinaryIO, *, root: Path, max_bytes: int) -> Stored:
    """Write an upload under its SHA-256 (content-addressed: the same bytes are one file), refusing
    it (422, Chinese field messages on `file`) when empty, larger than `max_bytes` or not of an
    `ALLOWED` type by its content. Used by attachments and by 立查立改 evidence
    (services/inspections/spot_fixes.py); the caller records the row and undoes a `created` file
    with `remove_unreferenced` when its transaction fails."""
    root.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    head = b""
    fd, tmp_name = tempfile.mkstemp(dir=root, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(1 << 16):
                size += len(chunk)
                if size > max_bytes:
                    raise Invalid(
                        "附件过大",
                        details=[{"field": "file", "message": f"附件不能超过 {_human_size(max_bytes)}"}],
                    )
                if len(head) < 16:
                    head += chunk[: 16 - len(head)]
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise Invalid("附件为空", details=[{"field": "file", "message": "附件不能为空"}])
        content_type = sniff(head)
        if content_type is None:
            raise Invalid(
                "附件类型不支持",
                details=[{"field": "file", "message": "只接受 " + "、".join(ALLOWED.values())}],
            )
        sha = digest.hexdigest()
        final = path_for(root, sha)
        final.parent.mkdir(parents=True, exist_ok=True)
        created = not final.exists()
        os.replace(tmp_name, final)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return Stored(sha, size, content_type, final, created)


def remove_unreferenced(uow: UnitOfWork, stored: Stored) -> None:
    """Undo a file an upload created, unless a row of another upload (an attachment or a 立查立改
    record) now points at it."""
    with uow.read() as session:
        used = session.execute(select(Attachment.id).where(Attachment.sha256 == stored.sha256).limit(1)).first()
        used = used or session.execute(
            select(SpotFix.id).where(SpotFix.evidence_sha256 == stored.sha256).limit(1)).first()
    if used is None:
        stored.path.unlink(missing_ok=True)
