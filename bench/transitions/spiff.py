"""(d) and (e): the same lifecycle run by a workflow engine. SpiffWorkflow executes the BPMN that
`bench/transitions/bpmn.py` generates from the lifecycle table, and after every step the workflow
is written to PostgreSQL (INSERT at report, then a compare-and-set UPDATE on the row's version),
one commit per step, at concurrency 1.

A step is what a stateless service built on SpiffWorkflow does per request, as (a) does: read the
hazard's stored workflow and restore it (the report step creates it instead), find the READY user
task of the action among those the state offers, put the action's body into the task data, run it,
let the engine advance, serialize, store with a compare-and-set on the row's version, commit.
Nothing is kept in memory between steps but the parsed process definition.

The two variants differ only in what is stored:
- (d) `workflow`: SpiffWorkflow's own `BpmnWorkflowSerializer.serialize_json`, which writes the
  process definition with the instance (so a running instance keeps the version it started with).
- (e) `instance`: the instance only (task tree, data, sub-processes); the process definition is
  kept parsed in memory and given back on restore, as a deployment with a versioned definition
  table and a cache would do. Less to write and parse: the stronger SpiffWorkflow.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.util.task import TaskState

from bench.transitions import bpmn
from bench.transitions import world as db
from bench.transitions.workload import ACTIONS, ACTOR, FINAL_STATE, Result, run_phase

MODES = {"d": "workflow", "e": "instance"}
LABELS = {"d": "(d) SpiffWorkflow, whole workflow stored", "e": "(e) SpiffWorkflow, instance stored"}
# The state each step of the workload leads to (a major hazard): what the gateway after a
# state's sub-process follows.
NEXT_STATE = {"report": "reported", "register": "registered", "supervise": "supervised",
              "file_plan": "rectifying", "request_acceptance": "acceptance_requested",
              "accept": "accepted", "close": FINAL_STATE}
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


def load_specs():
    parser = BpmnParser()
    parser.add_bpmn_str(bpmn.build().encode(), filename="hazard_lifecycle.bpmn")
    return parser.get_spec(bpmn.PROCESS_ID), parser.get_subprocess_specs(bpmn.PROCESS_ID)


def serializer(mode: str, spec, subprocess_specs) -> BpmnWorkflowSerializer:
    if mode == "workflow":
        return BpmnWorkflowSerializer()

    class InstanceConverter(BpmnWorkflowConverter):
        """SpiffWorkflow's converter minus the process definition, which the caller holds."""

        def to_dict(self, workflow):
            dct = WorkflowConverter.to_dict(self, workflow)
            dct["spec"] = workflow.spec.name
            dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
            dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
            return dct

        def from_dict(self, dct):
            if dct.pop("spec") != spec.name:
                raise ValueError("stored instance of another process")
            workflow = self.target_class(spec, subprocess_specs, deserializing=True)
            workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
            workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
            self.set_default_attributes(workflow, dct)
            self.subprocesses_from_dict(dct["subprocesses"], workflow)
            workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
            return workflow

    config = dict(DEFAULT_CONFIG)
    config[BpmnWorkflow] = InstanceConverter
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


class Engine:
    def __init__(self, conn: psycopg.Connection, w: db.World, mode: str):
        self.conn = conn
        self.spec, self.subprocess_specs = load_specs()
        self.serializer = serializer(mode, self.spec, self.subprocess_specs)
        self.actors = {a: w.actor(ACTOR[a]).username for a in ACTIONS}
        bodies = w.bodies
        self.bodies = {a: bodies.action(a, (0, 0)) for a in ACTIONS}
        self.sizes: list[int] = []

    def restore(self, stored: str) -> BpmnWorkflow:
        return self.serializer.deserialize_json(stored)

    def step(self, key: int, action: str, evidence: tuple[int, int] | None = None) -> None:
        if action == "report":
            wf = BpmnWorkflow(self.spec, self.subprocess_specs)
            wf.do_engine_steps()
        else:
            with self.conn.cursor() as cur:
                cur.execute(SELECT, (key,))
                stored = cur.fetchone()
            if stored is None:
                raise RuntimeError(f"workflow {key}: not stored")
            wf = self.restore(stored[0])
        ready = wf.get_tasks(state=TaskState.READY, manual=True)
        task = next((t for t in ready if t.task_spec.bpmn_name == action), None)
        if task is None:
            offered = sorted(t.task_spec.bpmn_name for t in ready)
            raise RuntimeError(f"workflow {key}: {action} not offered; ready: {offered}")
        body: dict[str, Any] = self.bodies[action]
        if evidence is not None:
            body = {**body, "evidence": [evidence[0]], "assessment_report": evidence[1]}
        task.data.update({action: body, "actor": self.actors[action], "next_state": NEXT_STATE[action]})
        task.run()
        wf.do_engine_steps()
        state = self.serializer.serialize_json(wf)
        if key == 1:
            self.sizes.append(len(state))
        with self.conn.cursor() as cur:
            if action == "report":
                cur.execute(INSERT, (key, action, state))
            else:
                cur.execute(UPDATE, (action, state, key, ACTIONS.index(action)))
                if cur.rowcount != 1:
                    raise RuntimeError(f"workflow {key}: stored version moved")
        self.conn.commit()


def run(w: db.World, n: int, variant: str = "d") -> Result:
    result = Result(variant, LABELS[variant], 1)
    with psycopg.connect(db.libpq_url(w.url)) as conn:
        conn.execute(CREATE)
        conn.commit()
        engine = Engine(conn, w, MODES[variant])
        keys = list(range(1, n + 1))
        evidence = {k: (2 * k - 1, 2 * k) for k in keys}  # stand-ins: no attachment rows here
        for action in ACTIONS:
            ev = evidence if action == "request_acceptance" else {}
            _, seconds = run_phase(keys, lambda _w, k, action=action, ev=ev: engine.step(k, action, ev.get(k)), 1)
            result.add_phase(action, n, seconds)
        problems = verify(conn, engine, n)
    if problems:
        raise RuntimeError("; ".join(problems))
    sizes = " → ".join(f"{s / 1024:.0f}" for s in engine.sizes)
    result.notes.append(f"stored state of one hazard after each step, KiB: {sizes}")
    return result


def verify(conn: psycopg.Connection, engine: Engine, n: int) -> list[str]:
    """Every stored workflow is at its last step and, read back, is a completed workflow that
    ended in 已销号."""
    problems = []
    rows = conn.execute(f"SELECT count(*) FILTER (WHERE step = 'close' AND version = %s) FROM {db.SPIFF_TABLE}",
                        (len(ACTIONS),)).fetchone()[0]
    if rows != n:
        problems.append(f"{rows} of {n} stored workflows at the last step")
    done = 0
    for (state,) in conn.execute(f"SELECT state FROM {db.SPIFF_TABLE}"):
        wf = engine.restore(state)
        ends = [t.task_spec.bpmn_id for t in wf.get_tasks(state=TaskState.COMPLETED)
                if t.task_spec.bpmn_id and t.task_spec.bpmn_id.startswith("end_")]
        if wf.is_completed() and ends == [f"end_{FINAL_STATE}"]:
            done += 1
    if done != n:
        problems.append(f"{done} of {n} stored workflows restore as completed in {FINAL_STATE}")
    return problems
