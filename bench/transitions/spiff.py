"""(d) The same lifecycle run by a workflow engine: SpiffWorkflow executes `hazard_lifecycle.bpmn`
(one user task per action), and after every completed step the whole workflow is serialized with
SpiffWorkflow's serializer and written to PostgreSQL (INSERT at report, then a compare-and-set
UPDATE on the row's version), one commit per step, at concurrency 1.

A step is what a stateless service built on SpiffWorkflow does per request, as (a) does: read
the hazard's stored workflow and deserialize it (the report step creates it instead), find the
READY user task (it must be the expected action), put the action's body into the task data, run
it, let the engine advance to the next user task, serialize, store with a compare-and-set on the
row's version, commit. Nothing is kept in memory between steps: the database is the state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.util.task import TaskState

from bench.transitions import world as db
from bench.transitions.workload import ACTIONS, ACTOR, Result, run_phase

BPMN = Path(__file__).with_name("hazard_lifecycle.bpmn")
PROCESS_ID = "hazard_lifecycle"
CREATE = f"""CREATE TABLE IF NOT EXISTS {db.SPIFF_TABLE} (
    hazard_key bigint PRIMARY KEY,
    step text NOT NULL,
    version integer NOT NULL,
    state text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
)"""
INSERT = f"INSERT INTO {db.SPIFF_TABLE} (hazard_key, step, version, state) VALUES (%s, %s, 1, %s)"
SELECT = f"SELECT state FROM {db.SPIFF_TABLE} WHERE hazard_key = %s"
UPDATE = (f"UPDATE {db.SPIFF_TABLE} SET step = %s, version = version + 1, state = %s, updated_at = now() "
          "WHERE hazard_key = %s AND version = %s")


def load_spec():
    parser = BpmnParser()
    parser.add_bpmn_file(str(BPMN))
    return parser.get_spec(PROCESS_ID)


class Engine:
    def __init__(self, conn: psycopg.Connection, w: db.World):
        self.conn = conn
        self.spec = load_spec()
        self.serializer = BpmnWorkflowSerializer()
        self.actors = {a: w.actor(ACTOR[a]).username for a in ACTIONS}
        bodies = w.bodies
        self.bodies = {a: bodies.action(a, (0, 0)) for a in ACTIONS}

    def step(self, key: int, action: str, evidence: tuple[int, int] | None = None) -> None:
        if action == "report":
            wf = BpmnWorkflow(self.spec)
            wf.do_engine_steps()
        else:
            with self.conn.cursor() as cur:
                cur.execute(SELECT, (key,))
                stored = cur.fetchone()
            if stored is None:
                raise RuntimeError(f"workflow {key}: not stored")
            wf = self.serializer.deserialize_json(stored[0])
        task = wf.get_next_task(state=TaskState.READY, manual=True)
        if task is None or task.task_spec.bpmn_id != action:
            raise RuntimeError(f"workflow {key}: expected user task {action}, found {task and task.task_spec.bpmn_id}")
        body: dict[str, Any] = self.bodies[action]
        if evidence is not None:
            body = {**body, "evidence": [evidence[0]], "assessment_report": evidence[1]}
        data: dict[str, Any] = {action: body, "actor": self.actors[action]}
        if action == "register":
            data["level"] = body["level"]
        task.data.update(data)
        task.run()
        wf.do_engine_steps()
        state = self.serializer.serialize_json(wf)
        with self.conn.cursor() as cur:
            if action == "report":
                cur.execute(INSERT, (key, action, state))
            else:
                cur.execute(UPDATE, (action, state, key, ACTIONS.index(action)))
                if cur.rowcount != 1:
                    raise RuntimeError(f"workflow {key}: stored version moved")
        self.conn.commit()


def run(w: db.World, n: int) -> Result:
    result = Result("d", "(d) SpiffWorkflow BPMN + PG state", 1)
    with psycopg.connect(db.libpq_url(w.url)) as conn:
        conn.execute(CREATE)
        conn.commit()
        engine = Engine(conn, w)
        keys = list(range(1, n + 1))
        evidence = {k: (2 * k - 1, 2 * k) for k in keys}  # stand-ins: no attachment rows here
        for action in ACTIONS:
            ev = evidence if action == "request_acceptance" else {}
            _, seconds = run_phase(keys, lambda _w, k, action=action, ev=ev: engine.step(k, action, ev.get(k)), 1)
            result.add_phase(action, n, seconds)
        problems = verify(conn, engine, n)
    if problems:
        raise RuntimeError("; ".join(problems))
    return result


def verify(conn: psycopg.Connection, engine: Engine, n: int) -> list[str]:
    """Every stored workflow is at its last step and, read back, is a completed workflow."""
    problems = []
    rows = conn.execute(f"SELECT count(*) FILTER (WHERE step = 'close' AND version = %s) FROM {db.SPIFF_TABLE}",
                        (len(ACTIONS),)).fetchone()[0]
    if rows != n:
        problems.append(f"{rows} of {n} stored workflows at the last step")
    done = sum(1 for (state,) in conn.execute(f"SELECT state FROM {db.SPIFF_TABLE}")
               if engine.serializer.deserialize_json(state).is_completed())
    if done != n:
        problems.append(f"{done} of {n} stored workflows restore as completed")
    return problems
