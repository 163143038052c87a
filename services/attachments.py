"""Attachments: evidence photos, reports. Stored on disk under their SHA-256 (so a file cannot be
swapped under its record), typed by their content rather than by what the client claims."""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.orm import Session, sessionmaker

from db.engine import read_only, transaction
from db.models import Attachment
from services.auth import Principal
from services.errors import Forbidden, Invalid
from services.lifecycle import Role
from services.transitions import load_in_scope

ALLOWED = {
    "image/jpeg": "JPEG 图片",
    "image/png": "PNG 图片",
    "image/webp": "WebP 图片",
    "application/pdf": "PDF 文件",
}
UPLOADERS = {Role.ENTERPRISE, Role.INSPECTOR, Role.SUPERVISOR, Role.COMMITTEE}


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


def save(factory: sessionmaker[Session], principal: Principal, hazard_id: int, *, filename: str,
         stream: BinaryIO, root: Path, max_bytes: int, now: datetime) -> dict:
    if principal.role not in UPLOADERS:
        raise Forbidden("当前角色无权上传附件", code="role")
    with read_only(factory) as session:  # scope first: nothing is written for a hidden hazard
        load_in_scope(session, principal, hazard_id)
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
        os.replace(tmp_name, final)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    with transaction(factory) as session:
        load_in_scope(session, principal, hazard_id)
        att = Attachment(
            hazard_id=hazard_id, filename=Path(filename or "upload").name[:255], content_type=content_type,
            size=size, sha256=sha, uploaded_by_id=principal.id, created_at=now,
        )
        session.add(att)
        session.flush()
        return {"id": att.id, "sha256": sha, "size": size, "content_type": content_type,
                "filename": att.filename}
