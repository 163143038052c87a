"""The alert a broken audit trail raises (the nightly `audit-verify` flow): an outbox message,
delivered like any other notification (services/notify)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import OutboxMessage
from services.audit.chain import canonical
from services.kernel.clock import local_date
from services.outbox import kinds


def raise_alert(session: Session, summary: dict[str, Any], *, now: datetime) -> None:
    """Queue an `alert.audit` message (delivered to admins and auditors, and to webhooks that
    subscribe to alerts). One per day and first bad event: a nightly check that keeps failing does
    not flood anyone, and a new break is a new alert."""
    first = summary.get("first_bad_event") or {}
    key = f"{kinds.ALERT_AUDIT}:{local_date(now).isoformat()}:{first.get('event_id') or first.get('hazard_id') or 'chain'}"
    exists = session.execute(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)).first()
    if exists is None:
        session.add(OutboxMessage(kind=kinds.ALERT_AUDIT, payload=canonical(summary), dedupe_key=key, status="pending",
                                  attempts=0, available_at=now, created_at=now))
