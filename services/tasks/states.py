"""The states of one unit's part of a published task (issue 14, item 3), their Chinese names, and
which are final. The actions between them are declared in `services.tasks.lifecycle`.

A task itself is open until every unit's part is verified, then closed (销号): `plan_tasks.state`.
"""

from __future__ import annotations

from enum import StrEnum


class TaskState(StrEnum):
    ASSIGNED = "assigned"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    REPORTED = "reported"
    VERIFIED = "verified"


TASK_STATE_LABELS = {
    TaskState.ASSIGNED: "待签收",
    TaskState.ACKNOWLEDGED: "已签收",
    TaskState.IN_PROGRESS: "推进中",
    TaskState.REPORTED: "待核查",
    TaskState.VERIFIED: "已核查",
}

FINAL = frozenset({TaskState.VERIFIED})
OPEN = frozenset(TaskState) - FINAL
ALL = frozenset(TaskState)
# The unit still owes the work: the deadline ladder runs (once completion is reported the issuing
# office owes the check; the ladder waits and resumes on a return).
WORKING = frozenset({TaskState.ASSIGNED, TaskState.ACKNOWLEDGED, TaskState.IN_PROGRESS})

TASK_CLOSED_LABEL = "已销号"
TASK_OPEN_LABEL = "办理中"
