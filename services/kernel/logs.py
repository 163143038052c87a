"""Structured logs: an event name plus key-values, one JSON object per line.

For a person at a terminal (`text`: the CLI when its stderr is a terminal, or HAZARD_LOG_FORMAT=text)
a line reads as a sentence instead: `警告：2027 年的节假日安排尚未公布…`, from the event's `zh`
value when it carries one (events meant for people do), else its name and key-values."""

from __future__ import annotations

import logging
import sys

import structlog


class _Stderr:
    """Whatever `sys.stderr` is when a line is written, not when logging was configured: a logger
    is cached on first use, and a stream swapped since (a test's captured stderr, closed after the
    test) must not break every later log line of the process."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


LEVEL_LABELS = {"debug": "调试", "info": "信息", "warning": "警告", "error": "错误", "critical": "严重错误"}


def render_text(_logger, _name, event: dict) -> str:
    """One line for a person: `警告：<zh>`; the rest of the key-values in brackets when no `zh`."""
    label = LEVEL_LABELS.get(str(event.get("level", "")), str(event.get("level", "")))
    if "zh" in event:
        line = f"{label}：{event['zh']}"
    else:
        rest = {k: v for k, v in event.items() if k not in ("event", "level", "timestamp")}
        line = f"{label}：{event.get('event')}" + (f"（{', '.join(f'{k}={v}' for k, v in rest.items())}）" if rest else "")
    return line + (f"\n{event['exception']}" if "exception" in event else "")


def configure(level: str = "INFO", *, text: bool = False) -> None:
    logging.basicConfig(stream=sys.stderr, level=level.upper(), format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            render_text if text else structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=_Stderr()),
        cache_logger_on_first_use=True,
    )
