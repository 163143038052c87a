"""Who reads and who reviews a region's 通报 list: its own 安委办 reviews and issues; committee
offices above it, supervisors and auditors of its area read. Entries outside the caller's area
answer as if they did not exist (404)."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from db.models import Region
from services.kernel import regions
from services.kernel.errors import Forbidden, Invalid
from services.lifecycle.roles import Role

READERS = frozenset({Role.COMMITTEE, Role.SUPERVISOR, Role.AUDITOR})
_MONTH = re.compile(r"(20[0-9]{2})-(0[1-9]|1[0-2])")


def check_reader(principal) -> None:
    if principal.role not in READERS:
        raise Forbidden("通报清单供安委办、监管部门和审计人员查看", code="role")


def sees(principal, region_code: str) -> bool:
    return principal.role in READERS and regions.within(region_code, principal.region_code)


def reviews(principal, region_code: str) -> bool:
    return principal.role == Role.COMMITTEE and principal.region_code == region_code


def check_reviewer(principal, region_code: str) -> None:
    if not reviews(principal, region_code):
        raise Forbidden("只有本地区安委办可以审核、印发通报", code="role")


def parse_query(session: Session, principal, region: str | None, month: str | None) -> tuple[str, str]:
    """The region (default: the caller's) and the month, checked; Forbidden out of the caller's area."""
    check_reader(principal)
    region = (region or principal.region_code or "").strip()
    month = (month or "").strip()
    problems = []
    if not _MONTH.fullmatch(month):
        problems.append({"field": "month", "message": "月份格式应为 YYYY-MM，例如 2026-11"})
    if not regions.valid_code(region) or len(region) != 6 or session.get(Region, region) is None:
        problems.append({"field": "region", "message": "行政区划代码应为已登记的6位代码（省、市或县）"})
    if problems:
        raise Invalid("查询条件有误", details=problems)
    if not regions.within(region, principal.region_code):
        raise Forbidden("只能查看本辖区及下级地区的通报", code="scope")
    return region, month
