"""One registry of outbox kinds (services/outbox/kinds.py): every kind the lifecycle table writes,
body-dependent ones included (the ladder's letters), is declared there, each `document.<name>` has
a document kind to render it, and each `notify.<audience>` kind has its audience."""

from __future__ import annotations

from collections.abc import Iterator

from services.documents.kinds import KINDS as DOCUMENT_KINDS
from services.escalation.ladder import Step
from services.lifecycle.table import LIFECYCLE
from services.notify.recipients import KIND_AUDIENCES
from services.outbox import kinds


def _written() -> Iterator[tuple[str, str]]:
    """(action, outbox kind) for every kind an action of the table can write."""
    for spec in LIFECYCLE.values():
        for kind in spec.effects:
            yield spec.action, kind
        if spec.documents is not None:  # depends on the body: try every ladder step
            for step in Step:
                for kind in spec.effects_for(spec.body.model_construct(step=step.name)):
                    yield spec.action, kind


def test_every_effect_of_the_lifecycle_table_is_a_registered_kind():
    written = set(_written())
    assert written, "the lifecycle table declares no effects"
    unknown = sorted((action, kind) for action, kind in written if not kinds.known(kind))
    assert not unknown, f"outbox kinds missing from services/outbox/kinds.py: {unknown}"


def test_every_document_effect_has_a_document_kind():
    names = {kind.removeprefix(kinds.DOCUMENT) for _, kind in _written() if kinds.is_document(kind)}
    assert names and names <= set(DOCUMENT_KINDS), names - set(DOCUMENT_KINDS)


def test_every_notify_kind_has_an_audience():
    notify = {k for k in kinds.EXACT if k.startswith(kinds.NOTIFY)}
    assert notify - kinds.TASK_NOTIFY == set(KIND_AUDIENCES)  # a hazard's; a task part's are its unit and office


def test_the_registry_tells_families_apart():
    assert kinds.known(kinds.document("urge_letter")) and not kinds.known(kinds.DOCUMENT)
    assert kinds.is_alert(kinds.ALERT_AUDIT) and not kinds.is_alert(kinds.ESCALATION)
    assert not kinds.known("notify.nobody")
