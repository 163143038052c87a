"""Bar and line charts drawn as SVG on the server, so the dashboard needs no script and prints.

Every piece of text (titles, labels) is escaped here, because the SVG is inserted into the page as
markup. Each chart carries `role="img"` with its title and a description for screen readers, and a
`<title>` per bar or point (the browser's tooltip). The page shows the same data as a table too.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from itertools import count

from markupsafe import Markup

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 40, 72
COLOR = "#2f6fad"
_ids = count(1)  # ids unique within a process, so several charts share a page safely


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _nice_max(value: int) -> int:
    """A round axis maximum at or above `value` (1, 2, 5 × 10^k), at least 1."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


def _ticks(top: int) -> list[int]:
    parts = 5 if top % 5 == 0 and top >= 5 else (top if top <= 4 else 4)
    return sorted({round(top * i / parts) for i in range(parts + 1)})


def _frame(chart_id: str, title: str, x_label: str, y_label: str, summary: str, top: int) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{chart_id}-t {chart_id}-d">',
        f'<title id="{chart_id}-t">{_e(title)}</title>',
        f'<desc id="{chart_id}-d">{_e(summary)}</desc>',
        f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" class="chart-title" font-size="15">{_e(title)}</text>',
    ]
    for tick in _ticks(top):
        y = TOP + plot_h - plot_h * tick / top
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{tick}</text>')
    out.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#333"/>')
    out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" stroke="#333"/>')
    out.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 6}" text-anchor="middle" '
               f'font-size="12">{_e(x_label)}</text>')
    out.append(f'<text x="14" y="{TOP + plot_h / 2}" text-anchor="middle" font-size="12" '
               f'transform="rotate(-90 14 {TOP + plot_h / 2})">{_e(y_label)}</text>')
    return out


def _next_id(prefix: str) -> str:
    return f"{prefix}{next(_ids)}"


def _summary(data: Sequence[tuple[str, int]]) -> str:
    return "；".join(f"{label}：{value}" for label, value in data) or "暂无数据"


def _x_label(x: float, y: float, label: str) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="end" font-size="11" '
            f'transform="rotate(-35 {x:.1f} {y:.1f})">{_e(label)}</text>')


def _start(kind: str, chart_id: str | None, title: str, data: Sequence[tuple[str, int]], x_label: str,
           y_label: str) -> tuple[list[str], int]:
    """The chart's frame (axes, title, summary) and the top of its value axis."""
    top = _nice_max(max((v for _, v in data), default=0))
    return _frame(chart_id or _next_id(kind), title, x_label, y_label, _summary(data), top), top


def bar_chart(title: str, data: Sequence[tuple[str, int]], *, x_label: str, y_label: str = "数量（条）",
              chart_id: str | None = None) -> Markup:
    """Vertical bars, one per (label, value); values are counts (non-negative integers)."""
    out, top = _start("bar", chart_id, title, data, x_label, y_label)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(data), 1)
    bar_w = max(slot * 0.6, 2)
    for i, (label, value) in enumerate(data):
        h = plot_h * value / top
        x = LEFT + i * slot + (slot - bar_w) / 2
        y = TOP + plot_h - h
        out.append(f'<g class="bar"><rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                   f'fill="{COLOR}"><title>{_e(label)}：{value}</title></rect>'
                   f'<text x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="11">{value}</text></g>')
        out.append(_x_label(x + bar_w / 2, TOP + plot_h + 14, label))
    if not data:
        out.append(f'<text x="{WIDTH / 2}" y="{TOP + plot_h / 2}" text-anchor="middle">暂无数据</text>')
    out.append("</svg>")
    return Markup("".join(out))


def line_chart(title: str, data: Sequence[tuple[str, int]], *, x_label: str, y_label: str = "数量（条）",
               chart_id: str | None = None) -> Markup:
    """A line through (label, value) points in order, each point with its tooltip."""
    out, top = _start("line", chart_id, title, data, x_label, y_label)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(data) - 1, 1)
    points = [(LEFT + i * step if len(data) > 1 else LEFT + plot_w / 2, TOP + plot_h - plot_h * v / top)
              for i, (_, v) in enumerate(data)]
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{COLOR}" stroke-width="2"/>')
    for (x, y), (label, value) in zip(points, data, strict=True):
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{COLOR}"><title>{_e(label)}：{value}</title></circle>')
        out.append(_x_label(x, TOP + plot_h + 14, label))
    if not data:
        out.append(f'<text x="{WIDTH / 2}" y="{TOP + plot_h / 2}" text-anchor="middle">暂无数据</text>')
    out.append("</svg>")
    return Markup("".join(out))
