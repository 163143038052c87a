"""The hazard lifecycle as BPMN, generated from `services.lifecycle.table.LIFECYCLE`, for variant (d).

The same lifecycle as the service, not a happy path drawn by hand: every open state is an embedded
sub-process in which every action the table offers in that state is a user task, all of them
ready at once (a parallel split), as the service offers them all as `allowed_actions`.

- An action that moves the hazard (register, supervise, accept, ...) ends the sub-process through
  a terminate end event, which cancels the state's other tasks. An exclusive gateway after the
  sub-process then follows `next_state` into the next state's sub-process, or to an end event for
  已销号 / 不予立案.
- An action that leaves the state as it is (comment, report_progress, the extension and
  suspension actions) loops back to a fresh user task of the same kind, so it can be done again.

Left out, as the service checks them in code: roles and four-eyes (a user task has one lane, an
action has several roles), guards (e.g. a grant needs a pending request), the system's `escalate`
(issue 3's ladder) and comments after closure (the process has ended by then).

`uv run python -m bench.transitions.bpmn` prints the document.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from services.lifecycle.states import FINAL_STATES, STATE_LABELS, State
from services.lifecycle.table import LIFECYCLE

PROCESS_ID = "hazard_lifecycle"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"


def _tag(name: str) -> str:
    return f"{{{BPMN_NS}}}{name}"


def offered(state: State) -> list[str]:
    """The actions people can take in `state`, in the table's order."""
    return [name for name, spec in LIFECYCLE.items()
            if spec.lifecycle and name != "report" and state in spec.sources]


def moves(action: str, state: State) -> list[State]:
    """The states `action` can lead to from `state` (empty when it leaves the state as it is)."""
    return [t for t in LIFECYCLE[action].targets if t != state]


class _Builder:
    def __init__(self, parent: ET.Element, prefix: str):
        self.parent = parent
        self.prefix = prefix
        self.flows = 0

    def node(self, kind: str, node_id: str, name: str | None = None) -> ET.Element:
        el = ET.SubElement(self.parent, _tag(kind), {"id": node_id})
        if name:
            el.set("name", name)
        return el

    def flow(self, source: str, target: str, condition: str | None = None) -> None:
        self.flows += 1
        el = ET.SubElement(self.parent, _tag("sequenceFlow"),
                           {"id": f"{self.prefix}f{self.flows}", "sourceRef": source, "targetRef": target})
        if condition:
            cond = ET.SubElement(el, _tag("conditionExpression"), {f"{{{XSI_NS}}}type": "bpmn:tFormalExpression"})
            cond.text = condition


def _state_subprocess(process: _Builder, state: State) -> None:
    sub = process.node("subProcess", f"in_{state.value}", STATE_LABELS[state])
    b = _Builder(sub, f"{state.value}_")
    b.node("startEvent", f"enter_{state.value}")
    b.node("parallelGateway", f"offer_{state.value}")
    b.flow(f"enter_{state.value}", f"offer_{state.value}")
    for action in offered(state):
        task = f"{state.value}__{action}"
        if moves(action, state):
            b.node("userTask", task, action)
            end = b.node("endEvent", f"done_{task}")
            ET.SubElement(end, _tag("terminateEventDefinition"))
            b.flow(f"offer_{state.value}", task)
            b.flow(task, f"done_{task}")
        else:  # the state stays: the task comes back for the next time
            b.node("exclusiveGateway", f"again_{task}")
            b.node("userTask", task, action)
            b.flow(f"offer_{state.value}", f"again_{task}")
            b.flow(f"again_{task}", task)
            b.flow(task, f"again_{task}")


def build() -> str:
    ET.register_namespace("bpmn", BPMN_NS)
    ET.register_namespace("xsi", XSI_NS)
    root = ET.Element(_tag("definitions"), {"id": "hazard_lifecycle_definitions",
                                            "targetNamespace": "urn:hazard-closure:bench"})
    process_el = ET.SubElement(root, _tag("process"), {"id": PROCESS_ID, "name": "事故隐患闭环",
                                                       "isExecutable": "true"})
    p = _Builder(process_el, "")
    p.node("startEvent", "discovered", "发现隐患")
    p.node("userTask", "report", "report")
    p.flow("discovered", "report")
    p.flow("report", f"in_{State.REPORTED.value}")
    for state in State:
        if state in FINAL_STATES:
            p.node("endEvent", f"end_{state.value}", STATE_LABELS[state])
            continue
        _state_subprocess(p, state)
        targets = sorted({t for a in offered(state) for t in moves(a, state)}, key=list(State).index)
        p.node("exclusiveGateway", f"leave_{state.value}")
        p.flow(f"in_{state.value}", f"leave_{state.value}")
        for target in targets:
            entry = f"end_{target.value}" if target in FINAL_STATES else f"in_{target.value}"
            p.flow(f"leave_{state.value}", entry, f'next_state == "{target.value}"')
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def counts() -> dict[str, int]:
    """User tasks in the document and the (state, action) pairs of the table: the same number."""
    tasks = 1 + sum(len(offered(s)) for s in State if s not in FINAL_STATES)
    pairs = 1 + sum(1 for name, spec in LIFECYCLE.items() if spec.lifecycle and name != "report"
                    for s in spec.sources if s not in FINAL_STATES)
    return {"user_tasks": tasks, "state_action_pairs": pairs}


if __name__ == "__main__":
    print(build())
