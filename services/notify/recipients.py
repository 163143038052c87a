"""Who is told about an outbox message: audiences per kind and per ladder step, resolved to active
users with the same scope rule as `services.accounts.auth` (a region subtree by code prefix, and the
industry for inspectors and supervisors bound to one).

A `Directory` is loaded once per expansion batch (two queries), then answers per hazard in memory,
so a sweep of thousands of hazards is not a query per hazard.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from db.models import AuditEvent, Enterprise, Hazard, User
from services.kernel import regions
from services.escalation.ladder import Step
from services.lifecycle.roles import Role
from services.outbox import kinds


class Audience(StrEnum):
    ENTERPRISE = "enterprise"  # the hazard's enterprise's users
    INSPECTORS = "inspectors"  # inspectors whose scope holds the hazard
    SUPERVISORS = "supervisors"  # supervisors whose scope holds the hazard
    COMMITTEE = "committee"  # the 安委办 of the listing level (the county's when not listed)
    NEW_LISTING = "new_listing"  # the 安委办 of the level an elevation moved the listing to
    EXTENSION_DECIDERS = "extension_deciders"  # supervisors (general) or the listing 安委办 (major)
    REPORTER = "reporter"  # the user who reported it (a public reporter has no account)


A = Audience
KIND_AUDIENCES: dict[str, tuple[Audience, ...]] = {
    kinds.NOTIFY_ENTERPRISE: (A.ENTERPRISE,),
    kinds.NOTIFY_INSPECTORS: (A.INSPECTORS,),
    kinds.NOTIFY_SUPERVISORS: (A.SUPERVISORS,),
    kinds.NOTIFY_EXTENSION_DECIDERS: (A.EXTENSION_DECIDERS,),
    kinds.NOTIFY_REPORTER: (A.REPORTER,),
}
STEP_AUDIENCES: dict[Step, tuple[Audience, ...]] = {
    Step.remind: (A.ENTERPRISE,),
    Step.overdue: (A.ENTERPRISE, A.INSPECTORS, A.SUPERVISORS),
    Step.urge: (A.ENTERPRISE, A.SUPERVISORS, A.COMMITTEE),
    Step.summon: (A.ENTERPRISE, A.SUPERVISORS, A.COMMITTEE),
    Step.publicize: (A.ENTERPRISE, A.SUPERVISORS, A.COMMITTEE),
    Step.elevate: (A.NEW_LISTING, A.ENTERPRISE),
    Step.refer: (A.SUPERVISORS, A.COMMITTEE),
    Step.unregistered_remind: (A.INSPECTORS,),
    Step.unregistered_escalate: (A.SUPERVISORS,),
    Step.review_overdue: (A.SUPERVISORS,),
    # Not listed in time: the 安委办 that should list it (the county's, as it is not listed yet)
    # and the supervising department that registered it.
    Step.unlisted_escalate: (A.COMMITTEE, A.SUPERVISORS),
}
ALERTED = (Role.ADMIN, Role.AUDITOR)  # told of `alert.*` kinds: about the service itself, no hazard


def audiences(kind: str, payload: dict[str, Any]) -> tuple[Audience, ...]:
    """Nobody for a kind without an audience (`stage.reported`: the region's inspectors find a
    new report among their to-dos); webhooks subscribed to the kind still get it."""
    if kind == kinds.ESCALATION:
        return STEP_AUDIENCES[Step[payload["step"]]]
    return KIND_AUDIENCES.get(kind, ())


@dataclass(frozen=True)
class Person:
    id: int
    role: str
    region_code: str
    industry: str | None
    enterprise_id: int | None
    email: str | None


@dataclass(frozen=True)
class HazardFacts:
    id: int
    code: str
    title: str
    region_code: str
    industry: str
    level: str | None
    enterprise_id: int | None
    listing_level: str | None
    reported_by_id: int | None
    # what a message says of it (services.notify.messages)
    enterprise_name: str | None = None
    state: str = ""
    deadline: date | None = None
    plan_due: date | None = None
    listing_body: str | None = None
    failed_acceptances: int = 0
    created_at: datetime | None = None


@dataclass(frozen=True)
class Act:
    """The audit event a message is about: when, by whom, and what was decided."""

    occurred_at: datetime
    actor_name: str
    actor_role: str
    body: dict[str, Any]
    changes: dict[str, Any]


_PERSON_COLUMNS = (User.id, User.role, User.region_code, User.industry, User.enterprise_id, User.email)
OFFICIAL_ROLES = (Role.INSPECTOR, Role.SUPERVISOR, Role.COMMITTEE)


def load_hazards(session: Session, ids: Iterable[int]) -> dict[int, HazardFacts]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    rows = session.execute(select(
        Hazard.id, Hazard.code, Hazard.title, Hazard.region_code, Hazard.industry, Hazard.level,
        Hazard.enterprise_id, Hazard.listing_level, Hazard.reported_by_id, Enterprise.name, Hazard.state,
        Hazard.deadline, Hazard.plan_due, Hazard.listing_body, Hazard.failed_acceptances, Hazard.created_at,
    ).outerjoin(Enterprise, Enterprise.id == Hazard.enterprise_id).where(Hazard.id.in_(ids))).all()
    return {r.id: HazardFacts(*r) for r in rows}


def load_acts(session: Session, event_ids: Iterable[int]) -> dict[int, Act]:
    """The audit events the given outbox rows were written with, by id (one query per batch)."""
    ids = sorted({i for i in event_ids if i is not None})
    acts: dict[int, Act] = {}
    for part in range(0, len(ids), 1000):
        rows = session.execute(select(
            AuditEvent.id, AuditEvent.occurred_at, AuditEvent.actor_name, AuditEvent.actor_role, AuditEvent.payload,
        ).where(AuditEvent.id.in_(ids[part:part + 1000]))).all()
        for r in rows:
            payload = json.loads(r.payload)
            acts[r.id] = Act(r.occurred_at, r.actor_name or "", r.actor_role, payload.get("body") or {},
                             payload.get("changes") or {})
    return acts


class Directory:
    """The active users who may hear of the given hazards, and the rules that pick them."""

    def __init__(self, session: Session, hazards: Iterable[HazardFacts]) -> None:
        hazards = list(hazards)
        enterprises = {h.enterprise_id for h in hazards if h.enterprise_id is not None}
        provinces = {h.region_code[:2] for h in hazards}
        reporters = {h.reported_by_id for h in hazards if h.reported_by_id is not None}
        wanted = []
        if enterprises:
            wanted.append((User.role == Role.ENTERPRISE) & User.enterprise_id.in_(enterprises))
        if provinces:  # officials of these provinces; the exact scope is checked per hazard
            wanted.append(User.role.in_(OFFICIAL_ROLES)
                          & or_(*[User.region_code.startswith(p, autoescape=True) for p in sorted(provinces)]))
        if reporters:
            wanted.append(User.id.in_(reporters))
        rows = session.execute(select(*_PERSON_COLUMNS).where(User.active.is_(True), or_(*wanted))
                               .order_by(User.id)).all() if wanted else []
        self.people = [Person(*r) for r in rows]

    def _in_scope(self, person: Person, hazard: HazardFacts) -> bool:
        if not regions.within(hazard.region_code, person.region_code):
            return False
        return person.role == Role.COMMITTEE or person.industry is None or person.industry == hazard.industry

    def _officials(self, role: Role, hazard: HazardFacts) -> list[Person]:
        return [p for p in self.people if p.role == role and self._in_scope(p, hazard)]

    def _committee(self, hazard: HazardFacts, level: str) -> list[Person]:
        office = regions.ancestor_code(hazard.region_code, level)
        return [p for p in self.people if p.role == Role.COMMITTEE and p.region_code == office]

    def resolve(self, audience: Audience, hazard: HazardFacts, payload: dict[str, Any]) -> list[Person]:
        if audience == A.ENTERPRISE:
            if hazard.enterprise_id is None:
                return []
            return [p for p in self.people if p.role == Role.ENTERPRISE and p.enterprise_id == hazard.enterprise_id]
        if audience == A.INSPECTORS:
            return self._officials(Role.INSPECTOR, hazard)
        if audience == A.SUPERVISORS:
            return self._officials(Role.SUPERVISOR, hazard)
        if audience == A.COMMITTEE:
            return self._committee(hazard, hazard.listing_level or "county")
        if audience == A.NEW_LISTING:
            # An elevation names the new level; a province listing stays put, and an unlisted
            # hazard goes one level above the county.
            return self._committee(hazard, payload.get("listing_level") or hazard.listing_level or "city")
        if audience == A.EXTENSION_DECIDERS:
            if hazard.level == "major":
                return self._committee(hazard, hazard.listing_level or "county")
            return self._officials(Role.SUPERVISOR, hazard)
        if audience == A.REPORTER:
            return [p for p in self.people if p.id == hazard.reported_by_id]
        raise ValueError(audience)

    def recipients(self, kind: str, hazard: HazardFacts, payload: dict[str, Any]) -> list[Person]:
        """Everyone the message is for, each once, in a stable order."""
        seen: dict[int, Person] = {}
        for audience in audiences(kind, payload):
            for person in self.resolve(audience, hazard, payload):
                seen.setdefault(person.id, person)
        return sorted(seen.values(), key=lambda p: p.id)


def alert_recipients(session: Session) -> list[Person]:
    """The active admins and auditors, who must hear when the service itself is in trouble."""
    rows = session.execute(select(*_PERSON_COLUMNS).where(User.active.is_(True), User.role.in_(ALERTED))
                           .order_by(User.id)).all()
    return [Person(*r) for r in rows]
