"""Names in a plan → organisations: `Resolver(session, issuer_region).resolve(name)`.

A name is looked up exactly (after `names.normalise`), never by similarity:
1. group names (安委会成员单位, 各县（市、区）政府, 各乡镇人民政府, 各负有安全监管职责的部门, …) answer a
   set, read from the issuer's region as a plan uses them;
2. a name or alias of the issuer's region, then of its ancestors (nearest first): 市应急局 in
   吕梁市's plan is 吕梁市应急管理局; a name written with its level (市/县/区 + 应急管理局) is the
   region's own (吕梁市 + 应急管理局);
3. a full name anywhere below the issuer (离石区应急管理局 in the city's plan), when only one matches;
4. 各县（市、区）/ 县 + a department (县应急管理局 in a city plan) is that department of every county.
Anything else is 'unknown': the importer flags it for review. The region's organisations and
aliases are loaded once (three queries), and each name's answer is cached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Organisation, OrganisationAlias, Region
from services.kernel.errors import invalid_field
from services.organisations.names import normalise

_COUNTY = r"(各县\(市、?区\)|各县\(区、?市\)|各县市区|各县区|各县级|各县|县市区|县级|县)"
_GOVERNMENTS = re.compile(rf"^{_COUNTY}(党委、?|党委和)?(人民)?政府(和园区|及园区)?$")
_TOWNSHIPS = re.compile(r"^各?乡\(?镇\)?(人民)?(政府)?$")
_TOWNSHIPS_STREETS = re.compile(r"^各?乡\(?镇\)?(人民政府)?[(、和及]?街道(办事处)?\)?$")
_STREETS = re.compile(r"^各?街道(办事处)?$")
_ZONES = re.compile(r"^各?(开发区|园区|开发区\(园区\))(管委会)?$")
_COMMITTEE = re.compile(r"^(市|县|区|本级)?(安委会)?各?成员单位$")
_SUPERVISION = re.compile(r"^(各|市级|市直|县级|县直)?各?负有安全(生产)?(监管|监督管理)职责的部门$")
_RELEVANT = re.compile(r"^(市直|县直)?各?(有关|相关)部门(和单位)?$")
_COUNTY_DEPT = re.compile(rf"^{_COUNTY}(?P<rest>.+(局|委|办|队|中心|分局))$")
RELEVANT_NOTE = "“各有关部门”按负有安全监管职责的部门理解，请核对"


@dataclass(frozen=True)
class Resolution:
    kind: str  # 'org' | 'group' | 'unknown'
    org_ids: list[int] = field(default_factory=list)
    label: str = ""
    note: str = ""


class Resolver:
    def __init__(self, session: Session, issuer_region: str) -> None:
        regions = {r.code: r for r in session.execute(select(Region)).scalars()}
        if issuer_region not in regions:
            raise invalid_field("region", f"行政区划 {issuer_region} 不存在")
        self.region = issuer_region
        self._regions = regions
        children: dict[str, list[str]] = {}
        for r in regions.values():
            if r.parent_code:
                children.setdefault(r.parent_code, []).append(r.code)
        self._children = {k: sorted(v) for k, v in children.items()}
        self._ancestors: list[str] = []
        code = regions[issuer_region].parent_code
        while code and code not in self._ancestors:
            self._ancestors.append(code)
            code = regions[code].parent_code
        self._below = self._descendants(issuer_region)
        scope = [issuer_region, *self._ancestors, *self._below]
        orgs = session.execute(
            select(Organisation).where(Organisation.region_code.in_(scope), Organisation.active.is_(True))
            .order_by(Organisation.id)).scalars().all()
        self._orgs = {o.id: o for o in orgs}
        self._index: dict[str, dict[str, list[int]]] = {}
        for o in orgs:
            self._add(o.region_code, o.name, o.id)
            if o.short_name:
                self._add(o.region_code, o.short_name, o.id)
        for alias in session.execute(
                select(OrganisationAlias).where(OrganisationAlias.region_code.in_(scope))).scalars():
            if alias.organisation_id in self._orgs:
                self._add(alias.region_code, alias.alias, alias.organisation_id)
        self._cache: dict[str, Resolution] = {}

    def _descendants(self, code: str) -> list[str]:
        out: list[str] = []
        todo = list(self._children.get(code, []))
        while todo:
            c = todo.pop(0)
            if c not in out:
                out.append(c)
                todo.extend(self._children.get(c, []))
        return out

    def _add(self, region: str, name: str, org_id: int) -> None:
        ids = self._index.setdefault(region, {}).setdefault(normalise(name), [])
        if org_id not in ids:
            ids.append(org_id)

    def org(self, org_id: int) -> Organisation:
        return self._orgs[org_id]

    def org_id(self, name: str) -> int | None:
        """The organisation `name` is, or None (a group or unknown): for callers that take one id."""
        found = self.resolve(name)
        return found.org_ids[0] if found.kind == "org" else None

    def resolve(self, name: str) -> Resolution:
        key = normalise(name)
        if key not in self._cache:
            self._cache[key] = self._resolve(key) if key else Resolution("unknown", [], "")
        return self._cache[key]

    # -- the lookups -------------------------------------------------------------------------
    def _in_region(self, region: str, key: str) -> list[int]:
        index = self._index.get(region, {})
        if key in index:
            return index[key]
        rname = normalise(self._regions[region].name)
        level = rname[-1:]
        if level and key.startswith(level) and len(key) > 1:  # 市应急管理局 → 吕梁市应急管理局
            return index.get(rname + key[1:], [])
        return []

    def _single(self, key: str) -> Resolution | None:
        for region in (self.region, *self._ancestors):
            ids = self._in_region(region, key)
            if len(ids) == 1:
                return Resolution("org", list(ids), self._orgs[ids[0]].name)
            if ids:
                return None
        below = {i for region in self._below for i in self._index.get(region, {}).get(key, [])}
        if len(below) == 1:
            (only,) = below
            return Resolution("org", [only], self._orgs[only].name)
        return None

    def _group(self, label: str, ids: list[int], note: str = "") -> Resolution:
        if not ids:
            return Resolution("unknown", [], label, "本辖区没有对应的单位")
        return Resolution("group", ids, f"{label}（{len(ids)}个）", note)

    def _kinds(self, regions: list[str], kinds: tuple[str, ...]) -> list[int]:
        wanted = set(regions)
        return [o.id for o in self._orgs.values() if o.region_code in wanted and o.kind in kinds]

    def _resolve(self, key: str) -> Resolution:
        here = [self.region]
        counties = self._children.get(self.region, [])
        if _GOVERNMENTS.match(key):
            ids = self._kinds(counties, ("government",))
            if key.endswith("园区"):
                ids += self._kinds([self.region, *self._below], ("zone",))
            return self._group("各县（市、区）政府" + ("和园区" if key.endswith("园区") else ""), ids)
        if _TOWNSHIPS.match(key):
            return self._group("各乡镇人民政府", self._kinds([self.region, *self._below], ("township",)))
        if _TOWNSHIPS_STREETS.match(key):
            return self._group("各乡镇人民政府、街道办事处",
                               self._kinds([self.region, *self._below], ("township", "subdistrict")))
        if _STREETS.match(key):
            return self._group("各街道办事处", self._kinds([self.region, *self._below], ("subdistrict",)))
        if _ZONES.match(key):
            return self._group("各开发区（园区）管委会", self._kinds([self.region, *self._below], ("zone",)))
        if _COMMITTEE.match(key):
            return self._group("安委会成员单位", [o.id for o in self._orgs.values()
                                                 if o.region_code == self.region and o.committee_member])
        supervision = [o.id for o in self._orgs.values()
                       if o.region_code in here and o.safety_supervision and o.kind == "department"]
        if _SUPERVISION.match(key):
            return self._group("负有安全监管职责的部门", supervision)
        if _RELEVANT.match(key):
            return self._group("负有安全监管职责的部门", supervision, RELEVANT_NOTE)
        single = self._single(key)
        if single is not None:
            return single
        county_dept = _COUNTY_DEPT.match(key)
        if county_dept and counties:
            rest = county_dept.group("rest")
            ids: list[int] = []
            for county in counties:
                level = self._regions[county].name[-1:]
                found = self._in_region(county, level + rest)
                if len(found) == 1:
                    ids.append(found[0])
            if ids:
                return self._group(f"各县（市、区）{rest}", ids)
        return Resolution("unknown", [], key)
