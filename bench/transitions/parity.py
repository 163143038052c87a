"""Is (c) still sending what the service sends? One hazard is driven through the lifecycle by
(a) and by (c), every statement each sends is captured, normalised and compared per action.

The service's SQL comes from SQLAlchemy (`before_cursor_execute`: named parameters, `::TYPE`
casts, column aliases); (c)'s from its psycopg cursor. Normalising removes only those spellings,
so a new condition, column or statement in the service shows up here as a difference, and the run
is refused until `raw.py` is brought back in line. Not timed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy import event

from bench.transitions import inprocess, raw
from bench.transitions import world as db
from bench.transitions.workload import ACTIONS

_CAST = re.compile(r"::(?:VARCHAR|TEXT|INTEGER|BIGINT|SMALLINT|BOOLEAN|DATE|FLOAT|JSONB?|"
                   r"NUMERIC(?:\(\d+, \d+\))?|TIMESTAMP(?: WITH(?:OUT)? TIME ZONE)?)(?![A-Z_])")
_NAMED = re.compile(r"%\(\w+\)s")
_ALIAS = re.compile(r" AS \w+")


def normalise(sql: str) -> str:
    sql = _ALIAS.sub("", _NAMED.sub("%s", _CAST.sub("", sql)))
    return " ".join(sql.split())


class _Recorder:
    def __init__(self) -> None:
        self.action = "setup"
        self.statements: dict[str, list[str]] = {}

    def add(self, sql: str, many: bool) -> None:
        if self.action in ACTIONS:
            self.statements.setdefault(self.action, []).append(("MANY " if many else "") + normalise(sql))


def _service_statements(w: db.World) -> dict[str, list[str]]:
    rec = _Recorder()

    @contextmanager
    def hook(engine) -> Iterator[None]:
        def before(_conn, _cursor, statement, _params, _context, executemany):
            rec.add(statement, executemany)

        event.listen(engine, "before_cursor_execute", before)
        try:
            yield
        finally:
            event.remove(engine, "before_cursor_execute", before)

    inprocess.run(w, 1, 1, engine_hook=hook, on_phase=lambda a: setattr(rec, "action", a))
    return rec.statements


def _raw_statements(w: db.World) -> dict[str, list[str]]:
    rec = _Recorder()

    class Cursor(psycopg.Cursor):
        def execute(self, query, params=None, **kw):
            rec.add(str(query), False)
            return super().execute(query, params, **kw)

        def executemany(self, query, params_seq, **kw):
            rec.add(str(query), True)
            return super().executemany(query, params_seq, **kw)

    raw.run(w, 1, 1, cursor_factory=Cursor, on_phase=lambda a: setattr(rec, "action", a))
    return rec.statements


def check(w: db.World) -> list[str]:
    """Differences between the statements of (a) and (c), per action; empty when they agree."""
    db.reset(w.url)
    service = _service_statements(w)
    db.reset(w.url)
    mine = _raw_statements(w)
    db.reset(w.url)
    problems = []
    for action in ACTIONS:
        a, c = service.get(action, []), mine.get(action, [])
        if a != c:
            lines = [f"{action}: the service sends {len(a)} statements, (c) sends {len(c)}"]
            for i in range(max(len(a), len(c))):
                x = a[i] if i < len(a) else "-"
                y = c[i] if i < len(c) else "-"
                if x != y:
                    lines.append(f"  service: {x}\n  raw:     {y}")
            problems.append("\n".join(lines))
    return problems


def statements(w: db.World) -> dict[str, list[str]]:
    """The service's statements per action, normalised (for bench/RESULTS.md)."""
    db.reset(w.url)
    try:
        return _service_statements(w)
    finally:
        db.reset(w.url)
