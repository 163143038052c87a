"""(b) The HTTP API under concurrency: the real server (`hazard serve --workers N`, i.e.
`python -m app.cli.main serve`) on a loopback port, driven by wrk (compiled, from Debian) so the
client does not eat the CPU the server needs.

A hazard's actions must happen in order, so there is one wrk phase per action over all N hazards:
`phase.lua` hands every request the next line of a requests file (path and JSON body) with the
acting role's token, sends each line exactly once, and times the phase itself. Any answer other
than 200/201, any socket error, or a request count that is not exactly N fails the run loudly:
every counted request must be a real transition. The database is checked afterwards by the caller.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.transitions import machine
from bench.transitions import world as db
from bench.transitions.workload import ACTIONS, ACTOR, Result

REPO = Path(__file__).resolve().parents[2]
LUA = Path(__file__).with_name("phase.lua")
PHASE_TIMEOUT_S = 1800


class HttpBenchError(RuntimeError):
    pass


@dataclass
class PhaseStats:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float


def run(w: db.World, n: int, *, connections: int = 16, threads: int = 2, workers: int = 2,
        keep_dir: Path | None = None) -> Result:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise HttpBenchError("wrk not found: apt-get install wrk")
    workdir = Path(tempfile.mkdtemp(prefix="bench-http-", dir=keep_dir))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = workdir / "server.log"
    env = {**os.environ, "HAZARD_DATABASE_URL": w.url, "HAZARD_ENVIRONMENT": "development"}
    cmd = [sys.executable, "-m", "app.cli.main", "serve", "--api-only", "--host", "127.0.0.1", "--port",
           str(port), "--workers", str(workers)]
    result = Result("b", f"(b) HTTP API, wrk, {workers} workers", connections)
    with log_path.open("w") as log:
        server = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        _wait_ready(base, server, log_path)
        _warm(wrk, base, connections, threads)
        pids = [server.pid, *machine.children(server.pid)]
        per_process = dict.fromkeys(pids, 0.0)

        def timed(name: str, lines: list[tuple[str, str]], token: str) -> PhaseStats:
            before = {p: machine.process_cpu(p) for p in pids}
            stats = _phase(wrk, base, lines, token, connections, threads, workdir, name)
            for p in pids:
                per_process[p] += machine.process_cpu(p) - before[p]
            return stats
        bodies = w.bodies
        report = json.dumps(bodies.report(), ensure_ascii=False)
        lines = [("/api/v1/hazards", report)] * n
        stats = timed("report", lines, w.tokens[ACTOR["report"]])
        result.add_phase("report", stats.requests, stats.seconds)
        _note(result, "report", stats)
        ids = db.hazard_ids(w.url)
        if len(ids) != n:
            raise HttpBenchError(f"report phase: {len(ids)} hazards in the database, expected {n}")
        evidence = db.add_attachments(w.url, ids)
        for action in ACTIONS[1:]:
            if action == "request_acceptance":
                lines = [(f"/api/v1/hazards/{hid}/actions/{action}",
                          json.dumps(bodies.action(action, evidence[hid]), ensure_ascii=False)) for hid in ids]
            else:
                body = json.dumps(bodies.action(action), ensure_ascii=False)
                lines = [(f"/api/v1/hazards/{hid}/actions/{action}", body) for hid in ids]
            stats = timed(action, lines, w.tokens[ACTOR[action]])
            result.add_phase(action, stats.requests, stats.seconds)
            _note(result, action, stats)
        result.cpu_ms = sum(per_process.values()) / result.transitions * 1000
        split = ", ".join(f"{per_process[p] / (sum(result.phases.values()) or 1):.0%}" for p in pids)
        result.notes.append(f"server CPU (the supervisor and its {len(pids) - 1} child processes): "
                            f"{result.cpu_ms:.2f} ms per request; each process busy (of one core) "
                            f"over the timed phases: {split}")
        if "Traceback" in log_path.read_text(errors="replace"):
            raise HttpBenchError(f"the server logged an exception: see {log_path}")
    finally:
        _stop(server)
    if keep_dir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def _note(result: Result, action: str, stats: PhaseStats) -> None:
    result.notes.append(f"{action}: latency p50 {stats.p50_ms:.1f} ms, p99 {stats.p99_ms:.1f} ms")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(base: str, server: subprocess.Popen, log_path: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise HttpBenchError(f"the server exited ({server.returncode}):\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise HttpBenchError(f"the server did not answer /healthz within {timeout:.0f} s")


def _warm(wrk: str, base: str, connections: int, threads: int) -> None:
    """Two seconds of /healthz: both workers start, open their database connections."""
    subprocess.run([wrk, "-t", str(threads), "-c", str(connections), "-d", "2s", base + "/healthz"],
                   check=True, capture_output=True)


def _phase(wrk: str, base: str, lines: list[tuple[str, str]], token: str, connections: int, threads: int,
           workdir: Path, name: str) -> PhaseStats:
    data = workdir / f"{name}.requests"
    done = workdir / f"{name}.done"
    done.mkdir()
    with data.open("w", encoding="utf-8") as fh:
        for path, body in lines:
            if "\t" in body or "\n" in body:
                raise ValueError("a request body must fit on one line without tabs")
            fh.write(f"{path}\t{body}\n")
    cmd = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{PHASE_TIMEOUT_S}s", "--timeout", "60s",
           "-s", str(LUA), "-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/json",
           base, "--", str(data), str(threads), str(done)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    while sum(1 for _ in done.iterdir()) < threads and proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill()
            raise HttpBenchError(f"{name}: wrk did not finish within {PHASE_TIMEOUT_S} s")
        time.sleep(0.01)
    out, err = _end_wrk(proc)
    return _check(name, out, err, len(lines))


def _end_wrk(proc: subprocess.Popen) -> tuple[str, str]:
    """Every thread is done; wrk sleeps until its duration ends, so interrupt it (SIGINT is how
    wrk is stopped early; it then prints its summary and calls `done`)."""
    for _ in range(20):
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            continue
    else:
        proc.kill()
    return proc.communicate()


def _check(name: str, out: str, err: str, expected: int) -> PhaseStats:
    threads, summary, latency, first_bad = [], None, None, []
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("BENCH_THREAD"):
            threads.append([float(x) for x in parts[1:]])
        elif line.startswith("BENCH_SUMMARY"):
            summary = [int(x) for x in parts[1:]]
        elif line.startswith("BENCH_LATENCY_US"):
            latency = [float(x) for x in parts[1:]]
        elif line.startswith("BENCH_FIRST_BAD"):
            first_bad.append(line)
    problems = []
    if summary is None or not threads:
        raise HttpBenchError(f"{name}: no summary from wrk\nstdout:\n{out}\nstderr:\n{err}")
    requests, status_errors, connect, read, write, timeout, _duration = summary
    ok = sum(int(t[3]) for t in threads)
    bad = sum(int(t[4]) for t in threads)
    extra = sum(int(t[7]) for t in threads)
    if "Non-2xx or 3xx responses" in out or status_errors or bad:
        problems.append(f"{bad or status_errors} answers that are not 200/201")
    if connect or read or write or timeout:
        problems.append(f"socket errors: connect {connect}, read {read}, write {write}, timeout {timeout}")
    if ok != expected or requests != expected or extra:
        problems.append(f"{ok} transitions answered 200/201 and {requests} requests completed, "
                        f"expected exactly {expected} ({extra} requests beyond the list)")
    if problems:
        raise HttpBenchError(f"{name}: " + "; ".join(problems) + "\n" + "\n".join(first_bad) + "\n" + out)
    t0 = min(t[5] for t in threads if t[1] > 0)
    t1 = max(t[6] for t in threads if t[1] > 0)
    p50, p99 = (latency[0] / 1000, latency[1] / 1000) if latency else (0.0, 0.0)
    return PhaseStats(ok, (t1 - t0) / 1e6, p50, p99)


def _stop(server: subprocess.Popen) -> None:
    """Stop the server this module started (its own process group: the uvicorn supervisor and its
    workers)."""
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    try:  # workers left behind by a supervisor that was killed
        os.killpg(server.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
