"""The closed vocabulary of hazard categories (隐患类别), per industry, from the headings of the
national 重大事故隐患判定标准 (services/data/hazard_categories.toml).

Registering still takes any category text (older ledgers carry their own words); the vocabulary
decides 同类 for 屡查屡犯 and 黑名单: two hazards are of the same kind only when they share an
industry and a category that the industry's list holds. An unknown or empty category never
matches, so free text cannot make an enterprise a repeat offender by a typing accident.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from services.kernel.vocab import INDUSTRIES

DATA = Path(__file__).resolve().parent.parent / "data" / "hazard_categories.toml"


@lru_cache(maxsize=1)
def vocabulary() -> dict[str, tuple[str, ...]]:
    """Industry → its categories, in the file's order; every industry has a (maybe empty) list."""
    data = tomllib.loads(DATA.read_text(encoding="utf-8"))["categories"]
    unknown = set(data) - set(INDUSTRIES)
    if unknown:
        raise ValueError(f"hazard_categories.toml names unknown industries: {sorted(unknown)}")
    return {industry: tuple(data.get(industry, ())) for industry in INDUSTRIES}


def categories_for(industry: str | None) -> tuple[str, ...]:
    return vocabulary().get(industry or "", ())


def is_known(industry: str | None, category: str | None) -> bool:
    """The category is in the industry's closed list (so it can match another hazard's)."""
    return bool(category) and category in categories_for(industry)


def known_pairs() -> list[tuple[str, str]]:
    """Every (industry, category) of the vocabulary, for SQL that groups by kind."""
    return [(industry, c) for industry, cats in vocabulary().items() for c in cats]
