"""(a) The service in-process: `creation.report` / `transitions.perform` inside
`db.engine.transaction`, each transition its own transaction, with the engine the API uses."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from bench.transitions import world as db
from bench.transitions.workload import ACTIONS, ACTOR, Result, run_phase
from db.engine import make_engine, make_session_factory, transaction
from services.engine import creation, transitions
from services.kernel.clock import utcnow


def run(w: db.World, n: int, concurrency: int, *, engine_hook=None,
        on_phase: Callable[[str], None] = lambda _action: None) -> Result:
    """`engine_hook(engine)`, a context manager, wraps the whole run (the parity check listens
    to the engine's statements with it); `on_phase(action)` is told of each phase before it."""
    result = Result("a", "(a) service in-process", concurrency)
    engine = make_engine(w.url, pool_size=concurrency, max_overflow=0)
    factory = make_session_factory(engine)
    bodies = w.bodies
    try:
        _warm(engine, concurrency)
        with engine_hook(engine) if engine_hook else nullcontext():
            _phases(result, w, factory, bodies, n, concurrency, on_phase)
    finally:
        engine.dispose()
    return result


def _phases(result: Result, w: db.World, factory, bodies, n: int, concurrency: int,
            on_phase: Callable[[str], None]) -> None:
    reporter = w.actor(ACTOR["report"])

    def report(_worker: int, _i: Any) -> int:
        with transaction(factory) as s:
            return creation.report(s, reporter, bodies.report(), now=utcnow()).id

    on_phase("report")
    ids, seconds = run_phase(range(n), report, concurrency)
    result.add_phase("report", n, seconds)
    evidence = db.add_attachments(w.url, ids)

    for action in ACTIONS[1:]:
        actor = w.actor(ACTOR[action])
        if action == "request_acceptance":
            payloads = {hid: bodies.action(action, evidence[hid]) for hid in ids}
        else:
            body = bodies.action(action)
            payloads = {hid: body for hid in ids}

        def perform(_worker: int, hid: int, action: str = action, actor=actor, payloads=payloads) -> None:
            with transaction(factory) as s:
                transitions.perform(s, actor, hid, action, payloads[hid], now=utcnow())

        on_phase(action)
        _, seconds = run_phase(ids, perform, concurrency)
        result.add_phase(action, n, seconds)


def _warm(engine, size: int) -> None:
    """Open the pool's connections before the clock starts."""
    conns = [engine.connect() for _ in range(size)]
    for c in conns:
        c.exec_driver_sql("SELECT 1")
        c.close()
