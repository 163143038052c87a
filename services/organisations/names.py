"""How a unit name is compared: full-width forms folded (NFKC: （）→ ()), spaces removed and the
tails a plan adds to a name (等, 按职责分工负责, 牵头 …) stripped. Names and aliases are stored as
written; both sides are normalised only to compare."""

from __future__ import annotations

import re
import unicodedata

_TAIL = re.compile(r"(等(相关|有关|各)?(部门|单位)?(和单位)?)?((按照?|根据)?(各自)?(职责|辖区|属地)(分工)?)?"
                   r"(分工)?(牵头|配合|负责|落实|具体负责|具体落实)?$")
_SPACE = re.compile(r"\s+")


def normalise(name: str) -> str:
    text = unicodedata.normalize("NFKC", name or "")
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = _SPACE.sub("", text).strip("。.,，;；:：、")
    previous = None
    while previous != text and text:
        previous = text
        text = _TAIL.sub("", text).strip("。.,，;；:：、")
    return text
