"""The demo's example hazard: the one the API documentation's examples point at.

The request examples (`services.lifecycle.body_examples.examples`) name an enterprise, and `request_acceptance`
names attachment ids; an id means something only for the hazard it was uploaded to. So the demo
tells one story first, before any other in simulated time: 宏岩煤业's major roof-support hazard
(the `report` example's text), registered, listed at city level, its plan filed, and a progress
report with two photos and an assessment report. Its files are the data set's first three uploads
(ids 1, 2, 3; the demo only loads into an empty database), and it waits in `rectifying`, where
the `request_acceptance` example, sent as `ent_hongyan`, works on it as it stands.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from services.lifecycle import body_examples
from services.calendar.workdays import add_working_days, is_working_day
from services.kernel.clock import local_date
from app.demo.catalogue import CATALOG, ORGS, org_uscc
from app.demo.stories import Spec
from app.demo.timeline import Step, Upload, local_at
from services.lifecycle.states import State

ORG = next(o for o in ORGS if o.key == "hongyan")
INSPECTOR, COMMITTEE, ENTERPRISE = "lishi_inspector", "lvliang_committee1", f"ent_{ORG.key}"
SPEC = Spec(State.RECTIFYING, "major", "city", ORG, CATALOG[ORG.industry][0], "inspection")
UPLOADS = (Upload("png", "巷道补强现场照片1.png", "evidence"), Upload("png", "巷道补强现场照片2.png", "evidence"),
           Upload("pdf", "矿压观测评估报告.pdf", "evidence"))


def _working_day_before(day: date) -> date:
    while not is_working_day(day):
        day -= timedelta(days=1)
    return day


def story(first: datetime) -> list[Step]:
    """The example's steps, all before `first` (the other stories' start): six working days from
    eighteen days earlier, holidays (a week at 春节) included."""
    day0 = _working_day_before(local_date(first) - timedelta(days=18))
    day = lambda n: add_working_days(day0, n)  # one step after another, on working days
    deadline = day0 + timedelta(days=364)  # a major hazard's year, within the one-year limit
    report = dict(body_examples.examples(day0)["report"], enterprise_uscc=org_uscc(ORG))
    steps = [
        Step(local_at(day0, 9 * 60 + 10), "report", INSPECTOR, report),
        Step(local_at(day0, 10 * 60 + 40), "register", INSPECTOR,
             {"level": "major", "enterprise_uscc": org_uscc(ORG), "deadline": deadline.isoformat(),
              "category": "顶板管理"}),
        Step(local_at(day(1), 15 * 60), "supervise", COMMITTEE,
             {"listing_level": "city", "deadline": deadline.isoformat(),
              "plan_due": (day0 + timedelta(days=10)).isoformat(), "suspend_production": False}),
        Step(local_at(day(3), 11 * 60), "file_plan", ENTERPRISE,
             {"responsible_person": ORG.head, "measures": "重新补打锚索，加密顶板离层监测点，每班巡查。",
              "funds_wan": "35.5", "time_limit": (deadline - timedelta(days=30)).isoformat(),
              "contingency_plan": "顶板事故专项应急预案"}),
        Step(local_at(day(6), 16 * 60), "report_progress", ENTERPRISE,
             {"note": "已完成 200 米巷道补强支护，附现场照片和矿压观测评估报告。"}, uploads=list(UPLOADS)),
    ]
    if steps[-1].at >= first:  # its files would not be the first uploads
        raise RuntimeError("演示数据：示例隐患的情节未能排在其他隐患之前")
    return steps
