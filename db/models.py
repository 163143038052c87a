"""The tables of the service.

Relationships are `lazy="raise"`: every load is explicit, so no request issues a query by accident
inside a loop. Money is `Numeric(14, 2)` 万元; dates without a time (deadlines) are `Date`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, UTCDateTime

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a bigint identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Region(Base):
    """One 行政区划 (province, city, county or below); `parent_code` makes the tree."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"), index=True)
    level: Mapped[str] = mapped_column(String(16))

    __table_args__ = (
        CheckConstraint("level IN ('province','city','county','township')", name="level"),
    )


class Enterprise(Base):
    """A 生产经营单位, identified by its 统一社会信用代码 (checked before insert)."""

    __tablename__ = "enterprises"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    industry: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # A disabled enterprise keeps its records but takes no new hazards (migration 0009).
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    industry: Mapped[str | None] = mapped_column(String(32))
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id"), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Where e-mail notifications go (none without); last because migration 0003 added it.
    email: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        CheckConstraint(
            "role IN ('enterprise','inspector','supervisor','committee','auditor','admin','system')",
            name="role",
        ),
        CheckConstraint(
            "(role = 'enterprise') = (enterprise_id IS NOT NULL)", name="enterprise_binding"
        ),
    )


class ApiToken(Base):
    """A bearer token; only its SHA-256 is kept (tokens carry 256 bits, so no slow hash is needed)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class HazardSequence(Base):
    """Next number of the hazard code per county region and year (`141102-2026-000123`)."""

    __tablename__ = "hazard_sequences"

    region_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class Hazard(Base):
    __tablename__ = "hazards"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    location: Mapped[str] = mapped_column(String(300))
    industry: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(100))
    level: Mapped[str | None] = mapped_column(String(16))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id"))
    state: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=0)
    audit_head: Mapped[str] = mapped_column(String(64))
    escalation_step: Mapped[str | None] = mapped_column(String(32))
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)

    discovered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deadline: Mapped[date | None] = mapped_column(Date)
    reported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    tracking_code: Mapped[str | None] = mapped_column(String(16), unique=True)
    repeat_of_id: Mapped[int | None] = mapped_column(ForeignKey("hazards.id"))
    dismiss_reason: Mapped[str | None] = mapped_column(Text)

    listing_level: Mapped[str | None] = mapped_column(String(16))
    listing_body: Mapped[str | None] = mapped_column(String(100))
    listed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    plan_due: Mapped[date | None] = mapped_column(Date)

    plan_responsible_person: Mapped[str | None] = mapped_column(String(100))
    plan_measures: Mapped[str | None] = mapped_column(Text)
    plan_funds_wan: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    plan_time_limit: Mapped[date | None] = mapped_column(Date)
    plan_contingency: Mapped[str | None] = mapped_column(Text)
    plan_filed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    extension_new_deadline: Mapped[date | None] = mapped_column(Date)
    extension_reason: Mapped[str | None] = mapped_column(Text)
    extension_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    extensions_granted: Mapped[int] = mapped_column(Integer, default=0)

    acceptance_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    funds_spent_wan: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_acceptances: Mapped[int] = mapped_column(Integer, default=0)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # One bit per ladder step fired against the current deadline (services.escalation.ladder.Step);
    # last because migration 0002 added it.
    escalation_fired: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    enterprise: Mapped[Enterprise | None] = relationship(lazy="raise")

    __table_args__ = (
        Index("ix_hazards_region_code_id", "region_code", "id"),
        Index("ix_hazards_state_deadline", "state", "deadline"),
        Index("ix_hazards_enterprise_id", "enterprise_id"),
        CheckConstraint("level IS NULL OR level IN ('general','major')", name="level"),
        CheckConstraint(
            "state IN ('reported','registered','supervised','rectifying',"
            "'acceptance_requested','accepted','closed','dismissed')",
            name="state",
        ),
    )


class AuditEvent(Base):
    """One link of a hazard's hash chain. Append-only: PostgreSQL refuses UPDATE and DELETE.

    `payload` is the canonical JSON text itself (not a JSON column), so what was hashed is exactly
    what is stored and read back.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id"))
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_role: Mapped[str] = mapped_column(String(16))
    actor_name: Mapped[str] = mapped_column(String(100))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("hazard_id", "seq"),)


class AuditCheckpoint(Base):
    """A Merkle root over every chain head at one moment; checkpoints chain among themselves."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    leaf_count: Mapped[int] = mapped_column(Integer)
    merkle_root: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # Ed25519 over `hash` (hex) by a key kept outside the database, and which key (the first 16 hex
    # of the SHA-256 of its public key); NULL on checkpoints taken before migration 0007.
    signature: Mapped[str | None] = mapped_column(String(128))
    key_id: Mapped[str | None] = mapped_column(String(16))


class AuditCheckpointHead(Base):
    """The head (seq, hash) of one hazard's chain at a checkpoint: what truncation is checked against."""

    __tablename__ = "audit_checkpoint_heads"

    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("audit_checkpoints.id"), primary_key=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


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


class IdempotencyKey(Base):
    """The stored answer to a request made with an `Idempotency-Key`, per user."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)  # the retention purge


class Attachment(Base):
    """An uploaded file, content-addressed on disk by its SHA-256."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PublicSubmission(Base):
    """One public 举报, by a salted hash of the sender's address: the rate limit counts these."""

    __tablename__ = "public_submissions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client_hash: Mapped[str] = mapped_column(String(64))
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_public_submissions_client_created", "client_hash", "created_at"),)


class Delivery(Base):
    """One notification to one recipient over one channel (services/outbox/delivery.py): what an outbox row
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


class WebSession(Base):
    """A login session of the web UI (app/web/session.py). The browser holds a random token;
    only its SHA-256 is kept, so a copy of this table logs nobody in. `csrf_token` is the session's
    form token; `last_seen_at` drives the idle expiry, `expires_at` the absolute one."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LoginThrottle(Base):
    """Failed web logins per username (existing or not, so a lock says nothing about who exists)."""

    __tablename__ = "login_throttles"

    username_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RateBucket(Base):
    """A fixed-window request counter (services/kernel/ratelimit.py), e.g. tracking-code lookups of one
    client per hour. Bumped by one UPDATE that also restarts an expired window, so concurrent
    requests of every API process are each counted once."""

    __tablename__ = "rate_buckets"

    bucket: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    hits: Mapped[int] = mapped_column(Integer, default=0)


class DocumentIssuer(Base):
    """An issuing body (`key`, e.g. `141102:bureau`) and its 机关代字 (`code`, e.g. 离石应急), unique
    across the deployment so no two bodies can write the same document number
    (services/documents/issuers.py; `hazard issuers list|set`)."""

    __tablename__ = "document_issuers"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DocumentSequence(Base):
    """The last document number of one 代字 and kind (`issuer`, e.g. `离石应急改`) in one year.
    Bumped in the transaction that stores the document, so a rollback leaves no gap."""

    __tablename__ = "document_sequences"

    issuer: Mapped[str] = mapped_column(String(32), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class Document(Base):
    """An issued official document (公文, DESIGN 2.6): its HTML exactly as issued and its SHA-256,
    which the hazard's audit trail also records. One per outbox row (`outbox_id` is unique), so a
    retried issuing run cannot issue the same document twice."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id"))
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), unique=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("audit_events.id"))
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(100))
    number: Mapped[str] = mapped_column(String(64), unique=True)
    issuer: Mapped[str] = mapped_column(String(32))
    issuer_name: Mapped[str] = mapped_column(String(100))
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    html: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_documents_hazard_id_id", "hazard_id", "id"),
    )


class CalendarYear(Base):
    """A year's working-day arrangement an admin loaded (`hazard calendar set-year`), from the State
    Council's notice: `holidays` every day off, `workdays` the weekend days worked (调休上班), each a
    JSON list of `YYYY-MM-DD` in that year. It replaces the override file's and the package's
    arrangement of the year. Every process reads the table (services/calendar/years.py), so the API,
    the flows and the CLI count working days alike; stored deadlines are never recomputed from it."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    holidays: Mapped[str] = mapped_column(Text)
    workdays: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(String(200))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    loaded_by: Mapped[str] = mapped_column(String(64))
