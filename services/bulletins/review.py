"""A region's 通报 list for a month, and its review: the committee office includes or excludes each
entry with a note, each an event on the record chain `bulletin:<region>:<month>`. An entry bound
to an issued 通报 is final."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, aliased

from db.models import Bulletin, BulletinItem, Enterprise, Hazard, Organisation, PlanTask, Region, TaskAssignment
from services.audit import records
from services.bulletins import access
from services.bulletins.items import KINDS, OVERDUE_TASK
from services.bulletins.models import BulletinItemOut, BulletinList, BulletinOut
from services.documents.issuers import region_name
from services.kernel.clock import local_text
from services.kernel.errors import Conflict, NotFound, invalid_field
from services.kernel.inputs import control_character

STATUS_LABELS = {"proposed": "待审核", "included": "列入通报", "excluded": "不列入"}
DECISIONS = {"include": "included", "exclude": "excluded"}
MAX_NOTE = 500


def subject(region_code: str, month: str) -> str:
    return f"bulletin:{region_code}:{month}"


def _items_query():
    subject_region = aliased(Region)
    return (select(BulletinItem, Hazard.code, Hazard.title, Enterprise.name, Enterprise.supervising_department,
                   subject_region.name.label("subject_region"), Bulletin.number)
            .outerjoin(Hazard, Hazard.id == BulletinItem.hazard_id)
            .outerjoin(Enterprise, Enterprise.id == BulletinItem.enterprise_id)
            .outerjoin(subject_region, subject_region.code == BulletinItem.subject_region_code)
            .outerjoin(Bulletin, Bulletin.id == BulletinItem.bulletin_id))


def _out(row) -> BulletinItemOut:
    item = row[0]
    what = row.name or row.subject_region or item.subject_region_code or "—"
    return BulletinItemOut(
        id=item.id, region_code=item.region_code, month=item.month, kind=item.kind,
        kind_label=KINDS.get(item.kind, item.kind), hazard_id=item.hazard_id, hazard_code=row.code,
        hazard_title=row.title, enterprise=row.name, department=row.supervising_department, subject=what,
        reason=item.reason, status=item.status, status_label=STATUS_LABELS.get(item.status, item.status),
        review_note=item.review_note, bulletin_id=item.bulletin_id, bulletin_number=row.number)


def _assignment_id(item: BulletinItemOut, key: str) -> int | None:
    """An overdue task's entry names the unit's part in its key (`overdue_task:<part>:<deadline>`)."""
    parts = key.split(":")
    return int(parts[1]) if item.kind == OVERDUE_TASK and len(parts) == 3 and parts[1].isdigit() else None


def _with_tasks(session: Session, pairs: list[tuple[BulletinItemOut, str]]) -> list[BulletinItemOut]:
    """Overdue tasks' entries completed in one query: the unit (the subject), the task's number and title."""
    wanted = [_assignment_id(item, key) for item, key in pairs]
    ids = {a for a in wanted if a is not None}
    if not ids:
        return [item for item, _ in pairs]
    rows = {r.id: r for r in session.execute(
        select(TaskAssignment.id, TaskAssignment.plan_id, TaskAssignment.task_id, TaskAssignment.unit_name,
               Organisation.name, PlanTask.number, PlanTask.title)
        .join(PlanTask, PlanTask.id == TaskAssignment.task_id)
        .outerjoin(Organisation, Organisation.id == TaskAssignment.org_id)
        .where(TaskAssignment.id.in_(ids)))}
    out = []
    for (item, _), part_id in zip(pairs, wanted):
        row = rows.get(part_id) if part_id is not None else None
        if row is not None:
            item = item.model_copy(update={"assignment_id": row.id, "plan_id": row.plan_id,
                                           "task_id": row.task_id, "task_number": row.number, "task_title": row.title,
                                           "subject": row.name or row.unit_name})
        out.append(item)
    return out


def items_of(session: Session, region_code: str, month: str) -> list[BulletinItemOut]:
    rows = session.execute(_items_query().where(BulletinItem.region_code == region_code,
                                                BulletinItem.month == month)
                           .order_by(BulletinItem.kind, BulletinItem.id)).all()
    return _with_tasks(session, [(_out(r), r[0].key) for r in rows])


def bulletin_out(b: Bulletin, entries: int) -> BulletinOut:
    return BulletinOut(id=b.id, region_code=b.region_code, month=b.month, number=b.number, title=b.title,
                       issuer_name=b.issuer_name, sha256=b.sha256, issued_at=local_text(b.issued_at) or "",
                       entries=entries)


def bulletins_of(session: Session, region_code: str, month: str) -> list[BulletinOut]:
    rows = session.scalars(select(Bulletin).where(Bulletin.region_code == region_code, Bulletin.month == month)
                           .order_by(Bulletin.id)).all()
    tally = dict(session.execute(
        select(BulletinItem.bulletin_id, func.count()).where(BulletinItem.bulletin_id.in_([b.id for b in rows]))
        .group_by(BulletinItem.bulletin_id)).all()) if rows else {}
    return [bulletin_out(b, tally.get(b.id, 0)) for b in rows]


def month_list(session: Session, principal, *, region: str | None, month: str | None) -> BulletinList:
    region_code, month = access.parse_query(session, principal, region, month)
    return BulletinList(region_code=region_code, region_name=region_name(session, region_code), month=month,
                        can_review=access.reviews(principal, region_code),
                        items=items_of(session, region_code, month), bulletins=bulletins_of(session, region_code, month))


def get_item(session: Session, principal, item_id: int) -> BulletinItemOut:
    access.check_reader(principal)
    row = session.execute(_items_query().where(BulletinItem.id == item_id)).first()
    if row is None or not access.sees(principal, row[0].region_code):
        raise NotFound("通报条目不存在")
    return _with_tasks(session, [(_out(row), row[0].key)])[0]


def decide(session: Session, principal, item_id: int, decision: str, note: str | None, *,
           now: datetime) -> BulletinItemOut:
    """Include or exclude an entry (again, until it is issued); the note is kept on the entry and
    in the chain."""
    current = get_item(session, principal, item_id)
    access.check_reviewer(principal, current.region_code)
    if decision not in DECISIONS:
        raise invalid_field("decision", "审核结论应为 include（列入）或 exclude（不列入）")
    note = (note or "").strip() or None
    if note is not None and (len(note) > MAX_NOTE or control_character(note)):
        raise invalid_field("note", f"说明最多 {MAX_NOTE} 个字，且不能含控制字符")
    if decision == "exclude" and note is None:
        raise invalid_field("note", "不列入通报须说明理由")
    if current.bulletin_id is None and (current.status, current.review_note) == (DECISIONS[decision], note):
        return current  # the same decision again (a double submit): nothing new to record
    done = session.execute(update(BulletinItem).where(BulletinItem.id == item_id, BulletinItem.bulletin_id.is_(None))
                           .values(status=DECISIONS[decision], review_note=note)).rowcount
    if done != 1:
        raise Conflict("该条目已随通报印发，不能再改变", code="issued")
    records.append(session, subject=subject(current.region_code, current.month), action=decision, actor=principal,
                   payload={"item_id": item_id, "kind": current.kind, "note": note}, now=now)
    session.expire_all()
    return get_item(session, principal, item_id)
