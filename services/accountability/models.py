"""The 问责移交 and 约谈 answers (the API's response models and the pages' data)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ReferralOut(BaseModel):
    id: int
    hazard_id: int
    hazard_code: str
    hazard_title: str
    region_code: str  # the referring committee office's region
    addressed_to: str
    addressee_configured: bool  # False: no 纪检监察 body configured, the name is inferred
    number: str | None
    sha256: str | None
    outcome: str  # pending | accepted | investigating | concluded | declined
    outcome_label: str
    outcome_note: str | None
    outcome_at: str | None
    created_at: str
    facts: dict[str, Any]  # as sent: hazard, enterprise, timeline, steps


class SummonsOut(BaseModel):
    id: int
    hazard_id: int
    hazard_code: str
    hazard_title: str
    enterprise: str | None
    region_code: str
    summoned_on: str  # the day the ladder's summon step fired
    held_on: str | None
    attendees: str | None
    commitments: str | None
    recorded_at: str | None
