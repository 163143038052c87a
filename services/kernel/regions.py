"""行政区划代码 rules: the level follows the code, and a region's subtree is a code prefix."""

from __future__ import annotations

import re

_CODE = re.compile(r"[0-9]{6}(?:[0-9]{3}){0,2}")  # ASCII digits only (\d takes any script's)
LEVEL_ORDER = ("county", "city", "province")
LEVEL_LABELS = {"province": "省级", "city": "市级", "county": "县级", "township": "乡镇级"}


def valid_code(code: str) -> bool:
    return bool(_CODE.fullmatch(code))


def region_level(code: str) -> str:
    """`xx0000` province, `xxxx00` city, other 6-digit codes county, longer codes township."""
    if len(code) > 6:
        return "township"
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "city"
    return "county"


def scope_prefix(code: str) -> str:
    """The prefix every code under this region starts with (province 2, city 4, county 6 digits)."""
    level = region_level(code)
    if level == "province":
        return code[:2]
    if level == "city":
        return code[:4]
    if level == "county":
        return code[:6]
    return code.rstrip("0") or code


def within(region_code: str, ancestor_code: str) -> bool:
    return region_code.startswith(scope_prefix(ancestor_code))


def county_of(code: str) -> str:
    return code[:6]


def ancestor_code(code: str, level: str) -> str:
    """The code of the region at `level` that contains `code` (e.g. the city of a county)."""
    six = code[:6]
    return {"province": six[:2] + "0000", "city": six[:4] + "00", "county": six}[level]
