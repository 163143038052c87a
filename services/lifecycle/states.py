"""The states of a hazard (DESIGN 2.2), their Chinese names, and which of them are final.

The actions that move between them are declared in `services.lifecycle.table`.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    REPORTED = "reported"
    REGISTERED = "registered"
    SUPERVISED = "supervised"
    RECTIFYING = "rectifying"
    ACCEPTANCE_REQUESTED = "acceptance_requested"
    ACCEPTED = "accepted"
    CLOSED = "closed"
    DISMISSED = "dismissed"


STATE_LABELS = {
    State.REPORTED: "待核查",
    State.REGISTERED: "已登记（限期整改）",
    State.SUPERVISED: "挂牌督办",
    State.RECTIFYING: "整改中",
    State.ACCEPTANCE_REQUESTED: "待验收",
    State.ACCEPTED: "待销号",
    State.CLOSED: "已销号",
    State.DISMISSED: "不予立案",
}

# A closed or dismissed hazard takes no further action but `comment` (and the records of it).
FINAL_STATES = frozenset({State.CLOSED, State.DISMISSED})
OPEN_STATES = frozenset(State) - FINAL_STATES
ALL_STATES = frozenset(State)
