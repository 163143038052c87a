"""立查立改: a general hazard the enterprise found and fixed on the spot, recorded on its return with
one evidence file (an image or a PDF), stored by SHA-256 exactly like the hazards' attachments
(`services.engine.attachments.store`: the same size limit, the same type sniffing, the same
Chinese refusals). The record is an event on the return's chain. Only while the return's month is
open (`window`), by the enterprise's own users; another enterprise's return answers 404."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from db.engine import UnitOfWork
from db.models import SpotFix
from services.accounts.auth import Principal
from services.audit import records
from services.calendar.workdays import WorkCalendar, default_calendar
from services.engine.attachments import stored_name, remove_unreferenced, store
from services.inspections import window
from services.inspections.models import SpotFixBody, SpotFixOut
from services.inspections.reads import load_visible, spot_fix_out
from services.inspections.returns import INVALID, check_window, own_enterprise, subject
from services.kernel.clock import local_date
from services.kernel.errors import Invalid
from services.kernel.validation import parse


def _check(session: Any, principal: Principal, return_id: int, body: SpotFixBody, *, now: datetime,
           calendar: WorkCalendar) -> None:
    own_enterprise(session, principal)
    row, _ = load_visible(session, principal, return_id)
    today = local_date(now)
    check_window(row.month, today, calendar, field="return")
    if not (window.first_day(row.month) <= body.fixed_on <= min(window.last_day(row.month), today)):
        raise Invalid(INVALID, details=[{"field": "fixed_on", "message": f"整改日期应在 {row.month} 月内且不晚于今天"}])


def record(uow: UnitOfWork, principal: Principal, return_id: int, data: dict[str, Any], *, filename: str,
           stream: BinaryIO, root: Path, max_bytes: int, now: datetime,
           calendar: WorkCalendar | None = None) -> SpotFixOut:
    """Check everything that needs no file first (role, scope, the month, the body), then store the
    file, then write the row and its chain event in one transaction; a file this upload created is
    removed again if that transaction fails."""
    calendar = calendar or default_calendar()
    body = parse(SpotFixBody, data)
    name = stored_name(filename)
    with uow.read() as session:
        _check(session, principal, return_id, body, now=now, calendar=calendar)
    stored = store(stream, root=root, max_bytes=max_bytes)
    try:
        with uow.write() as session:
            _check(session, principal, return_id, body, now=now, calendar=calendar)
            row, ent = load_visible(session, principal, return_id)
            fix = SpotFix(self_inspection_id=row.id, enterprise_id=ent.id, description=body.description,
                          location=body.location, measures=body.measures, fixed_on=body.fixed_on,
                          evidence_filename=name, evidence_content_type=stored.content_type,
                          evidence_size=stored.size, evidence_sha256=stored.sha256, created_by_id=principal.id,
                          created_at=now)
            session.add(fix)
            session.flush()
            records.append(session, subject=subject(ent.id, row.month), action="spot_fix", actor=principal, now=now,
                           payload={"return_id": row.id, "spot_fix_id": fix.id, "description": body.description,
                                    "location": body.location, "measures": body.measures,
                                    "fixed_on": body.fixed_on.isoformat(), "filename": name,
                                    "content_type": stored.content_type, "size": stored.size,
                                    "sha256": stored.sha256})
            return spot_fix_out(fix)
    except BaseException:
        if stored.created:
            remove_unreferenced(uow, stored)
        raise
