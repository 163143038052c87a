"""The 看板 page: figures in scope, SVG charts inline, a table alternative for each chart."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from tests.conftest import START
from tests.helpers import drive, new_hazard


def test_dashboard_shows_charts_and_tables(factory, world, clock, browser):
    drive(factory, world, START, "registered")
    drive(factory, world, START, "rectifying", level="major")
    new_hazard(factory, world, START, reporter="xiaoyi_inspector", region_code="141181", industry="危险化学品")
    clock.advance(days=61)
    response = browser("city_supervisor").get("/dashboard")
    assert response.status_code == 200
    html = response.text
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    assert len(svgs) == 6
    for svg in svgs:
        ET.fromstring(svg)  # well-formed
    assert "<th scope=\"row\">离石区</th><td>2</td>" in html
    assert "<th scope=\"row\">孝义市</th><td>1</td>" in html
    assert "<th scope=\"row\">重大隐患</th><td>1</td>" in html
    trend = html.split('id="overdue-trend"')[1]
    rows = re.findall(r'<th scope="row">[^<]+</th><td>(\d+)</td>', trend.split("</table>")[0])
    assert len(rows) == 12 and rows[-1] == "2"


def test_dashboard_is_scope_limited(factory, world, browser):
    drive(factory, world, START, "registered")
    html = browser("xinzhou_inspector").get("/dashboard").text
    assert "离石区" not in html
    assert "<th scope=\"row\">已登记（限期整改）</th><td>0</td>" in html


def test_dashboard_requires_login(client):
    assert client.get("/dashboard", follow_redirects=False).status_code == 303
