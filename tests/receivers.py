"""Real receivers for the notification tests: an SMTP server (aiosmtpd) and a webhook endpoint
(http.server) on 127.0.0.1, each in a thread of the test process; and small readers of the
deliveries and inbox tables."""

from __future__ import annotations

import email
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select, update

from db.engine import read_only, transaction
from db.models import Delivery, InboxItem, User
from services.kernel.settings import Settings

HOOK_SECRET = "webhook-test-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpSink:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []
        self.port = 0

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 OK"

    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(e.content, policy=policy.default) for e in self.envelopes]


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    from aiosmtpd.controller import Controller

    sink = SmtpSink()
    sink.port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    yield sink
    controller.stop()


@dataclass
class HookRequest:
    delivery: str
    body: bytes
    signed: bool
    answered: int


@dataclass
class HookReceiver:
    """Checks each POST's HMAC signature with the shared secret; answers `status` (401 when the
    signature is wrong)."""

    url: str = ""
    status: int = 200
    requests: list[HookRequest] = field(default_factory=list)

    def accepted(self) -> list[HookRequest]:
        return [r for r in self.requests if r.answered == 200]


@pytest.fixture
def hook() -> Iterator[HookReceiver]:
    receiver = HookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            expected = "sha256=" + hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
            signed = hmac.compare_digest(expected, self.headers.get("X-Hazard-Signature", ""))
            status = receiver.status if signed else 401
            receiver.requests.append(HookRequest(self.headers.get("X-Hazard-Delivery", ""), body, signed, status))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hazard"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


def notify_settings(db_url: str, *, smtp: SmtpSink | None = None, hook: HookReceiver | None = None,
                    kinds: tuple[str, ...] = ("notify.*", "escalation"), **over: Any) -> Settings:
    values: dict[str, Any] = {"database_url": db_url}
    if smtp is not None:
        values.update(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_from="hazard@example.gov.cn")
    if hook is not None:
        values["webhooks"] = [{"name": "bureau", "url": hook.url, "secret": HOOK_SECRET, "kinds": list(kinds)}]
    return Settings(**{**values, **over})


def set_email(factory, username: str, address: str) -> None:
    with transaction(factory) as s:
        s.execute(update(User).where(User.username == username).values(email=address))


def user_id(factory, username: str) -> int:
    with read_only(factory) as s:
        return s.execute(select(User.id).where(User.username == username)).scalar_one()


def detached(session, rows) -> list[Any]:
    """Rows to read after the session ends (its rollback would expire them)."""
    out = list(rows)
    session.expunge_all()
    return out


def deliveries(factory, **where: Any) -> list[Delivery]:
    with read_only(factory) as s:
        q = select(Delivery).order_by(Delivery.id)
        for key, value in where.items():
            q = q.where(getattr(Delivery, key) == value)
        return detached(s, s.execute(q).scalars())


def inbox_items(factory, username: str | None = None) -> list[InboxItem]:
    with read_only(factory) as s:
        q = select(InboxItem).order_by(InboxItem.id)
        if username:
            q = q.where(InboxItem.user_id == select(User.id).where(User.username == username).scalar_subquery())
        return detached(s, s.execute(q).scalars())


def body(delivery: Delivery) -> dict[str, Any]:
    return json.loads(delivery.body)
