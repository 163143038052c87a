"""`hazard orgs import`: organisations and their aliases from a CSV.

Header (Chinese or English): 名称/name, 类别/kind, 行政区划代码/region, 简称或别名/aliases (several
separated by 、 or ;), 安委会成员/committee_member, 负有安全监管职责/safety_supervision, and optionally
上级单位/parent (the name of an organisation of the same region or the region above, earlier in the
file or already loaded). Rows are numbered as in a spreadsheet (the header is row 1).

Every row is checked first; when any row is wrong nothing is written and every problem is reported
with its row and column. The same file twice changes nothing: an existing organisation (same region
and name) is left as it is, or with `update` brought in line with the row; aliases are only added.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Organisation, OrganisationAlias, Region
from db.models.govorgs import ORG_KINDS
from services.kernel.errors import Invalid

MAX_ROWS = 5000
NAME_MAX, SHORT_MAX = 100, 50
COLUMNS = {
    "name": ("名称", "name", "单位名称"),
    "kind": ("类别", "kind", "类型"),
    "region": ("行政区划代码", "region", "行政区划"),
    "aliases": ("简称或别名", "aliases", "别名", "简称"),
    "committee_member": ("安委会成员", "committee_member", "安委会成员单位"),
    "safety_supervision": ("负有安全监管职责", "safety_supervision", "负有安全监管职责的部门"),
    "parent": ("上级单位", "parent"),
}
KIND_LABELS = {"安委会": "committee", "安委办": "committee_office", "部门": "department", "人民政府": "government",
               "政府": "government", "乡镇": "township", "街道": "subdistrict", "开发区": "zone", "管委会": "zone",
               "党委部门": "party", "其他": "other"}
KIND_NAMES = {"committee": "安委会", "committee_office": "安委办", "department": "部门", "government": "人民政府",
              "township": "乡镇", "subdistrict": "街道", "zone": "开发区", "party": "党委部门", "other": "其他"}
_YES, _NO = {"是", "1", "true", "yes", "y", "√"}, {"否", "0", "false", "no", "n", ""}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class Row:
    row: int
    name: str
    kind: str
    region: str
    aliases: list[str]
    committee_member: bool
    safety_supervision: bool
    parent: str


@dataclass
class Outcome:
    rows: int = 0
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    differing: list[str] = field(default_factory=list)  # existing, different, not updated
    aliases_added: int = 0
    dry_run: bool = False

    def as_json(self) -> dict:
        return {"rows": self.rows, "created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "differing": self.differing, "aliases_added": self.aliases_added, "dry_run": self.dry_run}

    def text(self) -> str:
        would = "将" if self.dry_run else ""
        lines = [f"共 {self.rows} 行：{would}新增 {len(self.created)} 个单位，{would}更新 {len(self.updated)} 个，"
                 f"无变化 {self.unchanged} 个，{would}新增别名 {self.aliases_added} 个"
                 + ("（试运行，未写入）" if self.dry_run else "")]
        lines += [f"与现有记录不同（未更新，加 --update 更新）：{n}" for n in self.differing]
        return "\n".join(lines)


def _text(problems: list[dict], row: int, column: str, value: str, limit: int) -> str:
    value = (value or "").strip()
    if _CONTROL.search(value):
        problems.append({"field": f"第 {row} 行 {column}", "message": "含有控制字符"})
    elif len(value) > limit:
        problems.append({"field": f"第 {row} 行 {column}", "message": f"不能超过 {limit} 个字"})
    return value


def _flag(problems: list[dict], row: int, column: str, value: str) -> bool:
    v = (value or "").strip().lower()
    if v in _YES:
        return True
    if v not in _NO:
        problems.append({"field": f"第 {row} 行 {column}", "message": "应为“是”或“否”"})
    return False


def parse(content: bytes, default_region: str | None = None) -> list[Row]:
    """The rows of the CSV, checked on their own (regions and names are checked by `load`)."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("文件不是 UTF-8 编码的 CSV", details=[{"field": "文件", "message": "请以 UTF-8 编码保存"}])
    table = list(csv.reader(io.StringIO(text)))
    if not table:
        raise Invalid("文件是空的", details=[{"field": "文件", "message": "第一行应为表头"}])
    header = [h.strip() for h in table[0]]
    where: dict[str, int] = {}
    for key, names in COLUMNS.items():
        for i, h in enumerate(header):
            if h in names or h.lower() in names:
                where[key] = i
                break
    missing = [COLUMNS[k][0] for k in ("name", "kind") if k not in where]
    if "region" not in where and not default_region:
        missing.append("行政区划代码")
    if missing:
        raise Invalid("表头缺少列：" + "、".join(missing),
                      details=[{"field": "表头", "message": "缺少列：" + "、".join(missing)}])
    if len(table) - 1 > MAX_ROWS:
        raise Invalid(f"一次最多导入 {MAX_ROWS} 行", details=[{"field": "文件", "message": "请分批导入"}])
    rows, problems = [], []
    for number, cells in enumerate(table[1:], start=2):
        if not any(c.strip() for c in cells):
            continue

        def cell(key: str) -> str:
            i = where.get(key)
            return cells[i] if i is not None and i < len(cells) else ""

        name = _text(problems, number, "名称", cell("name"), NAME_MAX)
        if not name:
            problems.append({"field": f"第 {number} 行 名称", "message": "不能为空"})
        raw_kind = cell("kind").strip()
        kind = KIND_LABELS.get(raw_kind, raw_kind)
        if kind not in ORG_KINDS:
            problems.append({"field": f"第 {number} 行 类别",
                             "message": "应为：" + "、".join(KIND_NAMES.values()) + f"（不是“{raw_kind[:20]}”）"})
        region = cell("region").strip() or (default_region or "")
        if not re.fullmatch(r"\d{6,12}", region):
            problems.append({"field": f"第 {number} 行 行政区划代码", "message": "应为 6 到 12 位数字的行政区划代码"})
        aliases = [a for a in (_text(problems, number, "简称或别名", a, NAME_MAX)
                               for a in re.split(r"[、;；]", cell("aliases"))) if a]
        rows.append(Row(number, name, kind, region, aliases,
                        _flag(problems, number, "安委会成员", cell("committee_member")),
                        _flag(problems, number, "负有安全监管职责", cell("safety_supervision")),
                        _text(problems, number, "上级单位", cell("parent"), NAME_MAX)))
    if problems:
        raise Invalid(f"有 {len(problems)} 处错误，未导入任何数据", details=problems)
    return rows


def load(session: Session, rows: list[Row], *, now: datetime, update: bool = False, dry_run: bool = False,
         within: str | None = None) -> Outcome:
    """Check `rows` against the database, then (unless `dry_run`) write them; all or nothing."""
    regions = {r.code: r.parent_code for r in session.execute(select(Region)).scalars()}
    codes = {r.region for r in rows} | {regions.get(r.region) for r in rows if regions.get(r.region)}
    existing = {(o.region_code, o.name): o for o in session.execute(
        select(Organisation).where(Organisation.region_code.in_(codes))).scalars()}
    taken = {(a.region_code, a.alias): a.organisation_id for a in session.execute(
        select(OrganisationAlias).where(OrganisationAlias.region_code.in_(codes))).scalars()}
    problems: list[dict] = []
    seen: dict[tuple[str, str], int] = {}
    alias_owner: dict[tuple[str, str], tuple[str, str]] = {}
    for r in rows:
        if r.region not in regions:
            problems.append({"field": f"第 {r.row} 行 行政区划代码", "message": f"行政区划 {r.region} 不存在"})
            continue
        if within and not _under(regions, r.region, within):
            problems.append({"field": f"第 {r.row} 行 行政区划代码", "message": f"不在 {within} 辖区内"})
        if (r.region, r.name) in seen:
            problems.append({"field": f"第 {r.row} 行 名称", "message": f"与第 {seen[(r.region, r.name)]} 行重复"})
        seen[(r.region, r.name)] = r.row
        if r.parent and (r.region, r.parent) not in seen and (regions[r.region], r.parent) not in seen \
                and (r.region, r.parent) not in existing and (regions[r.region], r.parent) not in existing:
            problems.append({"field": f"第 {r.row} 行 上级单位",
                             "message": f"上级单位“{r.parent}”不存在（应在前面的行或已导入）"})
        for alias in r.aliases:
            owner = alias_owner.setdefault((r.region, alias), (r.region, r.name))
            held = taken.get((r.region, alias))
            mine = existing.get((r.region, r.name))
            if owner != (r.region, r.name) or (held is not None and (mine is None or held != mine.id)):
                problems.append({"field": f"第 {r.row} 行 简称或别名",
                                 "message": f"别名“{alias}”已属于本辖区的另一个单位"})
    if problems:
        raise Invalid(f"有 {len(problems)} 处错误，未导入任何数据", details=problems)
    out = Outcome(rows=len(rows), dry_run=dry_run)
    made: dict[tuple[str, str], Organisation] = dict(existing)
    for r in rows:
        parent = made.get((r.region, r.parent)) or made.get((regions[r.region], r.parent)) if r.parent else None
        short = r.aliases[0][:SHORT_MAX] if r.aliases else None
        wanted = {"kind": r.kind, "committee_member": r.committee_member, "safety_supervision": r.safety_supervision}
        org = existing.get((r.region, r.name))
        if org is None:
            org = Organisation(name=r.name, short_name=short, region_code=r.region, active=True, created_at=now,
                               **wanted)
            made[(r.region, r.name)] = org
            out.created.append(r.name)
            if not dry_run:
                org.parent_id = parent.id if parent is not None else None
                session.add(org)
                session.flush()
        else:
            if parent is not None and parent.id is not None:
                wanted["parent_id"] = parent.id
            changes = {k: v for k, v in wanted.items() if getattr(org, k) != v}
            if not changes:
                out.unchanged += 1
            elif update:
                out.updated.append(r.name)
                if not dry_run:
                    for k, v in changes.items():
                        setattr(org, k, v)
            else:
                out.differing.append(f"第 {r.row} 行 {r.name}：" + "、".join(changes))
        for alias in r.aliases:
            if (r.region, alias) not in taken:
                taken[(r.region, alias)] = org.id or -1
                out.aliases_added += 1
                if not dry_run:
                    session.add(OrganisationAlias(alias=alias, region_code=r.region, organisation_id=org.id))
    if not dry_run:
        session.flush()
    return out


def _under(regions: dict[str, str | None], code: str, root: str) -> bool:
    seen = set()
    while code and code not in seen:
        if code == root:
            return True
        seen.add(code)
        code = regions.get(code) or ""
    return False
