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
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

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


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    kids = [int(x) for x in fh.read().split()]
                out += kids
                todo += kids
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


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
