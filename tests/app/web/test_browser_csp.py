"""The Content-Security-Policy in a real headless Chromium: /docs and /redoc render and work with
every request to anything but 127.0.0.1 aborted, and neither they nor the hazard page nor an
issued document make the browser report a CSP violation (console message, `securitypolicyviolation`
event) or a script error. SQLite only, like the other browser tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect
from sqlalchemy import select

from db.engine import UnitOfWork, read_only
from db.models import Document
from services import documents
from tests.helpers import drive
from tests.app.web.browser_support import Browsers, Session, browsers, chromium, db_url, live_server  # noqa: F401 (fixtures)

# Runs before any page script; the listener sees what the page's CSP blocks in the document.
_LISTEN = """window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));"""


@dataclass
class Watch:
    """What one browser window did that it should not have: CSP reports, script errors, requests
    that tried to leave the machine."""

    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def violations(self, page: Page) -> list[str]:
        return [m for m in self.console if "Content Security Policy" in m] + page.evaluate("window.__csp")


def _offline(s: Session) -> Watch:
    """Cut the window off from everything but 127.0.0.1 and start watching it."""
    watch = Watch()

    def route(r: Route) -> None:
        if urlsplit(r.request.url).hostname == "127.0.0.1":
            r.continue_()
        else:
            watch.outside.append(r.request.url)
            r.abort()

    s.context.route("**/*", route)
    s.context.add_init_script(_LISTEN)
    s.page.on("console", lambda m: watch.console.append(f"{m.type}: {m.text}"))
    s.page.on("pageerror", lambda e: watch.errors.append(str(e)))
    return watch


@pytest.fixture
def offline(browsers: Browsers) -> Iterator[tuple[Session, Watch]]:
    s = browsers.anonymous("apidocs")
    yield s, _offline(s)


def _clean(page: Page, watch: Watch) -> None:
    assert watch.violations(page) == [], watch.console
    assert watch.errors == [] and watch.outside == []


def test_swagger_ui_renders_and_tries_it_out_offline(offline):
    s, watch = offline
    page = s.go("/docs")
    expect(page).to_have_title("事故隐患闭环管理服务 Hazard closure service - Swagger UI")
    expect(page.locator(".opblock").first).to_be_visible()
    assert page.locator(".opblock").count() > 20
    # "Try it out" calls the API on the same origin: GET /healthz answers 200 on the page.
    health = page.locator(".opblock", has=page.locator(".opblock-summary-path", has_text="/healthz")).first
    health.locator(".opblock-summary").click()
    health.locator("button.try-out__btn").click()
    health.locator("button.execute").click()
    expect(health.locator(".live-responses-table tr.response .response-col_status").first).to_have_text("200")
    _clean(page, watch)


def test_redoc_renders_offline(offline):
    s, watch = offline
    page = s.go("/redoc")
    expect(page).to_have_title("事故隐患闭环管理服务 Hazard closure service - ReDoc")
    expect(page.locator("h2", has_text="一份公文（format=html|pdf）").first).to_be_visible(timeout=20_000)
    expect(page.locator("h2", has_text="健康检查").first).to_be_attached()
    # The search box runs in ReDoc's worker (a blob: URL, allowed by worker-src). ReDoc's index
    # (lunr) drops non-ASCII words, so the search is for the Latin word of a summary.
    page.locator("input[placeholder='Search...']").fill("Prometheus")
    expect(page.locator("[data-role='search:results']")).to_contain_text("Prometheus 指标")
    _clean(page, watch)


def test_hazard_page_and_document_load_without_csp_violations(browsers, factory, world, clock):
    hid = drive(factory, world, clock(), "supervised", level="major")
    documents.issue_pending(UnitOfWork(factory), now=clock(), limit=50)
    with read_only(factory) as s:
        doc_id = s.execute(select(Document.id).where(Document.hazard_id == hid)).scalars().first()
    inspector = browsers.login("inspector")
    watch = _offline(inspector)
    page = inspector.go(f"/hazards/{hid}")
    expect(page.locator("h1")).to_be_visible()
    link = page.locator(f"a[href='/hazards/{hid}/documents/{doc_id}?format=html']").first
    expect(link).to_be_visible()
    _clean(page, watch)
    link.click()
    page.wait_for_url(f"**/hazards/{hid}/documents/{doc_id}?format=html")
    expect(page.locator(".red-header")).to_be_visible()
    _clean(page, watch)
