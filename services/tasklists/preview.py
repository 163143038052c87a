"""A plan's tasks as they would be imported (`hazard tasks import --dry-run`): the document read by
the parser (services/tasklists/extract.py) and every unit name resolved to organisations in the
issuing body's region (services/organisations/resolve.py). A name that resolves to one body gets
its `org_id`; a group name (各县（市、区）政府, 安委会成员单位 …) its members as `org_ids`; a name the
resolver does not know, or resolves only with a note for a person to check, flags its task for
review. Nothing is written.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Organisation, OrganisationAlias
from services.kernel.errors import invalid_field
from services.organisations.names import normalise
from services.organisations.resolve import Resolver
from services.tasklists.extract import extract
from services.tasklists.models import UNRESOLVED_UNIT

CHECK_UNIT = "check_unit"  # resolved, with a note a person should read (各有关部门 …)
TITLE_MAX = 200


def issuer(session: Session, name: str) -> Organisation:
    """The one active organisation whose name or alias is `name` (anywhere in the deployment)."""
    key = normalise(name)
    if not key:
        raise invalid_field("issued_by", "请填写印发单位，例如 吕梁市安委办")
    ids = set(session.scalars(select(Organisation.id).where(Organisation.name == key)))
    ids |= set(session.scalars(select(OrganisationAlias.organisation_id).where(OrganisationAlias.alias == key)))
    found = list(session.scalars(select(Organisation).where(Organisation.id.in_(ids), Organisation.active.is_(True))
                                 .order_by(Organisation.id))) if ids else []
    if not found:
        raise invalid_field("issued_by", f"未找到印发单位“{name[:100]}”，请写单位全称（hazard orgs list 可查看）")
    if len(found) > 1:
        where = "、".join(f"{o.name}（{o.region_code}）" for o in found[:5])
        raise invalid_field("issued_by", f"“{name[:100]}”可指多个单位：{where}；请写单位全称")
    return found[0]


def preview(session: Session, source: bytes | str | os.PathLike, *, filename: str | None, title: str,
            issued_by: str, year: int) -> dict[str, Any]:
    """The plan and its tasks as JSON-ready data: `{"plan", "tasks", "summary"}`; each unit as the
    issue's shape (`name`, `role`, `org_id`) plus `org_ids` and the resolver's `resolved_as`."""
    title = (title or "").strip()
    if not title or len(title) > TITLE_MAX:
        raise invalid_field("plan_title", f"请填写计划标题（不超过 {TITLE_MAX} 字）")
    body = issuer(session, issued_by)
    tasks = extract(source, filename=filename, year=year)
    resolver = Resolver(session, body.region_code)
    out = []
    for task in tasks:
        units = []
        for unit in task.units:
            found = resolver.resolve(unit.name)
            unit.org_id = found.org_ids[0] if found.kind == "org" else None
            if found.kind == "unknown":
                task.flag(UNRESOLVED_UNIT)
            elif found.note:
                task.flag(CHECK_UNIT)
            units.append({"name": unit.name, "role": unit.role, "org_id": unit.org_id,
                          "org_ids": list(found.org_ids), "resolved_as": found.label or None,
                          "note": found.note or None})
        out.append({**task.as_json(), "units": units, "needs_review": task.needs_review or CHECK_UNIT in task.flags})
    flags = Counter(flag for task in out for flag in task["flags"])
    return {
        "plan": {"title": title, "year": year,
                 "issued_by": {"id": body.id, "name": body.name, "region_code": body.region_code}},
        "tasks": out,
        "summary": {"tasks": len(out), "needs_review": sum(t["needs_review"] for t in out),
                    "sections": len({t["section"] for t in out}), "flags": dict(sorted(flags.items()))},
    }
