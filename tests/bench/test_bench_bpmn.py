"""The BPMN that bench/transitions runs in SpiffWorkflow is the service's lifecycle: in every state
it offers exactly the actions the table allows there, and its moves follow the table's targets."""

from __future__ import annotations

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from bench.transitions import bpmn, spiff
from services.lifecycle.states import FINAL_STATES, State
from services.lifecycle.table import LIFECYCLE

SPECS = spiff.load_specs()

# A route from report to each open state: (action, state it leads to).
ROUTES = {
    State.REPORTED: [],
    State.REGISTERED: [("register", "registered")],
    State.SUPERVISED: [("register", "registered"), ("supervise", "supervised")],
    State.RECTIFYING: [("register", "registered"), ("file_plan", "rectifying")],
    State.ACCEPTANCE_REQUESTED: [("register", "registered"), ("request_acceptance", "acceptance_requested")],
    State.ACCEPTED: [("register", "registered"), ("request_acceptance", "acceptance_requested"),
                     ("accept", "accepted")],
}


def start() -> BpmnWorkflow:
    wf = BpmnWorkflow(*SPECS)
    wf.do_engine_steps()
    do(wf, "report", "reported")
    return wf


def ready(wf: BpmnWorkflow) -> list[str]:
    return sorted(t.task_spec.bpmn_name for t in wf.get_tasks(state=TaskState.READY, manual=True))


def do(wf: BpmnWorkflow, action: str, next_state: str) -> None:
    task = next(t for t in wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.bpmn_name == action)
    task.data.update({action: {}, "next_state": next_state})
    task.run()
    wf.do_engine_steps()


def test_one_user_task_per_state_and_action_of_the_table():
    counts = bpmn.counts()
    assert counts["user_tasks"] == counts["state_action_pairs"] > 30


@pytest.mark.parametrize("state", list(ROUTES), ids=lambda s: s.value)
def test_each_state_offers_what_the_table_allows(state):
    wf = start()
    for action, target in ROUTES[state]:
        do(wf, action, target)
    expected = sorted(a for a, spec in LIFECYCLE.items() if spec.lifecycle and a != "report" and state in spec.sources)
    assert ready(wf) == expected


def test_an_action_that_keeps_the_state_can_be_repeated_and_keeps_the_offer():
    wf = start()
    do(wf, "register", "registered")
    do(wf, "file_plan", "rectifying")
    before = ready(wf)
    do(wf, "report_progress", "rectifying")
    do(wf, "report_progress", "rectifying")
    do(wf, "comment", "rectifying")
    assert ready(wf) == before


def test_a_rejected_acceptance_goes_back_to_rectifying():
    wf = start()
    do(wf, "register", "registered")
    do(wf, "request_acceptance", "acceptance_requested")
    do(wf, "reject", "rectifying")
    assert "report_progress" in ready(wf) and "accept" not in ready(wf)


@pytest.mark.parametrize("path,end", [
    ([("dismiss", "dismissed")], State.DISMISSED),
    ([("register", "registered"), ("request_acceptance", "acceptance_requested"), ("accept", "closed")], State.CLOSED),
])
def test_final_states_end_the_process(path, end):
    assert end in FINAL_STATES
    wf = start()
    for action, target in path:
        do(wf, action, target)
    assert wf.is_completed()
    ends = [t.task_spec.bpmn_id for t in wf.get_tasks(state=TaskState.COMPLETED)
            if (t.task_spec.bpmn_id or "").startswith("end_")]
    assert ends == [f"end_{end.value}"]


def test_stored_instance_restores_without_the_process_definition():
    wf = start()
    do(wf, "register", "registered")
    whole = spiff.serializer("workflow", *SPECS).serialize_json(wf)
    lean = spiff.serializer("instance", *SPECS)
    text = lean.serialize_json(wf)
    assert len(text) < len(whole) / 2
    back = lean.deserialize_json(text)
    assert ready(back) == ready(wf)
