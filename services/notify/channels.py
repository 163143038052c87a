"""How a delivery reaches its recipient. A channel has a `name` and `send(delivery)`, which returns
when the receiver has taken the message and raises when it has not; `services.outbox.deliver.deliver`
records the outcome and retries.

The inbox is our own table, so it is written in the transaction that marks the delivery sent
(`send_in`): it happens exactly once. E-mail and webhooks leave our database; they are sent at most
once (see `services.outbox.deliver`), and carry the delivery's dedupe key so a receiver can tell a
deliberate resend from a new message.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timezone
from email import policy
from functools import lru_cache
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol, runtime_checkable

import httpx
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.models import InboxItem
from services.kernel.settings import Settings

SEND_TIMEOUT = 10.0  # seconds, per SMTP operation and per webhook request
_TIMEOUT = httpx.Timeout(SEND_TIMEOUT).as_dict()
# SMTP line endings; lines up to RFC 5322's limit, so the dedupe key header is never folded.
MAIL_POLICY = policy.SMTP.clone(max_line_length=998)


@dataclass(frozen=True)
class DeliveryJob:
    """A claimed delivery as a channel sees it (no session, no ORM object)."""

    id: int
    channel: str
    recipient: str
    user_id: int | None
    hazard_id: int | None
    dedupe_key: str
    subject: str
    body: str  # JSON text (services.notify.messages)
    attempts: int  # with this attempt: the claim token, with `id`

    @property
    def text(self) -> str:
        return json.loads(self.body)["text"]

    @property
    def occurred_at(self) -> datetime | None:
        """When what the message tells of happened (the act; a digest's sweep), if it says."""
        value = json.loads(self.body).get("occurred_at")
        return datetime.fromisoformat(value) if isinstance(value, str) else None


class Channel(Protocol):
    name: str

    def send(self, delivery: DeliveryJob) -> None: ...


@runtime_checkable
class TransactionalChannel(Protocol):
    """A channel whose effect is a row in our own database, written in the caller's transaction."""

    name: str

    def refusal(self, delivery: DeliveryJob) -> str | None:
        """Why this delivery cannot be written (a failure to record), or None."""
        ...

    def send_in(self, session: Session, deliveries: list[DeliveryJob], now: datetime) -> None:
        """Write these (already checked) deliveries' effects in the caller's transaction."""
        ...


class DeliveryError(Exception):
    """The receiver did not take the message; the text is kept as the delivery's `last_error`."""


_INBOX_INSERT = {
    name: dialect.insert(InboxItem.__table__).on_conflict_do_nothing(index_elements=["dedupe_key"])
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


class InboxChannel:
    name = "inbox"

    def refusal(self, delivery: DeliveryJob) -> str | None:
        return "站内信缺少接收用户" if delivery.user_id is None else None

    def send_in(self, session: Session, deliveries: list[DeliveryJob], now: datetime) -> None:
        """One executemany (psycopg pipelines it: one round trip; batched INSERT … VALUES with
        RETURNING measured slower). Each item carries its delivery's key: a redone delivery finds
        it there and adds nothing."""
        if not deliveries:
            return
        conn = session.connection()
        conn.execute(_INBOX_INSERT[conn.dialect.name], [{
            "user_id": d.user_id, "hazard_id": d.hazard_id, "kind": "message", "title": d.subject,
            "body": d.text, "dedupe_key": d.dedupe_key, "created_at": d.occurred_at or now, "read_at": None,
        } for d in deliveries])


def message_id(dedupe_key: str, sender: str) -> str:
    """The same delivery always has the same Message-ID, so a deliberate resend is recognisable."""
    domain = sender.rsplit("@", 1)[-1] or "localhost"
    return f"<{hashlib.sha256(dedupe_key.encode()).hexdigest()[:40]}@{domain}>"


class EmailChannel:
    """Plain SMTP (optionally STARTTLS and login); UTF-8 subject and body."""

    name = "email"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def build(self, delivery: DeliveryJob) -> EmailMessage:
        msg = EmailMessage(policy=MAIL_POLICY)
        msg["From"] = self.settings.smtp_from
        msg["To"] = delivery.recipient
        msg["Subject"] = delivery.subject
        msg["Date"] = format_datetime(datetime.now(timezone.utc))
        msg["Message-ID"] = message_id(delivery.dedupe_key, self.settings.smtp_from)
        msg["X-Hazard-Delivery"] = delivery.dedupe_key
        msg.set_content(delivery.text, charset="utf-8")
        return msg

    def send(self, delivery: DeliveryJob) -> None:
        s = self.settings
        if not s.smtp_host:
            raise DeliveryError("未配置 SMTP 服务器（HAZARD_SMTP_HOST）")
        message = self.build(delivery)
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=SEND_TIMEOUT) as smtp:
                if s.smtp_starttls:
                    smtp.starttls()
                if s.smtp_username:
                    password = s.smtp_password.get_secret_value() if s.smtp_password else ""
                    smtp.login(s.smtp_username, password)
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"邮件发送失败：{type(exc).__name__}: {exc}") from exc


@lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    """httpx's default TLS context (certifi's roots), built once per process: loading the roots
    takes about 25 ms, and a channel is built per delivery batch (bench/outbox)."""
    return httpx.create_ssl_context()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookChannel:
    """POST of the delivery's JSON body to the subscription it names; any answer but 2xx fails.

    Straight onto an httpx transport (its connection pool, TLS and timeouts), without a client's
    cookie jar, redirects and auth: a webhook needs none of them (a receiver's cookies must not
    travel to the next delivery anyway), and they were about a third of a send's CPU
    (bench/outbox). `send` may be called from several threads at once (services.outbox.deliver
    sends a group on a few): the transport is thread-safe and keeps connections alive."""

    name = "webhook"

    def __init__(self, settings: Settings, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.transport = transport or httpx.HTTPTransport(verify=_tls())

    def send(self, delivery: DeliveryJob) -> None:
        hook = self.settings.webhook(delivery.recipient)
        if hook is None:
            raise DeliveryError(f"未配置名为 {delivery.recipient} 的 Webhook")
        body = delivery.body.encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "X-Hazard-Delivery": delivery.dedupe_key,
            "X-Hazard-Signature": signature(hook.secret.get_secret_value(), body),
        }
        request = httpx.Request("POST", hook.url, content=body, headers=headers, extensions={"timeout": _TIMEOUT})
        try:
            response = self.transport.handle_request(request)
            try:
                response.read()
            finally:
                response.close()
        except httpx.HTTPError as exc:
            raise DeliveryError(f"Webhook 请求失败：{type(exc).__name__}: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"Webhook 返回 HTTP {response.status_code}")

    def close(self) -> None:
        self.transport.close()


def default_channels(settings: Settings) -> list[Channel | TransactionalChannel]:
    """Every channel, whether configured or not: a queued e-mail whose server was removed from the
    settings fails visibly (and ends among the dead letters) rather than waiting unseen."""
    return [InboxChannel(), EmailChannel(settings), WebhookChannel(settings)]
