"""`uv run python -m bench.transitions --n 2000`: see the package docstring and bench/RESULTS.md.

Exit status: 0 when every variant ran and was verified, whatever the targets say (it is a
benchmark; PASS/FAIL is printed); 2 when a variant could not run or its result was wrong (a
non-2xx answer, a hazard not closed, a broken audit chain, (c) not writing what (a) writes).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import shlex
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from bench.transitions import machine
from bench.transitions import world as db
from bench.transitions.report import environment, key, pick, ratios, render
from bench.transitions.workload import Result
from db.migrate import upgrade

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
VARIANTS = "abcde"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.transitions", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2000, help="hazards per variant (7 transitions each)")
    p.add_argument("--concurrency", type=int, default=16, help="the concurrent side of the table")
    p.add_argument("--server-url", default=DEFAULT_SERVER,
                   help="PostgreSQL server on which a fresh database is created and dropped")
    p.add_argument("--database-url", help="use this existing (scratch!) database instead: it is "
                   "migrated and its hazard tables are emptied between variants; it is not dropped")
    p.add_argument("--variants", default=VARIANTS, help="subset of 'abcde' to run")
    p.add_argument("--rounds", type=int, default=1,
                   help="run every variant this many times, interleaved; the best round is reported "
                        "(noise on a shared machine only ever slows a run down)")
    p.add_argument("--quiet-below", type=float, default=0.3,
                   help="before each variant, wait until the machine is busy less than this share")
    p.add_argument("--quiet-wait", type=float, default=90.0,
                   help="... but no longer than this many seconds")
    p.add_argument("--http-workers", type=int, default=2)
    p.add_argument("--wrk-threads", type=int, default=2)
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--profile", type=Path,
                   help="after the timed runs, profile (a) at one connection with cProfile "
                        "(min(N, 500) hazards) and write the stats here")
    p.add_argument("--show-sql", action="store_true", help="print the statements of each transition")
    p.add_argument("--keep", type=Path, help="keep wrk request files and the server log under this folder")
    return p.parse_args(argv)


@contextmanager
def database(args: argparse.Namespace):
    if args.database_url:
        url = db.sqlalchemy_url(args.database_url)
        upgrade(url)
        yield url, "_" + uuid.uuid4().hex[:6]
    else:
        with db.fresh_database(args.server_url) as url:
            yield url, ""


def plan(args: argparse.Namespace) -> list[tuple[str, int]]:
    c = args.concurrency
    order = [("a", 1), ("a", c), ("c", 1), ("c", c), ("b", c), ("d", 1), ("e", 1)]
    return [(v, k) for v, k in order if v in args.variants]


def run_variant(w: db.World, variant: str, concurrency: int, args: argparse.Namespace) -> Result:
    n = args.n
    if variant == "a":
        from bench.transitions import inprocess
        return inprocess.run(w, n, concurrency)
    if variant == "c":
        from bench.transitions import raw
        return raw.run(w, n, concurrency)
    if variant == "b":
        from bench.transitions import http
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
        return http.run(w, n, connections=concurrency, threads=args.wrk_threads, workers=args.http_workers,
                        keep_dir=args.keep)
    if variant in "de":
        from bench.transitions import spiff
        return spiff.run(w, n, variant)
    raise ValueError(variant)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "uv run python -m bench.transitions " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    started = datetime.now(UTC)
    print(f"bench/transitions: N={args.n} hazards x 7 transitions, concurrency 1 and {args.concurrency}, "
          f"variants {args.variants}, {args.rounds} round(s)", flush=True)
    rounds: dict[tuple[str, str], list[Result]] = {}
    with database(args) as (url, suffix):
        w = db.seed(url, suffix)
        prints = {}
        try:
            if "c" in args.variants:
                from bench.transitions import parity

                problems = parity.check(w)
                if problems:
                    raise RuntimeError("(c) no longer sends what the service sends; update raw.py:\n"
                                       + "\n".join(problems))
                print("  parity: (c) sends the statements (a) sends, action by action", flush=True)
            if args.show_sql:
                from bench.transitions import parity

                for action, sqls in parity.statements(w).items():
                    print(f"  {action}:")
                    for sql in sqls:
                        print(f"    {sql}")
            for r in range(args.rounds):
                for variant, concurrency in plan(args):
                    db.reset(url)
                    machine.wait_quiet(args.quiet_below, args.quiet_wait)
                    t = time.perf_counter()
                    before, cpu = machine.sample(), time.process_time()
                    result = run_variant(w, variant, concurrency, args)
                    result.machine_busy = machine.busy(before, machine.sample())
                    if variant != "b":  # the server's CPU is measured by the HTTP variant itself
                        result.cpu_ms = (time.process_time() - cpu) / result.transitions * 1000
                    if variant not in "de":
                        problems = db.verify(url, args.n)
                        if problems:
                            raise RuntimeError(f"{result.label} @{concurrency}: " + "; ".join(problems))
                    if r == 0 and concurrency == 1 and variant in "ac":
                        prints[variant] = db.fingerprint(url)
                    rounds.setdefault(key(result), []).append(result)
                    busy = f"{result.machine_busy:.0%}" if result.machine_busy is not None else "?"
                    print(f"  round {r + 1}: {result.label:<40} @{concurrency:<3} {result.transitions} transitions "
                          f"in {result.seconds:.2f} s = {result.rate:.1f}/s (verified; machine busy {busy}; "
                          f"{time.perf_counter() - t:.0f} s with setup)", flush=True)
            if len(prints) == 2:
                diff = db.first_difference(prints["a"], prints["c"])
                if diff:
                    raise RuntimeError(f"(c) did not write what (a) writes:\n{diff}")
                print(f"  parity: (a) and (c) at one connection wrote the same {len(prints['a'])} rows "
                      "(timestamps aside)", flush=True)
            env = environment(url)
            if args.profile:
                profile(w, url, args)
        except Exception as exc:  # noqa: BLE001 - a wrong result must not look like a figure
            print(f"\nBENCHMARK INVALID: {exc}", file=sys.stderr)
            return 2
    print()
    print(render(rounds, args.concurrency))
    print("\nenvironment:")
    for line in env:
        print(f"  {line}")
    print(f"\ncommand: {command}\ndate: {started.isoformat(timespec='seconds')}")
    if args.json:
        chosen = {k: pick(v) for k, v in rounds.items()}
        args.json.write_text(json.dumps({
            "command": command, "date": started.isoformat(), "n": args.n, "environment": env,
            "results": [vars(pick(v)) | {"rate": pick(v).rate, "all_rates": [x.rate for x in v]}
                        for _, v in sorted(rounds.items())],
            "ratios": [{"name": t.name, "value": value, "target": t.minimum}
                       for t, value in ratios(chosen, args.concurrency)],
        }, ensure_ascii=False, indent=2))
    return 0


def profile(w: db.World, url: str, args: argparse.Namespace) -> None:
    from bench.transitions import inprocess

    n = min(args.n, 500)
    db.reset(url)
    prof = cProfile.Profile()
    prof.enable()
    result = inprocess.run(w, n, 1)
    prof.disable()
    prof.dump_stats(args.profile)
    print(f"\nprofile of (a) @1, {result.transitions} transitions ({result.rate:.0f}/s under the profiler), "
          f"written to {args.profile}:")
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    sys.exit(main())
