"""What the demo is made of: its enterprises, people and hazard texts.

The texts live in `app/demo/demo_catalogue.json` (read once, on import); this module gives them
their shapes. Order matters: the demo draws from these lists with a seeded random generator, so
reordering or editing an entry changes what a seed produces.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from services.accounts import admin
from services.kernel import uscc

DEMO_PASSWORD = "demo-password-2026"

_DATA = json.loads(Path(__file__).with_name("demo_catalogue.json").read_text("utf-8"))


# --- organisations and people ---------------------------------------------------------------------


@dataclass(frozen=True)
class Org:
    key: str
    name: str
    region: str
    industry: str
    kind: str  # first two characters of the 统一社会信用代码: 91 company, 92 个体工商户, 12 事业单位, 52 民办非企业
    head: str  # the person responsible for rectification (整改责任人)
    contact: str  # display name of its enterprise user (安全管理人员)


@dataclass(frozen=True)
class Person:
    username: str
    role: str
    region: str
    name: str
    industry: str | None = None
    org: str | None = None  # Org.key of an enterprise user


ORGS = tuple(Org(**o) for o in _DATA["orgs"])
STAFF = tuple(Person(**p) for p in _DATA["staff"])
PEOPLE = STAFF + tuple(Person(f"ent_{o.key}", "enterprise", o.region, o.contact, org=o.key) for o in ORGS)

_ORG_ALPHABET = uscc.ALPHABET


def _gb11714_check(body8: str) -> str:
    """Check character of a 9-character organisation code (GB 11714)."""
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(body8, (3, 7, 9, 10, 5, 8, 4, 2)))
    c = 11 - total % 11
    return "X" if c == 10 else "0" if c == 11 else str(c)


def org_uscc(org: Org) -> str:
    """A valid, stable 统一社会信用代码: type + county code + organisation code + check character."""
    h = hashlib.sha256(("demo-uscc:" + org.key).encode()).digest()
    if org.kind == "12":
        body = "".join(str(b % 10) for b in h[:8])
    else:
        body = ("MJ" if org.kind == "52" else "MA") + "".join(_ORG_ALPHABET[b % 31] for b in h[:6])
    return uscc.make(org.kind + org.region + body + _gb11714_check(body))


# --- what hazards look like, per industry ---------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """A hazard's texts; `{ent}`, `{county}`, `{street}`, `{face}`, `{n}`… are filled in per story."""

    title: str
    description: str
    location: str
    category: str
    levels: str  # "g" general only, "m" major only, "gm" either
    measures: str


CATALOG: dict[str, tuple[Template, ...]] = {
    industry: tuple(Template(**t) for t in templates) for industry, templates in _DATA["hazards"].items()
}
STREETS: tuple[str, ...] = tuple(_DATA["streets"])
FACES: tuple[str, ...] = tuple(_DATA["faces"])
TRANSFER_FROM: dict[str, str] = _DATA["transfer_from"]  # who hands a hazard over (移交), per industry

# --- what people write ----------------------------------------------------------------------------

DISMISS_REASONS: tuple[str, ...] = tuple(_DATA["dismiss_reasons"])
PROGRESS_NOTES: tuple[str, ...] = tuple(_DATA["progress_notes"])  # `{pct}` is filled in
EXTENSION_REASONS: tuple[str, ...] = tuple(_DATA["extension_reasons"])
INTERIM_MEASURES: tuple[str, ...] = tuple(_DATA["interim_measures"])
REJECT_REASONS: tuple[str, ...] = tuple(_DATA["reject_reasons"])
ACCEPT_OPINIONS: tuple[str, ...] = tuple(_DATA["accept_opinions"])
CLOSE_OPINIONS: tuple[str, ...] = tuple(_DATA["close_opinions"])
COMMENTS: dict[str, tuple[str, ...]] = {kind: tuple(texts) for kind, texts in _DATA["comments"].items()}
SUSPEND_REASONS: tuple[str, ...] = tuple(_DATA["suspend_reasons"])
LIFT_REASONS: tuple[str, ...] = tuple(_DATA["lift_reasons"])

del _DATA

# --- region names (for texts and the summary) -----------------------------------------------------

_REGION_NAMES: dict[str, str] = {}


def region_names() -> dict[str, str]:
    if not _REGION_NAMES:
        with admin.REGIONS_CSV.open(encoding="utf-8") as fh:
            _REGION_NAMES.update({row["code"].strip(): row["name"].strip() for row in csv.DictReader(fh)})
    return _REGION_NAMES
