"""Request examples of the task actions for the OpenAPI document (one valid body per action a
person may take), dated from today like the hazards' (`services.lifecycle.body_examples`):
`app.api.examples` refreshes them in the served document day by day."""

from __future__ import annotations

from datetime import date, timedelta

EXAMPLE_NOTES = {
    "report_progress": "evidence 填本任务已上传附件的编号：先调用 POST /api/v1/tasks/{assignment_id}/attachments 上传，"
                       "用返回的 id；可为空。",
    "report_completion": "evidence 同上（本任务已上传附件的编号）；completed_on 不能晚于今天。",
    "request_extension": "new_deadline 须晚于当前完成时限，且不晚于一年之后。",
}


def examples(today: date) -> dict[str, dict]:
    new_deadline = (today + timedelta(days=90)).isoformat()
    return {
        "acknowledge": {},
        "report_progress": {"text": "已完成 12 家危险化学品企业的专项检查，发现问题 5 项，已督促整改 3 项。",
                            "evidence": []},
        "report_completion": {"summary": "已印发本部门安全生产责任清单并组织学习。", "completed_on": today.isoformat(),
                              "evidence_text": "忻应急发〔2026〕12号文件及学习记录", "evidence": []},
        "verify": {"note": "材料齐全，经核查任务已完成。"},
        "return": {"reason": "缺少检查台账，请补充后重新报告。"},
        "request_extension": {"new_deadline": new_deadline, "reason": "需待省厅统一部署后开展，申请延期。"},
        "grant_extension": {"note": f"同意延期至 {new_deadline}。"},
        "deny_extension": {"note": "延期理由不充分，请按原时限完成。"},
        "comment": {"text": "已电话督促牵头单位按时报送进展。"},
    }


EXAMPLES: dict[str, dict] = examples(date.today())  # as of import; the served document is refreshed daily
