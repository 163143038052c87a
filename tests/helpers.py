"""Driving hazards through the real transaction path, for tests that need one in a given state."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from db.engine import transaction
from services.engine import creation, transitions
from services.kernel.clock import local_date

PATHS: dict[str, list[str]] = {
    # state reached -> actions from `reported`, for a general and a major hazard
    "reported": [],
    "registered": ["register"],
    "supervised": ["register", "supervise"],
    "rectifying": ["register", "file_plan"],
    "acceptance_requested": ["register", "file_plan", "request_acceptance"],
    "accepted": ["register", "supervise", "file_plan", "request_acceptance", "accept"],
    "closed": ["register", "file_plan", "request_acceptance", "accept"],
    "dismissed": ["dismiss"],
}

ACTOR_OF = {
    "register": "inspector",
    "dismiss": "inspector2",
    "supervise": "city_committee",
    "file_plan": "ent_coal",
    "request_acceptance": "ent_coal",
    "accept": "inspector",
    "close": "city_committee",
}


def report_body(**over: Any) -> dict[str, Any]:
    body = {
        "title": "主运输巷道顶板离层",
        "description": "+450 水平主运输巷 350 米处锚索失效，顶板离层 30 毫米。",
        "location": "井下 +450 水平主运输巷",
        "region_code": "141102",
        "industry": "煤矿",
        "source": "inspection",
    }
    body.update(over)
    return body


def body_for(action: str, *, today: date, level: str, uscc: str, evidence: list[int] | None = None,
             assessment_report: int | None = None) -> dict[str, Any]:
    deadline = today + timedelta(days=60)
    return {
        "register": {"level": level, "enterprise_uscc": uscc, "deadline": deadline.isoformat(), "category": "顶板管理"},
        "dismiss": {"reason": "经核查不构成隐患"},
        "supervise": {"listing_level": "city", "deadline": deadline.isoformat(),
                      "plan_due": (today + timedelta(days=10)).isoformat(), "suspend_production": True},
        "file_plan": {"responsible_person": "张建国", "measures": "补打锚索", "funds_wan": "35.5",
                      "time_limit": (today + timedelta(days=50)).isoformat(), "contingency_plan": "顶板事故应急预案"},
        "report_progress": {"note": "已完成一半"},
        "request_extension": {"reason": "材料延迟", "interim_measures": "限制通行",
                              "new_deadline": (deadline + timedelta(days=30)).isoformat()},
        "grant_extension": {"note": "同意"},
        "deny_extension": {"note": "不同意"},
        "request_acceptance": {"work_done": "全部完成", "completed_on": today.isoformat(), "funds_spent_wan": "33",
                               "evidence": evidence or [], "assessment": "expert",
                               "assessment_report": assessment_report},
        "accept": {"reviewed_on": today.isoformat(), "opinion": "同意验收"},
        "reject": {"reviewed_on": today.isoformat(), "reasons": "未按设计施工"},
        "close": {"opinion": "同意销号"},
        "order_suspension": {"reason": "停产整顿"},
        "lift_suspension": {"reason": "恢复生产"},
        "escalate": {"step": "urge"},
        "issue_document": {"kind": "rectification_notice", "number": "离应急改〔2026〕1号", "title": "限期整改通知书",
                           "sha256": "0" * 64, "document_id": 1},
        "attach": {"attachment_id": 1, "filename": "现场.png", "content_type": "image/png", "size": 4,
                   "sha256": "ab" * 32},
        "comment": {"text": "备注"},
    }[action]


def add_attachment(factory: sessionmaker[Session], hazard_id: int, now: datetime, name: str = "photo.png") -> int:
    from db.models import Attachment

    with transaction(factory) as s:
        att = Attachment(hazard_id=hazard_id, filename=name, content_type="image/png", size=4,
                         sha256="ab" * 32, uploaded_by_id=None, created_at=now)
        s.add(att)
        s.flush()
        return att.id


def new_hazard(factory, world, now: datetime, reporter: str = "inspector", **over: Any) -> int:
    with transaction(factory) as s:
        return creation.report(s, world.p(reporter), report_body(**over), now=now).id


def drive(factory, world, now: datetime, state: str, *, level: str = "general", enterprise: str = "coal") -> int:
    """Create a hazard and walk it to `state` through the real actions."""
    hazard_id = new_hazard(factory, world, now)
    path = list(PATHS[state])
    if level == "general" and "supervise" in path:
        raise ValueError("a general hazard is never supervised")
    if level == "major" and "file_plan" in path and "supervise" not in path:
        path.insert(path.index("file_plan"), "supervise")  # listed before its plan: closed only by 摘牌
    if state == "accepted" and level != "major":
        raise ValueError("only a major hazard waits in accepted")
    today = local_date(now)
    for action in path:
        evidence = report = None
        if action == "request_acceptance":
            evidence = [add_attachment(factory, hazard_id, now)]
            report = add_attachment(factory, hazard_id, now, "report.pdf") if level == "major" else None
        body = body_for(action, today=today, level=level, uscc=world.enterprises[enterprise],
                        evidence=evidence, assessment_report=report)
        with transaction(factory) as s:
            transitions.perform(s, world.p(ACTOR_OF[action]), hazard_id, action, body, now=now)
    return hazard_id
