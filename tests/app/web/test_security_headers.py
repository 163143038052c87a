"""Every HTML answer (pages, error pages, the stored documents through the web and the API, /docs,
/redoc) carries the Content-Security-Policy, Referrer-Policy, X-Content-Type-Options and
X-Frame-Options, each once; every other answer carries nosniff; and no template holds what the
policy would block (inline script, on*= handlers, javascript: URLs). SQLite only: the headers do
not depend on the database.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from fastapi.routing import APIRoute

from db.engine import UnitOfWork, read_only
from services import documents
from app.api.security_headers import CONTENT_SECURITY_POLICY, SecurityHeadersMiddleware, with_security_headers
from tests.helpers import drive

TEMPLATES = Path(__file__).resolve().parents[3] / "templates"
HTML_HEADERS = ("content-security-policy", "referrer-policy", "x-content-type-options", "x-frame-options")

# (path, who: a web user, "api:<user>" for a bearer token, None for no login; status)
PAGES = [
    ("/login", None, 200),
    ("/report", None, 200),
    ("/track", None, 200),
    ("/docs", None, 200),
    ("/redoc", None, 200),
    ("/", "inspector", 200),
    ("/hazards/new", "inspector", 200),
    ("/hazards/{hid}", "inspector", 200),
    ("/hazards/999999", "inspector", 404),
    ("/hazards/{hid}/documents/{did}?format=html", "inspector", 200),
    ("/api/v1/documents/{did}?format=html", "api:inspector", 200),
    ("/ledger", "supervisor", 200),
    ("/messages", "ent_coal", 200),
    ("/ledger?per_page=0", "supervisor", 400),
    ("/dashboard", "supervisor", 200),
    ("/reports/monthly", "supervisor", 200),
    ("/reports/monthly?month=2026-99", "supervisor", 422),
    ("/audit", "auditor", 200),
    ("/admin/users", "admin", 200),
    ("/admin/users/new", "admin", 200),
    ("/admin/users/{uid}", "admin", 200),
    ("/admin/users/{uid}", "inspector", 403),
    ("/admin/enterprises", "admin", 200),
    ("/admin/enterprises/new", "admin", 200),
    ("/self-inspections", "ent_coal", 200),
    ("/self-inspections", "inspector", 200),
    ("/self-inspections/{missing}", "inspector", 404),
    ("/enterprises", "inspector", 200),
    ("/enterprises/{missing}", "inspector", 404),
    ("/blacklist", "county_committee", 200),
    ("/bulletins", "county_committee", 200),
    ("/bulletins/{missing}/document", "county_committee", 404),
    ("/accountability", "county_committee", 200),
    ("/accountability/referrals/{missing}", "county_committee", 404),
    ("/accountability/referrals/{missing}/letter", "county_committee", 404),
    ("/accountability/summonses/{missing}", "county_committee", 404),
    ("/plans", "county_committee", 200),
    ("/plans/import", "county_committee", 200),
    ("/plans/{missing}", "county_committee", 404),
    ("/tasks", "inspector", 200),
    ("/tasks?state=nope", "inspector", 400),
    ("/tasks/{missing}", "inspector", 404),
    ("/public/exposure", None, 200),
]
# GET routes of the app that answer something other than HTML, each checked for nosniff below.
NOT_HTML = {"/ledger.xlsx", "/reports/monthly.xlsx", "/reports/monthly.pdf",
            "/hazards/{hazard_id}/attachments/{attachment_id}",
            "/static/apidocs/redoc.standalone.js", "/favicon.ico",
            "/plans/{plan_id}/export.xlsx", "/tasks/{assignment_id}/attachments/{attachment_id}",
            "/admin"}  # a redirect to /admin/users


@pytest.fixture
def db_url(tmp_path, sqlite_template) -> str:
    path = tmp_path / "hazard.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def issued(factory, world, clock) -> dict[str, int]:
    hid = drive(factory, world, clock(), "supervised", level="major")
    assert documents.issue_pending(UnitOfWork(factory), now=clock()).issued == 2
    with read_only(factory) as s:
        did = documents.list_for_hazard(s, world.p("inspector"), hid)[0].id
    return {"hid": hid, "did": did, "uid": world.p("inspector").id, "missing": 999999}


def _get(browser, world, who: str | None, path: str):
    if who and who.startswith("api:"):
        return browser().get(path, headers=world.auth(who[4:]))
    return browser(who).get(path)


def _assert_once(response, names) -> None:
    for name in names:
        assert len(response.headers.get_list(name)) == 1, (name, response.headers.get_list(name))


@pytest.mark.parametrize(("path", "who", "status"), PAGES, ids=[f"{p}-{w}" for p, w, _ in PAGES])
def test_every_html_answer_carries_the_security_headers(browser, world, issued, path, who, status):
    response = _get(browser, world, who, path.format(**issued))
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    _assert_once(response, HTML_HEADERS)
    csp = response.headers["content-security-policy"]
    assert csp == CONTENT_SECURITY_POLICY
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"  # no unsafe-inline, no unsafe-eval, no host
    assert "unsafe-eval" not in csp and directives["frame-ancestors"] == "'none'"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"


def _get_paths(routes) -> set[str]:
    """GET paths of `routes`, into included routers (FastAPI >= 0.150 keeps those as one entry holding
    the router). A prefix given to include_router would be missed; the app gives none (the API's
    routers carry /api/v1 in their own paths)."""
    out: set[str] = set()
    for route in routes:
        if isinstance(route, APIRoute) and "GET" in route.methods:
            out.add(route.path)
        elif getattr(route, "original_router", None) is not None:
            out |= _get_paths(route.original_router.routes)
    return out


def test_every_html_route_is_in_the_list(app):
    """A new page must be added to PAGES (or NOT_HTML), so it cannot miss this check."""
    def norm(path: str) -> str:
        return re.sub(r"\{\w+\}", "{}", path.split("?")[0])

    covered = {norm(p) for p, _, _ in PAGES} | {norm(p) for p in NOT_HTML}
    pages = {p for p in _get_paths(app.routes) if not p.startswith("/api/")}
    assert len(pages) > 12 and "/hazards/{}" in {norm(p) for p in pages}
    assert {norm(p) for p in pages} - covered - {"/openapi.json", "/healthz", "/metrics"} == set()


@pytest.mark.parametrize("path", ["/openapi.json", "/healthz", "/static/app.css", "/static/swagger-init.js",
                                  "/static/apidocs/swagger-ui-bundle.js", "/static/apidocs/redoc.standalone.js",
                                  "/ledger.xlsx", "/api/v1/hazards", "/api/v1/nope", "/favicon.ico"])
def test_every_other_answer_is_nosniff(browser, world, path):
    response = browser("supervisor").get(path, headers=world.auth("supervisor"))
    assert not response.headers["content-type"].startswith("text/html")
    _assert_once(response, ["x-content-type-options"])
    assert response.headers["x-content-type-options"] == "nosniff"


def test_headers_a_handler_set_are_kept_not_doubled():
    own = [(b"content-type", b"Text/HTML; charset=utf-8"), (b"Content-Security-Policy", b"default-src 'none'"),
           (b"x-content-type-options", b"nosniff")]
    out = with_security_headers(own)
    names = [n.lower() for n, _ in out]
    assert len(names) == len(set(names)) and dict(out)[b"Content-Security-Policy"] == b"default-src 'none'"
    assert {b"referrer-policy", b"x-frame-options"} <= set(names)
    plain = with_security_headers([(b"content-type", b"application/json")])
    assert [n for n, _ in plain] == [b"content-type", b"x-content-type-options"]
    assert SecurityHeadersMiddleware  # the middleware applies exactly this to each response start


# --- templates hold nothing the policy would block ---------------------------------------------------

_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.I | re.S)
_HANDLER = re.compile(r"<[^>]*?\son[a-z]+\s*=", re.I | re.S)
_JS_URL = re.compile(r"javascript\s*:", re.I)


def blocked_by_csp(html: str) -> list[str]:
    """Inline scripts (no src, or a body), on*= event handlers, javascript: URLs in `html`."""
    found = [f"inline script: {body.strip()[:60] or attrs}" for attrs, body in _SCRIPT.findall(html)
             if "src=" not in attrs.lower() or body.strip()]
    found += [f"handler: {m.group(0)[-40:]}" for m in _HANDLER.finditer(html)]
    found += ["javascript: URL" for _ in _JS_URL.finditer(html)]
    return found


def test_the_scan_finds_what_the_policy_blocks():
    assert blocked_by_csp("<script>alert(1)</script>")
    assert blocked_by_csp('<script type="module">\n go()\n</script>')
    assert blocked_by_csp('<button class="x"\n  onclick="go()">')
    assert blocked_by_csp('<a href="JavaScript:go()">')
    assert blocked_by_csp('<script src="/static/a.js">go()</script>')
    assert not blocked_by_csp('<script src="/static/a.js"></script><p>one=two, on=off</p>')


def test_no_template_holds_inline_script_or_handlers():
    problems = {str(p.relative_to(TEMPLATES)): blocked_by_csp(p.read_text(encoding="utf-8"))
                for p in sorted(TEMPLATES.rglob("*.html"))}
    assert len(problems) > 10  # web and documents
    assert {name: found for name, found in problems.items() if found} == {}
