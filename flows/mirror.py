"""The lifecycle mirror's Prefect side: the `Sink` that writes what `services.mirror` planned into
Prefect, and the `lifecycle-mirror` flow that runs the stream (every minute, passing for most of it).

Each item's run is one flow run of the `hazard-lifecycle` flow, which no process executes: created
with its first state and the item as idempotency key, then moved with forced state changes (about
10 ms of the Prefect server's CPU each here). Items are written side by side (`CONCURRENCY` at a
time per Prefect API process, each in order); their log lines and Prefect events go in bulk calls
of a few hundred (`_Lines`). An item whose run is found by its key although its marker knew none (a
resync, or markers restored from a backup) has that run deleted and built again, so a run never
shows a step twice. A resumed item (its marker flagged `writing`) reads back
the states and lines that reached Prefect and writes only the rest. The keyed artifacts follow once
the queue is empty (`services.mirror.stream.refresh_artifacts`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Iterator
from typing import Any

from prefect import flow

from flows.context import run_logger, unit_of_work
from services.kernel.clock import SHANGHAI, utcnow
from services.mirror import stream
from services.mirror.render import FLOW_NAME, LOGGER, NOTICE_TOKEN, STEP_TOKEN, Artifact, ItemOps, StateOp

CONCURRENCY = 2  # items written side by side per Prefect API process: more only queues there (bench/RESULTS.md)
LOG_CHUNK = 500
EVENT_CHUNK = 200
TIME_BUDGET_SECONDS = 50.0
IDLE_SECONDS = 2.0


def concurrency_for(prefect_workers: int) -> int:
    """Items written side by side into a Prefect whose API runs on `prefect_workers` processes."""
    return CONCURRENCY * max(1, prefect_workers)


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to the end on a fresh event loop in its own thread: callers may be inside a
    flow run (which may own a loop) or a plain process."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="lifecycle-mirror")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _missing(exc: BaseException) -> bool:
    from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError

    if isinstance(exc, ObjectNotFound):
        return True
    return isinstance(exc, PrefectHTTPStatusError) and exc.response.status_code == 404


def _state(op: StateOp) -> dict[str, Any]:
    return {"type": op.type, "name": op.name, "message": op.message}


def _token(text: str | None) -> str | None:
    if not text:
        return None
    step = STEP_TOKEN.match(text)
    if step:
        return f"第{step.group(1)}步"
    notice = NOTICE_TOKEN.search(text)
    return f"〔投递 {notice.group(1)}〕" if notice else None


class PrefectSink:
    """Writes planned items into the Prefect API at `api_url`, or the one the process is configured
    for (PREFECT_API_URL; inside a flow run, the server running it)."""

    def __init__(self, api_url: str | None = None, concurrency: int | None = None) -> None:
        from services.kernel.settings import get_settings

        self.flow_id: str | None = None
        self.api_url = api_url
        self.concurrency = concurrency or concurrency_for(get_settings().prefect_workers)

    def _client(self) -> Any:
        from prefect.client.orchestration import PrefectClient, get_client

        return PrefectClient(self.api_url) if self.api_url else get_client()

    def write(self, ops: list[ItemOps]) -> dict[str, stream.Outcome]:
        return _run(self._write(ops))

    async def _write(self, ops: list[ItemOps]) -> dict[str, stream.Outcome]:
        outcomes: dict[str, stream.Outcome] = {}
        async with self._client() as client:
            try:
                self.flow_id = self.flow_id or str(await client.create_flow_from_name(FLOW_NAME))
            except Exception as exc:  # noqa: BLE001 - Prefect away: every item waits for the next pass
                return {op.item: stream.Outcome(None, error=f"Prefect 不可用：{exc!r}"[:500]) for op in ops}
            gate = asyncio.Semaphore(self.concurrency)
            lines = _Lines(client, gate, self.flow_id, eager=self.concurrency > CONCURRENCY)
            written: dict[str, str] = {}

            async def one(op: ItemOps) -> None:
                async with gate:
                    try:
                        run_id, seen = await self._item(client, op)
                    except Exception as exc:  # noqa: BLE001 - this item is tried again; the others go on
                        outcomes[op.item] = stream.Outcome(None, error=repr(exc)[:2000], missing=_missing(exc))
                        return
                written[op.item] = run_id
                lines.add(op, run_id, seen)

            await asyncio.gather(*(one(op) for op in ops))
            failure = await lines.finish()
            for op in ops:
                if op.item in written:  # a chunk refused: the whole batch resumes next time, reading back
                    outcomes[op.item] = (stream.Outcome(written[op.item]) if failure is None else
                                         stream.Outcome(None, error=f"日志或事件写入失败：{failure!r}"[:2000]))
        return outcomes

    async def _item(self, client: Any, op: ItemOps) -> tuple[str, set[str]]:
        """The item's run (created, or replaced) with its states; the tokens of the log lines
        already in Prefect (a resumed item's). States go as plain JSON: the client's models cost
        more than the call's own work on our side."""
        run_id, states = op.flow_run_id, list(op.states)
        seen: set[str | None] = set()
        lines: set[str | None] = set()
        if run_id is None:
            first = states[0]
            body = {"flow_id": self.flow_id, "name": op.run_name, "tags": op.tags, "idempotency_key": op.item,
                    "state": _state(first)}
            response = await client.request("POST", "/flow_runs/", json=body)
            run_id = response.json()["id"]
            # a run from before this marker, or (named otherwise) another database's: replace it
            if response.status_code == 200 and (not op.resume or response.json().get("name") != op.run_name):
                await self._delete(client, run_id)
                response = await client.request("POST", "/flow_runs/", json=body)
                run_id = response.json()["id"]
            if response.status_code == 201:
                states = states[1:]
            op.flow_run_id = run_id
        if op.resume:
            seen, lines = await self._seen(client, run_id)
        if op.retag:
            await client.update_flow_run(run_id, tags=op.tags)
        for st in states:
            if _token(st.message) in seen:
                continue
            response = await client.request("POST", f"/flow_runs/{run_id}/set_state",
                                            json={"state": _state(st), "force": True})
            if response.json().get("status") != "ACCEPT":  # forced: refused only by a broken server
                raise RuntimeError(f"Prefect 未接受状态「{st.name}」：{response.text[:300]}")
        return run_id, {t for t in lines if t}

    def write_artifacts(self, artifacts: list[Artifact]) -> set[str]:
        return _run(self._artifacts(artifacts))

    async def _artifacts(self, artifacts: list[Artifact]) -> set[str]:
        """A new version of each item's keyed artifact (Prefect shows the latest under the key)."""
        written: set[str] = set()
        stamp = f"{utcnow().astimezone(SHANGHAI):%Y-%m-%d %H:%M}"
        async with self._client() as client:
            gate = asyncio.Semaphore(self.concurrency)

            async def one(a: Artifact) -> None:
                async with gate:
                    try:
                        await client.request("POST", "/artifacts/", json={
                            "key": a.key, "type": "markdown", "data": a.markdown, "flow_run_id": a.flow_run_id,
                            "description": f"当前情况与办理经过（{stamp} 更新）"})
                        written.add(a.item)
                    except Exception:  # noqa: BLE001 - stays due; written by a later drain
                        return

            await asyncio.gather(*(one(a) for a in artifacts))
        return written

    async def _delete(self, client: Any, run_id: str) -> None:
        try:
            await client.delete_flow_run(run_id)
        except Exception as exc:  # noqa: BLE001 - already gone is fine
            if not _missing(exc):
                raise

    async def _seen(self, client: Any, run_id: str) -> tuple[set[str | None], set[str | None]]:
        """The tokens of the states and of the log lines this run already shows (a resumed item)."""
        from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

        states = {_token(s.message) for s in await client.read_flow_run_states(run_id)}
        seen: set[str | None] = set()
        offset = 0
        while True:
            logs = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])),
                                          limit=200, offset=offset)
            seen |= {_token(log.message) for log in logs}
            if len(logs) < 200:
                break
            offset += 200
        return states, seen

class _Lines:
    """The log lines and Prefect events of a batch, in bulk chunks. `eager` (a Prefect API on
    several processes): each chunk is sent as soon as it is full, beside the items still being
    written (under the same gate), so the processes the items leave idle take it. Otherwise they
    go one after another once the items are written: one API process is the bound anyway, and a
    SQLite Prefect would only make the items' state changes wait on its lock (bench/RESULTS.md)."""

    def __init__(self, client: Any, gate: asyncio.Semaphore, flow_id: str, eager: bool) -> None:
        self.client, self.gate, self.flow_id, self.eager = client, gate, flow_id, eager
        self.logs: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.sending: list[asyncio.Task[None]] = []

    def add(self, op: ItemOps, run_id: str, seen: set[str]) -> None:
        self.logs += [{"name": LOGGER, "level": line.level, "message": line.message,
                       "timestamp": line.timestamp.isoformat(), "flow_run_id": run_id}
                      for line in op.logs if line.token not in seen]
        related = [{"prefect.resource.id": f"prefect.flow-run.{run_id}", "prefect.resource.role": "flow-run",
                    "prefect.resource.name": op.run_name},
                   {"prefect.resource.id": f"prefect.flow.{self.flow_id}", "prefect.resource.role": "flow",
                    "prefect.resource.name": FLOW_NAME}]
        self.events += [{**ev, "related": related} for ev in op.events]
        if self.eager:
            self._send(full_only=True)

    def _chunks(self, *, full_only: bool) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        for pending, path, size in ((self.logs, "/logs/", LOG_CHUNK), (self.events, "/events", EVENT_CHUNK)):
            while len(pending) >= size or (pending and not full_only):
                chunk = pending[:size]
                del pending[:size]
                yield path, chunk

    def _send(self, *, full_only: bool) -> None:
        for path, chunk in self._chunks(full_only=full_only):
            self.sending.append(asyncio.ensure_future(self._post(path, chunk)))

    async def _post(self, path: str, chunk: list[dict[str, Any]]) -> None:
        async with self.gate:  # events: ids derived from the audit events, so a resend is stored once
            await self.client.request("POST", path, json=chunk)

    async def finish(self) -> BaseException | None:
        """Send what is left and wait for every chunk; the first failure, if any."""
        if self.eager:
            self._send(full_only=False)
            results = await asyncio.gather(*self.sending, return_exceptions=True)
            return next((r for r in results if isinstance(r, BaseException)), None)
        try:
            for path, chunk in self._chunks(full_only=False):
                await self.client.request("POST", path, json=chunk)
        except Exception as exc:  # noqa: BLE001 - reported for the whole batch
            return exc
        return None


def mirror_now(sink: PrefectSink | None = None, *, api_url: str | None = None,
               time_budget: float | None = None) -> stream.PassReport:
    """Drain the queue into Prefect now (the CLI, tests); a bounded time if given."""
    started = time.monotonic()
    return stream.drain(unit_of_work(), sink or PrefectSink(api_url),
                        should_go=lambda: time_budget is None or time.monotonic() - started < time_budget)


def _run_name() -> str:
    return f"mirror {utcnow().astimezone(SHANGHAI):%m-%d %H:%M}"


@flow(name="lifecycle-mirror", flow_run_name=_run_name, log_prints=False)
def lifecycle_mirror(time_budget: float = TIME_BUDGET_SECONDS, idle: float = IDLE_SECONDS) -> dict[str, Any]:
    """Keep every item's run up to date for about a minute: pass, and when nothing is queued wait
    a moment and look again, so a committed act shows in Prefect within seconds."""
    started, sink, total = time.monotonic(), PrefectSink(), stream.PassReport()
    while time.monotonic() - started < time_budget:
        report = mirror_now(sink, time_budget=max(0.0, time_budget - (time.monotonic() - started)))
        total.merge(report)
        if report.errors and report.items == 0:  # the lease is another mirror's
            break
        time.sleep(idle)
    logger = run_logger()
    logger.info("mirror: %d items, %d transitions, %d lines, %d failed", total.items, total.transitions,
                total.lines, total.failed)
    for error in total.errors[:5]:
        logger.warning("mirror: %s", error)
    return {"items": total.items, "transitions": total.transitions, "lines": total.lines, "failed": total.failed}
