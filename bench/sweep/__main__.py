"""`uv run python -m bench.sweep --n 1000000 --due 100000`: see the package docstring and
bench/RESULTS.md.

Exit status: 0 when every variant ran and was verified, whatever the targets say (it is a
benchmark; PASS/FAIL is printed); 2 when a variant could not run or its result was wrong (a wrong
number of events, a step fired twice, a hazard left due, a broken audit chain, (o) and (s) not
writing the same rows).
"""

from __future__ import annotations

import argparse
import json
import pstats
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

from bench.sweep import population as pop
from bench.sweep import verify, world
from bench.sweep.report import Measurement, environment, ratios, render, verdicts
from bench.transitions import machine
from bench.transitions.world import fresh_database, sqlalchemy_url
from db.migrate import upgrade
from services.calendar.workdays import WorkCalendar
from services.escalation.ladder import LadderConfig, cutoffs

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parents[2]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.sweep", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000, help="open hazards for the full-size sweep")
    p.add_argument("--due", type=int, default=100_000, help="how many of them have a step due")
    p.add_argument("--scales", type=_ints,
                   help="comma-separated sizes the sweep also runs at, each with the same share due "
                        "(default: N/4, N/2, N)")
    p.add_argument("--orm-subset", type=int, default=100_000,
                   help="hazards for the per-row ORM loop (o), run beside (s) on the same hazards; 0: no (o)")
    p.add_argument("--batch-size", type=int, default=1000, help="the sweep's batch size")
    p.add_argument("--as-of", type=date.fromisoformat, default=pop.BENCH_DAY, help="the benchmark day")
    p.add_argument("--seed", type=int, default=20261124)
    p.add_argument("--no-heap", action="store_true",
                   help="skip the tracemalloc passes (each is a second load and run per measurement)")
    p.add_argument("--server-url", default=DEFAULT_SERVER,
                   help="PostgreSQL server on which a fresh database is created and dropped")
    p.add_argument("--database-url", help="use this existing (scratch!) database instead: it is migrated "
                   "and its hazard tables are emptied before every load; it is not dropped")
    p.add_argument("--quiet-below", type=float, default=0.3,
                   help="before each timed pass, wait until the machine is busy less than this share")
    p.add_argument("--quiet-wait", type=float, default=60.0, help="... but no longer than this many seconds")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--profile", type=Path,
                   help="at the end, run (s) once more at the largest scale under cProfile and write the stats here")
    args = p.parse_args(argv)
    args.scales = sorted(set(args.scales or [args.n // 4, args.n // 2, args.n]))
    if not 0 <= args.due <= args.n or any(not 0 < k <= args.n for k in args.scales) \
            or not 0 <= args.orm_subset <= args.n:
        p.error("need 0 <= due <= n, and every scale and the ORM subset at most n")
    return args


@contextmanager
def database(args: argparse.Namespace):
    if args.database_url:
        url = sqlalchemy_url(args.database_url)
        upgrade(url)
        yield url, "_" + uuid.uuid4().hex[:6]
    else:
        with fresh_database(args.server_url) as url:
            yield url, ""


def run_variant(url: str, variant: str, args: argparse.Namespace, traced: bool,
                profile: Path | None = None) -> dict:
    """The variant in its own process (bench/sweep/variant.py); its result."""
    with tempfile.TemporaryDirectory(prefix="bench-sweep-run-") as tmp:
        out = Path(tmp) / "result.json"
        spec = {"url": url, "variant": variant, "as_of": args.as_of.isoformat(), "batch_size": args.batch_size,
                "tracemalloc": traced, "profile": str(profile) if profile else None, "out": str(out)}
        proc = subprocess.run([sys.executable, "-m", "bench.sweep.variant", json.dumps(spec)], cwd=ROOT,
                              capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"variant ({variant}) failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
        return json.loads(out.read_text())


def plan(args: argparse.Namespace) -> list[tuple[str, int, bool]]:
    """(variant, hazards, traced) in the order run: (o) and (s) on the ORM subset, then (s) at each
    scale, smallest first; each timed pass followed by its tracemalloc pass."""
    steps: list[tuple[str, int]] = []
    if args.orm_subset:
        steps += [("o", args.orm_subset), ("s", args.orm_subset)]
    steps += [("s", k) for k in args.scales if k != args.orm_subset]
    out = []
    for variant, k in steps:
        out.append((variant, k, False))
        if not args.no_heap:
            out.append((variant, k, True))
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "uv run python -m bench.sweep " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    started = datetime.now(UTC)
    cut = cutoffs(args.as_of, WorkCalendar(), LadderConfig())
    print(f"bench/sweep: N={args.n:,} open hazards, {args.due:,} due as of {args.as_of}; (s) at "
          f"{', '.join(f'{k:,}' for k in args.scales)}; (o) at {args.orm_subset:,}; batch {args.batch_size}",
          flush=True)
    measurements: dict[tuple[str, int], Measurement] = {}
    prints: dict[str, str] = {}
    with database(args) as (url, suffix), tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        folder = Path(tmp)
        try:
            orgs = world.seed_orgs(url, suffix)
            t = time.perf_counter()
            expected = world.generate(folder, orgs, args.n, args.due, cut, args.seed)
            print(f"  generated {args.n:,} hazards and their genesis events in {time.perf_counter() - t:.0f} s; "
                  f"{expected.hazards(args.n):,} due, {expected.events(args.n):,} steps to fire", flush=True)
            for variant, k, traced in plan(args):
                t = time.perf_counter()
                world.load(url, folder, k)
                loaded = time.perf_counter() - t
                if not traced:
                    machine.wait_quiet(args.quiet_below, args.quiet_wait)
                result = run_variant(url, variant, args, traced)
                problems, checked = verify.check(url, k, expected, cut, result, args.seed)
                m = measurements.setdefault((variant, k), Measurement(
                    variant, k, due=pop.due_in_prefix(k, args.n, args.due), events=expected.events(k)))
                if problems:
                    raise RuntimeError(f"{m.label} over {k:,}: " + "; ".join(problems))
                if traced:
                    m.traced = result
                else:
                    m.timed, m.checked = result, checked
                    if k == args.orm_subset:
                        prints[variant] = verify.fingerprint(url)
                busy = f"{result['machine_busy']:.0%}" if result.get("machine_busy") is not None else "?"
                heap = f", heap peak {result['heap_peak'] / 2**20:.1f} MiB (traced)" if traced else ""
                audit_scope = "all chains" if checked["audit_all"] else f"{checked['audit_hazards']:,} sampled chains"
                print(f"  {m.label:<38} {k:>9,} hazards: {result['events']:,} events in {result['seconds']:.2f} s, "
                      f"RSS peak +{(result['rss_peak_delta'] or 0) / 2**20:.1f} MiB{heap} (verified, {audit_scope}; "
                      f"machine busy {busy}; load {loaded:.0f} s)", flush=True)
            if len(prints) == 2:
                if prints["o"] != prints["s"]:
                    raise RuntimeError("(o) and (s) did not write the same events, outbox rows and hazard rows")
                print(f"  parity: (o) and (s) over the same {args.orm_subset:,} hazards wrote the same events "
                      "(hashes), outbox rows and hazard rows", flush=True)
            env = environment(url)
            if args.profile:
                k = max(args.scales)
                world.load(url, folder, k)
                result = run_variant(url, "s", args, False, profile=args.profile)
                print(f"\nprofile of (s) over {k:,} hazards ({result['seconds']:.2f} s under cProfile), "
                      f"written to {args.profile}:")
                pstats.Stats(str(args.profile)).sort_stats("tottime").print_stats(25)
        except Exception as exc:  # noqa: BLE001 - a wrong result must not look like a figure
            print(f"\nBENCHMARK INVALID: {exc}", file=sys.stderr)
            return 2
    ms = sorted(measurements.values(), key=lambda m: (m.variant != "o", m.k))
    print()
    print(render(ms, args.n, args.due, args.orm_subset, args.batch_size))
    print("\nthe hazards (all open; shapes as generated, at N):")
    for shape, count in sorted(expected.shapes.items()):
        print(f"  {count:>9,}  {shape}")
    print("\nenvironment:")
    for line in env:
        print(f"  {line}")
    print(f"\ncommand: {command}\ndate: {started.isoformat(timespec='seconds')}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "command": command, "date": started.isoformat(), "n": args.n, "due": args.due, "as_of": str(args.as_of),
            "batch_size": args.batch_size, "environment": env, "shapes": dict(expected.shapes),
            "results": [m.as_dict() for m in ms],
            "ratios": [{"name": name, "value": value, "detail": detail}
                       for name, value, detail in ratios(ms, args.orm_subset)],
            "verdicts": [{"name": name, "pass": ok, "detail": detail}
                         for name, ok, detail in verdicts(ms, args.n, args.due)],
        }, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
