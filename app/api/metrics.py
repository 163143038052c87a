"""Request counters and latency sums in the Prometheus text format, kept per process.

A pure ASGI middleware (no BaseHTTPMiddleware) so it adds microseconds, not a task per request.
"""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict

_ID = re.compile(r"/\d+(?=/|$)")


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.seconds: dict[tuple[str, str], float] = defaultdict(float)

    def observe(self, method: str, path: str, status: int, elapsed: float) -> None:
        route = _ID.sub("/{id}", path)
        if route.startswith("/api/v1/public/reports/"):
            route = "/api/v1/public/reports/{code}"
        with self._lock:
            self.requests[(method, route, status)] += 1
            self.seconds[(method, route)] += elapsed

    def render(self) -> str:
        lines = [
            "# HELP hazard_http_requests_total HTTP requests by method, route and status.",
            "# TYPE hazard_http_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), n in sorted(self.requests.items()):
                lines.append(f'hazard_http_requests_total{{method="{method}",route="{route}",status="{status}"}} {n}')
            lines += [
                "# HELP hazard_http_request_seconds_sum Time spent answering, by method and route.",
                "# TYPE hazard_http_request_seconds_sum counter",
            ]
            for (method, route), s in sorted(self.seconds.items()):
                lines.append(f'hazard_http_request_seconds_sum{{method="{method}",route="{route}"}} {s:.6f}')
        return "\n".join(lines) + "\n"


class MetricsMiddleware:
    def __init__(self, app, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.observe(scope["method"], scope["path"], status, time.perf_counter() - start)
