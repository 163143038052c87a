"""The side-by-side table, the ratios, the issue's two verdicts and the run's environment."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from importlib import metadata

import psycopg

from bench.sweep.world import libpq_url

MIB = 1024 * 1024
TARGET_SECONDS = 30.0
FLAT_RATIO = 1.25  # "not growing with N": the largest scale's peak within 25% of the smallest's
LABELS = {"s": "(s) set-based sweep (services.escalation.sweep)", "o": "(o) per-row ORM loop + perform"}


@dataclass
class Measurement:
    """One variant over the first k hazards: the timed pass, and the tracemalloc pass if run."""

    variant: str
    k: int
    due: int
    events: int
    timed: dict | None = None
    traced: dict | None = None
    checked: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return LABELS[self.variant]

    @property
    def seconds(self) -> float:
        return self.timed["seconds"]

    @property
    def ms_per_1000(self) -> float:
        return self.seconds / self.k * 1000 * 1000

    @property
    def rss_mib(self) -> float | None:
        v = self.timed.get("rss_peak_delta")
        return v / MIB if v is not None else None

    @property
    def heap_mib(self) -> float | None:
        v = self.traced.get("heap_peak") if self.traced else None
        return v / MIB if v is not None else None

    def as_dict(self) -> dict:
        return {"variant": self.variant, "label": self.label, "hazards": self.k, "due": self.due,
                "events": self.events, "seconds": self.seconds, "ms_per_1000_hazards": self.ms_per_1000,
                "rss_peak_delta_mib": self.rss_mib, "heap_peak_mib": self.heap_mib, "timed": self.timed,
                "traced": self.traced, "checked": self.checked}


def _mib(v: float | None) -> str:
    return f"{v:.1f}" if v is not None else "-"


def table(ms: list[Measurement]) -> list[str]:
    head = (f"{'variant':<38} {'hazards':>9} {'due':>8} {'events':>8} {'seconds':>8} {'ms/1k haz':>9} "
            f"{'CPU s':>7} {'busy':>5} {'RSS peak':>9} {'heap peak':>9} {'traced s':>8}")
    lines = [head, "-" * len(head)]
    for m in ms:
        t = m.timed
        busy = f"{t['machine_busy']:.0%}" if t.get("machine_busy") is not None else "-"
        traced = f"{m.traced['seconds']:.1f}" if m.traced else "-"
        lines.append(f"{m.label:<38} {m.k:>9,} {m.due:>8,} {m.events:>8,} {m.seconds:>8.2f} {m.ms_per_1000:>9.2f} "
                     f"{t['cpu_seconds']:>7.2f} {busy:>5} {_mib(m.rss_mib):>9} {_mib(m.heap_mib):>9} {traced:>8}")
    lines += ["  (ms/1k haz: wall time per 1,000 hazards scanned; RSS peak: the variant process's peak resident set",
              "   above its baseline after imports and connecting, MiB; heap peak: tracemalloc's peak of the Python",
              "   heap, MiB, from a second pass on a fresh load (traced s: that pass's time, slowed by tracing);",
              "   busy: all cores, everyone's work included, during the timed pass)"]
    return lines


def ratios(ms: list[Measurement], subset: int) -> list[tuple[str, float, str]]:
    o = next((m for m in ms if m.variant == "o"), None)
    s_same = next((m for m in ms if m.variant == "s" and m.k == subset), None)
    s_big = max((m for m in ms if m.variant == "s"), key=lambda m: m.k, default=None)
    out = []
    if o and s_same:
        r = s_same.ms_per_1000 / o.ms_per_1000
        out.append((f"(s)/(o) time per hazard, the same {o.k:,} hazards", r,
                    f"{s_same.ms_per_1000:.2f} vs {o.ms_per_1000:.2f} ms per 1,000: (s) {1 / r:.1f}x faster"))
    if o and s_big and s_big is not s_same:
        r = s_big.ms_per_1000 / o.ms_per_1000
        out.append((f"(s) at {s_big.k:,} / (o) at {o.k:,}, time per hazard", r,
                    f"{s_big.ms_per_1000:.2f} vs {o.ms_per_1000:.2f} ms per 1,000: (s) {1 / r:.1f}x faster"))
    if o and s_same and o.rss_mib and s_same.rss_mib:
        out.append((f"(s)/(o) peak RSS, the same {o.k:,} hazards", s_same.rss_mib / o.rss_mib,
                    f"{s_same.rss_mib:.1f} vs {o.rss_mib:.1f} MiB"))
    return out


def verdicts(ms: list[Measurement], n: int, due: int) -> list[tuple[str, bool | None, str]]:
    out: list[tuple[str, bool | None, str]] = []
    full = next((m for m in ms if m.variant == "s" and m.k == n), None)
    name = f"sweep over {n:,} open hazards, {due:,} due, under {TARGET_SECONDS:.0f} s"
    if full is None:
        out.append((name, None, "not measured"))
    else:
        out.append((name, full.seconds < TARGET_SECONDS, f"{full.seconds:.2f} s"))
    scales = sorted((m for m in ms if m.variant == "s"), key=lambda m: m.k)
    name = "sweep memory flat across scales (largest/smallest peak <= %.2f)" % FLAT_RATIO
    if len(scales) < 2:
        out.append((name, None, "fewer than two scales"))
        return out
    lo, hi = scales[0], scales[-1]
    parts, ok = [], True
    for what, get in (("RSS", lambda m: m.rss_mib), ("heap", lambda m: m.heap_mib)):
        values = [get(m) for m in scales]
        if any(v is None for v in values):
            parts.append(f"{what} not measured")
            continue
        ratio = get(hi) / get(lo) if get(lo) else float("inf")
        ok = ok and ratio <= FLAT_RATIO
        parts.append(f"{what} " + " / ".join(f"{v:.1f}" for v in values) + " MiB at "
                     + " / ".join(f"{m.k:,}" for m in scales) + f": x{ratio:.2f}")
    out.append((name, ok, "; ".join(parts) + f" (N x{hi.k / lo.k:.0f})"))
    return out


def render(ms: list[Measurement], n: int, due: int, subset: int, batch_size: int) -> str:
    lines = table(ms)
    r = ratios(ms, subset)
    if r:
        lines += ["", "ratios, measured side by side in this run:"]
        lines += [f"  {name:<50} {value:8.4f}   ({detail})" for name, value, detail in r]
    lines += ["", "targets (from the issue):"]
    for name, ok, detail in verdicts(ms, n, due):
        verdict = "PASS" if ok else ("FAIL" if ok is not None else "-")
        lines.append(f"  {name:<66} {verdict:<5} {detail}")
    smallest = min((m for m in ms if m.variant == "s"), key=lambda m: m.k, default=None)
    if smallest is not None and smallest.due < batch_size:
        lines.append(f"  (the smallest scale has {smallest.due:,} due hazards, less than one batch of {batch_size}: "
                     "its peak is below a full batch's, so the memory verdict is not meaningful here)")
    return "\n".join(lines)


def environment(url: str) -> list[str]:
    info = [
        f"cpu cores: {os.cpu_count()}, {platform.processor() or platform.machine()}",
        f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"python {platform.python_version()}, SQLAlchemy {metadata.version('sqlalchemy')}, "
        f"psycopg {metadata.version('psycopg')}",
    ]
    with psycopg.connect(libpq_url(url)) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        settings = dict(conn.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', "
            "'shared_buffers', 'work_mem', 'max_wal_size', 'checkpoint_timeout', 'full_page_writes', "
            "'max_parallel_workers_per_gather')").fetchall())
    info.append(f"PostgreSQL {version}: " + ", ".join(f"{k}={v}" for k, v in sorted(settings.items())))
    return info
