"""The transaction path of every action on an existing lifecycle subject (DESIGN 3): a hazard, or
one unit's part of a published task (issue 14). One path, two tables: a `Subject` says where its
rows live and how its events and outbox rows are written, and everything else is this module's.

Inside one transaction, opened and committed by the caller through `db.engine.transaction`:
load the row, check scope, then the lifecycle's decision (role, state, guards, body), then
compare-and-set the row on its version, append the hash-chained audit event and the outbox rows.
Nothing here commits. Starting a hazard (`report`, `import`) is `services.engine.creation`; a
task's parts start when its plan is published (`services.tasks.assign`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from db.models import Attachment, Hazard, OutboxMessage
from services.accounts.auth import Principal, in_scope
from services.audit import chain as audit
from services.calendar.workdays import default_calendar
from services.engine.lookups import (
    check_enterprise_region,
    check_summons,
    earlier_hazard,
    enterprise_by_uscc,
    listing_body,
)
from services.kernel.clock import local_date
from services.kernel.errors import Conflict, NotFound, invalid_field
from services.kernel.inputs import MAX_ID
from services.kernel.validation import parse
from services.lifecycle.facts import Context
from services.lifecycle.states import STATE_LABELS
from services.lifecycle.table import LIFECYCLE, ActionSpec, Refusal, check_body, check_pre

# Built once: the per-transition statements, their values passed as parameters. Building them per
# call (`.values(**values)` on the ORM entity, `session.get`) cost more CPU than the rest of the
# transition (bench/transitions, bench/RESULTS.md). The compare-and-set's SET clause is the
# parameters that name a column; `cas_id`/`cas_version` are the WHERE.
_HAZARDS = Hazard.__table__
_LOAD_HAZARD = select(Hazard).where(Hazard.id == bindparam("hazard_id")).execution_options(populate_existing=True)
# The writer's load: the row lock makes concurrent actions on one hazard wait for each other
# (PostgreSQL; SQLite writers are serialised by BEGIN IMMEDIATE), so fifty comments at once all
# land instead of losing the compare-and-set. The compare-and-set stays, for the sweep's batches.
_LOAD_HAZARD_FOR_UPDATE = _LOAD_HAZARD.with_for_update()
_OUTBOX_INSERT = insert(OutboxMessage.__table__)
_ATTACHMENTS = select(Attachment.id, Attachment.sha256, Attachment.filename).where(
    Attachment.id.in_(bindparam("ids", expanding=True)), Attachment.hazard_id == bindparam("hazard_id")
)


def context(now: datetime, extension_min_working_days: int = 15) -> Context:
    """What the lifecycle's rules know of the moment of an action: its day in Shanghai, and the
    process's working-day calendar, taken once for the action."""
    return Context(today=local_date(now), now=now, calendar=default_calendar(),
                   extension_min_working_days=extension_min_working_days)


def refuse(refusal: Refusal | None) -> None:
    if refusal is not None:
        raise refusal.error()


def json_changes(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: (format(v, "f") if isinstance(v, Decimal) else v) for k, v in changes.items()}


def outbox_rows(hazard: Any, spec: ActionSpec, seq: int, now: datetime,
                extra: dict[str, Any] | None = None, body: Any = None) -> list[dict[str, Any]]:
    """One row per effect of the action; `event_id` is added once the event is written
    (`outbox_params`). The dedupe key (kind, hazard, seq) is what delivery uses to deliver each at
    most once."""
    kinds = spec.effects_for(body)
    if not kinds:
        return []
    payload = {"hazard_id": hazard.id, "hazard_code": hazard.code, "action": spec.action, "seq": seq, **(extra or {})}
    return [
        {"hazard_id": hazard.id, "kind": kind, "payload": payload, "dedupe_key": f"{kind}:{hazard.id}:{seq}",
         "status": "pending", "attempts": 0, "available_at": now, "created_at": now}
        for kind in kinds
    ]


def outbox_params(rows: list[dict[str, Any]], event_id: int) -> list[dict[str, Any]]:
    return [{**row, "event_id": event_id, "payload": audit.canonical({**row["payload"], "event_id": event_id})}
            for row in rows]


def insert_outbox(session: Session, rows: list[dict[str, Any]], event_id: int) -> None:
    if rows:
        session.connection().execute(_OUTBOX_INSERT, outbox_params(rows, event_id))


def load_in_scope(session: Session, actor: Principal, hazard_id: int, *, for_update: bool = False) -> Hazard:
    statement = _LOAD_HAZARD_FOR_UPDATE if for_update else _LOAD_HAZARD
    hazard = (session.execute(statement, {"hazard_id": hazard_id}).scalar_one_or_none()
              if 0 < hazard_id <= MAX_ID else None)
    if hazard is None or not in_scope(actor, hazard):
        raise NotFound("隐患不存在或不在您的管辖范围内")
    return hazard


def _check_attachments(session: Session, hazard: Hazard, ids: list[int], field: str) -> list[dict[str, Any]]:
    if not ids:
        return []
    rows = session.connection().execute(
        _ATTACHMENTS, {"ids": [i for i in ids if 0 < i <= MAX_ID], "hazard_id": hazard.id}
    ).all()
    found = {r.id: r for r in rows}
    missing = [i for i in ids if i not in found]
    if missing:
        raise invalid_field(field, f"附件不存在或不属于该隐患：{', '.join(map(str, missing))}")
    return [{"id": i, "sha256": found[i].sha256, "filename": found[i].filename} for i in ids]


@dataclass
class Decision:
    """What one action does to one row (a hazard, a task part), decided but not yet written: the
    compare-and-set's values, the event (hash included) and the outbox rows (without their event id)."""

    action: str
    seq: int
    values: dict[str, Any]
    event: dict[str, Any]
    outbox_rows: list[dict[str, Any]]


class Working:
    """A hazard's facts as plain attributes, for deciding several actions on rows read in bulk:
    `apply` folds a decision in, so the next one sees the new version, head and bits."""

    def __init__(self, row: Any):
        self.__dict__.update(row._mapping)

    def apply(self, decision: Decision) -> None:
        self.__dict__.update(decision.values)


def _hazard_details(session: Session, spec: ActionSpec, hazard: Any, actor: Principal, body: Any,
                   changes: dict[str, Any]) -> dict[str, Any]:
    """What a hazard's action reads besides its row and writes besides the table's changes: the
    enterprise of a registration (and whether it is a repeat), the listing body, the files it names
    and a 约谈 it refers to. Adds to `changes`; returns what the event's payload adds."""
    if spec.action == "register":
        ent = enterprise_by_uscc(session, body.enterprise_uscc, "enterprise_uscc")
        check_enterprise_region(ent, hazard, actor)
        changes["enterprise_id"] = ent.id
        repeat = earlier_hazard(session, hazard, ent.id, body.category)
        if repeat is not None:
            changes["repeat_of_id"] = repeat
    if changes.get("listing_level") and changes["listing_level"] != hazard.listing_level:
        # Listed or elevated: the listing body is the committee office of that level's region.
        changes["listing_body"] = listing_body(session, hazard.region_code, changes["listing_level"])
    evidence_ids = list(getattr(body, "evidence", []) or [])
    attachments = _check_attachments(session, hazard, evidence_ids, "evidence")
    report_id = getattr(body, "assessment_report", None)
    if report_id is not None:
        attachments += _check_attachments(session, hazard, [report_id], "assessment_report")
    summons_id = getattr(body, "summons_id", None)
    if summons_id is not None:
        check_summons(session, hazard.id, summons_id, "summons_id")
    return {"attachments": attachments} if attachments else {}


def _hazard_event(hazard: Any, seq: int, spec: ActionSpec, actor: Principal, target: str,
                  payload: dict[str, Any], now: datetime) -> dict[str, Any]:
    return audit.build_event(
        hazard_id=hazard.id, seq=seq, prev_hash=hazard.audit_head, action=spec.action,
        actor_id=actor.id, actor_role=actor.role, actor_name=actor.display_name,
        from_state=hazard.state, to_state=target, payload=payload, occurred_at=now,
    )


@dataclass(frozen=True)
class Subject:
    """One kind of thing with a lifecycle, as the transaction path needs to know it: its table (a
    row with `id`, `state`, `version`, `audit_head`), its lifecycle table and state names, how a
    row is loaded in the actor's scope (404 otherwise), what an action reads besides the row
    (`details`), and how its events and outbox rows are written. `after` runs once the row, the
    event and the outbox rows are written, in the same transaction (a task closes when its last
    unit's part is verified)."""

    name: str
    noun: str  # 隐患, 任务: the word the refusals use
    table: Any
    lifecycle: Mapping[str, ActionSpec]
    labels: Mapping[str, str]
    load: Callable[[Session, Principal, int, bool], Any]
    details: Callable[[Session, ActionSpec, Any, Principal, Any, dict[str, Any]], dict[str, Any]]
    build_event: Callable[[Any, int, ActionSpec, Principal, str, dict[str, Any], datetime], dict[str, Any]]
    insert_event: Callable[[Session, dict[str, Any]], int]
    outbox_rows: Callable[[Any, ActionSpec, int, datetime, dict[str, Any] | None, Any], list[dict[str, Any]]]
    insert_outbox: Callable[[Session, list[dict[str, Any]], int], None]
    after: Callable[[Session, Any, "Decision", int, datetime], None] | None = None

    @property
    def cas(self) -> Any:
        return _cas(self.table)


_CAS_BY_TABLE: dict[str, Any] = {}


def _cas(table: Any) -> Any:
    """The compare-and-set on `table`, built once per table."""
    statement = _CAS_BY_TABLE.get(table.name)
    if statement is None:
        statement = _CAS_BY_TABLE[table.name] = update(table).where(
            table.c.id == bindparam("cas_id"), table.c.version == bindparam("cas_version"))
    return statement


def decide(subject: Subject, session: Session, spec: ActionSpec, row: Any, actor: Principal, data: Any, *,
           now: datetime, if_match: int | None = None, extension_min_working_days: int = 15) -> Decision:
    """Decide one action against the subject's lifecycle table (role, state, guards, body) and build
    what it writes. Raises the refusal; writes nothing. `row` is the ORM row or a `Working`."""
    refuse(check_pre(spec, row, actor, subject.labels, subject.noun))
    if if_match is not None and if_match != row.version:
        raise Conflict(f"该{subject.noun}已被他人更新，请刷新后重试", code="stale_version",
                       details={"expected": if_match, "current": row.version})
    body = parse(spec.body, data)
    ctx = context(now, extension_min_working_days)
    refuse(check_body(spec, row, actor, body, ctx))

    changes = spec.changes(row, body, actor, ctx)
    more = subject.details(session, spec, row, actor, body, changes)
    target = spec.target(row, body)
    seq = row.version + 1
    payload: dict[str, Any] = {"body": body.model_dump(mode="json"), "changes": json_changes(changes), **more}
    event = subject.build_event(row, seq, spec, actor, target, payload, now)
    values = {**changes, "state": target.value, "version": seq, "audit_head": event["hash"], "updated_at": now}
    extra = spec.notice(body, changes, ctx) if spec.notice else None
    return Decision(spec.action, seq, values, event, subject.outbox_rows(row, spec, seq, now, extra, body))


def act(subject: Subject, session: Session, actor: Principal, row_id: int, action: str, data: Any, *,
        now: datetime, if_match: int | None = None, extension_min_working_days: int = 15) -> Any:
    """Carry out one lifecycle action on one row of `subject`; returns the row as it is after it."""
    spec = subject.lifecycle.get(action)
    if spec is None or not spec.sources:  # an action that starts a subject is not an action on one
        raise NotFound(f"没有名为“{action}”的操作", code="unknown_action")
    row = subject.load(session, actor, row_id, True)
    decision = decide(subject, session, spec, row, actor, data, now=now, if_match=if_match,
                      extension_min_working_days=extension_min_working_days)
    result = session.connection().execute(
        subject.cas, {**decision.values, "cas_id": row.id, "cas_version": row.version})
    if result.rowcount != 1:
        raise Conflict(f"该{subject.noun}刚被他人处理，请刷新后重试", code="concurrent_update")
    event_id = subject.insert_event(session, decision.event)
    for key, value in decision.values.items():
        set_committed_value(row, key, value)
    subject.insert_outbox(session, decision.outbox_rows, event_id)
    if subject.after is not None:
        subject.after(session, row, decision, event_id, now)
    return row


HAZARD = Subject(
    name="hazard", noun="隐患", table=_HAZARDS, lifecycle=LIFECYCLE, labels=STATE_LABELS,
    load=lambda session, actor, row_id, lock: load_in_scope(session, actor, row_id, for_update=lock),
    details=_hazard_details, build_event=_hazard_event, insert_event=audit.insert_event,
    outbox_rows=outbox_rows, insert_outbox=insert_outbox,
)


def prepare(session: Session, spec: ActionSpec, hazard: Any, actor: Principal, data: Any, *, now: datetime,
            if_match: int | None = None, extension_min_working_days: int = 15) -> Decision:
    """Decide one action on a hazard (the sweep decides its batches with this)."""
    return decide(HAZARD, session, spec, hazard, actor, data, now=now, if_match=if_match,
                  extension_min_working_days=extension_min_working_days)


def perform(session: Session, actor: Principal, hazard_id: int, action: str, data: Any, *,
            now: datetime, if_match: int | None = None, extension_min_working_days: int = 15) -> Hazard:
    """Carry out one lifecycle action on a hazard; returns the hazard as it is after the action."""
    return act(HAZARD, session, actor, hazard_id, action, data, now=now, if_match=if_match,
               extension_min_working_days=extension_min_working_days)
