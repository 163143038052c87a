"""The registry of outbox kinds: every `OutboxMessage.kind` the service writes is declared here, and
the code that writes, routes or reads outbox rows names kinds through it, never by a string of its
own.

Who handles a kind:
- `stage.reported`: nobody is messaged (the region's inspectors find the report among their
  to-dos); webhooks subscribed to it still get it;
- `notify.<audience>`: a message to the audience the name says (services/notify/recipients.py);
- `escalation`: a ladder step, grouped into the day's digest per recipient (services/outbox/expand.py);
- `document.<name>`: an official document issued by the document engine (services/documents/;
  its names are `services.documents.kinds.KINDS`), which the notification expansion leaves be;
- `alert.<what>`: about the service itself (today `alert.audit`, the verification failed), told to
  admins and auditors.

Which action writes which kind is the lifecycle table's business (`ActionSpec.effects`); a unit
test checks that every kind it names is known here.
"""

from __future__ import annotations

STAGE_REPORTED = "stage.reported"

NOTIFY = "notify."
NOTIFY_ENTERPRISE = NOTIFY + "enterprise"
NOTIFY_INSPECTORS = NOTIFY + "inspectors"
NOTIFY_SUPERVISORS = NOTIFY + "supervisors"
NOTIFY_EXTENSION_DECIDERS = NOTIFY + "extension_deciders"
NOTIFY_REPORTER = NOTIFY + "reporter"
# A task list's (issue 14): the unit whose part it is, and the office that issued the list.
NOTIFY_TASK_UNIT = NOTIFY + "task_unit"
NOTIFY_TASK_OFFICE = NOTIFY + "task_office"
TASK_NOTIFY = frozenset({NOTIFY_TASK_UNIT, NOTIFY_TASK_OFFICE})  # their audiences: services/tasks/notify.py

ESCALATION = "escalation"

DOCUMENT = "document."  # + the document kind's name

ALERT = "alert."
ALERT_AUDIT = ALERT + "audit"

# The kinds named in full; `document.<name>` is the one family (its names are the documents').
EXACT = frozenset({STAGE_REPORTED, NOTIFY_ENTERPRISE, NOTIFY_INSPECTORS, NOTIFY_SUPERVISORS,
                   NOTIFY_EXTENSION_DECIDERS, NOTIFY_REPORTER, NOTIFY_TASK_UNIT, NOTIFY_TASK_OFFICE,
                   ESCALATION, ALERT_AUDIT})


def document(name: str) -> str:
    """The outbox kind of the document kind `name` (`rectification_notice` → `document.rectification_notice`)."""
    return DOCUMENT + name


def is_document(kind: str) -> bool:
    return kind.startswith(DOCUMENT)


def is_alert(kind: str) -> bool:
    return kind.startswith(ALERT)


def known(kind: str) -> bool:
    """A kind this registry declares: one of `EXACT`, or `document.` followed by a name."""
    return kind in EXACT or (is_document(kind) and len(kind) > len(DOCUMENT))
