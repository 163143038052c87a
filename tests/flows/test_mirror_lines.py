"""How the mirror's sink sends an item batch's log lines and Prefect events (`flows.mirror._Lines`),
against a recording client: eager (a Prefect API on several processes) sends each full chunk while
the items are still being written; otherwise everything goes at the end, one chunk after another.
Either way every line and event is sent exactly once, in chunks Prefect accepts, and a refused
chunk is reported for the whole batch."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from flows.mirror import EVENT_CHUNK, LOG_CHUNK, _Lines
from services.mirror.render import INFO, ItemOps, LogOp, Marker


class Recorder:
    def __init__(self, refuse: str | None = None) -> None:
        self.posts: list[tuple[str, int]] = []
        self.active = self.peak = 0
        self.refuse = refuse

    async def request(self, method: str, path: str, json: list) -> None:
        self.active += 1
        self.peak = max(self.peak, self.active)
        await asyncio.sleep(0.01)
        self.active -= 1
        if path == self.refuse:
            raise RuntimeError(f"{path} refused")
        self.posts.append((path, len(json)))


def _op(k: int, lines: int) -> ItemOps:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    return ItemOps(item=f"hazard:{k}", code=f"C{k}", run_name=f"C{k} 隐患", tags=[], flow_run_id=None, resume=False,
                   retag=False, states=[], logs=[LogOp(f"第{i + 1}步", INFO, f"第{i + 1}步 · 记录", at) for i in range(lines)],
                   events=[{"id": f"{k}-{i}", "event": "hazard.comment"} for i in range(lines)], after=Marker())


async def _batch(eager: bool, client: Recorder, items: int = 12, lines: int = 100) -> tuple[int, BaseException | None]:
    sending = _Lines(client, asyncio.Semaphore(4), "flow-id", eager=eager)
    for k in range(items):
        sending.add(_op(k, lines), f"run-{k}", set())
        await asyncio.sleep(0.02)  # the next item being written
    before_finish = len(client.posts)
    return before_finish, await sending.finish()


def test_eager_sends_full_chunks_while_items_are_written_and_each_line_once():
    client = Recorder()
    before_finish, failure = asyncio.run(_batch(True, client))
    assert failure is None and before_finish > 0
    logs = [n for path, n in client.posts if path == "/logs/"]
    events = [n for path, n in client.posts if path == "/events"]
    assert sum(logs) == sum(events) == 1200
    assert max(logs) <= LOG_CHUNK and max(events) <= EVENT_CHUNK


def test_otherwise_everything_goes_at_the_end_one_chunk_at_a_time():
    client = Recorder()
    before_finish, failure = asyncio.run(_batch(False, client))
    assert failure is None and before_finish == 0 and client.peak == 1
    assert sum(n for path, n in client.posts if path == "/logs/") == 1200
    assert sum(n for path, n in client.posts if path == "/events") == 1200


def test_a_refused_chunk_is_reported_for_the_batch():
    for eager in (True, False):
        failure = asyncio.run(_batch(eager, Recorder(refuse="/events")))[1]
        assert isinstance(failure, RuntimeError) and "/events" in str(failure)
