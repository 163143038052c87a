"""What registering a hazard reads besides the hazard itself (`register` and `import`): the
enterprise it is registered to, whether that enterprise may take it, an earlier hazard it repeats
(屡查屡犯), and the name of the committee office that lists it. Reads only; the statements are
built once (bench/RESULTS.md)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from db.models import Enterprise, Hazard, Region, Summons
from services.accounts.auth import Principal
from services.kernel import categories, regions
from services.kernel.errors import invalid_field
from services.lifecycle.roles import Role
from services.lifecycle.states import State

DISABLED_ENTERPRISE = "{name}已停用，不再登记新的隐患（已有隐患照常办理；如需恢复请联系管理员启用该企业）"

_ENTERPRISE_BY_USCC = select(Enterprise).where(Enterprise.uscc == bindparam("uscc"))


def enterprise_by_uscc(session: Session, code: str, field: str) -> Enterprise:
    """The active enterprise of this 统一社会信用代码; a missing or disabled one is refused on `field`."""
    ent = session.execute(_ENTERPRISE_BY_USCC, {"uscc": code}).scalar_one_or_none()
    if ent is None:
        raise invalid_field(field, "未找到该统一社会信用代码对应的企业，请先登记企业")
    if not ent.active:
        raise invalid_field(field, DISABLED_ENTERPRISE.format(name=ent.name))
    return ent


def check_enterprise_region(ent: Enterprise, hazard: Any, actor: Principal) -> None:
    """A hazard is registered to an enterprise of its own region (the enterprise's county holds
    the hazard's place, or the other way round), or else to one the registering official
    supervises too: a county inspector cannot hang a hazard on another county's enterprise."""
    if (regions.within(ent.region_code, hazard.region_code) or regions.within(hazard.region_code, ent.region_code)
            or actor.role == Role.SYSTEM or regions.within(ent.region_code, actor.region_code)):
        return
    raise invalid_field("enterprise_uscc", "该企业不在隐患所在辖区，也不在您的管辖范围内，不能登记为该隐患的责任企业")


def listing_body(session: Session, region_code: str, level: str) -> str:
    """The committee office (安委办) of `level` above `region_code`, by its region's name."""
    # Kept per session: the identity map holds a Region only while something references it, so a
    # sweep batch elevating dozens of hazards to one city would otherwise read that city each time.
    names = session.info.setdefault("listing_region_names", {})
    code = regions.ancestor_code(region_code, level)
    if code not in names:
        region = session.get(Region, code)
        names[code] = region.name if region else code
    return f"{names[code]}安全生产委员会办公室"


def earlier_hazard(session: Session, hazard: Any, enterprise_id: int, category: str | None) -> int | None:
    """屡查屡犯 (同类): the latest earlier registered hazard of the same enterprise, industry and
    category, discovered within the 12 months (365 days) before this one, where the category is one
    of the industry's closed list (services/kernel/categories.py): an unknown or empty category
    never matches. `hazard` needs its id (0 for one not written yet), industry and discovered_at."""
    if not categories.is_known(hazard.industry, category):
        return None
    params = {"enterprise_id": enterprise_id, "industry": hazard.industry, "hazard_id": hazard.id,
              "since": hazard.discovered_at - REPEAT_WINDOW, "until": hazard.discovered_at,
              "not_states": [State.REPORTED.value, State.DISMISSED.value], "category": category}
    return session.connection().execute(_EARLIER_IN_CATEGORY, params).scalar_one_or_none()


REPEAT_WINDOW = timedelta(days=365)
_EARLIER_IN_CATEGORY = (
    select(Hazard.id).where(
        Hazard.enterprise_id == bindparam("enterprise_id"),
        Hazard.industry == bindparam("industry"),
        Hazard.category == bindparam("category"),
        Hazard.id != bindparam("hazard_id"),
        Hazard.discovered_at >= bindparam("since"),
        Hazard.discovered_at < bindparam("until"),  # earlier, not one found after this one
        Hazard.state.not_in(bindparam("not_states", expanding=True)),
    ).order_by(Hazard.discovered_at.desc()).limit(1)
)


_SUMMONS_OF = select(Summons.held_on).where(Summons.id == bindparam("id"), Summons.hazard_id == bindparam("hazard_id"))


def check_summons(session: Session, hazard_id: int, summons_id: int, field: str) -> None:
    """A progress report cites a 约谈 of this hazard whose meeting has been recorded (its
    commitments are what the report carries out); anything else is refused on `field`, with one
    message for another hazard's record and a missing one, so nothing leaks."""
    found = session.connection().execute(_SUMMONS_OF, {"id": summons_id, "hazard_id": hazard_id}).first()
    if found is None:
        raise invalid_field(field, "约谈记录不存在或不属于该隐患")
    if found.held_on is None:
        raise invalid_field(field, "该约谈尚未登记约谈情况和整改承诺，暂不能引用")
