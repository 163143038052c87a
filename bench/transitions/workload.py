"""The workload every variant runs: the actions, who performs them, their bodies, and the timer.

The lifecycle is the major-hazard loop, so every hazard passes through all of DESIGN 2.2's
closure steps. A run is one phase per action over all N hazards (HTTP needs that order, because a
hazard's actions must happen one after the other); a variant's time is the sum of its phase times.
Setup between phases (the evidence attachments before `request_acceptance`) is not timed.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tests.helpers import body_for, report_body

ACTIONS = ("report", "register", "supervise", "file_plan", "request_acceptance", "accept", "close")
FINAL_STATE = "closed"
FINAL_VERSION = len(ACTIONS)  # one audit event per transition, report included

# Who performs each step (users seeded by `world.seed`). The acceptor (inspector) and the closer
# (city committee office) differ, as four-eyes requires; the listing level is the committee's.
ACTOR = {
    "report": "inspector",
    "register": "inspector",
    "supervise": "committee",
    "file_plan": "enterprise",
    "request_acceptance": "enterprise",
    "accept": "inspector",
    "close": "committee",
}


@dataclass(frozen=True)
class Bodies:
    """The JSON body of each action, as a client sends it (valid bodies from `tests.helpers`)."""

    today: date
    uscc: str

    def report(self) -> dict[str, Any]:
        return report_body()

    def action(self, action: str, evidence: tuple[int, int] | None = None) -> dict[str, Any]:
        if action == "report":
            return self.report()
        if action == "request_acceptance":
            if evidence is None:
                raise ValueError("request_acceptance needs the hazard's attachments")
            return body_for(action, today=self.today, level="major", uscc=self.uscc,
                            evidence=[evidence[0]], assessment_report=evidence[1])
        return body_for(action, today=self.today, level="major", uscc=self.uscc)


@dataclass
class Result:
    variant: str
    label: str
    concurrency: int
    transitions: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    cpu_ms: float | None = None  # CPU per transition: the client's (a, c, d) or the server's (b)
    machine_busy: float | None = None  # busy share of all cores while it ran, everyone included

    @property
    def rate(self) -> float:
        return self.transitions / self.seconds if self.seconds else 0.0

    def add_phase(self, action: str, count: int, seconds: float) -> None:
        self.phases[action] = self.phases.get(action, 0.0) + seconds
        self.transitions += count
        self.seconds += seconds


def run_phase(items: Sequence[Any], work: Callable[[int, Any], Any], concurrency: int) -> tuple[list[Any], float]:
    """Run `work(worker_index, item)` for every item on `concurrency` threads; return the results
    (in item order) and the wall time from the first start to the last finish.

    Workers pull the next item from a shared counter, so a slow transaction does not leave the
    other workers idle. The first exception stops all workers and is raised here. At concurrency 1
    the items run in the calling thread."""
    results: list[Any] = [None] * len(items)
    if concurrency == 1:  # in the calling thread: no hand-off, and profilers see the work
        started = time.perf_counter()
        for i, item in enumerate(items):
            results[i] = work(0, item)
        return results, time.perf_counter() - started
    counter = itertools.count()
    failed: list[BaseException] = []
    stop = threading.Event()

    def worker(index: int) -> None:
        try:
            while not stop.is_set():
                i = next(counter)
                if i >= len(items):
                    return
                results[i] = work(index, items[i])
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            failed.append(exc)
            stop.set()

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if failed:
        raise failed[0]
    return results, elapsed
