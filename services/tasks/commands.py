"""An action on a unit's part from an HTTP entry point, in the caller's unit of work, with the
hazards' idempotency (`services.engine.commands.idempotent`: the answer stored with the effect
under the caller's `Idempotency-Key`, replayed for the same request, refused for another)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.orm import Session

from services.accounts.auth import Principal
from services.engine import commands
from services.tasks import engine, reads
from services.tasks.models import TaskPartOut

log = structlog.get_logger("hazard.tasks")


@dataclass
class TaskOutcome:
    status: int
    body: TaskPartOut
    replayed: bool = False
    stored: str | None = None  # a replay: the first answer's JSON, to be sent again as it was


def _replayed(raw: str) -> TaskPartOut:
    try:
        return TaskPartOut.model_validate_json(raw)
    except ValidationError:  # stored before a change of the model: still the answer that was given
        return TaskPartOut.model_construct(**json.loads(raw))


def perform_action(session: Session, principal: Principal, assignment_id: int, action: str, data: Any, *,
                   now: datetime, if_match: int | None = None,
                   idempotency_key: str | None = None) -> TaskOutcome:
    """Carry out `action` on the part (services.tasks.engine.perform) and answer the part as it is
    after it, as this caller sees it."""
    digest = (commands.request_hash("POST", f"/tasks/{assignment_id}/actions/{action}", data)
              if idempotency_key else "")

    def work(session: Session) -> commands.Outcome:
        part = engine.perform(session, principal, assignment_id, action, data, now=now, if_match=if_match)
        return commands.Outcome(200, reads.view_loaded(session, part, principal, now=now))  # type: ignore[arg-type]

    outcome = commands.idempotent(session, principal, idempotency_key, digest, work, now=now)
    if outcome.stored is not None:
        result = TaskOutcome(outcome.status, _replayed(outcome.stored), replayed=True, stored=outcome.stored)
    else:
        result = TaskOutcome(outcome.status, outcome.body)  # type: ignore[arg-type]
    log.info("task_action", assignment_id=assignment_id, action=action, actor=principal.username,
             version=result.body.version, replayed=result.replayed)
    return result
