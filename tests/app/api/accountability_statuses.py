"""The documented statuses of the 通报, 曝光, 问责移交 and 约谈 routes, provoked
(test_documented_statuses.py). The records are made directly: a 通报 list of three entries (one
issued, one included and waiting, one proposed), a referral and a 约谈 on a hazard's own events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from db.engine import transaction
from db.models import AuditEvent, Hazard, Referral, Summons
from services.bulletins import issue as issuing, review
from services.bulletins.items import propose
from tests.app.api.support import API

MONTH = "2026-11"


def _records(env: Any) -> dict[str, int]:
    now, office = env.now, env.world.p("county_committee")
    with transaction(env.factory) as s:
        ids = {}
        for name in ("a", "b", "c"):
            propose(s, key=f"late_report:statuses-{name}:{MONTH}", region_code="141102", month=MONTH, kind="late_report",
                    reason=f"迟报{name}", now=now, subject_region_code="141102")
        items = dict(s.execute(select(review.BulletinItem.reason, review.BulletinItem.id)
                               .where(review.BulletinItem.key.like("late_report:statuses-%"))).all())
        ids["open"], ids["issued"], ids["waiting"] = items["迟报a"], items["迟报b"], items["迟报c"]
        review.decide(s, office, ids["issued"], "include", None, now=now)
        ids["bulletin"] = issuing.issue(s, office, region="141102", month=MONTH, now=now).id
        review.decide(s, office, ids["waiting"], "include", None, now=now)
        hazard = s.scalar(select(Hazard).order_by(Hazard.id).limit(1))
        first, second = s.scalars(select(AuditEvent.id).where(AuditEvent.hazard_id == hazard.id)
                                  .order_by(AuditEvent.seq).limit(2)).all()
        summons = Summons(hazard_id=hazard.id, event_id=first, region_code="141102", created_at=now)
        referral = Referral(hazard_id=hazard.id, event_id=second, region_code="141102", addressed_to="离石区纪委监委",
                            facts="{}", number="离石安委办移〔2026〕99号", html="<p>移交函</p>", sha256="0" * 64,
                            outcome="pending", created_at=now)
        s.add_all([summons, referral])
        s.flush()
        ids["summons"], ids["referral"] = summons.id, referral.id
    return ids


def rows(t: Any) -> dict[tuple[str, str], dict[int, Any]]:
    c, ids = t.call, _records(t.env)
    items, issue = f"{API}/bulletins/items", f"{API}/bulletins/issue"
    review_t = f"{API}/bulletins/items/{{item_id}}/review"
    open_review = review_t.replace("{item_id}", str(ids["open"]))
    bulletin_t = f"{API}/bulletins/{{bulletin_id}}"
    bulletin = bulletin_t.replace("{bulletin_id}", str(ids["bulletin"]))
    referral_t = f"{API}/referrals/{{referral_id}}"
    referral = referral_t.replace("{referral_id}", str(ids["referral"]))
    summons_t = f"{API}/summonses/{{summons_id}}/record"
    summons = summons_t.replace("{summons_id}", str(ids["summons"]))
    include = {"decision": "include"}
    office = {"region": "141102", "month": MONTH}
    meeting = {"held_on": "2026-11-24", "attendees": "矿长张建国", "commitments": "月底前完成整改"}
    return {
        ("GET", items): {
            **t.common("GET", items, items, user="county_committee", id_param=False, body=False,
                       params={"month": MONTH}),
            200: lambda: c("GET", items, "county_committee", params={"month": MONTH}),
            403: lambda: c("GET", items, "ent_coal", params={"month": MONTH}),
            422: lambda: c("GET", items, "county_committee", params={"month": "2026-13"}),
        },
        ("POST", review_t): {
            **t.common("POST", review_t, open_review, user="county_committee", id_param=True, body=True, json=include),
            200: lambda: c("POST", open_review, "county_committee", json=include),
            403: lambda: c("POST", open_review, "auditor", json=include),
            409: lambda: c("POST", review_t.replace("{item_id}", str(ids["issued"])), "county_committee", json=include),
        },
        ("POST", issue): {
            **t.common("POST", issue, issue, user="county_committee", id_param=False, body=True, json=office),
            201: lambda: c("POST", issue, "county_committee", json=office),
            403: lambda: c("POST", issue, "city_committee", json=office),
            409: lambda: c("POST", issue, "county_committee", json={"region": "141102", "month": "2026-10"}),
        },
        ("GET", bulletin_t): {
            **t.common("GET", bulletin_t, bulletin, user="county_committee", id_param=True, body=False),
            200: lambda: c("GET", bulletin, "county_committee"),
            403: lambda: c("GET", bulletin, "ent_coal"),
        },
        ("GET", f"{API}/public/exposure"): {
            **t.common("GET", f"{API}/public/exposure", f"{API}/public/exposure", user=None, id_param=False,
                       body=False, secured=False),
            200: lambda: c("GET", f"{API}/public/exposure", None),
            422: lambda: c("GET", f"{API}/public/exposure", None, params={"page": 0}),
        },
        ("GET", f"{API}/referrals"): {
            **t.common("GET", f"{API}/referrals", f"{API}/referrals", user="auditor", id_param=False, body=False),
            200: lambda: c("GET", f"{API}/referrals", "auditor"),
            403: lambda: c("GET", f"{API}/referrals", "ent_coal"),
        },
        ("GET", referral_t): {
            **t.common("GET", referral_t, referral, user="auditor", id_param=True, body=False),
            200: lambda: c("GET", referral, "auditor"),
        },
        ("POST", f"{referral_t}/outcome"): {
            **t.common("POST", f"{referral_t}/outcome", f"{referral}/outcome", user="county_committee", id_param=True,
                       body=True, json={"outcome": "accepted"}),
            200: lambda: c("POST", f"{referral}/outcome", "county_committee", json={"outcome": "accepted"}),
            403: lambda: c("POST", f"{referral}/outcome", "auditor", json={"outcome": "accepted"}),
            409: lambda: c("POST", f"{referral}/outcome", "county_committee", json={"outcome": "declined", "note": "x"}),
        },
        ("GET", f"{API}/summonses"): {
            **t.common("GET", f"{API}/summonses", f"{API}/summonses", user="supervisor", id_param=False, body=False),
            200: lambda: c("GET", f"{API}/summonses", "supervisor"),
            403: lambda: c("GET", f"{API}/summonses", "ent_coal"),
        },
        ("POST", summons_t): {
            **t.common("POST", summons_t, summons, user="supervisor", id_param=True, body=True, json=meeting),
            200: lambda: c("POST", summons, "supervisor", json=meeting),
            403: lambda: c("POST", summons, "auditor", json=meeting),
        },
    }
