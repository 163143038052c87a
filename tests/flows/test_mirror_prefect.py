"""The lifecycle mirror (issue 15) against a real Prefect server, read back as the Prefect UI shows it.

- A hazard walked from report to 销号 has one flow run whose state history is its lifecycle, in
  order, by Chinese label (PAUSED while open, never expiring; COMPLETED 已销号), one `第N步` log line
  per chain event and one line per notification sent, a few tags and none per hazard, the keyed
  artifact and one Prefect event per chain event; mirroring again adds nothing, and a further act
  on another hazard adds exactly its own lines.
- A mirror killed half-way (after the states, before the lines; or after everything reached
  Prefect, before its marker) is resumed by the next pass without a duplicate state or line.
- With Prefect away a pass records failures and keeps the queue, the service's API still answers,
  and once Prefect is back and the backoff has passed the items catch up.
- A run found under the item's key that another database left (a demo loaded afresh against a
  Prefect server that kept its runs) is replaced, also when the first pass had failed.
- A unit's part of a task list gets its own run `task-<id> …`, starting at 待签收.
- `hazard prefect resync --code C` replaces the hazard's run (never adds to it) and `status` says
  what waits and what keeps failing.

The Prefect server is `prefect_test_harness`'s, the mirror's code reads its URL from Prefect's
settings; the flow process's database is this test's (`mirror_env`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound
from prefect.states import State
from sqlalchemy import func, insert, select, text, update

from db.engine import read_only, transaction
from db.models import Delivery, MirrorLease, MirrorQueue, TaskAssignment
from flows.context import unit_of_work
from flows.mirror import PrefectSink, mirror_now
from services.engine import transitions
from services.kernel.clock import local_date, utcnow
from services.mirror import stream
from services.mirror.render import FLOW_NAME, STEP_TOKEN
from services.tasks import engine as tasks
from services.tasks.states import TASK_STATE_LABELS, TaskState
from tests.flows.mirror_support import (
    artifact, chain, closed_port, code_and_title, event_ids, events_of, lifecycle_labels, logs, marker, mirror_env,
    prefect, prefect_at, prefect_server, run, runs_named, states, walk,
)
from tests.helpers import add_attachment, body_for, drive
from tests.services.tasks.conftest import tasks_world

__all__ = ["mirror_env", "prefect", "prefect_server", "tasks_world"]  # fixtures, used by name

REPO = Path(__file__).resolve().parents[2]


def steps(lines: list[str]) -> list[int]:
    """The `N` of each `第N步` line, in the order the lines are listed."""
    return [int(m.group(1)) for m in map(STEP_TOKEN.match, lines) if m]


def queued(factory, item: str) -> int:
    with read_only(factory) as s:
        return s.scalar(select(func.count()).select_from(MirrorQueue).where(MirrorQueue.item == item))


def sent_notice(factory, hazard_id: int, now) -> int:
    """A notification about the hazard that reached its recipient (as the outbox marks one)."""
    with transaction(factory) as s:
        s.execute(text("INSERT INTO deliveries (outbox_id, channel, recipient, user_id, hazard_id, dedupe_key, subject,"
                       " body, status, attempts, available_at, created_at) VALUES (NULL, 'inbox', '检查员', NULL, :h,"
                       " :k, '隐患已销号', 'b', 'pending', 0, :now, :now)"), {"h": hazard_id, "k": f"m{hazard_id}",
                                                                         "now": now})
        s.execute(update(Delivery).where(Delivery.dedupe_key == f"m{hazard_id}").values(status="sent", sent_at=now))
        return s.scalar(select(Delivery.id).where(Delivery.dedupe_key == f"m{hazard_id}"))


# --- a. a hazard from report to 销号 ------------------------------------------------------------------


def test_a_closed_hazard_shows_its_lifecycle_logs_artifact_and_events_once(
        prefect, mirror_env, factory, world, clock):
    hazard_id = walk(factory, world, clock, "closed")
    clock.advance(minutes=5)
    notice = sent_notice(factory, hazard_id, clock())
    other = drive(factory, world, clock(), "rectifying")
    item = f"hazard:{hazard_id}"
    code, title = code_and_title(factory, hazard_id)
    events = chain(factory, hazard_id)
    expected = lifecycle_labels(events)

    report = mirror_now()
    assert report.failed == 0 and report.items == 2, report.errors
    assert queued(factory, item) == 0
    mark = marker(factory, item)
    assert mark.writing is False and mark.seq == len(events) and mark.delivery_id == notice
    found = runs_named(f"{code} {title}")
    assert [str(r.id) for r in found] == [mark.flow_run_id]  # one run per hazard, found by its name
    flow_run = run(mark.flow_run_id)

    # the state history is the lifecycle, in order, by label; open states PAUSED without a timeout
    history = states(mark.flow_run_id)
    assert [st.name for st in history] == expected
    assert expected[0] == "待核查" and expected[-1] == "已销号" and len(expected) >= 4
    assert [st.type.value for st in history] == ["PAUSED"] * (len(expected) - 1) + ["COMPLETED"]
    assert all(st.state_details.pause_timeout is None for st in history[:-1])
    assert flow_run.state.name == "已销号" and flow_run.state.type.value == "COMPLETED"
    assert "第1步" in history[0].message  # the act's time and actor travel in the message

    # one 第N步 line per chain event, in order, and the notification's line
    lines = logs(mark.flow_run_id)
    assert steps(lines) == [ev.seq for ev in events] == list(range(1, len(events) + 1))
    (closing,) = [line for line in lines if line.startswith(f"第{len(events)}步")]
    assert closing.endswith("→ 已销号）") and "检查员 inspector" in closing
    (sent,) = [line for line in lines if "〔投递" in line]
    assert sent.endswith(f"〔投递 {notice}〕") and "通知已送达" in sent and len(lines) == len(events) + 1

    # a few low-cardinality tags, none per hazard
    assert "hazard-lifecycle" in flow_run.tags and len(flow_run.tags) <= 5
    assert not [t for t in flow_run.tags if t.startswith("hazard:") or code in t]

    # the keyed artifact names the hazard and its state
    art = artifact(f"hazard-{code.lower()}")
    assert art is not None and art["type"] == "markdown" and str(art["flow_run_id"]) == mark.flow_run_id
    assert code in art["data"] and "已销号" in art["data"] and "| 当前状态 | 已销号 |" in art["data"]

    # one Prefect event per chain event, on resource hazard.<code>, related to the run
    found_events = events_of(code, mark.flow_run_id, expect=len(events))
    assert sorted(e["payload"]["seq"] for e in found_events) == [ev.seq for ev in events]
    assert sorted(e["id"] for e in found_events) == sorted(event_ids(events))
    assert {e["resource"]["hazard.state"] for e in found_events} >= {"待核查", "已销号"}

    # mirroring again (the item queued anew, nothing new in its chain) adds nothing
    with transaction(factory) as s:
        s.execute(insert(MirrorQueue.__table__), [{"item": item}])
    again = mirror_now()
    assert again.failed == 0 and again.lines == 0 and again.transitions == 0
    assert len(states(mark.flow_run_id)) == len(expected) and len(logs(mark.flow_run_id)) == len(lines)
    assert queued(factory, item) == 0

    # a further act on the other hazard, mirrored, adds exactly its line (and its state)
    other_item = f"hazard:{other}"
    other_run = marker(factory, other_item).flow_run_id
    before_states, before_lines = states(other_run), logs(other_run)
    assert before_states[-1].name == "整改中"
    clock.advance(hours=1)
    now = clock()
    evidence = [add_attachment(factory, other, now)]
    with transaction(factory) as s:
        transitions.perform(s, world.p("ent_coal"), other, "request_acceptance",
                            body_for("request_acceptance", today=local_date(now), level="general",
                                     uscc=world.enterprises["coal"], evidence=evidence), now=now)
    further = mirror_now()
    assert (further.items, further.transitions, further.lines, further.failed) == (1, 1, 1, 0)
    after_states, after_lines = states(other_run), logs(other_run)
    assert [st.name for st in after_states] == [st.name for st in before_states] + ["待验收"]
    added = Counter(after_lines) - Counter(before_lines)
    assert len(after_lines) == len(before_lines) + 1 and sum(added.values()) == 1
    (line,) = added
    assert line.startswith(f"第{len(chain(factory, other))}步") and "（整改中 → 待验收）" in line
    assert steps(after_lines)[-1] == len(chain(factory, other))
    assert len(states(mark.flow_run_id)) == len(expected) and len(logs(mark.flow_run_id)) == len(lines)


# --- b. a killed mirror resumes without a duplicate -------------------------------------------------


@pytest.mark.parametrize("dies", ["before_lines", "before_marker"])
def test_a_mirror_killed_half_way_is_resumed_without_a_duplicate_state_or_line(
        prefect, mirror_env, factory, world, clock, tmp_path, dies):
    hazard_id = walk(factory, world, clock, "closed")
    item = f"hazard:{hazard_id}"
    code, title = code_and_title(factory, hazard_id)
    events = chain(factory, hazard_id)
    expected, seqs = lifecycle_labels(events), [ev.seq for ev in events]
    env = {**os.environ, "HAZARD_DATABASE_URL": mirror_env, "PREFECT_API_URL": prefect,
           "PREFECT_HOME": str(tmp_path / "prefect-home")}
    crashed = subprocess.run([sys.executable, "-m", "tests.flows.mirror_crash", dies], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=300)
    assert crashed.returncode == 9, crashed.stderr[-3000:]

    # what the dead pass left: its marker flagged, the queue kept, part of the run in Prefect
    mark = marker(factory, item)
    assert mark.writing is True and mark.flow_run_id is None and mark.seq == 0
    assert queued(factory, item) == len(events)
    (flow_run,) = runs_named(f"{code} {title}")
    run_id = str(flow_run.id)
    assert [st.name for st in states(run_id)] == expected
    assert steps(logs(run_id)) == ([] if dies == "before_lines" else seqs)

    # its lease still runs, so another mirror waits rather than writing beside it
    waiting = mirror_now()
    assert waiting.items == 0 and waiting.errors and queued(factory, item) == len(events)
    with transaction(factory) as s:  # the lease's time passes (not waited for)
        s.execute(update(MirrorLease).values(until=utcnow() - timedelta(seconds=1)))

    resumed = mirror_now()
    assert (resumed.items, resumed.failed) == (1, 0), resumed.errors
    mark = marker(factory, item)
    assert mark.writing is False and mark.flow_run_id == run_id and mark.seq == len(events)
    assert queued(factory, item) == 0
    assert [r.id for r in runs_named(f"{code} {title}")] == [flow_run.id]  # the same run, resumed
    history = states(run_id)
    assert [st.name for st in history] == expected and history[-1].type.value == "COMPLETED"
    lines = logs(run_id)
    assert steps(lines) == seqs  # every 第N步 exactly once, in order
    assert Counter(lines).most_common(1)[0][1] == 1
    found = events_of(code, run_id, expect=len(events))
    assert sorted(e["payload"]["seq"] for e in found) == seqs  # a resent event is stored once


# --- c. Prefect away -----------------------------------------------------------------------------------


def test_with_prefect_away_a_pass_keeps_the_queue_and_the_items_catch_up_when_it_is_back(
        prefect, mirror_env, factory, world, clock, client, run_cli):
    hazard_id = walk(factory, world, clock, "rectifying")
    item = f"hazard:{hazard_id}"
    code, title = code_and_title(factory, hazard_id)
    queued_before = queued(factory, item)
    assert queued_before == len(chain(factory, hazard_id))

    with prefect_at(f"http://127.0.0.1:{closed_port()}/api"):
        away = mirror_now()
        assert (away.items, away.failed, away.lines) == (1, 1, 0)
        assert "Prefect 不可用" in away.errors[0]
        # the service's API answers meanwhile; what it commits is queued for the mirror
        clock.advance(hours=1)
        response = client.post(f"/api/v1/hazards/{hazard_id}/actions/report_progress",
                               json={"note": "已完成锚索补打一半"}, headers=world.auth("ent_coal"))
        assert response.status_code == 200, response.text
    mark = marker(factory, item)
    assert mark.failures == 1 and mark.retry_at is not None and "Prefect 不可用" in mark.last_error
    assert mark.flow_run_id is None and mark.seq == 0
    assert queued(factory, item) == queued_before + 1
    assert runs_named(f"{code} {title}") == []
    exit_code, status = run_cli("prefect", "status", "--json")
    assert exit_code == 0 and [(f["item"], f["failures"]) for f in status["failing"]] == [(item, 1)]
    assert status["queued_items"] == 1 and status["mirrored_items"] == 0

    # Prefect is back, but the item waits out its backoff (a pass just before its retry time)
    early = stream.run_pass(unit_of_work(), PrefectSink(), now=mark.retry_at - timedelta(seconds=1))
    assert early.items == 0 and queued(factory, item) == queued_before + 1

    # once the retry time has passed (injected), the item catches up: its whole chain, once
    later = stream.run_pass(unit_of_work(), PrefectSink(), now=mark.retry_at + timedelta(seconds=1))
    events = chain(factory, hazard_id)
    assert (later.items, later.failed, later.lines) == (1, 0, len(events))
    mark = marker(factory, item)
    assert mark.failures == 0 and mark.retry_at is None and mark.seq == len(events)
    assert queued(factory, item) == 0
    assert [st.name for st in states(mark.flow_run_id)] == lifecycle_labels(events)
    assert lifecycle_labels(events)[-1] == "整改中"
    lines = logs(mark.flow_run_id)
    assert steps(lines) == [ev.seq for ev in events] and "已完成锚索补打一半" in lines[-1]


# --- d. a unit's part of a task list --------------------------------------------------------------------


def test_a_units_part_of_a_task_list_has_its_own_run_from_its_assignment(
        prefect, mirror_env, factory, tasks_world, clock):
    w = tasks_world
    with read_only(factory) as s:
        (part,) = w.parts(s, "1")
        part_id, unit = part.id, part.unit_name
        parts = s.scalar(select(func.count()).select_from(TaskAssignment).where(TaskAssignment.plan_id == w.plan_id))
    report = mirror_now()
    assert report.failed == 0 and report.items == parts >= 3
    item = f"assignment:{part_id}"
    run_id = marker(factory, item).flow_run_id
    flow_run = run(run_id)
    assert flow_run.name.startswith(f"task-{part_id} {unit}：")
    assert [st.name for st in states(run_id)] == [TASK_STATE_LABELS[TaskState.ASSIGNED]] == ["待签收"]
    assert states(run_id)[0].type.value == "PAUSED" and "task-lifecycle" in flow_run.tags
    assert steps(logs(run_id)) == [1]

    acts = [(w.ema, "acknowledge", {}), (w.ema2, "report_progress", {"text": "已完成 12 家企业检查"}),
            (w.ema, "report_completion", {"summary": "已印发责任清单", "completed_on": "2026-11-20",
                                          "evidence_text": "忻应急发〔2026〕12号"}),
            (w.office, "verify", {"note": "材料齐全"})]
    for who, action, body in acts:
        clock.advance(hours=2)
        with transaction(factory) as s:
            tasks.perform(s, who, part_id, action, body, now=clock())
    again = mirror_now()
    assert (again.items, again.failed, again.lines) == (1, 0, len(acts))
    history = states(run_id)
    assert [st.name for st in history] == ["待签收", "已签收", "推进中", "待核查", "已核查"]
    assert [st.type.value for st in history] == ["PAUSED"] * 4 + ["COMPLETED"]
    assert steps(logs(run_id)) == [1, 2, 3, 4, 5]
    art = artifact(f"hazard-task-{part_id}")
    assert art is not None and "已核查" in art["data"] and str(art["flow_run_id"]) == run_id


def test_a_run_left_under_the_items_key_by_another_database_is_replaced_after_a_failed_pass(
        prefect, mirror_env, factory, world, clock):
    """A demo loaded afresh, or markers restored from a backup, against a Prefect server that kept
    its runs: `hazard:1` there is another hazard's run. It must not be taken for this hazard's,
    also when the first pass failed (its marker then stays flagged `writing`)."""
    hazard_id = walk(factory, world, clock, "rectifying")
    item = f"hazard:{hazard_id}"
    code, title = code_and_title(factory, hazard_id)
    with get_client(sync_client=True) as c:
        flow_id = c.create_flow_from_name(FLOW_NAME)
        stale = c.request("POST", "/flow_runs/", json={
            "flow_id": str(flow_id), "name": "141102-2025-000001 旧库中的另一条隐患", "idempotency_key": item,
            "state": {"type": "PAUSED", "name": "待核查", "message": "第1步 · 旧库"}}).json()["id"]
        c.set_flow_run_state(stale, State(type="COMPLETED", name="已销号", message="第2步 · 旧库"), force=True)

    with prefect_at(f"http://127.0.0.1:{closed_port()}/api"):
        assert mirror_now().failed == 1
    mark = marker(factory, item)
    later = stream.run_pass(unit_of_work(), PrefectSink(), now=mark.retry_at + timedelta(seconds=1))
    assert (later.items, later.failed) == (1, 0), later.errors

    (flow_run,) = runs_named(f"{code} {title}")
    events = chain(factory, hazard_id)
    assert str(flow_run.id) == marker(factory, item).flow_run_id != stale
    assert [st.name for st in states(str(flow_run.id))] == lifecycle_labels(events)
    assert steps(logs(str(flow_run.id))) == [ev.seq for ev in events]
    with get_client(sync_client=True) as c, pytest.raises(ObjectNotFound):
        c.read_flow_run(stale)


# --- e. `hazard prefect resync` and `status` --------------------------------------------------------


@pytest.fixture
def run_cli(mirror_env, monkeypatch, capsys):
    """`hazard ...` in-process on the test database; the CLI's engines are disposed after the test,
    and the PREFECT_API_URL it sets is restored. Returns (exit code, the JSON of its last line)."""
    from app.cli import database as cli_database, main as cli

    engines, real_make_engine = [], cli_database.make_engine

    def make_engine(*args, **kw):
        engines.append(real_make_engine(*args, **kw))
        return engines[-1]

    monkeypatch.setattr(cli_database, "make_engine", make_engine)
    monkeypatch.setenv("PREFECT_API_URL", "unset")

    def run(*argv: str) -> tuple[int, dict]:
        capsys.readouterr()
        code = cli.main(list(argv))
        out = capsys.readouterr().out.strip().splitlines()
        return code, json.loads(out[-1]) if out else {}

    yield run
    for engine in engines:
        engine.dispose()


def test_resync_rebuilds_a_hazards_run_from_its_chain_and_status_names_what_waits(
        prefect, mirror_env, factory, world, clock, run_cli):
    hazard_id = walk(factory, world, clock, "closed")
    item = f"hazard:{hazard_id}"
    code, title = code_and_title(factory, hazard_id)
    events = chain(factory, hazard_id)
    seqs = [ev.seq for ev in events]

    exit_code, status = run_cli("prefect", "status", "--json")
    assert exit_code == 0 and status["queued_items"] == 1 and status["queued_rows"] == len(events)
    assert status["mirrored_items"] == 0
    assert mirror_now().failed == 0
    old = marker(factory, item).flow_run_id
    assert len(events_of(code, old, expect=len(events))) == len(events)

    exit_code, out = run_cli("prefect", "resync", "--code", code, "--prefect-url", prefect, "--json")
    assert exit_code == 0, out
    assert (out["items"], out["transitions"], out["lines"], out["failed"], out["queued"]) == (
        1, len(events), len(events), 0, 0)
    new = marker(factory, item).flow_run_id
    assert new != old and [str(r.id) for r in runs_named(f"{code} {title}")] == [new]  # replaced, not added
    with get_client(sync_client=True) as c, pytest.raises(ObjectNotFound):
        c.read_flow_run(old)
    assert [st.name for st in states(new)] == lifecycle_labels(events)
    assert steps(logs(new)) == seqs
    # the events, resent with the same ids, are stored once
    found = events_of(code, ids=event_ids(events), expect=len(events) + 1, settle=3.0)
    assert sorted(e["payload"]["seq"] for e in found) == seqs

    exit_code, status = run_cli("prefect", "status", "--json")
    assert exit_code == 0 and (status["queued_items"], status["mirrored_items"], status["failing"]) == (0, 1, [])

    exit_code, _ = run_cli("prefect", "resync", "--code", "141102-2026-999999", "--prefect-url", prefect, "--json")
    assert exit_code == 2  # no such hazard: refused, nothing queued
    exit_code, _ = run_cli("prefect", "resync", "--code", code, "--prefect-url",
                           f"http://127.0.0.1:{closed_port()}/api", "--json")
    assert exit_code == 2 and marker(factory, item).flow_run_id == new  # Prefect away: refused before resetting
