"""Request examples for the OpenAPI document, one valid body per action; they work against
`hazard demo`'s data (its first enterprise, its example hazard's attachments)."""

from __future__ import annotations

from datetime import date

# 离石区宏岩煤业有限公司, the demo's first enterprise (app/demo/catalogue.py: `org_uscc` of "hongyan").
EXAMPLE_USCC = "91141102MA5NGBQ26C"
# The files of the demo's example hazard (app/demo/example.py): the demo uploads them before
# anything else, so they are attachments 1, 2 (photos) and 3 (an assessment report) of that hazard.
EXAMPLE_EVIDENCE, EXAMPLE_REPORT = [1, 2], 3
EXAMPLE_NOTES = {
    "report": "enterprise_uscc 为演示数据中离石区宏岩煤业有限公司的统一社会信用代码。",
    "register": "enterprise_uscc 为演示数据中离石区宏岩煤业有限公司；期限按今天计算（一年之内）。",
    "report_progress": "evidence 填本隐患已上传附件的编号：先调用 POST /api/v1/hazards/{hazard_id}/attachments 上传，"
                       "用返回的 id。",
    "request_acceptance": "evidence 与 assessment_report 是本隐患已上传附件的编号：先调用 "
                          "POST /api/v1/hazards/{hazard_id}/attachments 上传，用返回的 id。示例中的 1、2、3 是演示数据"
                          "（hazard demo）中示例隐患“煤矿井下主运输巷道支护失效”（宏岩煤业，整改中）的附件。",
}


def _day(today: date, days: int) -> str:
    return date.fromordinal(today.toordinal() + days).isoformat()


def examples(today: date) -> dict[str, dict]:
    """One valid body per action, its dates counted from `today` (a fixed date would one day be in
    the past, or an opinion dated in the future); `app.api.examples` puts them in the OpenAPI
    document day by day."""
    new_deadline = _day(today, 90)
    return {
        "report": {
            "title": "煤矿井下主运输巷道支护失效",
            "description": "主运输巷道 350 米处锚杆锚索失效，顶板离层，存在冒顶风险。",
            "location": "吕梁市离石区某煤矿井下 +450 水平主运输巷",
            "region_code": "141102",
            "industry": "煤矿",
            "source": "inspection",
            "enterprise_uscc": EXAMPLE_USCC,
        },
        "register": {"level": "major", "enterprise_uscc": EXAMPLE_USCC, "deadline": _day(today, 60),
                     "category": "顶板管理"},
        "dismiss": {"reason": "经现场核查，举报所述问题已于上月整改完毕，不构成事故隐患。"},
        "supervise": {"listing_level": "city", "deadline": _day(today, 60), "plan_due": _day(today, 10),
                      "suspend_production": True},
        "file_plan": {"responsible_person": "张建国（矿长）", "measures": "重新补打锚索，加强顶板离层监测。",
                      "funds_wan": "35.5", "time_limit": _day(today, 20), "contingency_plan": "顶板事故专项应急预案"},
        "report_progress": {"note": "已完成 200 米巷道补强支护。", "evidence": []},
        "request_extension": {"reason": "锚索材料供货延迟", "interim_measures": "限制人员通行，增设临时支护",
                              "new_deadline": new_deadline},
        "grant_extension": {"note": f"同意延期至 {new_deadline}，期间落实临时管控措施。"},
        "deny_extension": {"note": "延期理由不充分，请按原期限完成整改。"},
        "request_acceptance": {"work_done": "完成全部补强支护并经矿压观测稳定", "completed_on": today.isoformat(),
                               "funds_spent_wan": "33.2", "evidence": list(EXAMPLE_EVIDENCE), "assessment": "expert",
                               "assessment_report": EXAMPLE_REPORT},
        "accept": {"reviewed_on": today.isoformat(), "opinion": "经现场核查，整改措施落实到位，同意验收。"},
        "reject": {"reviewed_on": today.isoformat(), "reasons": "部分区段锚索未按设计间距施工。"},
        "close": {"opinion": "验收合格，同意销号摘牌。"},
        "order_suspension": {"reason": "重大隐患未消除前责令停产整顿。"},
        "lift_suspension": {"reason": "隐患已消除，经复查同意恢复生产。"},
        "comment": {"text": "已电话提醒企业按期报送整改方案。"},
    }


# As of import; the served document is refreshed from the app's clock every day.
EXAMPLES: dict[str, dict] = examples(date.today())
