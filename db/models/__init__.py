"""The tables of the service, one module per idea; importing this package registers every table
on `db.base.Base.metadata` (Alembic and the tests read it), and `from db.models import X` names any
model.

Relationships are `lazy="raise"`: every load is explicit, so no request issues a query by accident
inside a loop. Money is `Numeric(14, 2)` 万元; dates without a time (deadlines) are `Date`.
"""

from __future__ import annotations

from db.models.audit import AuditCheckpoint, AuditCheckpointHead, AuditEvent
from db.models.calendar import CalendarYear
from db.models.documents import Document, DocumentIssuer, DocumentSequence
from db.models.office import (
    AccountabilityBody, BlacklistDecision, Bulletin, BulletinItem, DutyStep, RecordEvent, Referral,
    ReportSubmission, SelfInspection, SpotFix, Summons,
)
from db.models.mirror import MirrorItem, MirrorLease, MirrorQueue
from db.models.govorgs import Organisation, OrganisationAlias
from db.models.hazards import Attachment, Hazard, HazardSequence, PublicSubmission
from db.models.organisations import ApiToken, Enterprise, Region, User
from db.models.outbox import Delivery, InboxItem, OutboxMessage
from db.models.plans import PlanTask, PlanTaskUnit, TaskAssignment, TaskPlan
from db.models.web import IdempotencyKey, LoginThrottle, RateBucket, WebSession

__all__ = [
    "AccountabilityBody", "BlacklistDecision", "Bulletin", "BulletinItem", "DutyStep", "RecordEvent",
    "Referral", "ReportSubmission", "SelfInspection", "SpotFix", "Summons",
    "ApiToken", "Attachment", "AuditCheckpoint", "AuditCheckpointHead", "AuditEvent", "CalendarYear",
    "Delivery", "Document", "DocumentIssuer", "DocumentSequence", "Enterprise", "Hazard", "HazardSequence",
    "IdempotencyKey", "InboxItem", "LoginThrottle", "OutboxMessage", "PublicSubmission", "RateBucket",
    "Region", "User", "WebSession",
    "MirrorItem", "MirrorLease", "MirrorQueue",
    "Organisation", "OrganisationAlias",
    "PlanTask", "PlanTaskUnit", "TaskAssignment", "TaskPlan",
]
