"""Rendering: Jinja2 templates (templates/documents/) to HTML, and stored HTML to PDF.

Autoescape is on and undefined variables raise (StrictUndefined), so a template that reads a field
the context lacks fails at issuing time instead of printing an empty line into an official notice;
text people typed is only ever a variable, never a template. The PDF is made from the HTML as
stored, so it shows exactly what the audit trail's SHA-256 covers.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from services.documents.content import cn_date

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "documents"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["cn_date"] = cn_date
    return env


def render_html(template: str, context: dict[str, Any]) -> str:
    return environment().get_template(template).render(**context)


def render_pdf(html: str) -> bytes:
    """The PDF of a stored document (A4, fonts from the page's CSS: Noto CJK on this machine)."""
    from weasyprint import HTML  # imported late: it loads Pango and fontconfig, the API rarely needs it

    return HTML(string=html, base_url=str(TEMPLATES)).write_pdf()
