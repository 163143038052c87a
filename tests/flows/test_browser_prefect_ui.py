"""The Prefect UI shows a hazard's lifecycle (issue 15), as a supervisor would look for it: a real
headless Chromium opens the UI of a real Prefect server, searches the flow runs by the hazard's
code, opens its run and sees its final state 已销号 and its `第N步` log lines; the screenshots go to
test-artifacts/screenshots/prefect-ui-*.png.

`prefect_test_harness` serves no UI (its server runs with PREFECT_UI_ENABLED=0), so this module
starts `prefect server start` itself, in a temporary PREFECT_HOME on a free port, and points the
mirror's Prefect client at it. The waits are Playwright's, on locators, with deadlines."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from flows.mirror import mirror_now
from bench.outbox.prefect_server import answers as _answers, stop as _stop
from tests.app.web.browser_support import SHOTS, chromium, db_url, free_port
from tests.flows.mirror_support import chain, code_and_title, marker, mirror_env, prefect_at, walk

__all__ = ["chromium", "db_url", "mirror_env"]  # fixtures, used by name (db_url: SQLite only)

STARTUP = 180.0
UI_WAIT_MS = 60_000


@pytest.fixture(scope="module")
def prefect_ui(tmp_path_factory) -> Iterator[str]:
    """`prefect server start` with its UI, SQLite under a temporary PREFECT_HOME; its base URL."""
    home = tmp_path_factory.mktemp("prefect-ui")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"PREFECT_HOME": str(home), "PREFECT_SERVER_API_HOST": "127.0.0.1",
                "PREFECT_SERVER_API_PORT": str(port), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_UI_ENABLED": "true"})
    log = home / "server.log"
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, start_new_session=True, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP
    try:
        while not _answers(f"{base}/api/health"):
            assert proc.poll() is None, f"prefect server exited: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"prefect server did not start: {log.read_text()[-3000:]}"
            time.sleep(0.5)
        yield base
    finally:
        _stop(proc)


def test_the_prefect_ui_finds_a_closed_hazards_run_by_its_code_and_shows_its_lifecycle(
        prefect_ui, mirror_env, factory, world, clock, chromium):
    hazard_id = walk(factory, world, clock, "closed")
    code, title = code_and_title(factory, hazard_id)
    steps = len(chain(factory, hazard_id))
    with prefect_at(f"{prefect_ui}/api"):
        report = mirror_now()
    assert report.failed == 0 and report.items == 1, report.errors
    run_id = marker(factory, f"hazard:{hazard_id}").flow_run_id

    SHOTS.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(f"{prefect_ui}/runs")
        search = page.locator("input[placeholder='Search by flow run name']:visible").first
        expect(search).to_be_visible(timeout=UI_WAIT_MS)
        search.fill(code)
        link = page.get_by_role("link", name=re.compile(re.escape(f"{code} {title}")))
        expect(link.first).to_be_visible(timeout=UI_WAIT_MS)
        page.screenshot(path=str(SHOTS / "prefect-ui-runs-search.png"), full_page=True)
        link.first.click()

        page.wait_for_url(re.compile(rf"/runs/flow-run/{run_id}"), timeout=UI_WAIT_MS)
        expect(page.get_by_text(f"{code} {title}").first).to_be_visible(timeout=UI_WAIT_MS)
        expect(page.get_by_text("已销号").first).to_be_visible(timeout=UI_WAIT_MS)
        expect(page.get_by_text(re.compile(r"第1步 · ")).first).to_be_visible(timeout=UI_WAIT_MS)
        expect(page.get_by_text(re.compile(rf"第{steps}步 · ")).first).to_be_visible(timeout=UI_WAIT_MS)
        page.screenshot(path=str(SHOTS / "prefect-ui-flow-run-logs.png"), full_page=True)
        body = page.locator("body").inner_text()
        assert code in body and "已销号" in body and re.search(r"第\d+步", body)
    finally:
        context.close()
