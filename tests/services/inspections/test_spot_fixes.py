"""立查立改 on a return: one evidence file stored by SHA-256 like the attachments; refusals."""

from __future__ import annotations

import hashlib
import io

import pytest
from sqlalchemy import func, select

from db.engine import UnitOfWork, transaction
from db.models import SpotFix
from services.engine.attachments import path_for
from services.inspections import spot_fixes
from services.kernel.errors import Invalid, NotFound
from tests.conftest import START
from tests.services.inspections.support import chain, file, nil_body

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
FIX = {"description": "消防通道堆放杂物", "location": "二号仓库东侧", "measures": "当场清理，设置禁止堆放标识",
       "fixed_on": "2026-11-20"}


def _record(factory, world, tmp_path, user="ent_coal", rid=0, data=None, content=PNG, name="fix.png"):
    return spot_fixes.record(UnitOfWork(factory), world.p(user), rid, data or FIX, filename=name,
                             stream=io.BytesIO(content), root=tmp_path / "files", max_bytes=1000, now=START)


def _count(factory) -> int:
    with transaction(factory) as s:
        return s.scalar(select(func.count()).select_from(SpotFix))


def test_spot_fix_with_evidence(factory, world, tmp_path):
    rid = file(factory, world, "ent_coal", nil_body(), START)
    out = _record(factory, world, tmp_path, rid=rid)
    digest = hashlib.sha256(PNG).hexdigest()
    assert (out.evidence_sha256, out.evidence_size, out.evidence_content_type) == (digest, len(PNG), "image/png")
    assert path_for(tmp_path / "files", digest).read_bytes() == PNG
    ent = world.p("ent_coal").enterprise_id
    assert chain(factory, f"return:{ent}:2026-11") == [("file", 1), ("spot_fix", 2)]
    assert _count(factory) == 1


def test_spot_fix_refusals(factory, world, tmp_path):
    rid = file(factory, world, "ent_coal", nil_body(), START)
    with pytest.raises(Invalid) as exc:
        _record(factory, world, tmp_path, rid=rid, content=b"MZ\x90\x00 an executable", name="fix.exe")
    assert exc.value.details == [{"field": "file", "message": "只接受 JPEG 图片、PNG 图片、WebP 图片、PDF 文件"}]
    with pytest.raises(Invalid) as exc:
        _record(factory, world, tmp_path, rid=rid, content=PNG * 20)
    assert exc.value.details[0]["message"].startswith("附件不能超过")
    with pytest.raises(Invalid) as exc:
        _record(factory, world, tmp_path, rid=rid, data={**FIX, "fixed_on": "2026-10-31"})
    assert exc.value.details == [{"field": "fixed_on", "message": "整改日期应在 2026-11 月内且不晚于今天"}]
    with pytest.raises(Invalid) as exc:
        _record(factory, world, tmp_path, rid=rid, data={**FIX, "measures": ""})
    assert exc.value.details[0]["field"] == "measures"
    with pytest.raises(NotFound):  # another enterprise's return
        _record(factory, world, tmp_path, user="ent_chem", rid=rid)
    assert _count(factory) == 0
    assert not any(p.is_file() and not p.name.startswith(".") for p in (tmp_path / "files").rglob("*"))
