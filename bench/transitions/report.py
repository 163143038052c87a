"""The side-by-side table, the ratios against the issue's targets, and the run's environment."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from importlib import metadata

import psycopg

from bench.transitions import world as db
from bench.transitions.workload import ACTIONS, Result


@dataclass(frozen=True)
class Target:
    name: str
    numerator: tuple[str, str]  # (variant, concurrency key: "1" or "C")
    denominator: tuple[str, str]
    minimum: float


TARGETS = (
    Target("(a)@1 / (c)@1   service in-process vs raw SQL, one connection", ("a", "1"), ("c", "1"), 0.6),
    Target("(b)@C / (c)@C   HTTP API vs raw SQL, C concurrent", ("b", "C"), ("c", "C"), 0.3),
    Target("(a)@1 / (d)@1   service in-process vs SpiffWorkflow", ("a", "1"), ("d", "1"), 2.0),
)
# Shown beside the targets, for the reader to weigh them.
INFORMATION = (
    ("(a)@1 / (e)@1   service vs SpiffWorkflow storing the instance only", ("a", "1"), ("e", "1")),
    ("(c)@1 / (d)@1   raw SQL vs SpiffWorkflow", ("c", "1"), ("d", "1")),
)


def pick(results: list[Result]) -> Result:
    """The best round by transitions/s: on a shared machine noise only slows a run down."""
    return max(results, key=lambda r: r.rate)


def key(result: Result) -> tuple[str, str]:
    return (result.variant, "1" if result.concurrency == 1 else "C")


def ratios(chosen: dict[tuple[str, str], Result], concurrency: int) -> list[tuple[Target, float | None]]:
    out = []
    for t in TARGETS:
        num, den = chosen.get(t.numerator), chosen.get(t.denominator)
        out.append((t, num.rate / den.rate if num and den and den.rate else None))
    return out


def render(rounds: dict[tuple[str, str], list[Result]], concurrency: int) -> str:
    chosen = {k: pick(v) for k, v in rounds.items()}
    lines = []
    multi = any(len(v) > 1 for v in rounds.values())
    head = (f"{'variant':<40} {'conc':>5} {'transitions':>12} {'seconds':>9} {'transitions/s':>14} "
            f"{'CPU ms/tr':>10} {'busy':>5}")
    if multi:
        head += f"  {'all rounds (transitions/s)':<30}"
    lines += [head, "-" * len(head)]
    for k in sorted(chosen):
        r = chosen[k]
        cpu = f"{r.cpu_ms:.2f}" if r.cpu_ms is not None else "-"
        busy = f"{r.machine_busy:.0%}" if r.machine_busy is not None else "-"
        row = (f"{r.label:<40} {r.concurrency:>5} {r.transitions:>12} {r.seconds:>9.2f} {r.rate:>14.1f} "
               f"{cpu:>10} {busy:>5}")
        if multi:
            row += "  " + ", ".join(f"{x.rate:.0f}" for x in rounds[k])
        lines.append(row)
    lines += ["  (CPU ms/tr: CPU per transition of the benchmark process for (a), (c), (d), (e), of the",
              "   server's processes for (b); busy: all cores, everyone's work included, during the run)"]
    lines += ["", "ratios (targets from the issue):"]
    for t, value in ratios(chosen, concurrency):
        name = t.name.replace("@C", f"@{concurrency}")
        if value is None:
            lines.append(f"  {name:<68} not measured")
        else:
            verdict = "PASS" if value >= t.minimum else "FAIL"
            lines.append(f"  {name:<68} {value:6.2f}   target >= {t.minimum:<4}  {verdict}")
    for name, num, den in INFORMATION:
        n, d = chosen.get(num), chosen.get(den)
        if n and d and d.rate:
            lines.append(f"  {name:<68} {n.rate / d.rate:6.2f}   (no target)")
    lines += ["", "per phase (transitions/s):"]
    lines.append(f"  {'variant':<40} {'conc':>5} " + " ".join(f"{a[:10]:>10}" for a in ACTIONS))
    for k in sorted(chosen):
        r = chosen[k]
        n = r.transitions // len(ACTIONS) if r.transitions else 0
        cells = " ".join(f"{(n / r.phases[a]) if r.phases.get(a) else 0:>10.0f}" for a in ACTIONS)
        lines.append(f"  {r.label:<40} {r.concurrency:>5} {cells}")
    notes = [f"  {chosen[k].label} @{chosen[k].concurrency}: {note}" for k in sorted(chosen)
             for note in chosen[k].notes]
    if notes:
        lines += ["", "notes:"] + notes
    return "\n".join(lines)


def environment(url: str) -> list[str]:
    info = [
        f"cpu cores: {os.cpu_count()}, {platform.processor() or platform.machine()}",
        f"load average before run end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"python {platform.python_version()}, SQLAlchemy {metadata.version('sqlalchemy')}, "
        f"psycopg {metadata.version('psycopg')}, FastAPI {metadata.version('fastapi')}, "
        f"uvicorn {metadata.version('uvicorn')}, SpiffWorkflow {metadata.version('spiffworkflow')}",
    ]
    wrk = shutil.which("wrk")
    if wrk:
        out = subprocess.run([wrk, "-v"], capture_output=True, text=True).stdout.splitlines()
        info.append(out[0].split(" Copyright")[0] if out else "wrk")
    with psycopg.connect(db.libpq_url(url)) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        settings = dict(conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN "
            "('fsync', 'synchronous_commit', 'shared_buffers', 'max_connections')").fetchall())
    info.append(f"PostgreSQL {version}: " + ", ".join(f"{k}={v}" for k, v in sorted(settings.items())))
    return info
