"""How busy the (shared) machine is: whole-machine CPU from /proc/stat, one process's CPU from
/proc/<pid>/stat. Linux only; elsewhere the figures are simply left out."""

from __future__ import annotations

import os
import time

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def sample() -> tuple[int, int] | None:
    """(all jiffies, idle jiffies) since boot, over all cores."""
    try:
        with open("/proc/stat") as fh:
            values = [int(x) for x in fh.readline().split()[1:]]
    except OSError:
        return None
    return sum(values), values[3] + values[4]  # idle + iowait


def busy(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The busy share of all cores between two samples (0..1)."""
    if before is None or after is None or after[0] == before[0]:
        return None
    return 1 - (after[1] - before[1]) / (after[0] - before[0])


def wait_quiet(below: float, max_wait: float, window: float = 2.0) -> float | None:
    """Wait (at most `max_wait` seconds) until the machine was busier than `below` for no
    `window`; return the last busy share seen. Others share this machine: a variant started while
    they run measures them too."""
    deadline = time.monotonic() + max_wait
    share = None
    while True:
        a = sample()
        time.sleep(window)
        share = busy(a, sample())
        if share is None or share < below or time.monotonic() >= deadline:
            return share


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def descendants(pid: int) -> list[int]:
    """Every process below `pid`: the children of each of its threads, theirs, and so on."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:  # gone meanwhile
            continue
        for task in tasks:
            try:
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    kids = [int(x) for x in fh.read().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def children(pid: int) -> list[int]:
    """Direct children of `pid` (the uvicorn supervisor's workers)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []
