"""The lifecycle mirror benchmark's CPU account (bench/outbox): the Prefect server's CPU is that of
every one of its processes, uvicorn's workers below the supervisor included, and the figures it
prints follow from what was measured."""

from __future__ import annotations

import subprocess
import sys
import time

from bench.outbox.mirror import MirrorResult
from bench.outbox.prefect_server import Server, stop

# A supervisor that sleeps while its worker (a grandchild of the test) burns 0.5 s of CPU, then
# says so and waits to be stopped: as `prefect server start --workers N` leaves its work to them.
SUPERVISOR = """
import subprocess, sys
worker = subprocess.Popen([sys.executable, "-c", '''
import sys, time
while time.process_time() < 0.5:
    pass
print("done", flush=True)
time.sleep(600)
'''], stdout=subprocess.PIPE, text=True)
print(worker.stdout.readline().strip(), flush=True)
worker.wait()
"""


def test_the_servers_cpu_counts_its_workers_below_the_supervisor():
    proc = subprocess.Popen([sys.executable, "-c", SUPERVISOR], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "done"
        server = Server("http://127.0.0.1:1/api", (proc,))
        spent = server.cpu()
        assert spent >= 0.5  # the worker's 0.5 s; the supervisor alone used far less
        time.sleep(0.2)
        assert server.cpu() >= spent  # CPU so far: it never goes back
    finally:
        stop(proc)
    assert proc.poll() is not None


def test_the_cpu_line_follows_from_the_measured_seconds():
    r = MirrorResult("postgresql", hazards=589, transitions=10_000, burst_seconds=50.0, caught_up_seconds=55.0,
                     artifacts_seconds=60.0, server_cpu=50.0, mirror_cpu=9.0, machine_busy=0.97, cores=2)
    cpu = [line for line in r.lines() if "CPU until caught up" in line]
    assert len(cpu) == 1
    assert "the Prefect server 50.0 s (5.00 ms per transition: at most 200 transitions/s per core it gets)" in cpu[0]
    assert "the mirror 9.0 s (0.90 ms per transition); the machine 97% busy on 2 cores" in cpu[0]
    assert r.as_dict()["server_cpu"] == 50.0


def test_no_cpu_line_without_the_servers_figure():
    r = MirrorResult("sqlite", hazards=1, transitions=17, burst_seconds=1.0, caught_up_seconds=1.0,
                     artifacts_seconds=1.0)
    assert not any("CPU" in line for line in r.lines())
