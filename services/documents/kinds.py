"""The kinds of official document (DESIGN 2.6): the outbox kind `document.<name>` names one.

Which action writes which kind is declared in the lifecycle table (`effects`, and `documents` for
the ladder's steps); this table only says how each kind reads: its Chinese label, its word in the
document number's 字 and its template (`templates/documents/<name>.html`).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.outbox import kinds as outbox_kinds


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    word: str  # 改, 督, ...: the kind's word in the number's 字

    @property
    def template(self) -> str:
        return f"{self.name}.html"


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("rectification_notice", "限期整改通知书", "改"),
    Kind("listing_notice", "挂牌督办通知书", "督"),
    Kind("extension_decision", "延期审批意见书", "延"),
    Kind("acceptance_opinion", "验收意见书", "验"),
    Kind("closure_notice", "解除挂牌督办通知书/销号通知", "销"),
    Kind("urge_letter", "督办函", "函"),
    Kind("summon_notice", "约谈通知书", "约"),
)}


# A task list's documents (issue 14; services/tasks/documents.py), kept apart from the hazards' notices
# above (whose templates read a hazard). 交 is a word of its own; the task 督办函 shares 函 with the
# hazards' on purpose: one 安委办's 督办函 are one series (`忻安委办函〔2026〕n号`), gapless across both.
TASK_KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("task_assignment_notice", "任务交办通知", "交"),
    Kind("task_urge_letter", "督办函", "函"),
)}


def kind_of(outbox_kind: str) -> Kind:
    """The kind of a `document.<name>` outbox row; KeyError for a name no template serves."""
    name = outbox_kind.removeprefix(outbox_kinds.DOCUMENT)
    return KINDS[name] if name in KINDS else TASK_KINDS[name]
