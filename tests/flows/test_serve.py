"""`hazard serve` end to end, the way an operator runs it: one command starts the API, a local
Prefect server (SQLite, under the data folder) and the served flows.

- The deployments are registered; a run of the outbox flow stages a hazard's work, and a run of
  the sweep escalates it, each in a task run that carries no per-hazard tag and relates to the
  hazard through an event (`hazard.batch.staged`, `hazard.batch.escalated`) found by `hazard.<code>`.
- With the Prefect server killed, the API keeps accepting actions. The supervisor brings Prefect
  back, and the outbox then drains: nothing is lost. The lifecycle mirror then shows each hazard
  as its own run, the one acted on while Prefect was down too.
- Ctrl-C stops everything, and no process is left behind.

Real processes and a real Prefect server, so this test takes a minute or so; it waits on
conditions with deadlines and never asserts a duration.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.serve import EVENT_BATCH
from bench.transitions.machine import descendants
from db.engine import make_engine, make_session_factory, read_only, transaction
from db.migrate import upgrade
from db.models import OutboxMessage
from services.accounts import admin
from tests.conftest import ENTERPRISES, START
from tests.helpers import body_for, report_body
from services.kernel.uscc import make as make_uscc

REPO = Path(__file__).resolve().parents[2]
WAIT = 150.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - loopback
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def wait_for(what: str, check, timeout: float = WAIT, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"hazard serve exited ({proc.returncode}) while waiting for {what}")
        try:
            result = check()
        except OSError:
            result = None
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return ""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


class Served:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.db = f"sqlite:///{tmp / 'hazard.db'}"
        self.port, self.prefect_port = free_port(), free_port()
        self.api = f"http://127.0.0.1:{self.port}"
        self.prefect = f"http://127.0.0.1:{self.prefect_port}/api"
        self.env = {**os.environ, "HAZARD_DATABASE_URL": self.db, "HAZARD_DATA_DIR": str(tmp / "var")}
        for key in [k for k in self.env if k.startswith("PREFECT_")]:
            del self.env[key]
        self.proc: subprocess.Popen | None = None

    def seed(self) -> dict[str, str]:
        upgrade(self.db)
        engine = make_engine(self.db)
        try:
            with transaction(make_session_factory(engine)) as s:
                admin.load_regions_csv(s)
                prefix, name, region, industry = ENTERPRISES["coal"]
                self.uscc = make_uscc(prefix)
                admin.add_enterprise(s, self.uscc, name, region, industry, now=START)
                tokens = {}
                for user, role, ent in (("inspector", "inspector", None), ("ent", "enterprise", self.uscc)):
                    _, tokens[user] = admin.add_user(s, user, role, "141102", now=START, enterprise_uscc=ent,
                                                     display_name=user)
        finally:
            engine.dispose()
        return tokens

    def start(self) -> None:
        self.log = (self.tmp / "serve.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli.main", "serve", "--port", str(self.port),
             "--prefect-port", str(self.prefect_port)],
            cwd=REPO, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)

    def prefect_up(self) -> bool:
        try:
            return http("GET", f"{self.prefect}/health")[0] == 200
        except OSError:  # refused while it is down
            return False

    def run_deployment(self, name: str, parameters: dict | None = None) -> dict:
        _, found = http("POST", f"{self.prefect}/deployments/filter", {"deployments": {"name": {"any_": [name]}}})
        (deployment,) = found

        def create():  # the server answers 503 while its SQLite database is busy: try again
            status, body = http("POST", f"{self.prefect}/deployments/{deployment['id']}/create_flow_run",
                                {"parameters": parameters or {}})
            return body if status == 201 else None

        run = wait_for(f"a {name} run to be created", create, proc=self.proc)

        def finished():
            _, r = http("GET", f"{self.prefect}/flow_runs/{run['id']}")
            return r if r["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None

        done = wait_for(f"the {name} run to finish", finished, proc=self.proc)
        assert done["state_type"] == "COMPLETED", (done["state"], self.tail())
        return done

    def task_runs(self, flow_run_id: str) -> list[dict]:
        return http("POST", f"{self.prefect}/task_runs/filter",
                    {"flow_runs": {"id": {"any_": [flow_run_id]}}})[1]

    def related_runs(self, event: str, code: str, flow_run_id: str) -> list[dict]:
        """The task runs of this flow run that an `event` relates to hazard `code`, once the server
        has stored the event (it does so a moment after it arrives), as the Prefect UI's event feed
        filtered by `hazard.<code>` finds them. Asserts no task run carries a `hazard:` tag."""
        runs = {t["id"]: t for t in self.task_runs(flow_run_id)}
        assert not [t for t in runs.values() for tag in t["tags"] if tag.startswith("hazard:")]

        def found():
            status, page = http("POST", f"{self.prefect}/events/filter", {"filter": {
                "event": {"name": [event]}, "related": {"id": [f"hazard.{code}"]},
                "occurred": {"since": "2000-01-01T00:00:00Z"}}, "limit": 50})
            ids = [e["resource"]["prefect.resource.id"].removeprefix("prefect.task-run.") for e in page["events"]] \
                if status == 200 else []
            return [runs[i] for i in ids if i in runs]

        return wait_for(f"the {event} event of {code}", found, proc=self.proc)

    def pending_notifications(self) -> int:
        engine = make_engine(self.db)
        try:
            with read_only(make_session_factory(engine)) as s:
                return s.execute(select(func.count()).select_from(OutboxMessage).where(
                    OutboxMessage.status == "pending", ~OutboxMessage.kind.startswith("document."))).scalar_one()
        finally:
            engine.dispose()

    def tail(self) -> str:
        self.log.flush()
        return (self.tmp / "serve.log").read_text(errors="replace")[-4000:]


@pytest.fixture
def served(tmp_path):
    s = Served(tmp_path)
    yield s
    if s.proc is not None and s.proc.poll() is None:
        for pid in descendants(s.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        s.proc.kill()
        s.proc.wait()


def test_one_command_runs_api_prefect_and_flows_and_survives_prefect_going_down(served):
    tokens = served.seed()
    served.start()
    wait_for("the API", lambda: http("GET", f"{served.api}/healthz")[0] == 200, proc=served.proc)
    wait_for("the Prefect server", served.prefect_up, proc=served.proc)
    # it runs with serve's settings (app/serve.py: retention_environment), and on its SQLite file
    # stores events in large batches (sqlite_environment: its commits fail the mirror's run creations)
    _, prefect_settings = http("GET", f"{served.prefect}/admin/settings")
    services = prefect_settings["server"]["services"]
    assert services["event_persister"]["batch_size"] == EVENT_BATCH > 20
    assert services["pause_expirations"]["enabled"] is False
    assert services["triggers"]["enabled"] is False
    names = wait_for("the served deployments", lambda: {d["name"] for d in http(
        "POST", f"{served.prefect}/deployments/filter", {})[1]} >= {"escalation-sweep", "outbox", "audit-checkpoint",
                                                                   "audit-verify", "lifecycle-mirror"}, proc=served.proc)
    assert names

    # an action commits; the outbox flow stages its work in a run related to the hazard by an event
    status, hazard = http("POST", f"{served.api}/api/v1/hazards", report_body(), tokens["inspector"])
    assert status == 201
    code, today = hazard["code"], START.date()
    status, _ = http("POST", f"{served.api}/api/v1/hazards/{hazard['id']}/actions/register",
                     body_for("register", today=today + timedelta(days=0), level="general", uscc=served.uscc),
                     tokens["inspector"])
    assert status == 200
    run = served.run_deployment("outbox")
    related = served.related_runs("hazard.batch.staged", code, run["id"])
    assert related and related[0]["name"].startswith(f"stage {code}")
    assert served.pending_notifications() == 0

    # the sweep, run as of a day when the hazard is long overdue, escalates it in a related run
    run = served.run_deployment("escalation-sweep", {"as_of": (today + timedelta(days=90)).isoformat()})
    related = served.related_runs("hazard.batch.escalated", code, run["id"])
    assert [t["name"] for t in related] == [f"escalate {code}"]
    assert served.pending_notifications() > 0

    # Prefect goes down: the API keeps accepting actions, their work waits in the outbox
    (prefect_pid,) = [p for p in descendants(served.proc.pid) if "prefect server start" in cmdline(p)]
    os.killpg(prefect_pid, signal.SIGKILL)
    wait_for("the Prefect server to stop answering", lambda: not served.prefect_up())
    status, second = http("POST", f"{served.api}/api/v1/hazards", report_body(title="配电室积水"), tokens["inspector"])
    assert status == 201
    status, _ = http("POST", f"{served.api}/api/v1/hazards/{second['id']}/actions/register",
                     body_for("register", today=today, level="general", uscc=served.uscc), tokens["inspector"])
    assert status == 200
    assert served.pending_notifications() > 0

    # ... the supervisor restarts it, and the outbox drains: nothing lost
    wait_for("the Prefect server to be back", served.prefect_up, proc=served.proc)
    run = served.run_deployment("outbox")
    assert served.related_runs("hazard.batch.staged", second["code"], run["id"])
    assert served.pending_notifications() == 0
    served.log.flush()  # no event was refused for having too many related resources
    assert "maximum number of related resources" not in (served.tmp / "serve.log").read_text(errors="replace")
    status, inbox = http("GET", f"{served.api}/api/v1/me/inbox", token=tokens["ent"])
    assert status == 200
    texts = json.dumps(inbox["messages"], ensure_ascii=False)
    assert code in texts and second["code"] in texts

    # the lifecycle mirror shows each hazard as its own run, the one acted on while Prefect was
    # down too (a mirror run started here, or the served one of this minute: one writes at a time)
    served.run_deployment("lifecycle-mirror", {"time_budget": 5.0, "idle": 0.5})

    def lifecycle_runs():
        found = {}
        for h in (hazard, second):
            _, runs = http("POST", f"{served.prefect}/flow_runs/filter",
                           {"flow_runs": {"name": {"like_": h["code"]}}})
            found[h["code"]] = [(r["name"].split(" ")[0], r["state_type"], r["state_name"]) for r in runs]
        return found if all(found.values()) else None

    runs = wait_for("each hazard's lifecycle run", lifecycle_runs, proc=served.proc)
    assert runs == {h["code"]: [(h["code"], "PAUSED", "已登记（限期整改）")] for h in (hazard, second)}

    # Ctrl-C stops all of it
    before = descendants(served.proc.pid)
    assert len(before) >= 3
    served.proc.send_signal(signal.SIGINT)
    assert served.proc.wait(60) == 0, served.tail()
    wait_for("every child to be gone", lambda: not any(alive(p) for p in before), timeout=30)


# --- the served Prefect on several processes (HAZARD_PREFECT_WORKERS) -------------------------------

REDIS_TEST_URL = os.environ.get("HAZARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")


@pytest.fixture
def prefect_pg(pg_server) -> Iterator[str]:
    """A fresh PostgreSQL database for the served Prefect, and an emptied Redis database."""
    import redis
    from sqlalchemy.engine import make_url

    from tests.pg_provision import create_database, drop_database

    name = f"prefect_serve_{uuid.uuid4().hex[:10]}"
    url = create_database(pg_server.url, name)
    with redis.Redis.from_url(REDIS_TEST_URL) as r:
        r.flushdb()
    yield make_url(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    drop_database(pg_server.url, name)


def test_the_served_prefect_runs_on_two_api_processes_and_its_services_through_redis(served, prefect_pg):
    """An office whose Prefect needs more than one core: its API on two processes, its services in
    a third, events crossing through Redis. An act shows as its hazard's run and as Prefect events
    (posted to whichever API process, stored by the services' one); Ctrl-C stops it all."""
    tokens = served.seed()
    served.env.update({"HAZARD_PREFECT_DATABASE_URL": prefect_pg, "HAZARD_PREFECT_WORKERS": "2",
                       "HAZARD_PREFECT_REDIS_URL": REDIS_TEST_URL})
    served.start()
    wait_for("the API", lambda: http("GET", f"{served.api}/healthz")[0] == 200, proc=served.proc)
    wait_for("the Prefect server", served.prefect_up, proc=served.proc)
    wait_for("the served deployments", lambda: "lifecycle-mirror" in {d["name"] for d in http(
        "POST", f"{served.prefect}/deployments/filter", {})[1]}, proc=served.proc)
    tree = [cmdline(p) for p in descendants(served.proc.pid)]
    assert [c for c in tree if "prefect server start" in c and "--workers 2" in c], tree
    assert [c for c in tree if "prefect server services start" in c], tree
    assert len([c for c in tree if "multiprocessing" in c and "spawn" in c]) >= 2, tree  # the API's two
    # Prefect's block types were registered once before the API processes started (each doing it at
    # once fails one's startup on a fresh database, and that stops them all)
    assert len(http("POST", f"{served.prefect}/block_types/filter", {})[1]) > 10
    # the SQLite-only setting stays off PostgreSQL: Prefect's own event batches
    persister = http("GET", f"{served.prefect}/admin/settings")[1]["server"]["services"]["event_persister"]
    assert persister["batch_size"] != EVENT_BATCH

    status, hazard = http("POST", f"{served.api}/api/v1/hazards", report_body(), tokens["inspector"])
    assert status == 201
    code = hazard["code"]
    status, _ = http("POST", f"{served.api}/api/v1/hazards/{hazard['id']}/actions/register",
                     body_for("register", today=START.date(), level="general", uscc=served.uscc), tokens["inspector"])
    assert status == 200
    served.run_deployment("lifecycle-mirror", {"time_budget": 5.0, "idle": 0.5})

    def lifecycle_run():
        _, runs = http("POST", f"{served.prefect}/flow_runs/filter", {"flow_runs": {"name": {"like_": code}}})
        return runs

    (run,) = wait_for("the hazard's lifecycle run", lifecycle_run, proc=served.proc)
    assert (run["state_type"], run["state_name"]) == ("PAUSED", "已登记（限期整改）")
    _, history = http("GET", f"{served.prefect}/flow_run_states/?flow_run_id={run['id']}")
    assert [s["name"] for s in history] == ["待核查", "已登记（限期整改）"]

    def stored_events():  # ours on hazard.<code>, and Prefect's own state changes of the run
        _, page = http("POST", f"{served.prefect}/events/filter", {"filter": {
            "any_resource": {"id": [f"hazard.{code}", f"prefect.flow-run.{run['id']}"]},
            "occurred": {"since": "2000-01-01T00:00:00Z"}}, "limit": 50})
        names = sorted(e["event"] for e in page.get("events", []))
        return names if len([n for n in names if n.startswith("hazard.")]) == 2 and \
            len([n for n in names if n.startswith("prefect.flow-run.")]) == 2 else None

    names = wait_for("the hazard's events in Prefect's store", stored_events, proc=served.proc)
    assert {"hazard.report", "hazard.register", "prefect.flow-run.待核查", "prefect.flow-run.已登记（限期整改）"} <= set(names)

    before = descendants(served.proc.pid)
    served.proc.send_signal(signal.SIGINT)
    assert served.proc.wait(60) == 0, served.tail()
    wait_for("every child to be gone", lambda: not any(alive(p) for p in before), timeout=30)


@pytest.mark.parametrize("missing", ["database", "redis"])
def test_serve_refuses_several_prefect_processes_without_postgresql_or_redis(tmp_path, missing):
    env = {**os.environ, "HAZARD_DATABASE_URL": f"sqlite:///{tmp_path / 'hazard.db'}",
           "HAZARD_DATA_DIR": str(tmp_path / "var"), "HAZARD_PREFECT_WORKERS": "3"}
    if missing == "redis":
        env["HAZARD_PREFECT_DATABASE_URL"] = "postgresql+asyncpg://postgres@127.0.0.1:5432/prefect"
    else:
        env["HAZARD_PREFECT_REDIS_URL"] = "redis://127.0.0.1:6379/7"
    done = subprocess.run([sys.executable, "-m", "app.cli.main", "serve", "--port", str(free_port())], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert ("PostgreSQL" if missing == "database" else "Redis") in done.stderr
    assert "HAZARD_PREFECT_WORKERS" in done.stderr and "Traceback" not in done.stderr
