"""Who issues a document, and its number 字〔年〕号.

Decisions of inspectors and supervisors go out under the 应急管理局 (a province's: 应急管理厅) of
the deciding official's level within the hazard's region; listing, closing and the ladder's letters
under the 安全生产委员会办公室 of the listing level (the county's while not listed). Names come
from the regions table. The number's sequence is per issuing body and year, shared by all its
kinds; the 字 is the body's short name plus a word for the kind (`离应急改〔2026〕7号`).

Gapless under concurrency: the counter row is bumped with UPDATE … RETURNING in the transaction
that stores the document. On PostgreSQL the update holds the row lock until that transaction
ends, so a concurrent issuer of the same body waits and then sees the new value; SQLite's
BEGIN IMMEDIATE serialises writers. A rollback undoes the bump with the document.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.models import DocumentSequence, Region
from services import regions

BUREAU, COMMITTEE = "bureau", "committee"

# 省级行政区的简称, by the first two digits of the 行政区划代码.
PROVINCE_SHORT = {
    "11": "京", "12": "津", "13": "冀", "14": "晋", "15": "蒙", "21": "辽", "22": "吉", "23": "黑",
    "31": "沪", "32": "苏", "33": "浙", "34": "皖", "35": "闽", "36": "赣", "37": "鲁", "41": "豫",
    "42": "鄂", "43": "湘", "44": "粤", "45": "桂", "46": "琼", "50": "渝", "51": "川", "52": "黔",
    "53": "滇", "54": "藏", "61": "陕", "62": "甘", "63": "青", "64": "宁", "65": "新",
}


@dataclass(frozen=True)
class Issuer:
    key: str  # the counter's key, e.g. "141102:bureau"
    name: str  # 吕梁市离石区应急管理局
    short: str  # 离应急 / 吕安委办


def _region(session: Session, code: str) -> Region | None:
    cache = session.info.setdefault("document_regions", {})
    if code not in cache:
        cache[code] = session.get(Region, code)
    return cache[code]


def region_name(session: Session, code: str) -> str:
    """A district (区) is named with its city (`吕梁市离石区`), as its bodies sign; counties and
    county-level cities stand alone (`孝义市`)."""
    region = _region(session, code)
    if region is None:
        return code
    if region.level == "county" and region.name.endswith("区") and region.parent_code:
        parent = _region(session, region.parent_code)
        if parent is not None and not region.name.startswith(parent.name):
            return parent.name + region.name
    return region.name


def _short(session: Session, code: str) -> str:
    if regions.region_level(code) == "province":
        return PROVINCE_SHORT.get(code[:2], "")
    region = _region(session, code)
    return region.name[0] if region is not None and region.name else code


def issuer(session: Session, body: str, hazard_region: str, level: str) -> Issuer:
    """The `body` (BUREAU or COMMITTEE) at `level` (county, city, province) over the hazard's region."""
    code = regions.ancestor_code(hazard_region, level)
    base = region_name(session, code)
    if body == BUREAU:
        name = base + ("应急管理厅" if level == "province" else "应急管理局")
        short = _short(session, code) + "应急"
    else:
        name = base + "安全生产委员会办公室"
        short = _short(session, code) + "安委办"
    return Issuer(f"{code}:{body}", name, short)


def official_level(region_code: str | None) -> str:
    """The level an official's bureau acts at: a township official's decision is the county's."""
    if not region_code:
        return "county"
    level = regions.region_level(region_code)
    return "county" if level == "township" else level


_BUMP = (
    update(DocumentSequence.__table__)
    .where(DocumentSequence.issuer == bindparam("seq_issuer"), DocumentSequence.year == bindparam("seq_year"))
    .values(last_value=DocumentSequence.last_value + 1)
    .returning(DocumentSequence.last_value)
)
_CREATE = {
    name: dialect.insert(DocumentSequence.__table__)
    .values(issuer=bindparam("seq_issuer"), year=bindparam("seq_year"), last_value=0)
    .on_conflict_do_nothing()
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def next_seq(session: Session, issuer_key: str, year: int) -> int:
    """The next number of this body and year, taken in the caller's transaction (see the module)."""
    conn = session.connection()
    params = {"seq_issuer": issuer_key, "seq_year": year}
    conn.execute(_CREATE[conn.dialect.name], params)
    return conn.execute(_BUMP, params).scalar_one()


def number(short: str, word: str, year: int, seq: int) -> str:
    return f"{short}{word}〔{year}〕{seq}号"
