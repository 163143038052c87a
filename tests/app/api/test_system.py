"""Health, metrics, and the error shape of things no router handles."""

from __future__ import annotations

import re

from pydantic import SecretStr

from tests.app.api.support import API, assert_error
from tests.helpers import new_hazard


def test_healthz(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}


def test_metrics_count_requests_by_route_and_status(client, world, factory, clock):
    hid = new_hazard(factory, world, clock())
    client.get(f"{API}/hazards/{hid}", headers=world.auth("inspector"))
    client.get(f"{API}/hazards/{hid}", headers=world.auth("inspector"))
    client.get(f"{API}/hazards/{hid}", headers=world.auth("xinzhou_inspector"))  # 404
    client.get(f"{API}/hazards")  # 401
    client.get(f"{API}/public/reports/ABCDEFGHJKLM")
    resp = client.get("/metrics", headers=world.auth("admin"))
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    text = resp.text
    assert "# TYPE hazard_http_requests_total counter" in text

    def count(method, route, status):
        m = re.search(
            rf'^hazard_http_requests_total\{{method="{method}",route="{re.escape(route)}",status="{status}"\}} (\d+)$',
            text, re.M)
        return int(m.group(1)) if m else 0

    assert count("GET", "/api/v1/hazards/{id}", 200) == 2  # ids collapse into one route label
    assert count("GET", "/api/v1/hazards/{id}", 404) == 1
    assert count("GET", "/api/v1/hazards", 401) == 1
    assert count("GET", "/api/v1/public/reports/{code}", 404) == 1  # tracking codes never become labels
    assert str(hid) not in re.findall(r'route="([^"]*)"', text)
    assert "hazard_http_request_seconds_sum" in text
    # The lifecycle mirror's backlog: the hazard's report is waiting to be shown in Prefect.
    assert re.search(r"^hazard_mirror_queued_items 1$", text, re.M)
    assert re.search(r"^hazard_mirror_failing_items 0$", text, re.M)
    # The scrape itself is counted on the next scrape.
    assert 'route="/metrics",status="200"' in client.get("/metrics", headers=world.auth("admin")).text


def test_metrics_need_a_token_or_the_setting(client, app, world):
    """Request counts and timings per route are not for anonymous eyes (issue 10 item 7)."""
    assert_error(client.get("/metrics"), 401)
    assert_error(client.get("/metrics", headers={"Authorization": "Bearer nonsense"}), 401)
    assert_error(client.get("/metrics", headers=world.auth("inspector")), 403)
    assert client.get("/metrics", headers=world.auth("auditor")).status_code == 200
    settings = app.state.ctx.settings
    settings.metrics_token = SecretStr("scrape-secret-1")
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-secret-1"}).status_code == 200
    assert_error(client.get("/metrics", headers={"Authorization": "Bearer scrape-secret-2"}), 401)
    settings.metrics_public = True
    assert client.get("/metrics").status_code == 200


def test_unknown_route_and_method_use_the_error_shape(client, world):
    assert_error(client.get(f"{API}/nothing-here", headers=world.auth("inspector")), 404, "http_404")
    assert_error(client.post(f"{API}/hazards/1/actions/escalate", json={"step": "urge"},
                             headers=world.auth("inspector")), 404)
    assert_error(client.delete(f"{API}/hazards", headers=world.auth("inspector")), 405, "http_405")
