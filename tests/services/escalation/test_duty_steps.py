"""Once means once: a monthly duty's escalation step (services/escalation/duties.py) and a 通报 list
entry (services/bulletins/items.py) are recorded by the first caller only, also when two callers
race, and the loser's transaction stays usable."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from db.engine import transaction
from db.models import BulletinItem, DutyStep
from services.bulletins import items
from services.escalation import duties

NOW = datetime(2026, 11, 27, 1, 0, tzinfo=timezone.utc)


def _fire(s):
    return duties.fire(s, subject="return:1:2026-11", step="remind", region_code="141102",
                       month="2026-11", now=NOW, enterprise_id=1)


def _propose(s, key="missed_return:1:2026-11"):
    return items.propose(s, key=key, region_code="141102", month="2026-11", kind=items.MISSED_RETURN,
                         reason="未报送 2026-11 自查报告", now=NOW, enterprise_id=1)


def test_a_step_fires_once(factory, world):
    with transaction(factory) as s:
        assert _fire(s) is True
        assert _fire(s) is False
    with transaction(factory) as s:
        assert _fire(s) is False
        assert duties.fired(s, "return:1:2026-11") == {"remind"}
        assert duties.fire(s, subject="return:1:2026-11", step="list", region_code="141102",
                           month="2026-11", now=NOW, enterprise_id=1) is True


def test_an_entry_is_proposed_once(factory, world):
    with transaction(factory) as s:
        assert _propose(s) is True
        assert _propose(s) is False
        assert _propose(s, key="missed_return:2:2026-11") is True
    with transaction(factory) as s:
        assert s.scalar(select(func.count()).select_from(BulletinItem)) == 2
        with pytest.raises(ValueError):
            items.propose(s, key="x", region_code="141102", month="2026-11", kind="gossip", reason="",
                          now=NOW)


@pytest.mark.parametrize("what", ["fire", "propose"])
def test_racing_callers_record_once(pg_url, what):
    """PostgreSQL (SQLite serialises its writers): both threads pass the existence check before
    either inserts; exactly one reports True, the other False, and one row is stored."""
    from db.engine import make_engine, make_session_factory
    from tests.conftest import build_world

    engine = make_engine(pg_url, pool_size=4, max_overflow=2)
    factory = make_session_factory(engine)
    try:
        build_world(factory)
        call = _fire if what == "fire" else _propose
        results: list[object] = []
        barrier = threading.Barrier(2, timeout=10)

        def worker():
            try:
                with transaction(factory) as s:
                    s.execute(select(1))
                    barrier.wait()
                    results.append(call(s))
            except Exception as exc:  # noqa: BLE001 - recorded and asserted below
                results.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        model = DutyStep if what == "fire" else BulletinItem
        with transaction(factory) as s:
            assert s.scalar(select(func.count()).select_from(model)) == 1
        assert sorted(results, key=str) == [False, True]
    finally:
        engine.dispose()
