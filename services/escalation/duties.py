"""The escalation steps of the monthly duties (a self-inspection return, a 直报), each fired at
most once: a step is a row of `duty_steps` keyed by (subject, step), so a sweep that runs twice,
or two sweeps at once, fire it once. The hazards' ladder keeps its bits on the hazard instead
(services/escalation/ladder.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import DutyStep


def fire(
    session: Session, *, subject: str, step: str, region_code: str, month: str, now: datetime,
    enterprise_id: int | None = None,
) -> bool:
    """Record `step` of `subject` as fired; True when this call fired it (do its effects then, in
    the same transaction), False when it had fired already."""
    if session.get(DutyStep, (subject, step)) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(DutyStep(subject=subject, step=step, region_code=region_code, month=month,
                                 enterprise_id=enterprise_id, fired_at=now))
    except IntegrityError:
        return False
    return True


def fired(session: Session, subject: str) -> set[str]:
    return set(session.scalars(select(DutyStep.step).where(DutyStep.subject == subject)))
