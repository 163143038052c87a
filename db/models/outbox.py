"""Work that follows a commit: outbox rows, the deliveries they become, and the inbox the inbox
channel writes (services/outbox/)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime
from db.models.columns import BigId


class OutboxMessage(Base):
    """Work that must happen after a commit (documents, notifications), written in the same
    transaction as the event that causes it. `dedupe_key` makes a second write of the same effect
    impossible."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    hazard_id: Mapped[int | None] = mapped_column(ForeignKey("hazards.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("audit_events.id"))
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_outbox_status_available_at", "status", "available_at"),)


class Delivery(Base):
    """One notification to one recipient over one channel (services/outbox/expand.py, deliver.py): what an outbox row
    became once its recipients were known. `dedupe_key` names the (message, channel, recipient), or
    the day's escalation digest of one recipient, so a message is queued at most once; receivers
    get it too (the e-mail's Message-ID, the webhook's `X-Hazard-Delivery`).

    `claimed_until` is the lease of the worker that set `sending`; `started_at` says that worker
    began the send. A lease that runs out with the send begun leaves the outcome unknown: an e-mail
    or webhook is then dead-lettered, never sent again by itself."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    hazard_id: Mapped[int | None] = mapped_column(ForeignKey("hazards.id"))
    dedupe_key: Mapped[str] = mapped_column(String(400), unique=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_deliveries_status_available_at", "status", "available_at"),
        CheckConstraint("channel IN ('inbox','email','webhook')", name="channel"),
        CheckConstraint("status IN ('pending','sending','sent','dead')", name="status"),
    )


class InboxItem(Base):
    """A message in a user's inbox (`GET /me/inbox`); written by the inbox channel in the same
    transaction that marks its delivery sent. To-dos are computed from the hazards, not stored."""

    __tablename__ = "inbox_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    hazard_id: Mapped[int | None] = mapped_column(ForeignKey("hazards.id"))
    kind: Mapped[str] = mapped_column(String(16), default="message")
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    dedupe_key: Mapped[str] = mapped_column(String(400), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_inbox_items_user_id_id", "user_id", "id"),
        CheckConstraint("kind IN ('message','todo')", name="kind"),
    )
