"""Gapless yearly counters (hazard codes per county and year, document numbers per 代字, kind and
year): a row per (key, year), created on first use and bumped with UPDATE … RETURNING in the
caller's transaction. On PostgreSQL the update holds the row lock until that transaction ends, so
a concurrent taker waits and then sees the new value; SQLite's BEGIN IMMEDIATE serialises writers.
A rollback undoes the bump with the rest, so no number is lost."""

from __future__ import annotations

from sqlalchemy import Table, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


class YearlyCounter:
    """The counter table `table`, keyed by its column `key` and `year`, holding `last_value`."""

    def __init__(self, table: Table, key: str) -> None:
        self._bump = (update(table).where(table.c[key] == bindparam("counter_key"),
                                          table.c.year == bindparam("counter_year"))
                      .values(last_value=table.c.last_value + 1).returning(table.c.last_value))
        self._create = {
            name: dialect.insert(table)
            .values({key: bindparam("counter_key"), "year": bindparam("counter_year"), "last_value": 0})
            .on_conflict_do_nothing()
            for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
        }

    def next(self, session: Session, key: str, year: int) -> int:
        """The next value of (key, year), taken in the caller's transaction."""
        conn = session.connection()
        params = {"counter_key": key, "counter_year": year}
        conn.execute(self._create[conn.dialect.name], params)
        return conn.execute(self._bump, params).scalar_one()
