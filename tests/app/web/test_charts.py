"""The server-drawn SVG charts: well-formed XML, escaped text, accessible names, bar geometry."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from app.web import charts

NS = {"s": "http://www.w3.org/2000/svg"}
EVIL = '<script>alert("x")</script>&'


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(str(svg))


def test_bar_chart_is_well_formed_and_escapes_text():
    data = [(EVIL, 3), ("煤矿", 10), ("燃气", 0)]
    svg = charts.bar_chart(f"标题{EVIL}", data, x_label="行业", y_label="数量（条）", chart_id="t1")
    assert "<script>" not in svg
    root = _parse(svg)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "t1-t t1-d"
    assert root.find("s:title", NS).text == f"标题{EVIL}"  # escaped in the markup, intact as text
    assert root.find("s:desc", NS).text == f"{EVIL}：3；煤矿：10；燃气：0"
    rects = root.findall(".//s:rect", NS)
    assert [r.find("s:title", NS).text for r in rects] == [f"{EVIL}：3", "煤矿：10", "燃气：0"]
    heights = [float(r.get("height")) for r in rects]
    assert heights[1] > heights[0] > heights[2] == 0
    assert abs(heights[0] / heights[1] - 0.3) < 0.01  # proportional to the values
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "行业" in texts and "数量（条）" in texts


def test_line_chart_points_and_tooltips():
    data = [("10月", 1), ("11月", 4), ("12月", 2)]
    root = _parse(charts.line_chart("重大隐患存量", data, x_label="月份", chart_id="t2"))
    circles = root.findall("s:circle", NS)
    assert [c.find("s:title", NS).text for c in circles] == ["10月：1", "11月：4", "12月：2"]
    ys = [float(c.get("cy")) for c in circles]
    assert ys[1] < ys[2] < ys[0]  # higher value, higher on the page
    xs = [float(c.get("cx")) for c in circles]
    assert xs == sorted(xs)
    assert len(root.find("s:polyline", NS).get("points").split()) == 3


def test_empty_and_axis_scale():
    root = _parse(charts.bar_chart("空", [], x_label="x"))
    assert any(t.text == "暂无数据" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert [charts._nice_max(v) for v in (0, 1, 3, 7, 12, 101)] == [1, 1, 5, 10, 20, 200]
    a, b = charts.bar_chart("a", [("x", 1)], x_label="x"), charts.bar_chart("b", [("x", 1)], x_label="x")
    assert _parse(a).get("aria-labelledby") != _parse(b).get("aria-labelledby")
