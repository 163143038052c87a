"""Is the database there: the health check's one question."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session


def database_answers(session: Session) -> bool:
    """True when the database answers a trivial query; raises the driver's error when it does not."""
    return session.execute(text("select 1")).scalar_one() == 1
