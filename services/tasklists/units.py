"""A 责任单位 cell → units with roles, as written (resolving names to organisations is not done here).

- separators 、，,；; and line breaks; spaces separate only where the left part is a whole name
  (PDF/Word breaks such as "市交 通局" are joined back);
- "及"/"和"/"与" split only where the right side is itself a unit starting with a level
  (市、县、省、各、国家 …), so 市住房和城乡建设局 and 各有关部门和单位 stay whole;
- nothing inside parentheses splits: 各县（市、区）政府 is one name;
- "A牵头" / "A、B配合" / "A督促指导，B具体落实" set roles for the run of names they close;
  when one unit leads, the unmarked others are 配合; with no 牵头 at all every unit is 负责;
- "按职责分工负责", "按辖区负责", "等相关部门…" and the like are stripped;
- bare "政府"/"管委会" after "各县（市、区）党委" take the place part of the name before them
  ("各县（市、区）政府"); "市、县应急管理局" → 市应急管理局 + 县应急管理局.
"""

from __future__ import annotations

import re

from services.tasklists import deadlines
from services.tasklists.models import CO, LEAD, RESPONSIBLE, Unit

NAME_MAX = 60
_SUFFIXES = ("局", "委", "办", "部", "府", "队", "处", "所", "司", "中心", "区", "会", "厂", "站", "段", "校", "院",
             "行", "社", "室", "组", "企业", "单位", "部门", "机场", "园区", "馆", "党校", "支队", "分局", "公司")
_LEVEL_START = re.compile(r"^(市|县|省|区|各|国家|乡|镇|街道|中央|吕梁|忻州|山西|地方|全市|本级)")
_BARE = ("人民政府", "政府", "管委会", "党工委", "党委", "管委")
_LEVELS = ("市", "县", "省", "区", "乡", "镇", "市级", "县级", "省级")
_STRIP_TAIL = re.compile(
    r"(等(相关|有关|各)?(部门|单位)(和单位)?)?((按照?|根据)(各自)?(职责|辖区|属地)(分工)?)?(分工)?(负责|落实)?[。.]?$")
_ROLE_TAIL = [(re.compile(r"([（(]牵头[）)]|牵头(负责|落实)?|为牵头单位)$"), LEAD),
              (re.compile(r"([（(]配合[）)]|配合|协助|参与|协同)$"), CO),
              (re.compile(r"具体(负责|落实|实施)$"), CO),
              (re.compile(r"(督促指导|指导督促|督导|负总责)$"), RESPONSIBLE)]
_SEPARATORS = "、，,；;。\n"


def _tokens(cell: str) -> list[str]:
    """Split on separators outside parentheses."""
    out, buf, depth = [], [], 0
    for ch in cell:
        if ch in "（(《":
            depth += 1
        elif ch in "）)》" and depth:
            depth -= 1
        if depth == 0 and ch in _SEPARATORS:
            out.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    out.append("".join(buf))
    return [t.strip() for t in out if t.strip()]


def _core(name: str) -> str:
    return re.sub(r"[（(][^（()）]*[）)]?$", "", name)


def _ends_whole(name: str) -> bool:
    return (_core(name).endswith(_SUFFIXES) or name.endswith(("牵头", "配合", "负责", "落实", "督促指导"))
            or deadlines.looks_like_deadline(name))


def _split_spaces(token: str) -> list[str]:
    parts = token.split()
    out: list[str] = []
    for part in parts:
        if out and not _ends_whole(out[-1]):
            out[-1] += part
        else:
            out.append(part)
    return out


def _split_joiners(token: str) -> list[str]:
    for joiner in ("及", "和", "与"):
        idx = token.find(joiner)
        while idx > 0:
            left, right = token[:idx], token[idx + 1:]
            if _ends_whole(left) and _LEVEL_START.match(right):
                return _split_joiners(left) + _split_joiners(right)
            idx = token.find(joiner, idx + 1)
    return [token]


def _expand(names: list[str]) -> list[str]:
    out: list[str] = []
    for i, name in enumerate(names):
        nxt = names[i + 1] if i + 1 < len(names) else ""
        if name in _LEVELS and nxt:
            level = next((lv for lv in sorted(_LEVELS, key=len, reverse=True) if nxt.startswith(lv)), None)
            if level:
                name = name + nxt[len(level):]
        elif name in _BARE and out:
            prev = out[-1]
            suffix = next((b for b in _BARE if prev.endswith(b) and len(prev) > len(b)), None)
            if suffix:
                name = prev[: -len(suffix)] + name
        out.append(name)
    return out


def parse(cell: str, default_role: str | None = None) -> tuple[list[Unit], list[str]]:
    """Units named in `cell`, and the pieces of it that are time limits (a deadline that slipped in)."""
    pieces: list[str] = []
    for token in _tokens(cell or ""):
        for spaced in _split_spaces(token):
            pieces.extend(_split_joiners(spaced))
    found: list[tuple[str, str | None]] = []
    time_limits: list[str] = []
    run_start = 0
    for raw in pieces:
        if deadlines.looks_like_deadline(raw):
            time_limits.append(raw)
            continue
        name, role = raw, None
        for pattern, marked in _ROLE_TAIL:
            if pattern.search(name):
                name, role = pattern.sub("", name), marked
                break
        name = _STRIP_TAIL.sub("", name).strip(" ：:。.（(")
        name = re.sub(r"^(及|和|与|由)", "", name)
        if name:
            found.append((name, None))
        if role is not None:
            for k in range(run_start, len(found)):
                if found[k][1] is None:
                    found[k] = (found[k][0], role)
            run_start = len(found)
    names = _expand([n for n, _ in found])
    has_lead = default_role == LEAD or any(r == LEAD for _, r in found)
    units: list[Unit] = []
    seen: set[str] = set()
    for name, (_, role) in zip(names, found):
        name = name[:NAME_MAX]
        if name in seen:
            continue
        seen.add(name)
        units.append(Unit(name=name, role=role or default_role or (CO if has_lead else RESPONSIBLE)))
    return units, time_limits


def looks_like_units(cell: str) -> bool:
    """True when `cell` reads as a list of unit names rather than task text."""
    text = (cell or "").strip()
    if not text or re.match(r"^[（(]?\d{1,2}[)）.、]", text) or len(text) > 400:
        return False
    units, limits = parse(text)
    if not units:
        return bool(limits)
    named = [u for u in units if len(u.name) <= 30 and _core(u.name).endswith(_SUFFIXES)]
    return len(named) >= 0.5 * len(units)
