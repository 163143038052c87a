"""One variant in a process of its own: `python -m bench.sweep.variant <JSON>` (the benchmark
starts it; not meant to be run by hand).

Its own process so that its memory is its own. After the imports, the engine, the calendar and a
first connection (what any sweep process has before it starts), the resident set is taken as the
baseline and the kernel's high-water mark is reset (`/proc/self/clear_refs`, Linux ≥ 4.0); the
peak resident set of the variant is the high-water mark afterwards, minus that baseline. With
`tracemalloc` the Python heap's peak is traced too; tracing slows allocation-heavy code down, so a
traced pass is never the one whose time is reported.

The JSON argument: url, variant ("s" or "o"), as_of, batch_size, tracemalloc, profile (a file for
cProfile stats, or null), out (where the result goes, as JSON).
"""

from __future__ import annotations

import cProfile
import gc
import json
import sys
import time
import tracemalloc
from datetime import date
from pathlib import Path

from sqlalchemy import text

from bench.sweep import population as pop
from bench.transitions import machine
from db.engine import UnitOfWork, make_engine, make_session_factory, read_only
from services.calendar.workdays import WorkCalendar
from services.escalation.ladder import LadderConfig, cutoffs

KIB = 1024


def _status() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in bytes (empty off Linux)."""
    out: dict[str, int] = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0]) * KIB
    except OSError:
        pass
    return out


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def main(spec: dict) -> dict:
    as_of = date.fromisoformat(spec["as_of"])
    now = pop.sweep_now(as_of)
    engine = make_engine(spec["url"], pool_size=2, max_overflow=0)
    factory = make_session_factory(engine)
    calendar, config = WorkCalendar(), LadderConfig()
    cutoffs(as_of, calendar, config)  # resolves the calendar's years, as a long-running process would have
    with read_only(factory) as s:
        s.execute(text("SELECT 1"))
    if spec["variant"] == "s":
        from services.escalation.sweep import sweep

        def work() -> dict:
            r = sweep(UnitOfWork(factory), now=now, calendar=calendar, config=config, as_of=as_of,
                      batch_size=spec["batch_size"])
            return {"selected": r.selected, "hazards": r.hazards, "events": r.events, "batches": r.batches,
                    "retried": r.retried, "by_step": r.by_step}
    else:
        from bench.sweep import orm

        def work() -> dict:
            return orm.run(factory, now=now, as_of=as_of, calendar=calendar, config=config)

    gc.collect()
    base = _status()
    reset = _reset_peak()
    if spec["tracemalloc"]:
        tracemalloc.start()
    prof = cProfile.Profile() if spec.get("profile") else None
    before, cpu, t = machine.sample(), time.process_time(), time.perf_counter()
    if prof:
        prof.enable()
    result = work()
    if prof:
        prof.disable()
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    busy = machine.busy(before, machine.sample())
    heap_peak = tracemalloc.get_traced_memory()[1] if spec["tracemalloc"] else None
    tracemalloc.stop()
    after = _status()
    if prof:
        prof.dump_stats(spec["profile"])
    engine.dispose()
    peak = after.get("VmHWM")
    if peak is not None and not reset:
        peak = max(peak, base.get("VmHWM", 0))  # without a reset, the peak may be the imports'
    return {**result, "seconds": seconds, "cpu_seconds": cpu, "machine_busy": busy,
            "rss_base": base.get("VmRSS"), "rss_peak": peak, "peak_reset": reset,
            "rss_peak_delta": (peak - base["VmRSS"]) if peak is not None and "VmRSS" in base else None,
            "heap_peak": heap_peak, "tracemalloc": spec["tracemalloc"]}


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    out = main(spec)
    Path(spec["out"]).write_text(json.dumps(out))
