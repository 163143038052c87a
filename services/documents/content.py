"""What a document says: its title, issuing body and the template's context, from the hazard and
the audit event of the decision it records.

The decision's own facts (deadline, opinion, listing level, the ladder step) are read from that
event's payload, not from the hazard as it is now, so a document issued a minute or a day after its
decision states the decision as taken. Text people typed goes into the context as data only; the
templates escape it (services.documents.render).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from services.kernel import regions
from services.kernel.clock import cn_date as chinese_date, local_date
from services.documents import issuers
from services.documents.issuers import BUREAU, COMMITTEE, Issuer
from services.documents.kinds import Kind

LAW = "《中华人民共和国安全生产法》"
RULES = "《生产安全事故隐患排查治理暂行规定》"
LEVEL_LABELS = {"general": "一般事故隐患", "major": "重大事故隐患"}
LISTING_LABELS = {"county": "县级", "city": "市级", "province": "省级"}


@dataclass(frozen=True)
class Source:
    """Everything a document is drawn from, read by the engine in the issuing transaction."""

    hazard: Any  # the Hazard row (or anything with its attributes)
    enterprise_name: str | None
    action: str
    body: dict[str, Any]  # the decision event's payload
    changes: dict[str, Any]
    occurred_at: datetime
    actor_role: str
    actor_region: str | None
    extension_request: dict[str, Any] | None = None  # the request an extension decision answers


@dataclass(frozen=True)
class Plan:
    title: str
    issuer: Issuer
    dated: date  # 成文日期: the day of the decision


def _d(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _committee_level(src: Source) -> str:
    """The listing level's office; before listing, the deciding office's own level (a committee
    may act on a hazard in its region before it is listed), else the county's."""
    level = src.changes.get("listing_level") or src.hazard.listing_level
    if level:
        return level
    if src.actor_role == "committee":
        return issuers.official_level(src.actor_region)
    return "county"


def plan(session: Session, kind: Kind, src: Source) -> Plan:
    region = src.hazard.region_code
    title = kind.label
    if kind.name == "rectification_notice" and src.body.get("rectified_on_spot"):
        title = "事故隐患当场整改确认书"
    if kind.name == "closure_notice":
        title = "解除挂牌督办通知书" if src.hazard.listing_level else "事故隐患销号通知"
    committee = kind.name in ("listing_notice", "closure_notice", "urge_letter", "summon_notice") or (
        kind.name == "extension_decision" and src.actor_role == "committee")
    if committee:
        who = issuers.issuer(session, COMMITTEE, region, _committee_level(src))
    else:
        who = issuers.issuer(session, BUREAU, region, issuers.official_level(src.actor_region))
    return Plan(title, who, local_date(src.occurred_at))


def _hazard_facts(session: Session, src: Source) -> dict[str, Any]:
    h = src.hazard
    return {
        "code": h.code, "title": h.title, "location": h.location, "description": h.description,
        "level": LEVEL_LABELS.get(h.level or "", "未定级"), "category": h.category or "—",
        "industry": h.industry, "region": issuers.region_name(session, regions.county_of(h.region_code)),
        "discovered_on": local_date(h.discovered_at),
    }


def context(session: Session, kind: Kind, src: Source, p: Plan, number: str) -> dict[str, Any]:
    """The template's variables; every template reads all of the common ones (StrictUndefined)."""
    h = src.hazard
    ctx: dict[str, Any] = {
        "doc": {"title": p.title, "number": number, "issuer": p.issuer.name, "dated": p.dated,
                "addressee": src.enterprise_name or "（生产经营单位未确定）"},
        "hazard": _hazard_facts(session, src),
        "deadline": _d(src.changes.get("deadline")) or h.deadline,
    }
    ctx.update(_DETAILS[kind.name](src))
    return ctx


def _rectification(src: Source) -> dict[str, Any]:
    on_spot = bool(src.body.get("rectified_on_spot"))
    return {
        "on_spot": on_spot,
        "requirements": [] if on_spot else [
            "立即采取有效的安全防范措施，确保整改期间的安全；无法保证安全的，应当停止相关作业并撤出作业人员。",
            "按照“五落实”（责任、措施、资金、时限、预案）要求制定并落实整改方案。",
            "整改完成后及时申请验收，并提交整改情况及相关证明材料。",
        ],
        "legal_basis": [f"{LAW}第四十一条、第六十五条", RULES],
        "warning": f"逾期未整改或者整改不合格的，将依照{LAW}第一百零二条的规定予以处理。",
    }


def _listing(src: Source) -> dict[str, Any]:
    suspended = bool(src.body.get("suspend_production"))
    reqs = [
        f"于{_cn(_d(src.body.get('plan_due')))}前报送重大事故隐患治理方案，落实责任、措施、资金、时限、预案"
        "“五落实”。",
        "主要负责人对重大事故隐患治理负总责，定期报告治理进展。",
        "治理完成后组织评估，向本办提出验收和解除挂牌督办申请。",
    ]
    if suspended:
        reqs.insert(0, "在重大事故隐患排除前停产停业整顿，从危险区域内撤出作业人员；经审查同意后方可恢复生产经营。")
    basis = [f"{LAW}第四十一条、第六十五条", RULES]
    if suspended:
        basis[0] = f"{LAW}第四十一条、第六十五条、第七十条"
    return {"listing_level": LISTING_LABELS.get(src.changes.get("listing_level") or "", "县级"),
            "plan_due": _d(src.body.get("plan_due")), "suspended": suspended, "requirements": reqs,
            "legal_basis": basis}


def _extension(src: Source) -> dict[str, Any]:
    granted = src.action == "grant_extension"
    req = src.extension_request or {}
    return {
        "granted": granted, "note": src.body.get("note", ""),
        "request": {"reason": req.get("reason") or "—", "interim_measures": req.get("interim_measures") or "—",
                    "new_deadline": _d(req.get("new_deadline"))},
        "requirements": [
            "延期期间落实临时安全措施，确保安全。" if granted else "按原整改期限完成整改，不得拖延。",
            "整改完成后及时申请验收。",
        ],
        "legal_basis": [LAW, RULES],
    }


def _acceptance(src: Source) -> dict[str, Any]:
    passed = src.action == "accept"
    major = src.hazard.level == "major"
    return {
        "passed": passed, "major": major, "reviewed_on": _d(src.body.get("reviewed_on")),
        "opinion": src.body.get("opinion") if passed else src.body.get("reasons", ""),
        "requirements": (["报请挂牌督办的安全生产委员会办公室审核销号。"] if passed and major else
                         [] if passed else
                         ["针对验收发现的问题继续整改，整改完成后重新申请验收。",
                          "整改期间落实安全防范措施，确保安全。"]),
        "legal_basis": [f"{LAW}第四十一条、第六十五条", RULES],
    }


def _closure(src: Source) -> dict[str, Any]:
    listed = bool(src.hazard.listing_level)
    return {"listed": listed, "opinion": src.body.get("opinion", ""),
            "requirements": ["巩固整改成果，举一反三开展隐患排查，防止同类隐患再次发生。"],
            "legal_basis": [f"{LAW}第四十一条", RULES]}


def _ladder(src: Source) -> dict[str, Any]:
    return {"as_of": _d(src.body.get("as_of")) or local_date(src.occurred_at),
            "failed_acceptances": src.hazard.failed_acceptances}


def _urge(src: Source) -> dict[str, Any]:
    return {**_ladder(src), "legal_basis": [f"{LAW}第四十一条、第一百零二条", RULES], "requirements": [
        "接函后立即组织整改，并于5个工作日内将整改进展和计划完成时间书面报告本办。",
        "整改期间落实安全防范措施；无法保证安全的，应当停止相关作业并撤出作业人员。",
    ]}


def _summon(src: Source) -> dict[str, Any]:
    return {**_ladder(src), "legal_basis": [f"{LAW}第四十一条、第一百零二条", RULES], "requirements": [
        "由单位主要负责人参加约谈，约谈时间、地点另行通知。",
        "约谈前准备书面材料，说明隐患未按期整改的原因、整改进展和下一步措施。",
    ]}


_DETAILS = {
    "rectification_notice": _rectification, "listing_notice": _listing, "extension_decision": _extension,
    "acceptance_opinion": _acceptance, "closure_notice": _closure, "urge_letter": _urge,
    "summon_notice": _summon,
}


def _cn(day: date | None) -> str:
    return chinese_date(day) if day else "—"


cn_date = _cn
