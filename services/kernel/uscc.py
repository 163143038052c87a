"""统一社会信用代码 check per GB 32100-2015.

18 characters from a 31-symbol alphabet (digits and capitals without I, O, S, V, Z): 1 registration
authority, 1 organisation type, 6 region code, 9 organisation code (itself with a GB 11714 check
character), 1 check character computed as below.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUES = {ch: i for i, ch in enumerate(ALPHABET)}
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def check_character(first17: str) -> str:
    total = sum(_VALUES[ch] * w for ch, w in zip(first17, _WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def validate(code: str) -> str | None:
    """Return None when `code` is a valid 统一社会信用代码, otherwise the reason in Chinese."""
    if len(code) != 18:
        return "统一社会信用代码应为18位"
    bad = [ch for ch in code if ch not in _VALUES]
    if bad:
        return f"统一社会信用代码含有不允许的字符：{''.join(dict.fromkeys(bad))}"
    if not code[2:8].isdigit():
        return "统一社会信用代码第3至8位应为行政区划代码"
    if check_character(code[:17]) != code[17]:
        return "统一社会信用代码校验位不正确"
    return None


def make(prefix17: str) -> str:
    """Complete 17 characters with their check character (used by the demo and the tests)."""
    return prefix17 + check_character(prefix17)
