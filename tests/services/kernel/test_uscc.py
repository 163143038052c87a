"""统一社会信用代码 (GB 32100-2015) check character, and how the action bodies apply it."""

from __future__ import annotations

import pytest

from services.lifecycle import bodies
from services.kernel import uscc
from services.kernel.errors import Invalid
from services.kernel.validation import parse
from tests.helpers import report_body

# Published codes of real organisations (they are printed on business licences).
KNOWN_VALID = ("91350100M000100Y43", "91110000600037341L")
FORBIDDEN_LETTERS = "IOSVZ"


@pytest.mark.parametrize("code", KNOWN_VALID)
def test_known_valid_codes(code):
    assert uscc.validate(code) is None
    assert uscc.check_character(code[:17]) == code[17]
    assert uscc.make(code[:17]) == code


def test_alphabet_is_gb32100s():
    assert len(uscc.ALPHABET) == 31
    assert set(uscc.ALPHABET) == set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") - set(
        FORBIDDEN_LETTERS
    )
    assert len(uscc._WEIGHTS) == 17
    # the weights are 3^i mod 31
    assert list(uscc._WEIGHTS) == [pow(3, i, 31) for i in range(17)]


def test_check_character_examples():
    # a check value of 0 is the character "0", not 31
    for code in KNOWN_VALID:
        total = sum(uscc.ALPHABET.index(c) * w for c, w in zip(code[:17], uscc._WEIGHTS))
        assert uscc.ALPHABET.index(code[17]) == (31 - total % 31) % 31
    made = {uscc.make(f"9111000060003734{c}")[-1] for c in uscc.ALPHABET}
    assert made == set(uscc.ALPHABET)  # every check value occurs, 0 included


@pytest.mark.parametrize("code", KNOWN_VALID)
def test_every_single_character_alteration_is_rejected(code):
    altered = 0
    for i in range(18):
        for ch in uscc.ALPHABET + FORBIDDEN_LETTERS + "abc-* ":
            if ch == code[i]:
                continue
            bad = code[:i] + ch + code[i + 1 :]
            assert uscc.validate(bad) is not None, f"position {i + 1}: {bad} accepted"
            altered += 1
    assert altered == 18 * (31 + 5 + 6 - 1)


@pytest.mark.parametrize("code", KNOWN_VALID)
def test_adjacent_transpositions_are_rejected(code):
    for i in range(16):  # within the 17 weighted characters
        if code[i] == code[i + 1]:
            continue
        swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
        assert uscc.validate(swapped) is not None, f"positions {i + 1},{i + 2}: {swapped} accepted"


@pytest.mark.parametrize(
    "code",
    ["", "9", KNOWN_VALID[0][:17], KNOWN_VALID[0] + "0", KNOWN_VALID[0] * 2, KNOWN_VALID[0][:15]],
)
def test_wrong_length(code):
    assert uscc.validate(code) == "统一社会信用代码应为18位"


@pytest.mark.parametrize("letter", FORBIDDEN_LETTERS)
def test_forbidden_letters(letter):
    base = KNOWN_VALID[0]  # 91350100M000100Y43
    for pos in (0, 1, 8, 16, 17):
        bad = base[:pos] + letter + base[pos + 1 :]
        reason = uscc.validate(bad)
        assert reason is not None and "不允许的字符" in reason and letter in reason, (pos, reason)
    # a forbidden letter is never a check character
    assert all(uscc.check_character(base[:16] + c) != letter for c in uscc.ALPHABET)


def test_region_part_must_be_digits():
    # positions 3-8 are the 行政区划代码: a letter there fails even with a correct check character
    code = uscc.make("91A50100M000100Y4")
    assert uscc.validate(code) == "统一社会信用代码第3至8位应为行政区划代码"


def test_wrong_check_character_message():
    code = KNOWN_VALID[1]
    wrong = code[:17] + ("0" if code[17] != "0" else "1")
    assert uscc.validate(wrong) == "统一社会信用代码校验位不正确"


def test_validate_itself_is_strict_about_case():
    assert uscc.validate(KNOWN_VALID[0].lower()) is not None
    assert uscc.validate(" " + KNOWN_VALID[0]) is not None


def _register(code: str) -> bodies.RegisterBody:
    return parse(
        bodies.RegisterBody, {"level": "general", "enterprise_uscc": code, "deadline": "2027-01-01"}
    )


@pytest.mark.parametrize("code", KNOWN_VALID)
def test_bodies_accept_lower_case_and_surrounding_spaces(code):
    for given in (code.lower(), f"  {code.lower()} ", code[:9].lower() + code[9:]):
        assert _register(given).enterprise_uscc == code
        report = parse(bodies.ReportBody, report_body(enterprise_uscc=given))
        assert report.enterprise_uscc == code


@pytest.mark.parametrize(
    "given,message",
    [
        ("91350100M000100Y44", "统一社会信用代码校验位不正确"),
        ("91350100m000100y4", "统一社会信用代码应为18位"),
        (
            "91350100i000100y43",
            "统一社会信用代码含有不允许的字符：I",
        ),  # upper-cased first: I is forbidden
        ("91350100o000100y43", "统一社会信用代码含有不允许的字符：O"),
    ],
)
def test_bodies_reject_with_a_chinese_field_message(given, message):
    with pytest.raises(Invalid) as exc:
        _register(given)
    assert exc.value.details == [
        {"field": "enterprise_uscc", "message": message, "type": "zh_uscc"}
    ]


def test_report_body_uscc_is_optional():
    body = parse(bodies.ReportBody, report_body())
    assert body.enterprise_uscc is None
