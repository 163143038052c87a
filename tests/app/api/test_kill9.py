"""`kill -9` of the real API server under concurrent load, on PostgreSQL (DESIGN 3: one transaction
per state change, the event and the outbox rows in it; DESIGN 4: Idempotency-Key).

The server runs as an operator runs it (`hazard serve --api-only`, its own process group). Threads
drive hazards through report, register, comments, plans and progress reports, several of them on
one shared hazard at once, some with an Idempotency-Key, and keep every 2xx answer. Once enough
answers have come back (or a bounded time has passed) the whole process group gets SIGKILL, with
requests still in flight. Then, from the database alone:

- every 2xx has its audit event (hazard, seq = the answered version, action) and exactly the outbox
  rows the lifecycle table declares for that action (documents and notifications are outbox kinds);
- no hazard has an event its row does not count, or the other way round (events 1..version);
- `services.audit.verification.verify` finds the trail intact.

The server is started again: it answers, a replayed Idempotency-Key gets the stored answer without
a second effect, and a keyed report whose answer was lost in the crash, sent again, exists once.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from db.engine import make_engine, make_session_factory, read_only
from db.models import AuditEvent, Hazard, OutboxMessage
from services.audit import verification as audit
from services.kernel.clock import local_date, utcnow
from services.lifecycle.table import LIFECYCLE
from tests.conftest import build_world
from tests.helpers import report_body

pytestmark = pytest.mark.pg_only

REPO = Path(__file__).resolve().parents[3]
THREADS = 8
KILL_AFTER = 150  # 2xx answers before the kill (a few seconds of load)...
LOAD_SECONDS = 20.0  # ...or this long into the load on a very slow machine, whichever comes first
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python -m app.cli.main serve --api-only` in a process group of its own."""

    def __init__(self, db_url: str, tmp: Path) -> None:
        self.env = {**os.environ, "HAZARD_DATABASE_URL": db_url, "HAZARD_DATA_DIR": str(tmp / "var"),
                    "HAZARD_ENVIRONMENT": "development", "HAZARD_LOG_LEVEL": "WARNING"}
        self.log = tmp / "server.log"
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "app.cli.main", "serve", "--api-only", "--port", str(port)],
                cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:  # polling for the port, the only wait in this test
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server did not answer within {START_TIMEOUT}s:\n{self.log.read_text()[-3000:]}")

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)


@dataclass
class Answer:
    user: str
    path: str
    body: dict[str, Any]
    key: str | None
    status: int
    data: dict[str, Any]
    action: str


@dataclass
class Load:
    """Requests sent and answers kept, shared by the worker threads."""

    url: str
    tokens: dict[str, str]
    uscc: str
    answers: list[Answer] = field(default_factory=list)
    lost: list[tuple[str, str, dict[str, Any], str | None]] = field(default_factory=list)  # no answer
    refused: list[str] = field(default_factory=list)  # 4xx/5xx before the kill: a bug in the load
    killed: threading.Event = field(default_factory=threading.Event)
    enough: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    keys: itertools.count = field(default_factory=itertools.count)

    def send(self, client: httpx.Client, user: str, path: str, body: dict[str, Any], action: str,
             keyed: bool) -> Answer | None:
        key = f"k9-{uuid.uuid4().hex}" if keyed else None
        headers = {"Authorization": f"Bearer {self.tokens[user]}", **({"Idempotency-Key": key} if key else {})}
        try:
            resp = client.post(f"{self.url}/api/v1{path}", json=body, headers=headers)
        except httpx.HTTPError:
            with self.lock:
                self.lost.append((user, path, body, key))
            return None
        with self.lock:
            if 200 <= resp.status_code < 300:
                answer = Answer(user, path, body, key, resp.status_code, resp.json(), action)
                self.answers.append(answer)
                if len(self.answers) >= KILL_AFTER:
                    self.enough.set()
                return answer
            if not self.killed.is_set():
                self.refused.append(f"{path} as {user}: {resp.status_code} {resp.text[:300]}")
        return None

    def worker(self, n: int, shared: int) -> None:
        today = local_date(utcnow())
        with httpx.Client(timeout=30) as client:
            for i in itertools.count():
                if self.killed.is_set():
                    return
                title = f"巷道顶板离层 {n}-{i}-{uuid.uuid4().hex[:8]}"  # unique: a lost report is found by it
                made = self.send(client, "inspector", "/hazards", report_body(title=title, enterprise_uscc=self.uscc),
                                 "report", keyed=i % 2 == 0)
                if made is None:
                    return
                hid = made.data["id"]
                steps = [
                    ("inspector", "register", {"level": "general", "enterprise_uscc": self.uscc,
                                               "deadline": (today + timedelta(days=60)).isoformat()}, False),
                    ("ent_coal", "comment", {"text": f"收到 {n}-{i}"}, True),
                    ("ent_coal", "file_plan", {"responsible_person": "张建国", "measures": "补打锚索"}, False),
                    ("ent_coal", "report_progress", {"note": "已完成一半"}, True),
                ]
                for user, action, body, keyed in steps:
                    if self.send(client, user, f"/hazards/{hid}/actions/{action}", body, action, keyed) is None:
                        return
                    shared_comment = {"text": f"共同隐患备注 {n}-{i}-{action}"}
                    if self.send(client, "inspector2", f"/hazards/{shared}/actions/comment", shared_comment,
                                 "comment", keyed=action == "comment") is None:
                        return


def expected_kinds(action: str) -> list[str]:
    return sorted(LIFECYCLE[action].effects)  # none of the actions driven here has body-chosen effects


def test_kill_9_under_load_loses_nothing_that_was_answered(pg_url, tmp_path):
    engine = make_engine(pg_url, pool_size=2, max_overflow=2)
    factory = make_session_factory(engine)
    world = build_world(factory)
    server = Server(pg_url, tmp_path)
    try:
        server.start()
        load = Load(server.url, world.tokens, world.enterprises["coal"])
        with httpx.Client(timeout=30) as client:
            shared = load.send(client, "inspector", "/hazards", report_body(enterprise_uscc=load.uscc), "report",
                               keyed=False)
        assert shared is not None, load.refused
        threads = [threading.Thread(target=load.worker, args=(n, shared.data["id"]), daemon=True)
                   for n in range(THREADS)]
        for t in threads:
            t.start()
        load.enough.wait(timeout=LOAD_SECONDS)
        load.killed.set()
        server.kill9()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
        assert not load.refused, load.refused[:5]
        answered = list(load.answers)
        assert len(answered) >= 40, f"only {len(answered)} answers before the kill: the load did not run"

        with read_only(factory) as s:
            events = {(e.hazard_id, e.seq): e
                      for e in s.execute(select(AuditEvent.hazard_id, AuditEvent.seq, AuditEvent.id, AuditEvent.action))}
            outbox: dict[int, list[str]] = {}
            for event_id, kind in s.execute(select(OutboxMessage.event_id, OutboxMessage.kind)):
                outbox.setdefault(event_id, []).append(kind)
            versions = dict(s.execute(select(Hazard.id, Hazard.version)).all())
            counted = dict(s.execute(select(AuditEvent.hazard_id, func.count()).group_by(AuditEvent.hazard_id)).all())
            report = audit.verify(s)
        problems = []
        for a in answered:
            hid, version = a.data["id"], a.data["version"]
            event = events.get((hid, version))
            if event is None or event.action != a.action:
                problems.append(f"{a.action} on #{hid} answered v{version}: no such event ({event and event.action})")
            elif sorted(outbox.get(event.id, [])) != expected_kinds(a.action):
                problems.append(f"{a.action} on #{hid} v{version}: outbox {sorted(outbox.get(event.id, []))}, "
                                f"the table says {expected_kinds(a.action)}")
        for hid, version in versions.items():
            if counted.get(hid, 0) != version or (hid, version) not in events:
                problems.append(f"hazard #{hid}: version {version}, {counted.get(hid, 0)} events")
        assert not problems, f"{len(problems)} problem(s) after kill -9:\n" + "\n".join(problems[:30])
        assert report.ok, report.as_dict()
        print(f"kill -9 after {len(answered)} answers; {len(load.lost)} requests in flight lost their answer; "
              f"{len(versions)} hazards, {len(events)} events")

        # --- the server comes back ------------------------------------------------------------------
        server.start()
        keyed = [a for a in answered if a.key is not None]
        assert keyed
        with httpx.Client(timeout=30) as client:
            again = keyed[-1]
            before = counted[again.data["id"]]
            resp = client.post(f"{server.url}/api/v1{again.path}", json=again.body,
                               headers={"Authorization": f"Bearer {world.tokens[again.user]}",
                                        "Idempotency-Key": again.key})
            assert (resp.status_code, resp.json()) == (again.status, again.data)
            assert resp.headers.get("Idempotent-Replayed") == "true"
            lost_reports = [(u, p, b, k) for u, p, b, k in load.lost if p == "/hazards" and k is not None]
            for user, path, body, key in lost_reports:  # the crash ate the answer, not the effect
                resp = client.post(f"{server.url}/api/v1{path}", json=body,
                                   headers={"Authorization": f"Bearer {world.tokens[user]}", "Idempotency-Key": key})
                assert resp.status_code == 201, resp.text
        with read_only(factory) as s:
            assert s.scalar(select(func.count()).select_from(AuditEvent)
                            .where(AuditEvent.hazard_id == again.data["id"])) == before
            for _, _, body, _ in lost_reports:
                assert s.scalar(select(func.count()).select_from(Hazard).where(Hazard.title == body["title"])) == 1
            report = audit.verify(s)
        assert report.ok, report.as_dict()
    finally:
        server.stop()
        engine.dispose()
