"""/docs and /redoc work with no internet: their pages reference only the service's own files (each
answers 200 with the right content type), run no inline script, and stay out of the OpenAPI
document. The browser side (rendering, "Try it out", no CSP report) is
tests/app/web/test_browser_csp.py.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from app.api import apidocs

TITLE = "事故隐患闭环管理服务 Hazard closure service"
URL_ATTRS = {"src", "href", "spec-url", "data-openapi-url"}


class _Page(HTMLParser):
    """Every URL-valued attribute (tag, rel, attribute, value), the title, and inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str, str]] = []
        self.inline_scripts: list[str] = []
        self.title = ""
        self._in: str | None = None
        self._script_has_src = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for name, value in attrs:
            if name in URL_ATTRS or name.startswith("on"):
                self.urls.append((tag, a.get("rel") or "", name, value or ""))
        self._in = tag
        if tag == "script":
            self._script_has_src = bool(a.get("src"))
            if not self._script_has_src:
                self.inline_scripts.append("<script> without src")

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "title":
            self.title += data
        elif self._in == "script" and data.strip():
            self.inline_scripts.append(data.strip()[:80])


WANTED_TYPE = {"script": "javascript", "stylesheet": "text/css", "icon": "image/",
               "spec-url": "application/json", "data-openapi-url": "application/json"}


@pytest.mark.parametrize(("path", "title"), [("/docs", f"{TITLE} - Swagger UI"), ("/redoc", f"{TITLE} - ReDoc")])
def test_docs_pages_use_only_the_services_own_files(client, path, title):
    response = client.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = _Page()
    page.feed(response.text)
    assert page.title == title
    assert page.inline_scripts == []
    assert not any(name.startswith("on") for _, _, name, _ in page.urls)
    kinds = set()
    for tag, rel, name, url in page.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/"), (path, url)
        kind = "script" if tag == "script" else rel if tag == "link" else name
        kinds.add(kind)
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert WANTED_TYPE[kind] in asset.headers["content-type"], (url, asset.headers["content-type"])
    assert kinds >= ({"script", "stylesheet", "data-openapi-url"} if path == "/docs" else {"script", "spec-url"})
    for outside in ("cdn.jsdelivr.net", "fonts.googleapis.com", "unpkg.com", "http://", "https://"):
        assert outside not in response.text


def test_swagger_init_and_redoc_bundle_call_nothing_outside(client):
    init = client.get(apidocs.SWAGGER_INIT_URL)
    assert init.status_code == 200 and "validatorUrl: null" in init.text  # no validator.swagger.io badge
    bundle = client.get(f"{apidocs.ASSETS_URL}/redoc.standalone.js")
    assert bundle.status_code == 200 and "javascript" in bundle.headers["content-type"]
    assert len(bundle.content) > 500_000 and b"cdn.redoc.ly" not in bundle.content
    assert apidocs.BLANK_IMAGE in bundle.content  # the logo was there to replace (a new ReDoc may move it)


def test_docs_routes_stay_out_of_the_openapi_document(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert not any(p in paths for p in ("/docs", "/redoc")) and not any(p.startswith("/static") for p in paths)
    assert client.get("/docs/oauth2-redirect").status_code == 404  # no OAuth2 here, so no redirect page
