"""`uv run python -m bench.outbox --events 5000 --per-event 30`: see the package docstring and
bench/RESULTS.md.

Exit status: 0 when every variant ran and was verified, whatever the target says (PASS/FAIL is
printed); 2 when a variant could not run or its result was wrong (an event not delivered, a
delivery not sent, a webhook received twice or unsigned, an inbox item missing).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path


from bench.outbox import mirror as bench_mirror, prefect_server, world
from bench.sweep.report import environment
from bench.transitions import machine
from bench.transitions.world import fresh_database, reset

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parents[2]
HOOK_SECRET = "bench-outbox-secret"
# issue 15, item 4: notification delivery (f) in events per second, by the Prefect server's database
TARGETS = {"postgresql": 500.0, "sqlite": 300.0}


@dataclass(frozen=True)
class Variant:
    """One measured way of delivering the events: `work(codes)` runs it (timed) and returns its
    totals; `events(args)` says how many events it gets. A further variant (say the lifecycle
    mirror, in its own module) is one more entry of `VARIANTS` and of the plan in `main`."""

    key: str
    label: str
    work: Callable[[list[str]], dict]
    events: Callable[[argparse.Namespace], int]


@dataclass
class Result:
    variant: str
    events: int
    seconds: float
    cpu_seconds: float  # this process (the flow runs in it); not the Prefect server's or PostgreSQL's
    machine_busy: float | None
    deliveries: int
    make_seconds: float  # making the events (not timed)
    totals: dict = field(default_factory=dict)
    checked: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return VARIANTS[self.variant].label

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "label": self.label, "events_per_second": self.rate,
                "deliveries_per_second": self.deliveries / self.seconds if self.seconds else 0.0}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.outbox", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=5000, help="events for (f) and (f0)")
    p.add_argument("--per-event", type=int, default=30, help="events for (p), one flow run each; 0: no (p)")
    p.add_argument("--enterprise-users", type=int, default=3, help="inbox recipients of each event")
    p.add_argument("--no-inprocess", action="store_true", help="skip (f0)")
    p.add_argument("--server-url", default=DEFAULT_SERVER,
                   help="PostgreSQL server on which a fresh database is created and dropped")
    p.add_argument("--quiet-below", type=float, default=0.3,
                   help="before each timed pass, wait until the machine is busy less than this share")
    p.add_argument("--quiet-wait", type=float, default=30.0, help="... but no longer than this many seconds")
    p.add_argument("--prefect-db", choices=("sqlite", "postgresql"), default="postgresql",
                   help="the Prefect server's database: a fresh PostgreSQL database on --server-url (as in "
                        "production) or its embedded SQLite file")
    p.add_argument("--mirror-transitions", type=int, default=10_000,
                   help="(m) the lifecycle mirror: a burst of this many transitions drained into Prefect; 0: no (m)")
    p.add_argument("--prefect-workers", type=int, default=1,
                   help="the Prefect API on this many processes and its services in one more, as `hazard serve` "
                        "runs it with HAZARD_PREFECT_WORKERS (PostgreSQL only; needs --redis-url)")
    p.add_argument("--redis-url", help="a Redis database for Prefect's messaging with --prefect-workers > 1 "
                                       "(EMPTIED before the run)")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    if args.prefect_workers > 1 and (args.prefect_db != "postgresql" or not args.redis_url):
        p.error("--prefect-workers > 1 needs --prefect-db postgresql and --redis-url")
    if args.events < 1 or args.per_event < 0 or args.enterprise_users < 1 or args.mirror_transitions < 0:
        p.error("need --events >= 1, --per-event >= 0, --enterprise-users >= 1, --mirror-transitions >= 0")
    return args


def _start(argv: list[str], env: dict[str, str], ready: str, timeout: float, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, start_new_session=True, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while not prefect_server.answers(ready):
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            raise RuntimeError(f"{argv[2:5]} did not start: {log.read_text()[-2000:]}")
        time.sleep(0.5)
    return proc


_stop = prefect_server.stop


def _inprocess() -> dict[str, int]:
    """(f0): the `outbox` flow's own loop (`flows.outbox.stage_and_deliver`, same threads, same
    batch sizes) with the tasks' plain functions: no Prefect at all."""
    from flows.outbox import deliver, stage, stage_and_deliver

    return stage_and_deliver(stage.fn, deliver.fn, time.monotonic(), 3600.0)


def _batched(codes: list[str]) -> dict[str, int]:
    """(f): the `outbox` flow, one real flow run for all N events (the deployment's has a 45 s budget)."""
    from flows.outbox import outbox_delivery

    return outbox_delivery(time_budget=3600.0)


def _per_event(codes: list[str]) -> dict[str, int]:
    """(p): one flow run per event."""
    from bench.outbox.perevent import one_event

    totals: dict[str, int] = {}
    for code in codes:
        for key, v in one_event(code).items():
            totals[key] = totals.get(key, 0) + v
    return totals


VARIANTS: dict[str, Variant] = {v.key: v for v in (
    Variant("f", "(f) batched: outbox flow, one Prefect flow run", _batched, lambda a: a.events),
    Variant("f0", "(f0) the same loop in-process, no Prefect", lambda codes: _inprocess(), lambda a: a.events),
    Variant("p", "(p) one Prefect flow run per event", _per_event, lambda a: a.per_event),
)}


def run_variant(variant: str, w, k: int, args: argparse.Namespace, hook_base: str) -> Result:
    """Fresh tables and `k` fresh events, then the variant, timed, then the check."""
    reset(w.url)
    world.receiver_reset(hook_base)
    t = time.perf_counter()
    codes = world.make_events(w, k)
    made = time.perf_counter() - t
    machine.wait_quiet(args.quiet_below, args.quiet_wait)
    before, cpu = machine.sample(), time.process_time()
    t = time.perf_counter()
    totals = VARIANTS[variant].work(codes)
    seconds = time.perf_counter() - t
    cpu, share = time.process_time() - cpu, machine.busy(before, machine.sample())
    c = world.counts(w.url)
    hook = world.receiver_stats(hook_base)
    problems = world.check(c, hook, k, args.enterprise_users)
    if problems:
        raise RuntimeError(f"{VARIANTS[variant].label}: " + "; ".join(problems))
    return Result(variant, k, seconds, cpu, share, c.deliveries, made, totals, {**c.as_dict(), "receiver": hook})


def target(results: list[Result], prefect_db: str) -> dict:
    """The issue's target for (f) against the Prefect database in use: name, figure, pass."""
    goal = TARGETS[prefect_db]
    f = next((r for r in results if r.variant == "f"), None)
    return {"name": f"(f) at least {goal:.0f} events/s with Prefect on {prefect_db}", "goal": goal,
            "events_per_second": f.rate if f else None, "pass": f.rate >= goal if f else None}


def render(results: list[Result], args: argparse.Namespace) -> list[str]:
    head = (f"{'variant':<48} {'events':>7} {'deliv.':>7} {'seconds':>8} {'events/s':>9} {'deliv./s':>9} "
            f"{'CPU s':>7} {'busy':>5}")
    lines = [head, "-" * len(head)]
    for r in results:
        busy = f"{r.machine_busy:.0%}" if r.machine_busy is not None else "-"
        lines.append(f"{r.label:<48} {r.events:>7,} {r.deliveries:>7,} {r.seconds:>8.2f} {r.rate:>9.1f} "
                     f"{r.deliveries / r.seconds:>9.1f} {r.cpu_seconds:>7.2f} {busy:>5}")
    lines += [f"  (each event: {args.enterprise_users} inbox deliveries and 1 webhook POST; seconds: from the start",
              "   until every delivery is sent; CPU s: the benchmark process, where the flows run (the Prefect",
              "   server, PostgreSQL and the receiver are other processes); busy: all cores, everyone included)"]
    by = {r.variant: r for r in results}
    lines += ["", "ratios, measured side by side in this run:"]
    if "f" in by and "p" in by:
        lines.append(f"  (f)/(p) events per second  {by['f'].rate / by['p'].rate:8.1f}   "
                     f"({by['f'].rate:.1f} vs {by['p'].rate:.1f} events/s)")
    if "f" in by and "f0" in by:
        lines.append(f"  (f)/(f0) events per second {by['f'].rate / by['f0'].rate:8.3f}   "
                     f"(Prefect's share of the batched run: {by['f'].seconds - by['f0'].seconds:+.2f} s)")
    lines += ["", "targets (issue 15): (f) >= 500 events/s with Prefect on PostgreSQL, >= 300 on its embedded SQLite"]
    t = target(results, args.prefect_db)
    if t["pass"] is not None:
        lines.append(f"  {t['name']}: {'PASS' if t['pass'] else 'FAIL'} "
                     f"({t['events_per_second']:.1f} events/s over {by['f'].events:,} events)")
    else:
        lines.append(f"  {t['name']}: not measured (no (f) in this run)")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "uv run python -m bench.outbox " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    started = datetime.now(UTC)
    print(f"bench/outbox: (f) over {args.events:,} events, (p) over {args.per_event:,}; "
          f"{args.enterprise_users} enterprise users + 1 webhook per event", flush=True)
    results: list[Result] = []
    receiver = mirrored = None
    with tempfile.TemporaryDirectory(prefix="bench-outbox-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        try:
            hook_port = prefect_server.free_port()
            hook_base = f"http://127.0.0.1:{hook_port}"
            receiver = _start([sys.executable, "-m", "bench.outbox.receiver", str(hook_port), HOOK_SECRET],
                              dict(os.environ), hook_base + "/stats", 30, folder / "receiver.log")
            t = time.perf_counter()
            server = stack.enter_context(prefect_server.prefect_server(args.server_url, args.prefect_db,
                                                                       args.prefect_workers, args.redis_url))
            api = server.api
            penv = {"PREFECT_HOME": str(folder / "prefect"), "PREFECT_API_URL": api}  # this process: a client
            where = "PostgreSQL" if args.prefect_db == "postgresql" else "SQLite, embedded"
            if args.prefect_workers > 1:
                where += f", API on {args.prefect_workers} processes + its services, Redis"
            print(f"  Prefect server ({where}) up in {time.perf_counter() - t:.0f} s; "
                  f"webhook receiver on {hook_base}", flush=True)
            with fresh_database(args.server_url) as url:
                os.environ.update(penv)  # before prefect is imported in this process
                os.environ.update({
                    "HAZARD_DATABASE_URL": url, "HAZARD_DATA_DIR": str(folder / "data"),
                    "HAZARD_WEBHOOKS": json.dumps([{"name": "bench", "url": hook_base + "/hazard",
                                                    "secret": HOOK_SECRET, "kinds": ["notify.*"]}]),
                })
                from services.kernel import logs
                from services.kernel.settings import get_settings

                get_settings.cache_clear()
                logs.configure("WARNING")  # not 20,000 'outbox_delivered' lines on the terminal
                w = world.seed_world(url, args.enterprise_users)
                # Warm-up, not timed: imports, the flows' registration with the server, the pool.
                from bench.outbox.perevent import one_event
                from flows.outbox import outbox_delivery

                outbox_delivery(time_budget=5.0)
                one_event("none")
                plan = ([] if args.no_inprocess else ["f0"]) + ["f"] + (["p"] if args.per_event else [])
                for variant, k in ((v, VARIANTS[v].events(args)) for v in plan):
                    r = run_variant(variant, w, k, args, hook_base)
                    results.append(r)
                    busy = f"{r.machine_busy:.0%}" if r.machine_busy is not None else "?"
                    print(f"  {r.label:<48} {k:>6,} events, {r.deliveries:,} deliveries in {r.seconds:.2f} s: "
                          f"{r.rate:.1f} events/s (verified; machine busy {busy}; events made in "
                          f"{r.make_seconds:.0f} s)", flush=True)
                if args.mirror_transitions:
                    reset(w.url)
                    machine.wait_quiet(args.quiet_below, args.quiet_wait)
                    mirrored = bench_mirror.measure(w, args.mirror_transitions, args.prefect_db, api,
                                                    prefect_workers=args.prefect_workers, server_cpu=server.cpu)
                    print("\n".join("  " + line for line in mirrored.lines()), flush=True)
                    if mirrored.problems:
                        raise RuntimeError("(m) the mirror's result is wrong: " + "; ".join(mirrored.problems))
                env = environment(url)
                from flows.context import session_factory

                session_factory().kw["bind"].dispose()
                try:  # the run logs still queued, before the server stops
                    from prefect.logging.handlers import APILogHandler

                    APILogHandler().flush()
                except Exception:  # noqa: BLE001 - best effort; only log shipping is at stake
                    pass
        except Exception as exc:  # noqa: BLE001 - a wrong result must not look like a figure
            print(f"\nBENCHMARK INVALID: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
        finally:  # the Prefect server stops with the stack
            _stop(receiver)
    env.append(f"prefect {metadata.version('prefect')}: local server on {args.prefect_db}"
               + (f" (API on {args.prefect_workers} processes + its services, Redis messaging)"
                  if args.prefect_workers > 1 else "")
               + ", started by the benchmark; flow runs in the benchmark process")
    print()
    print("\n".join(render(results, args)))
    if mirrored is not None:
        print("\nthe lifecycle mirror (issue 15): a burst committed with the mirror stopped, then drained into Prefect")
        print("\n".join("  " + line for line in mirrored.lines()))
    print("\nenvironment:")
    for line in env:
        print(f"  {line}")
    print(f"\ncommand: {command}\ndate: {started.isoformat(timespec='seconds')}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        by = {r.variant: r for r in results}
        args.json.write_text(json.dumps({
            "command": command, "date": started.isoformat(), "events": args.events, "per_event": args.per_event,
            "enterprise_users": args.enterprise_users, "environment": env,
            "results": [r.as_dict() for r in results],
            "ratio_f_over_p": by["f"].rate / by["p"].rate if "f" in by and "p" in by else None,
            "prefect_db": args.prefect_db, "target": target(results, args.prefect_db),
            "mirror": mirrored.as_dict() if mirrored is not None else None,
        }, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
