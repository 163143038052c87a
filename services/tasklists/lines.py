"""Recognising one line or cell: markup stripped, and what kind of line it is."""

from __future__ import annotations

import re

PART = re.compile(r"^([一二三四五六七八九十]{1,3})[、.．]\s*(\S.*)$")
SECTION = re.compile(r"^[（(]([一二三四五六七八九十]{1,3})[）)]\s*(\S.*)$")
NUMBERED = re.compile(r"^(\d{1,3})\s*[.．、](?!\d)\s*(\S.*)$")
SUBITEM = re.compile(r"^[（(](\d{1,2})[）)]\s*(.*)$")
LABEL = re.compile(r"^(主要措施|工作措施|具体措施|主要任务|工作任务|任务内容|责任单位|责任部门|牵头单位|牵头部门|配合单位|配合部门|"
                   r"协办单位|完成时限|完成时间|时间要求|时限要求|时限)\s*[:：]\s*(.*)$")
TEXT_LABELS = ("主要措施", "工作措施", "具体措施", "主要任务", "工作任务", "任务内容")
LEAD_LABELS = ("牵头单位", "牵头部门")
CO_LABELS = ("配合单位", "配合部门", "协办单位")
DEADLINE_LABELS = ("完成时限", "完成时间", "时间要求", "时限要求", "时限")
HEADING_MAX = 60
SENTENCE_END = ("。", "；", ";", "！", "？", "：", ":")

_TAGS = re.compile(r"</?[a-zA-Z][^>]{0,40}>?")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\ufeff]")


def clean(text: str) -> str:
    """Markup (Markdown emphasis/headings, <p> tags), control characters and outer spaces removed;
    paragraphs inside one cell become lines."""
    text = re.sub(r"</p>\s*<p>", "\n", text or "")
    text = _TAGS.sub("", text)
    text = _CONTROL.sub("", text).replace("\u3000", " ").replace("\xa0", " ")
    text = text.replace("**", "").replace("__", "")
    out = []
    for line in text.split("\n"):
        line = re.sub(r"^\s*#{1,6}\s*", "", line).strip()
        line = re.sub(r"[ \t]+", " ", line)
        if line:
            out.append(line)
    return "\n".join(out)


def is_separator(cells: list[str]) -> bool:
    joined = "".join(cells).strip()
    return bool(joined) and set(joined) <= set("-:|= ")


def title_of(text: str, limit: int = 40) -> str:
    """The first sentence of a task's text (its subitem marker left off), at most `limit` characters."""
    first = text.split("\n", 1)[0]
    first = SUBITEM.sub(lambda found: found.group(2), first, count=1)
    sentence = re.split(r"[。；;！？]", first, maxsplit=1)[0].strip()
    sentence = sentence or first.strip()
    return sentence if len(sentence) <= limit else sentence[: limit - 1] + "…"


def join(previous: str, line: str) -> str:
    """Append a line: a line that did not end a sentence was broken by the page and goes on directly."""
    if not previous:
        return line
    if previous.endswith(SENTENCE_END) or SUBITEM.match(line):
        return previous + "\n" + line
    return previous + line
