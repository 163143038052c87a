"""The 纪检监察 body a region's 问责移交 goes to: configured per region (`hazard accountability body
set`); the nearest configured ancestor of the referring office's region applies. With none
configured the letter is addressed to "<region>纪委监委" and the record says it was not configured."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import AccountabilityBody, Region
from services.documents.issuers import region_name
from services.kernel import regions
from services.kernel.errors import invalid_field
from services.kernel.inputs import control_character

MAX_NAME = 100


def _chain(region_code: str) -> list[str]:
    """The region and its ancestors, nearest first (county, city, province)."""
    six = region_code[:6]
    level = regions.region_level(six)
    order = regions.LEVEL_ORDER[regions.LEVEL_ORDER.index(level):]
    return list(dict.fromkeys(regions.ancestor_code(six, lv) for lv in order))


def addressee(session: Session, region_code: str) -> tuple[str, bool]:
    """(the body's name, whether it was configured)."""
    chain = _chain(region_code)
    found = {b.region_code: b.name for b in session.scalars(
        select(AccountabilityBody).where(AccountabilityBody.region_code.in_(chain)))}
    for code in chain:
        if code in found:
            return found[code], True
    return f"{region_name(session, chain[0])}纪委监委", False


def set_body(session: Session, region_code: str, name: str, *, now: datetime) -> AccountabilityBody:
    name = (name or "").strip()
    if not regions.valid_code(region_code or "") or len(region_code) != 6 or session.get(Region, region_code) is None:
        raise invalid_field("region", "行政区划代码应为已登记的6位代码（省、市或县）")
    if not name or len(name) > MAX_NAME or control_character(name):
        raise invalid_field("name", f"纪检监察机关名称应为 1 至 {MAX_NAME} 个字，不含控制字符")
    row = session.get(AccountabilityBody, region_code)
    if row is None:
        row = AccountabilityBody(region_code=region_code, name=name, created_at=now)
        session.add(row)
    else:
        row.name = name
    session.flush()
    return row


def list_bodies(session: Session) -> list[AccountabilityBody]:
    return list(session.scalars(select(AccountabilityBody).order_by(AccountabilityBody.region_code)))
