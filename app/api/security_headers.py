"""Security headers on every answer: a pure ASGI middleware (no BaseHTTPMiddleware), so it costs a
header scan, not a task per request.

Every response gets `X-Content-Type-Options: nosniff` (an upload served back is never sniffed into
HTML or script). Every HTML response (the pages, the stored documents, /docs and /redoc) also gets
the Content-Security-Policy below, `Referrer-Policy` and `X-Frame-Options`. A header a handler
already set is left alone, never sent twice.

The policy, directive by directive:
- `default-src 'self'`: anything not named below (fetch/XHR of Swagger UI's "Try it out", fonts,
  media) only from this service, so the pages work with no internet and leak nothing to a CDN;
- `script-src 'self'`: scripts only from files the service serves (/static, /static/apidocs);
  no 'unsafe-inline' and no 'unsafe-eval', so injected markup cannot run script;
- `style-src 'self' 'unsafe-inline'`: the stored documents carry their own <style> and style=""
  (they are kept byte for byte, SHA-256 in the audit trail) and ReDoc injects <style> elements;
  CSS cannot run script, and with img-src below it cannot send anything to another host either;
- `img-src 'self' data:`: ReDoc's icons are data: URLs;
- `worker-src 'self' blob:`: ReDoc runs its search index in a worker built from a blob: URL;
- `object-src 'none'`: no plugins; `base-uri 'none'`: a stray <base> cannot redirect relative
  URLs; `form-action 'self'`: forms post only here; `frame-ancestors 'none'`: no page may be framed
  (clickjacking; X-Frame-Options says the same to older browsers).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
REFERRER_POLICY = "same-origin"

EVERY: tuple[tuple[bytes, bytes], ...] = ((b"x-content-type-options", b"nosniff"),)
HTML: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"referrer-policy", REFERRER_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
                   Awaitable[None]]


def with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` (an ASGI header list) plus the ones above that it lacks."""
    present = {name.lower() for name, _ in headers}
    content_type = next((value for name, value in headers if name.lower() == b"content-type"), b"")
    wanted = EVERY + (HTML if content_type.split(b";")[0].strip().lower() == b"text/html" else ())
    return headers + [(name, value) for name, value in wanted if name not in present]


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": with_security_headers(list(message.get("headers", ())))}
            await send(message)

        await self.app(scope, receive, send_with_headers)
