"""The Shanxi organisations loaded into the test world, and a look-up by full name."""

from __future__ import annotations

from sqlalchemy import select

from db.engine import transaction
from db.models import Organisation
from services.kernel.clock import utcnow
from services.organisations.shanxi import load_shanxi

SHANXI_ROWS = 714


def load(factory):
    with transaction(factory) as s:
        return load_shanxi(s, now=utcnow())


def org_id(session, name: str) -> int:
    return session.execute(select(Organisation.id).where(Organisation.name == name)).scalar_one()
