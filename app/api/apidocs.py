"""/docs (Swagger UI) and /redoc (ReDoc) that work with no internet and under the service's CSP.

FastAPI's own pages load both from a CDN and start Swagger UI with an inline script. Here the
assets are the files the `fastapi-offline` package ships, served by the service at
/static/apidocs/, and Swagger UI is started by /static/swagger-init.js (it reads the OpenAPI URL
from the page's `data-openapi-url`), so the pages reference nothing outside the service and run no
inline script. ReDoc starts itself from its <redoc spec-url> element; its bundle is served with its
one outside reference, the Redocly logo its side menu loads from cdn.redoc.ly, replaced by an
empty data: image (offline, and under img-src 'self', that request would fail on every visit and
be reported as a CSP violation). The app must be created with docs_url=None and redoc_url=None,
and `install` must run before the web UI mounts /static (the first mount whose prefix matches
answers).
"""

from __future__ import annotations

from functools import cache
from html import escape
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse, Response

ASSETS_URL = "/static/apidocs"
ASSETS_DIR = resources.files("fastapi_offline") / "static"
SWAGGER_INIT_URL = "/static/swagger-init.js"
REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
BLANK_IMAGE = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/%3E"


@cache
def redoc_bundle() -> bytes:
    """ReDoc's standalone bundle as shipped, but for the logo URL (see the module's docstring)."""
    return (ASSETS_DIR / "redoc.standalone.js").read_bytes().replace(REDOC_LOGO, BLANK_IMAGE)


def _page(title: str, assets: str, head: str, body: str) -> str:
    """A documentation page: only same-origin files, no inline script (the CSP allows none)."""
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
{head}<link rel="icon" href="{assets}/favicon.png">
</head>
<body>
{body}
</body>
</html>
"""


def _swagger_html(title: str, root: str, openapi_url: str) -> str:
    assets = escape(root + ASSETS_URL)
    return _page(f"{title} - Swagger UI", assets, f'<link rel="stylesheet" href="{assets}/swagger-ui.css">\n',
                 f'<div id="swagger-ui" data-openapi-url="{escape(root + openapi_url)}"></div>\n'
                 f'<script src="{assets}/swagger-ui-bundle.js"></script>\n'
                 f'<script src="{escape(root + SWAGGER_INIT_URL)}"></script>')


def _redoc_html(title: str, root: str, openapi_url: str) -> str:
    assets = escape(root + ASSETS_URL)
    return _page(f"{title} - ReDoc", assets, "",
                 "<noscript>ReDoc 需要启用 JavaScript。</noscript>\n"
                 f'<redoc spec-url="{escape(root + openapi_url)}"></redoc>\n'
                 f'<script src="{assets}/redoc.standalone.js"></script>')


def install(app: FastAPI) -> None:
    """Serve the assets and add GET /docs and GET /redoc (not in the OpenAPI document)."""
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(f"{ASSETS_URL}/redoc.standalone.js", include_in_schema=False)  # before the mount below
    def redoc_js() -> Response:
        return Response(redoc_bundle(), media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=86400"})

    app.mount(ASSETS_URL, StaticFiles(directory=str(ASSETS_DIR)), name="apidocs")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        return HTMLResponse(_swagger_html(app.title, request.scope.get("root_path", ""), openapi_url))

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        return HTMLResponse(_redoc_html(app.title, request.scope.get("root_path", ""), openapi_url))
