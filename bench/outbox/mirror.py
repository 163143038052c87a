"""The lifecycle mirror's throughput and lag (issue 15, item 4): a burst of transitions committed
while the mirror is stopped (as when Prefect was away, or a burst larger than the mirror), then the
mirror drains it into a real Prefect server. What is timed: from the drain's start until every
transition shows in its item's run (states, log lines, Prefect events), and until the artifacts
follow. The lag after the burst is the time until the mirror has caught up.

The burst: hazards walked from report to 销号 through the service in-process
(`bench.transitions.inprocess`: report, register, supervise, file_plan, request_acceptance, accept,
close: seven state changes, each a state call in Prefect), then, in the `--mix day` burst (the
default), what a hazard's record holds besides: the documents those actions call for, issued by
the document engine (整改通知书, 挂牌督办通知书, …), and six notes (备注) by the inspector, which
change no state and cost Prefect no call of their own (their log lines and events go in bulk):
close to the demo's proportion of state changes (see NOTES). The
`--mix states` burst is the worst case: every transition a state change. Checked after: every
hazard has one run, its marker at the end of its chain, the queue empty; a sample of runs read
back from Prefect shows the seven states in order.

`uv run python -m bench.outbox.mirror --transitions 10000 --prefect-db postgresql` runs it alone;
`python -m bench.outbox` runs it beside the delivery variants.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select

from bench.transitions import inprocess, machine
from bench.transitions.workload import ACTIONS
from bench.transitions.world import World
from db.engine import UnitOfWork, make_engine, make_session_factory, read_only
from db.models import MirrorItem, MirrorQueue
from services.lifecycle.states import STATE_LABELS

TARGETS = {"postgresql": 200.0, "sqlite": 50.0}  # transitions per second
EXPECTED = [STATE_LABELS[s] for s in ("reported", "registered", "supervised", "rectifying", "acceptance_requested",
                                       "accepted", "closed")]


@dataclass
class MirrorResult:
    prefect_db: str
    hazards: int
    transitions: int
    burst_seconds: float  # committing the burst (not the mirror's)
    caught_up_seconds: float  # until every transition shows in Prefect
    artifacts_seconds: float  # until the artifacts too
    items: int = 0
    mix: str = "day"
    prefect_workers: int = 1  # its API's processes (more: as `hazard serve` with HAZARD_PREFECT_WORKERS)
    # CPU seconds spent until caught up: by the Prefect server's processes, by this one (the
    # mirror's reads, rendering and calls); the machine's busy share (all its cores) meanwhile
    server_cpu: float | None = None
    mirror_cpu: float | None = None
    machine_busy: float | None = None
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    problems: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.transitions / self.caught_up_seconds if self.caught_up_seconds else 0.0

    @property
    def target(self) -> float:
        return TARGETS[self.prefect_db]

    def lines(self) -> list[str]:
        verdict = "PASS" if self.rate >= self.target and not self.problems else "FAIL"
        server = (f"{self.prefect_db}, API on {self.prefect_workers} processes + its services (Redis)"
                  if self.prefect_workers > 1 else self.prefect_db)
        return [
            f"(m) lifecycle mirror, Prefect on {server}, {self.mix} mix: {self.transitions} transitions "
            f"of {self.hazards} hazards, {self.hazards * len(ACTIONS)} of them state changes (burst committed in "
            f"{self.burst_seconds:.1f} s)",
            f"    caught up after {self.caught_up_seconds:.1f} s: {self.rate:.1f} transitions/s "
            f"(target >= {self.target:.0f}: {verdict}); artifacts after {self.artifacts_seconds:.1f} s",
        ] + self._cpu_lines() + [f"    PROBLEM: {p}" for p in self.problems]

    def _cpu_lines(self) -> list[str]:
        """Where the drain's CPU went: what bounds the rate on this machine. The Prefect server's
        CPU per transition is its own work, whatever the client; one core of it gives at most
        1/that transitions a second."""
        if not self.server_cpu or self.mirror_cpu is None or not self.transitions:
            return []
        per = 1000 * self.server_cpu / self.transitions
        busy = f"{self.machine_busy:.0%}" if self.machine_busy is not None else "?"
        return [f"    CPU until caught up: the Prefect server {self.server_cpu:.1f} s ({per:.2f} ms per transition: "
                f"at most {1000 / per:.0f} transitions/s per core it gets), the mirror {self.mirror_cpu:.1f} s "
                f"({1000 * self.mirror_cpu / self.transitions:.2f} ms per transition); the machine {busy} busy "
                f"on {self.cores} cores"]

    def as_dict(self) -> dict:
        return {**self.__dict__, "transitions_per_second": self.rate, "target": self.target}


# Per hazard, in the day mix: notes standing for the progress reports, attachments and notes a real
# record holds between its state changes. The demo's 200 hazards: 2,021 events for 543 state
# changes and 224 runs created, 0.38 calls per event; this mix: a run created with its first state
# and six more states for 17 events (7 actions, 4 documents, 6 notes), 0.41.
NOTES = 6
DOCUMENTS_PER_HAZARD = 4  # what the seven actions call for (整改通知书, 挂牌督办通知书, 验收 and 销号 notices)


def _day(uow: UnitOfWork, world: World) -> tuple[int, float]:
    """Issue every pending document and add the notes; returns the events added and the seconds."""
    from db.models import Hazard
    from services import documents
    from services.engine import transitions
    from services.kernel.clock import utcnow

    started, added = time.perf_counter(), 0
    while True:
        report = documents.issue_pending(uow, now=utcnow(), limit=500)
        added += report.issued
        if report.issued == 0:
            break
    inspector = world.actor("inspector")
    with read_only(uow.factory) as s:
        ids = list(s.execute(select(Hazard.id).order_by(Hazard.id)).scalars())
    for hazard_id in ids:
        for k in range(NOTES):
            with uow.write() as s:
                transitions.perform(s, inspector, hazard_id, "comment", {"text": f"现场回访记录 {k + 1}：措施落实"},
                                    now=utcnow())
            added += 1
    return added, time.perf_counter() - started


def measure(world: World, transitions: int, prefect_db: str, api_url: str, mix: str = "day",
            concurrency: int = 4, mirror_concurrency: int | None = None, prefect_workers: int = 1,
            server_cpu: Callable[[], float] | None = None) -> MirrorResult:
    """The burst, then the drain into the Prefect server at `api_url` (on `prefect_workers` API
    processes: the mirror writes twice as many items side by side). `server_cpu`, when given: the
    CPU seconds the server's processes have used so far (`prefect_server.Server.cpu`)."""
    from flows import mirror as flows_mirror
    from services.mirror import stream

    per_hazard = len(ACTIONS) + (NOTES + DOCUMENTS_PER_HAZARD if mix == "day" else 0)
    hazards = math.ceil(transitions / per_hazard)
    burst = inprocess.run(world, hazards, concurrency)
    engine = make_engine(world.url, pool_size=4, max_overflow=4)
    uow = UnitOfWork(make_session_factory(engine))
    if mix == "day":
        added, seconds = _day(uow, world)
        burst.transitions += added
        burst.seconds += seconds
    sink = flows_mirror.PrefectSink(api_url, mirror_concurrency or flows_mirror.concurrency_for(prefect_workers))
    try:
        server0, mirror0, machine0 = server_cpu() if server_cpu else 0.0, time.process_time(), machine.sample()
        started = time.perf_counter()
        caught = None
        while True:  # the drain's passes, then its artifacts; note when the queue empties
            report = stream.run_pass(uow, sink)
            if report.items == 0:
                caught = time.perf_counter() - started
                spent = (server_cpu() - server0 if server_cpu else None,
                         time.process_time() - mirror0, machine.busy(machine0, machine.sample()))
                break
            if report.failed:
                raise RuntimeError(f"the mirror failed: {report.errors[:3]}")
        while stream.refresh_artifacts(uow, sink):
            pass
        artifacts = time.perf_counter() - started
        result = MirrorResult(prefect_db, hazards, burst.transitions, burst.seconds, caught, artifacts, mix=mix,
                              prefect_workers=prefect_workers, server_cpu=spent[0], mirror_cpu=spent[1],
                              machine_busy=spent[2])
        result.problems = _check(uow, hazards, burst.transitions, api_url)
        with read_only(uow.factory) as s:
            result.items = s.scalar(select(func.count()).select_from(MirrorItem))
        return result
    finally:
        engine.dispose()


def _check(uow: UnitOfWork, hazards: int, transitions: int, api_url: str) -> list[str]:
    problems = []
    with read_only(uow.factory) as s:
        shown = s.scalar(select(func.count()).where(MirrorItem.flow_run_id.is_not(None)))
        seqs = s.scalar(select(func.coalesce(func.sum(MirrorItem.seq), 0)))
        queued = s.scalar(select(func.count()).select_from(MirrorQueue))
        due = s.scalar(select(func.count()).where(MirrorItem.artifact_due.is_(True)))
        sample = [r for r in s.execute(select(MirrorItem.flow_run_id).where(MirrorItem.flow_run_id.is_not(None))
                                       .order_by(MirrorItem.item).limit(5)).scalars()]
    if (shown, seqs, queued, due) != (hazards, transitions, 0, 0):
        problems.append(f"{shown} runs, {seqs} transitions shown, {queued} queued, {due} artifacts due; "
                        f"expected {hazards}, {transitions}, 0, 0")
    for run_id in sample:
        names = asyncio.run(_states(api_url, run_id))
        if names != EXPECTED:
            problems.append(f"run {run_id} shows {names}, expected {EXPECTED}")
    return problems


async def _states(api_url: str, run_id: str) -> list[str]:
    from prefect.client.orchestration import PrefectClient

    async with PrefectClient(api_url) as client:
        return [s.name for s in await client.read_flow_run_states(run_id)]


def main(argv: list[str] | None = None) -> int:
    from bench.outbox.prefect_server import prefect_server
    from bench.transitions.world import fresh_database, seed

    p = argparse.ArgumentParser(prog="python -m bench.outbox.mirror", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--transitions", type=int, default=10_000)
    p.add_argument("--prefect-db", choices=tuple(TARGETS), default="postgresql")
    p.add_argument("--mix", choices=("day", "states"), default="day",
                   help="day: the actions with their documents and notes; states: every transition a state change")
    p.add_argument("--mirror-concurrency", type=int, help="items written to Prefect side by side")
    p.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--prefect-workers", type=int, default=1,
                   help="the Prefect API on this many processes, its services in one more (PostgreSQL, --redis-url)")
    p.add_argument("--redis-url", help="a Redis database for Prefect's messaging (EMPTIED before the run)")
    args = p.parse_args(argv)
    if args.prefect_workers > 1 and (args.prefect_db != "postgresql" or not args.redis_url):
        p.error("--prefect-workers > 1 needs --prefect-db postgresql and --redis-url")
    with fresh_database(args.server_url) as url, prefect_server(args.server_url, args.prefect_db,
                                                                args.prefect_workers, args.redis_url) as server:
        result = measure(seed(url), args.transitions, args.prefect_db, server.api, args.mix,
                         mirror_concurrency=args.mirror_concurrency, prefect_workers=args.prefect_workers,
                         server_cpu=server.cpu)
    print("\n".join(result.lines()))
    return 2 if result.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
