"""Use cases of the HTTP entry points (API and web forms), each in the caller's unit of work.

Idempotency: a request carrying an `Idempotency-Key` stores its answer in the same transaction as
its effect. A replay with the same key and body returns that answer; the same key with another body
is refused. Two concurrent requests with one key: one wins the compare-and-set or the key's primary
key, the other finds the stored answer on its second look, so the effect happens once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from collections.abc import Callable

import structlog
from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import Hazard, IdempotencyKey, PublicSubmission
from services.audit import chain as audit
from services.reads import hazards
from services.reads.models import HazardOut, PublicReceipt, PublicStatus
from services.kernel import ratelimit
from services.engine import creation, transitions
from services.accounts.auth import Principal, public_principal
from services.lifecycle.bodies import PublicReportBody, ReportBody
from services.lifecycle.states import STATE_LABELS, State
from services.kernel.errors import Conflict, Invalid, NotFound, RateLimited
from services.kernel.inputs import IDEMPOTENCY_KEY_MESSAGE, control_character, valid_idempotency_key
from services.kernel.settings import Settings
from services.kernel.validation import parse


log = structlog.get_logger("hazard.commands")


@dataclass
class Outcome:
    status: int
    body: HazardOut
    replayed: bool = False
    stored: str | None = None  # a replay: the first answer's JSON, to be sent again as it was


def _replayed(raw: str) -> HazardOut:
    """The stored answer as a model. One stored before a change of `HazardOut` may no longer
    validate; it is still the answer that was given (the API sends `stored` itself)."""
    try:
        return HazardOut.model_validate_json(raw)
    except ValidationError:
        return HazardOut.model_construct(**json.loads(raw))


def request_hash(method: str, path: str, body: Any) -> str:
    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json")
    return hashlib.sha256(f"{method} {path}\n{audit.canonical(body)}".encode()).hexdigest()


def _stored(session: Session, user_id: int, key: str, digest: str) -> Outcome | None:
    row = session.get(IdempotencyKey, (user_id, key))
    if row is None:
        return None
    if row.request_hash != digest:
        raise Conflict(
            "该 Idempotency-Key 已用于另一个请求，请换一个新的键", code="idempotency_key_reused"
        )
    return Outcome(row.status_code, _replayed(row.response_body), replayed=True, stored=row.response_body)


def _remember(session: Session, user_id: int, key: str, digest: str, outcome: Outcome, now: datetime) -> None:
    session.execute(
        insert(IdempotencyKey).values(
            user_id=user_id, key=key, request_hash=digest, status_code=outcome.status,
            response_body=outcome.body.model_dump_json(), created_at=now,
        )
    )


def check_idempotency_key(key: str | None) -> None:
    """1–200 visible ASCII characters; an empty key is refused, never matched (an empty key once
    answered every later empty-keyed request of a user with the first one's stored body)."""
    if key is not None and not valid_idempotency_key(key):
        raise Invalid("Idempotency-Key 不合法", details=[{"field": "Idempotency-Key", "message": IDEMPOTENCY_KEY_MESSAGE}])


def idempotent(session: Session, principal: Principal, key: str | None, digest: str,
               work: Callable[[Session], Outcome], *, now: datetime) -> Outcome:
    """Run `work(session) -> Outcome` once per (user, key), in the caller's unit of work with its
    record. `digest` is the request's `request_hash` (method, route and body), never empty.

    The work runs in a savepoint: when a concurrent request with the same key wins (its key row, or
    the hazard's compare-and-set), only the savepoint is undone and the winner's stored answer is
    read in the same unit of work."""
    check_idempotency_key(key)
    if key is None or principal.id is None:
        return work(session)
    if len(digest) != 64:
        raise ValueError("an idempotent request needs its request hash")
    stored = _stored(session, principal.id, key, digest)
    if stored is not None:
        return stored
    try:
        with session.begin_nested():
            outcome = work(session)
            _remember(session, principal.id, key, digest, outcome, now)
            return outcome
    except (Conflict, IntegrityError) as exc:
        if isinstance(exc, Conflict) and exc.code == "idempotency_key_reused":
            raise
        stored = _stored(session, principal.id, key, digest)
        if stored is not None:
            return stored
        raise


def perform_action(session: Session, settings: Settings, principal: Principal,
                   hazard_id: int, action: str, data: Any, *, now: datetime,
                   if_match: int | None = None, idempotency_key: str | None = None) -> Outcome:
    # The digest is only compared when a key is given: no canonical JSON and SHA-256 otherwise.
    digest = request_hash("POST", f"/hazards/{hazard_id}/actions/{action}", data) if idempotency_key else ""

    def work(session: Session) -> Outcome:
        hazard = transitions.perform(
            session, principal, hazard_id, action, data, now=now, if_match=if_match,
            extension_min_working_days=settings.extension_min_working_days,
        )
        return Outcome(200, hazards.view_loaded(session, hazard, principal, now=now))

    outcome = idempotent(session, principal, idempotency_key, digest, work, now=now)
    log.info("hazard_action", hazard_id=hazard_id, action=action, actor=principal.username,
             version=outcome.body.version, replayed=outcome.replayed)
    return outcome


def report_hazard(session: Session, principal: Principal, data: Any, *, now: datetime,
                  idempotency_key: str | None = None) -> Outcome:
    digest = request_hash("POST", "/hazards", data) if idempotency_key else ""

    def work(session: Session) -> Outcome:
        hazard = creation.report(session, principal, data, now=now)
        return Outcome(201, hazards.view_loaded(session, hazard, principal, now=now))

    outcome = idempotent(session, principal, idempotency_key, digest, work, now=now)
    log.info("hazard_reported", hazard_id=outcome.body.id, code=outcome.body.code,
             actor=principal.username, replayed=outcome.replayed)
    return outcome


def client_hash(settings: Settings, client: str) -> str:
    """Addresses are kept only as a keyed hash: enough to rate-limit, useless to identify."""
    secret = settings.secret_key.get_secret_value()
    return hashlib.sha256(f"{secret}:{client}".encode()).hexdigest()


def purge_idempotency_keys(session: Session, *, now: datetime, retention: timedelta) -> int:
    """Forget stored answers older than the retention: a retry comes within minutes, not weeks."""
    return session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < now - retention)).rowcount


def _serialise_client(session: Session, who: str) -> None:
    """One public report of a client at a time (PostgreSQL: a transaction-scoped advisory lock
    keyed by the client; SQLite writers are serialised already), so parallel requests cannot all
    count the same earlier submissions and together exceed the limit."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": int(who[:15], 16)})


def public_report(session: Session, settings: Settings, data: Any, *, client: str,
                  now: datetime) -> PublicReceipt:
    """A 群众举报: rate-limited per client address; returns the tracking code."""
    body = parse(PublicReportBody, data)
    who = client_hash(settings, client)
    _serialise_client(session, who)
    recent = session.execute(
        select(func.count()).select_from(PublicSubmission).where(
            PublicSubmission.client_hash == who, PublicSubmission.created_at > now - timedelta(hours=1)
        )
    ).scalar_one()
    if recent >= settings.public_reports_per_hour:
        raise RateLimited("提交过于频繁，请一小时后再试", details={"limit_per_hour": settings.public_reports_per_hour})
    description = body.description
    if body.enterprise_name:
        description += f"\n（举报涉及单位：{body.enterprise_name}）"
    report_body = ReportBody(
        title=body.title, description=description, location=body.location,
        region_code=body.region_code, industry=body.industry, source="public_report",
    )
    contact = {"contact": body.contact} if body.contact else None
    hazard = creation.report(session, public_principal(body.region_code), report_body, now=now,
                             public_contact=contact)
    session.add(PublicSubmission(client_hash=who, hazard_id=hazard.id, created_at=now))
    return PublicReceipt(tracking_code=hazard.tracking_code, state=hazard.state,
                         message="举报已受理，请保存查询码以便查询办理进度")


TRACKING_CODE_MAX = 32


def count_status_lookup(session: Session, settings: Settings, *, client: str, now: datetime) -> None:
    """Count one tracking-code lookup of a client (a code is 12 characters of 32 letters, so
    guessing is hopeless, and this throttle keeps it so); RateLimited past the hourly limit. The
    caller commits it in a unit of work of its own: a lookup of an unknown code counts too."""
    wait = ratelimit.hit(session, ratelimit.bucket_key("track", client_hash(settings, client)),
                         limit=settings.public_lookups_per_hour, window=timedelta(hours=1), now=now)
    if wait is not None:
        raise RateLimited(f"查询过于频繁，请 {-(-wait // 60)} 分钟后再试",
                          details={"limit_per_hour": settings.public_lookups_per_hour, "retry_after": wait})


def public_status(session: Session, tracking_code: str) -> PublicStatus:
    """A report's state by its tracking code: the state and nothing else."""
    code = tracking_code.strip().upper()
    if not code or len(code) > TRACKING_CODE_MAX or control_character(code):
        raise NotFound("未找到该查询码对应的举报")
    hazard = session.execute(select(Hazard.state).where(Hazard.tracking_code == code)).first()
    if hazard is None:
        raise NotFound("未找到该查询码对应的举报")
    state = State(hazard.state)
    return PublicStatus(tracking_code=code, state=state.value, state_label=STATE_LABELS[state])
