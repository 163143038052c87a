"""Reading organisations: a region's list (with aliases) and a user's organisation by name."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Organisation, OrganisationAlias, Region
from services.kernel.errors import invalid_field
from services.organisations.resolve import Resolver


def in_region(session: Session, region: str) -> list[dict]:
    if session.get(Region, region) is None:
        raise invalid_field("region", f"行政区划 {region} 不存在")
    orgs = session.execute(select(Organisation).where(Organisation.region_code == region)
                           .order_by(Organisation.id)).scalars().all()
    aliases: dict[int, list[str]] = {}
    for a in session.execute(select(OrganisationAlias).where(OrganisationAlias.region_code == region)
                             .order_by(OrganisationAlias.id)).scalars():
        aliases.setdefault(a.organisation_id, []).append(a.alias)
    return [{"id": o.id, "name": o.name, "kind": o.kind, "region": o.region_code,
             "committee_member": o.committee_member, "safety_supervision": o.safety_supervision,
             "parent_id": o.parent_id, "active": o.active, "aliases": aliases.get(o.id, [])} for o in orgs]


def organisation_for(session: Session, region: str, name: str) -> int:
    """The one organisation `name` means in `region` (for `users add --org`); refused otherwise."""
    found = Resolver(session, region).resolve(name)
    if found.kind != "org":
        raise invalid_field("org", f"“{name[:100]}”不是本辖区（{region}）的一个单位")
    return found.org_ids[0]


def home_organisations(session: Session, staff: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The usual organisation of government staff, by (region, role): a 安委会 member user works in
    the region's 安委办, other staff in its 应急管理局 (应急管理厅 for a province). One query."""
    regions = {region for region, _ in staff}
    orgs = session.execute(select(Organisation).where(Organisation.region_code.in_(regions))
                           .order_by(Organisation.id)).scalars().all()
    office = {o.region_code: o.id for o in reversed(orgs) if o.kind == "committee_office"}
    emergency = {o.region_code: o.id for o in reversed(orgs)
                 if o.kind == "department" and o.name.endswith(("应急管理局", "应急管理厅"))}
    out = {}
    for region, role in staff:
        found = office.get(region) if role == "committee" else emergency.get(region)
        if found is not None:
            out[(region, role)] = found
    return out
