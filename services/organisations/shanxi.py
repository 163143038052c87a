"""The Shanxi organisations the demo and a fresh deployment start with (services/data)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from services.organisations import imports

SHANXI_CSV = Path(__file__).parents[1] / "data" / "organisations-shanxi.csv"


def load_shanxi(session: Session, *, now: datetime) -> imports.Outcome:
    return imports.load(session, imports.parse(SHANXI_CSV.read_bytes()), now=now)
