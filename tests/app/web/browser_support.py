"""Browser-test support: the real app in a real uvicorn server, and a headless Chromium driving it.

The server runs in a thread of the test process, so it shares the test's FakeClock and database
(the test moves time and issues documents directly, as the Prefect flow would in service). Every
page visited can be screenshotted at desktop and phone width and checked for the phone layout
(no sideways scrolling of the page, every visible control labelled). A window whose console
reports a Content-Security-Policy violation fails the test when the `browsers` fixture closes.
"""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.app.web.conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

# Returns the problems of the phone layout: the page wider than the window (content inside a
# scrollable wrapper such as .table-wrap does not widen the document, so it passes), and visible
# controls with no label (a <label for> or a wrapping <label>, with text) and no aria-label(ledby).
_PHONE_CHECK = """() => {
  const problems = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth + 1) {
    problems.push(`page ${doc.scrollWidth}px wide in a ${window.innerWidth}px window`);
  }
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden') continue;
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (box.width === 0 && box.height === 0 || style.visibility === 'hidden' || style.display === 'none') continue;
    // el.labels: the browser's own association, <label for> or a <label> wrapping the control
    const labelled = Array.from(el.labels || []).some(l => l.textContent.trim())
      || (el.getAttribute('aria-label') || '').trim() || el.getAttribute('aria-labelledby');
    if (!labelled) problems.push(`unlabelled ${el.tagName.toLowerCase()} name=${el.name}`);
  }
  return problems;
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn-browser-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@dataclass
class Session:
    """One person's browser window (own cookies), logged in through the real form."""

    context: BrowserContext
    page: Page
    base: str
    name: str

    def go(self, path: str) -> Page:
        response = self.page.goto(self.base + path)
        assert response is not None
        return self.page

    def shot(self, label: str, *, phone: bool = True) -> None:
        """Screenshots at 1280×800 and 390×844; at phone width, assert the layout checks."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{self.name}-{label}")
        self.page.set_viewport_size(DESKTOP)
        self.page.screenshot(path=str(SHOTS / f"{stem}-desktop.png"), full_page=True)
        if phone:
            self.page.set_viewport_size(PHONE)
            self.page.evaluate("document.querySelectorAll('details:not([open])')"
                               ".forEach(d => { d.open = true; d.dataset.shot = '1'; })")
            problems = self.page.evaluate(_PHONE_CHECK)
            self.page.screenshot(path=str(SHOTS / f"{stem}-phone.png"), full_page=True)
            assert problems == [], f"{label} at phone width: {problems}"
            self.page.evaluate("document.querySelectorAll('details[data-shot]').forEach(d => d.open = false)")
            self.page.set_viewport_size(DESKTOP)


class Browsers:
    def __init__(self, chromium: Browser, base: str) -> None:
        self.chromium, self.base = chromium, base
        self.contexts: list[BrowserContext] = []
        self.csp_reports: list[str] = []  # the browser's console reports of CSP violations, any window

    def anonymous(self, name: str = "public") -> Session:
        context = self.chromium.new_context(viewport=DESKTOP, locale="zh-CN", accept_downloads=True)
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: "Content Security Policy" in m.text
                and self.csp_reports.append(f"{name} {page.url}: {m.text}"))
        return Session(context, page, self.base, name)

    def login(self, username: str) -> Session:
        s = self.anonymous(username)
        s.go("/login")
        s.page.fill("#username", username)
        s.page.fill("#password", PASSWORD)
        s.page.click("button[type=submit]:has-text('登录')")
        expect(s.page.locator(".who")).to_contain_text(username)
        return s

    def close(self) -> None:
        for c in self.contexts:
            c.close()


@pytest.fixture
def browsers(chromium, live_server) -> Iterator[Browsers]:
    b = Browsers(chromium, live_server)
    yield b
    b.close()
    assert b.csp_reports == [], "a page broke the Content-Security-Policy"


@pytest.fixture
def db_url(tmp_path, sqlite_template) -> str:
    """SQLite only: a browser module that imports this fixture overrides the two-backend one."""
    path = tmp_path / "hazard.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"
