"""The sweep's batched writer: a batch of escalation decisions written in three statements, the
compare-and-set of every hazard, the events and the outbox rows (`write`).

The columns it writes (`CAS_COLUMNS`) are every column an escalation decides; a decision with one
more (`check_columns`) is refused, not silently dropped. A compare-and-set that does not match
every row raises `StaleBatch`: the caller rolls the batch back and redoes it hazard by hazard.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table, TextClause, bindparam, insert, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError

from db.models import AuditEvent, Hazard, OutboxMessage
from services.engine import transitions

H = Hazard.__table__
E, O = AuditEvent.__table__, OutboxMessage.__table__


class StaleBatch(Exception):
    """The batch's compare-and-set did not match every row."""


# Every column an escalation's decision writes (its `values`; `state` unchanged but written as decided).
CAS_COLUMNS = ("state", "version", "audit_head", "escalation_step", "escalation_fired", "listing_level",
                "listing_body", "updated_at")
_NEW = tuple(f"new_{c}" for c in CAS_COLUMNS)


class UnwrittenColumn(RuntimeError):
    """An escalation decided a column the batched writer does not write (a change to the ladder's
    `apply` that `CAS_COLUMNS` was not told of): refused rather than silently dropped."""


def check_columns(values: dict[str, Any]) -> None:
    missing = sorted(set(values) - set(CAS_COLUMNS))
    if missing:
        raise UnwrittenColumn(f"the sweep's batched writer does not write {missing}; add them to CAS_COLUMNS")

# Any database: one compare-and-set per hazard as an executemany, the events as a multi-row INSERT
# (its ids come back in parameter order), the outbox rows as an executemany.
_BATCH_CAS = update(H).where(H.c.id == bindparam("cas_id"), H.c.version == bindparam("cas_version")).values(
    {c: bindparam(n) for c, n in zip(CAS_COLUMNS, _NEW)}
)
_BATCH_EVENTS = insert(E).returning(E.c.id, sort_by_parameter_order=True)
_BATCH_OUTBOX = insert(O)

# PostgreSQL: each of the three is one short statement whatever the batch size, its rows passed as
# one JSON parameter that the server turns back into typed rows (`json_to_recordset`). A multi-row
# INSERT of a 1000-hazard batch has over 13,000 parameters: psycopg's parsing of a statement that
# long, and the server's, cost more than the rest of the batch; so did passing one array per
# column, which psycopg quotes element by element (bench/sweep, bench/RESULTS.md).
_PG = postgresql.dialect()


def _quoted(name: str) -> str:
    return _PG.identifier_preparer.quote(name)


def _recordset(table: Table, columns: tuple[str, ...], names: tuple[str, ...]) -> str:
    fields = ", ".join(f"{_quoted(n)} {table.c[c].type.compile(dialect=_PG)}" for c, n in zip(columns, names))
    return f"json_to_recordset(CAST(:rows AS JSON)) AS u({fields})"


_PG_CAS = text(
    f"UPDATE hazards SET {', '.join(f'{_quoted(c)} = u.{n}' for c, n in zip(CAS_COLUMNS, _NEW))} "
    f"FROM {_recordset(H, ('id', 'version', *CAS_COLUMNS), ('cas_id', 'cas_version', *_NEW))} "
    "WHERE hazards.id = u.cas_id AND hazards.version = u.cas_version"
)


@lru_cache(maxsize=16)
def _pg_insert(table: Table, keys: tuple[str, ...], returning: tuple[str, ...] = ()) -> TextClause | None:
    """INSERT … SELECT … FROM json_to_recordset(…) of exactly these columns; None when a column left
    out has a Python-side default (only the Core insert applies those)."""
    if any(c.default is not None or c.onupdate is not None for c in table.columns
           if c.name not in keys and not c.primary_key):
        return None
    cols = ", ".join(_quoted(k) for k in keys)
    sql = f"INSERT INTO {_quoted(table.name)} ({cols}) SELECT {cols} FROM {_recordset(table, keys, keys)}"
    if returning:
        sql += " RETURNING " + ", ".join(_quoted(r) for r in returning)
    return text(sql)


def _json_value(value: Any) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store timezone-aware UTC")
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot pass {type(value).__name__} to json_to_recordset")


def _rows_param(rows: list[dict[str, Any]]) -> dict[str, str]:
    return {"rows": json.dumps(rows, ensure_ascii=False, default=_json_value)}


# A batch that deadlocked with another writer lost a race like any other: redo it hazard by hazard.
# (The UPDATE locks the rows in the order its plan visits them: by id through the primary key for
# any batch of real size, the order every sweep uses; this is for a plan that ever differs.)
_LOST_RACE = {"40P01", "40001"}  # deadlock detected, serialization failure


def write(conn: Connection, updates: list[dict[str, Any]], events: list[dict[str, Any]],
           outbox: list[tuple[int, list[dict[str, Any]]]]) -> None:
    """The batch's compare-and-set, events and outbox rows; StaleBatch when a row had moved on."""
    pg = conn.dialect.name == "postgresql"
    keys = tuple(c.name for c in E.columns if c.name in events[0])
    event_insert = _pg_insert(E, keys, ("id", "hazard_id", "seq")) if pg else None
    try:
        result = conn.execute(_PG_CAS, _rows_param(updates)) if pg else conn.execute(_BATCH_CAS, updates)
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) in _LOST_RACE:
            raise StaleBatch from exc
        raise
    if result.rowcount != len(updates):
        raise StaleBatch
    if event_insert is not None:
        # Matched on (hazard, seq), unique per chain: no reliance on the order RETURNING gives.
        by_key = {(r.hazard_id, r.seq): r.id for r in conn.execute(event_insert, _rows_param(events))}
        ids = [by_key[(e["hazard_id"], e["seq"])] for e in events]
    else:
        ids = [r[0] for r in conn.execute(_BATCH_EVENTS, events)]
    rows_out = [p for i, batch in outbox for p in transitions.outbox_params(batch, ids[i])]
    if not rows_out:
        return
    keys = tuple(c.name for c in O.columns if c.name in rows_out[0])
    outbox_insert = _pg_insert(O, keys) if pg else None
    if outbox_insert is not None:
        conn.execute(outbox_insert, _rows_param(rows_out))
    else:
        conn.execute(_BATCH_OUTBOX, rows_out)




def new_values(state: Any) -> dict[str, Any]:
    """A hazard's compare-and-set parameters after its decisions (`transitions.Working`)."""
    return {n: getattr(state, c) for c, n in zip(CAS_COLUMNS, _NEW)}
