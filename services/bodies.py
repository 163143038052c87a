"""Request bodies of the lifecycle actions (DESIGN section 6), with Chinese validation messages.

Only rules that need nothing but the body live here; rules that need the hazard (a plan's time
limit against its deadline, the level of the hazard) are guards in `services.lifecycle`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from services import regions, uscc
from services.inputs import control_message
from services.vocab import INDUSTRIES, SOURCES

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
Evidence = Annotated[list[int], Field(max_length=50)]


def _control_problems(data: dict) -> list[tuple[str, str]]:
    """(field, message) for every text value, or text in a list, holding a forbidden character."""
    out = []
    for key, value in data.items():
        texts = value if isinstance(value, list | tuple) else [value]
        for text in texts:
            message = control_message(text) if isinstance(text, str) else None
            if message:
                out.append((str(key), message))
                break
    return out


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _no_control_characters(cls, data: object) -> object:
        """Checked before any stripping, on every field: a control character is refused, never
        trimmed away (services.inputs)."""
        if isinstance(data, dict):
            problems = _control_problems(data)
            if problems:
                field, message = problems[0]
                raise PydanticCustomError("zh_control_character", message,
                                          {"field": field, "fields": problems})
        return data


def _uscc(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().upper()
    reason = uscc.validate(value)
    if reason:
        raise PydanticCustomError("zh_uscc", reason)
    return value


class ReportBody(Body):
    title: Short
    description: Text
    location: Short
    region_code: str
    industry: str
    source: str
    enterprise_uscc: str | None = None
    # 发现日期 when it was earlier than the report (an inspection written up the next day, a ledger
    # imported); the hazard's `discovered_at`, while the report event keeps when it was recorded.
    discovered_on: date | None = None

    @field_validator("region_code")
    @classmethod
    def _region(cls, v: str) -> str:
        if not regions.valid_code(v):
            raise PydanticCustomError("zh_region", "行政区划代码应为6位、9位或12位数字")
        return v

    @field_validator("industry")
    @classmethod
    def _industry(cls, v: str) -> str:
        if v not in INDUSTRIES:
            raise PydanticCustomError("zh_industry", "行业领域应为：" + "、".join(INDUSTRIES))
        return v

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        if v not in SOURCES:
            raise PydanticCustomError(
                "zh_source", "隐患来源应为：" + "、".join(f"{k}（{v}）" for k, v in SOURCES.items())
            )
        return v

    _check_uscc = field_validator("enterprise_uscc")(classmethod(lambda cls, v: _uscc(v)))


class PublicReportBody(Body):
    """What the public may send: no source (it is always 群众举报), an optional contact."""

    title: Short
    description: Text
    location: Short
    region_code: str
    industry: str
    enterprise_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    contact: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None

    _region = field_validator("region_code")(ReportBody._region.__func__)  # type: ignore[attr-defined]
    _industry = field_validator("industry")(ReportBody._industry.__func__)  # type: ignore[attr-defined]


class RegisterBody(Body):
    level: Literal["general", "major"]
    enterprise_uscc: str
    deadline: date
    category: Short | None = None
    rectified_on_spot: bool = False
    evidence: Evidence = []

    _check_uscc = field_validator("enterprise_uscc")(classmethod(lambda cls, v: _uscc(v)))

    @model_validator(mode="after")
    def _on_spot(self) -> "RegisterBody":
        if self.rectified_on_spot:
            if self.level != "general":
                raise PydanticCustomError("zh_on_spot_major", "重大隐患不能立查立改直接销号", {"field": "rectified_on_spot"})
            if not self.evidence:
                raise PydanticCustomError("zh_on_spot_evidence", "立查立改须附整改证据", {"field": "evidence"})
        return self


class ReasonBody(Body):
    reason: Text


class SuperviseBody(Body):
    listing_level: Literal["county", "city", "province"]
    deadline: date
    plan_due: date
    suspend_production: bool = False

    @model_validator(mode="after")
    def _dates(self) -> "SuperviseBody":
        if self.plan_due > self.deadline:
            raise PydanticCustomError("zh_plan_due", "整改方案报送期限不能晚于整改期限", {"field": "plan_due"})
        return self


class FilePlanBody(Body):
    responsible_person: Short
    measures: Text
    funds_wan: Money | None = None
    time_limit: date | None = None
    contingency_plan: Text | None = None


class ProgressBody(Body):
    note: Text
    evidence: Evidence = []


class ExtensionRequestBody(Body):
    reason: Text
    interim_measures: Text
    new_deadline: date


class NoteBody(Body):
    note: Text


class AcceptanceRequestBody(Body):
    work_done: Text
    completed_on: date
    funds_spent_wan: Money
    evidence: Annotated[list[int], Field(min_length=1, max_length=50)]
    assessment: Literal["self", "expert", "third_party"]
    assessment_report: int | None = None


class AcceptBody(Body):
    reviewed_on: date
    opinion: Text


class RejectBody(Body):
    reviewed_on: date
    reasons: Text


class OpinionBody(Body):
    opinion: Text


class EscalateBody(Body):
    step: Literal["remind", "overdue", "urge", "summon", "publicize", "elevate", "refer",
                  "unregistered_remind", "unregistered_escalate", "review_overdue"]
    as_of: date | None = None  # the day the sweep judged the step due (defaults to today)


class AttachBody(Body):
    """What the audit trail keeps of an accepted upload (services.attachments): the file is stored
    under its SHA-256, so the event proves which bytes were attached, by whom and when."""

    attachment_id: int
    filename: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    content_type: Short
    size: int
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class CommentBody(Body):
    text: Text


# --- request examples (the OpenAPI document's; they work against `hazard demo`'s data) -------------

# 离石区宏岩煤业有限公司, the demo's first enterprise (services/demo/catalogue.py: `org_uscc` of "hongyan").
EXAMPLE_USCC = "91141102MA5NGBQ26C"
# The files of the demo's example hazard (services/demo/example.py): the demo uploads them before
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
    the past, or an opinion dated in the future); `services.api.examples` puts them in the OpenAPI
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
