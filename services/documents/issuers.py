"""Who issues a document, and its number 字〔年〕号.

Decisions of inspectors and supervisors go out under the 应急管理局 (a province's: 应急管理厅) of
the deciding official's level within the hazard's region; listing, closing and the ladder's letters
under the 安全生产委员会办公室 of the listing level (the county's while not listed). Names come
from the regions table.

Each body has its own 机关代字 (table `document_issuers`), unique across the deployment: 忻州市's
bureau is 忻应急 and 忻府区's 忻府应急, so their numbers can never be the same. The default is
derived from the body's full name on first use (a city or the province by its one-character short
name, a county by its name without 市/区/县; the next candidate when one is taken) and an admin can
change it (`hazard issuers set`). A number is 代字 + the kind's word + 〔year〕 + its sequence
(`离石应急改〔2026〕7号`), and each (代字 and kind, year) counts on its own, as offices number them.

Gapless under concurrency: the counter row is bumped with UPDATE … RETURNING in the transaction
that stores the document. On PostgreSQL the update holds the row lock until that transaction
ends, so a concurrent issuer of the same body waits and then sees the new value; SQLite's
BEGIN IMMEDIATE serialises writers. A rollback undoes the bump with the document.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.counters import YearlyCounter
from db.models import DocumentIssuer, DocumentSequence, Region
from services.kernel import regions
from services.kernel.errors import Conflict, invalid_field
from services.kernel.inputs import control_character

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
    key: str  # the body, e.g. "141102:bureau"
    name: str  # 吕梁市离石区应急管理局


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


def issuer(session: Session, body: str, hazard_region: str, level: str) -> Issuer:
    """The `body` (BUREAU or COMMITTEE) at `level` (county, city, province) over the hazard's region."""
    code = regions.ancestor_code(hazard_region, level)
    return Issuer(f"{code}:{body}", _full_name(session, code, body))


def _full_name(session: Session, code: str, body: str) -> str:
    base = region_name(session, code)
    if body == BUREAU:
        return base + ("应急管理厅" if regions.region_level(code) == "province" else "应急管理局")
    return base + "安全生产委员会办公室"


SUFFIX = {BUREAU: "应急", COMMITTEE: "安委办"}
MAX_CODE = 16


def _stem(name: str) -> str:
    """离石区 → 离石, 孝义市 → 孝义; 临县 stays 临县 (one character is not a name)."""
    stem = name[:-1] if name[-1:] in ("市", "区", "县", "旗") else name
    return stem if len(stem) >= 2 else name


def default_codes(session: Session, key: str) -> list[str]:
    """The 代字 a body takes when it first issues, in order of preference; the first one no other
    body holds is taken."""
    code, _, body = key.partition(":")
    region = _region(session, code)
    name = region.name if region is not None and region.name else code
    level = regions.region_level(code)
    if level == "province":
        stems = [PROVINCE_SHORT.get(code[:2], ""), _stem(name), name]
    elif level == "city":
        stems = [name[0], _stem(name), name]
    else:
        city = _region(session, regions.ancestor_code(code, "city"))
        stems = [_stem(name), (city.name[0] if city is not None and city.name else "") + _stem(name), name]
    return [s + SUFFIX[body] for s in dict.fromkeys(s for s in stems if s)]


_CREATE_ISSUER = {
    name: dialect.insert(DocumentIssuer.__table__).on_conflict_do_nothing()
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def code_of(session: Session, who: Issuer, *, now: datetime) -> str:
    """The body's 代字, taken on its first document: the first default no other body holds. A
    concurrent first use of the same candidate by another body loses on the unique code and takes
    the next one; of the same body, on the key, and reads the winner's."""
    row = session.get(DocumentIssuer, who.key)
    if row is not None:
        return row.code
    conn = session.connection()
    for candidate in default_codes(session, who.key):
        if session.execute(select(DocumentIssuer.key).where(DocumentIssuer.code == candidate)).first():
            continue
        conn.execute(_CREATE_ISSUER[conn.dialect.name],
                     {"key": who.key, "name": who.name, "code": candidate, "created_at": now})
        code = session.execute(select(DocumentIssuer.code).where(DocumentIssuer.key == who.key)).scalar()
        if code is not None:
            return code
    raise Conflict(f"无法为{who.name}确定机关代字：默认代字均已被占用，请用 hazard issuers set 设定",
                   code="issuer_code")


def list_issuers(session: Session) -> list[DocumentIssuer]:
    return list(session.execute(select(DocumentIssuer).order_by(DocumentIssuer.key)).scalars())


def set_code(session: Session, key: str, code: str, *, now: datetime) -> DocumentIssuer:
    """Give a body (`<region code>:bureau|committee`) its 代字; refused when another body holds it.
    Numbers count per 代字: a new 代字 starts its own sequences, the old one's stay as they were."""
    region, _, body = key.partition(":")
    code = code.strip()
    if body not in SUFFIX or not regions.valid_code(region) or _region(session, region) is None:
        raise invalid_field("key", "发文机关应写作 <行政区划代码>:bureau 或 <行政区划代码>:committee，且区划须已登记")
    if not code or len(code) > MAX_CODE or control_character(code) or any(c in code for c in "〔〕[]() "):
        raise invalid_field("code", f"机关代字应为 1 至 {MAX_CODE} 个字，不含括号、空格和控制字符")
    holder = session.execute(select(DocumentIssuer.key).where(DocumentIssuer.code == code)).scalar()
    if holder is not None and holder != key:
        raise Conflict(f"机关代字“{code}”已由 {holder} 使用，同一部署内不能重复", code="issuer_code_taken")
    row = session.get(DocumentIssuer, key)
    if row is None:
        row = DocumentIssuer(key=key, name=_full_name(session, region, body), code=code, created_at=now)
        session.add(row)
    else:
        row.code = code
    session.flush()
    return row


def official_level(region_code: str | None) -> str:
    """The level an official's bureau acts at: a township official's decision is the county's."""
    if not region_code:
        return "county"
    level = regions.region_level(region_code)
    return "county" if level == "township" else level


_NUMBERS = YearlyCounter(DocumentSequence.__table__, "issuer")


def next_seq(session: Session, issuer_key: str, year: int) -> int:
    """The next number of this counter (a 代字 and a kind's word) and year, taken in the caller's
    transaction (see the module)."""
    return _NUMBERS.next(session, issuer_key, year)


def number(short: str, word: str, year: int, seq: int) -> str:
    return f"{short}{word}〔{year}〕{seq}号"
