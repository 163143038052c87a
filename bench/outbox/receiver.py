"""The webhook receiver, in its own process so it does not take the benchmark's GIL:
`python -m bench.outbox.receiver PORT SECRET`. Checks each POST's HMAC, counts requests per
`X-Hazard-Delivery`; `GET /stats` answers the counts as JSON, `POST /reset` clears them."""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main(port: int, secret: str) -> None:
    lock = threading.Lock()
    keys: Counter[str] = Counter()
    bad = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would

        def _answer(self, status: int, body: bytes = b"") -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path == "/reset":
                with lock:
                    keys.clear()
                    bad[0] = 0
                return self._answer(200)
            expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, self.headers.get("X-Hazard-Signature", "")):
                with lock:
                    bad[0] += 1
                return self._answer(401)
            with lock:
                keys[self.headers.get("X-Hazard-Delivery", "")] += 1
            self._answer(200)

        def do_GET(self):
            with lock:
                stats = {"requests": sum(keys.values()), "distinct": len(keys), "bad_signature": bad[0],
                         "duplicates": sum(1 for v in keys.values() if v > 1)}
            self._answer(200, json.dumps(stats).encode())

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # socketserver's 5 resets connections under a burst; nginx uses 511
        daemon_threads = True

    server = Server(("127.0.0.1", port), Handler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
