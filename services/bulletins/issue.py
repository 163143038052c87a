"""Issuing a 通报: the entries the committee office included, not yet issued, become one numbered
document of the region's 安委办 (`<代字>通〔年〕n号`, numbered by services/documents/issuers.py,
gapless per body, kind and year), rendered from templates/documents/bulletin.html, stored with its
SHA-256 and recorded on the chain `bulletin:<region>:<month>`.

Once: the entries are locked first (FOR UPDATE; SQLite serialises writers), so of two concurrent
issue requests the second finds them bound to the first's document and is refused before it takes
a number; binding them again checks `bulletin_id IS NULL` besides.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import Bulletin, BulletinItem
from services.audit import records
from services.bulletins import access
from services.bulletins.items import KINDS
from services.bulletins.models import BulletinOut
from services.bulletins.review import bulletin_out, items_of, subject
from services.documents import issuers
from services.documents.issuers import COMMITTEE
from services.documents.kinds import Kind
from services.documents.render import render_html, render_pdf
from services.kernel import regions
from services.kernel.clock import local_date
from services.kernel.errors import Conflict, NotFound

BULLETIN = Kind("bulletin", "通报", "通")
ORDINALS = "一二三四五六七八九十"
ADDRESSEES = {"county": "各乡（镇）人民政府、街道办事处，县直各有关部门，各有关单位",
              "city": "各县（市、区）安委会，市安委会各成员单位，各有关单位",
              "province": "各市安委会，省安委会各成员单位，各有关单位"}
REQUIREMENTS = [
    "被通报的生产经营单位要立即落实整改责任、措施、资金、时限和预案，尽快完成整改并申请验收。",
    "各行业主管部门要切实履行监管职责，督促被通报单位限期整改到位，并举一反三开展排查。",
    "未按时报送自查报告或月报的单位和地区要立即补报，并说明原因；再次发生的，将依规约谈、问责。",
    "本通报列明的问题纳入年度安全生产考核，整改情况于下月月报中报告本办。",
]


def title_of(month: str) -> str:
    year, m = month.split("-")
    return f"关于{year}年{int(m)}月事故隐患排查治理有关问题的通报"


def _detail(reason: str) -> str:
    """The entry's situation without the names the table has in columns of their own: for an
    overdue hazard's reason (`<code>「<title>」：<situation>；生产经营单位：…`) its situation."""
    head, sep, rest = reason.partition("：")
    return rest.split("；")[0] if sep and "「" in head else reason


def _context(session: Session, region: str, month: str, ids: set[int], number: str, issuer_name: str,
             dated) -> dict:
    entries = [e for e in items_of(session, region, month) if e.id in ids]
    groups = []
    for kind, label in KINDS.items():
        mine = [{**e.model_dump(), "detail": _detail(e.reason)} for e in entries if e.kind == kind]
        if mine:
            groups.append({"kind": kind, "label": label, "entries": mine, "ordinal": ORDINALS[len(groups)]})
    year, m = month.split("-")
    return {"doc": {"title": title_of(month), "number": number, "issuer": issuer_name, "dated": dated,
                    "addressee": ADDRESSEES[regions.region_level(region)]},
            "month_label": f"{year}年{int(m)}月", "groups": groups, "last_ordinal": ORDINALS[len(groups)],
            "requirements": REQUIREMENTS, "total": len(entries)}


def issue(session: Session, principal, *, region: str | None, month: str | None, now: datetime) -> BulletinOut:
    region, month = access.parse_query(session, principal, region, month)
    access.check_reviewer(principal, region)
    ids = list(session.scalars(
        select(BulletinItem.id).where(BulletinItem.region_code == region, BulletinItem.month == month,
                                      BulletinItem.status == "included", BulletinItem.bulletin_id.is_(None))
        .order_by(BulletinItem.id).with_for_update()))
    if not ids:
        raise Conflict("没有可印发的条目：请先审核，将条目列入通报（已印发的条目不能再次印发）", code="nothing_to_issue")
    dated = local_date(now)
    who = issuers.issuer(session, COMMITTEE, region, issuers.official_level(region))
    code = issuers.code_of(session, who, now=now)
    seq = issuers.next_seq(session, code + BULLETIN.word, dated.year)
    number = issuers.number(code, BULLETIN.word, dated.year, seq)
    html = render_html("bulletin.html", _context(session, region, month, set(ids), number, who.name, dated))
    row = Bulletin(region_code=region, month=month, number=number, title=title_of(month), issuer_name=who.name,
                   html=html, sha256=hashlib.sha256(html.encode("utf-8")).hexdigest(), issued_by_id=principal.id,
                   issued_at=now)
    session.add(row)
    session.flush()
    bound = session.execute(update(BulletinItem).where(BulletinItem.id.in_(ids), BulletinItem.bulletin_id.is_(None))
                            .values(bulletin_id=row.id)).rowcount
    if bound != len(ids):
        raise Conflict("通报条目已被同时印发，请刷新后查看", code="issued")
    records.append(session, subject=subject(region, month), action="issue", actor=principal,
                   payload={"bulletin_id": row.id, "number": number, "sha256": row.sha256, "items": ids}, now=now)
    return bulletin_out(row, len(ids))


def get(session: Session, principal, bulletin_id: int) -> Bulletin:
    access.check_reader(principal)
    row = session.get(Bulletin, bulletin_id)
    if row is None or not access.sees(principal, row.region_code):
        raise NotFound("通报不存在")
    return row


def pdf(row: Bulletin) -> bytes:
    return render_pdf(row.html)
