"""Concurrent filings of one return and concurrent sweeps: one return, one report of each hazard,
one chain without a fork, each ladder step once (threads with their own sessions, released together)."""

from __future__ import annotations

import threading
from datetime import date

from sqlalchemy import func, select

from db.engine import UnitOfWork, transaction
from db.models import DutyStep, Hazard, InboxItem, SelfInspection
from services.calendar.workdays import default_calendar
from services.inspections import duties
from tests.conftest import START
from tests.services.inspections.support import chain, file, return_body
from tests.services.inspections.test_duties import at

N = 4


def _together(fn) -> list[object]:
    barrier = threading.Barrier(N)
    results: list[object] = []

    def run():
        barrier.wait(timeout=30)
        try:
            results.append(fn())
        except Exception as exc:  # noqa: BLE001 - reported below
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_concurrent_first_filings_make_one_return(factory, world):
    results = _together(lambda: file(factory, world, "ent_coal", return_body(), START))
    assert len(set(results)) == 1 and isinstance(results[0], int), results
    with transaction(factory) as s:
        assert s.scalar(select(func.count()).select_from(SelfInspection)) == 1
        assert s.scalar(select(func.count()).select_from(Hazard).where(Hazard.self_inspection_id == results[0])) == 1
        assert s.get(SelfInspection, results[0]).version == 1
    ent = world.p("ent_coal").enterprise_id
    assert chain(factory, f"return:{ent}:2026-11") == [("file", 1)]


def test_concurrent_sweeps_fire_each_step_once(factory, world):
    uow, cal = UnitOfWork(factory), default_calendar()
    results = _together(lambda: duties.sweep(uow, now=at(date(2026, 11, 25)), calendar=cal, batch_size=1))
    assert all(isinstance(r, dict) for r in results), results
    assert sum(r["remind"] for r in results) == 3 and sum(r["messages"] for r in results) == 2
    with transaction(factory) as s:
        assert s.scalar(select(func.count()).select_from(DutyStep)) == 3
        assert s.scalar(select(func.count()).select_from(InboxItem)) == 2
