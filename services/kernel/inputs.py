"""What text from outside must look like before anything uses it (issue 10: no 500 from input).

Every entry point (JSON bodies, query strings, path segments, form fields, upload file names,
headers) checks its text here, so the rules are the same everywhere:
- no control character but newline and tab (C0, DEL and C1 controls; PostgreSQL refuses NUL, and
  an invisible character in an official record is a typing accident or an attack), and no lone
  surrogate (it cannot be stored as UTF-8). Nothing is removed silently: the input is refused
  with a message naming the character;
- ids and versions are ASCII digits, at most what a BIGINT holds (`int("²")` raises, and a
  5,000-digit number is not an id);
- an `Idempotency-Key` is 1–200 visible ASCII characters.
"""

from __future__ import annotations

import re

MAX_ID = 2**63 - 1  # ids are BIGINT; a larger number from a URL or body cannot exist

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_ASCII_ID = re.compile(r"[0-9]{1,19}")
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,200}")
IDEMPOTENCY_KEY_MESSAGE = "Idempotency-Key 应为 1 至 200 个可见 ASCII 字符（不含空格和控制字符）"


def control_character(text: str) -> str | None:
    """The first forbidden character of `text` as `U+XXXX`, or None when the text is clean."""
    found = _CONTROL.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


def control_message(text: str) -> str | None:
    """A Chinese sentence for a person when `text` holds a forbidden character, else None."""
    char = control_character(text)
    if char is None:
        return None
    return f"含有不可见的控制字符（{char}），请删除后重新提交（换行和制表符除外）"


def ascii_id(text: str) -> int | None:
    """A positive id written in ASCII digits that a BIGINT can hold; None for anything else."""
    if not _ASCII_ID.fullmatch(text):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def valid_idempotency_key(key: str) -> bool:
    return bool(IDEMPOTENCY_KEY.fullmatch(key))


def form_text(value: object) -> str:
    """A form field's text as a person typed it: browsers send a textarea's line breaks as CRLF,
    so CRLF becomes LF; surrounding spaces and line breaks go. Control characters stay, for the
    validation to refuse with a message, rather than being dropped unseen."""
    if not isinstance(value, str):
        return ""
    return value.replace("\r\n", "\n").strip(" \t\n\u3000")
