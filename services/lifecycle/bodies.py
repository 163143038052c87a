"""Request bodies of the lifecycle actions (DESIGN section 6), with Chinese validation messages.

Only rules that need nothing but the body live here; rules that need the hazard (a plan's time
limit against its deadline, the level of the hazard) are guards in `services.lifecycle.table`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from services.kernel import regions, uscc
from services.kernel.inputs import control_message
from services.kernel.vocab import INDUSTRIES, SOURCES

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
        trimmed away (services.kernel.inputs)."""
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


StepName = Literal["remind", "overdue", "urge", "summon", "publicize", "elevate", "refer",
                   "unregistered_remind", "unregistered_escalate", "review_overdue", "unlisted_escalate"]


class EscalateBody(Body):
    step: StepName
    as_of: date | None = None  # the day the sweep judged the step due (defaults to today)
    # Lesser steps of the same ladder that fell due on the same sweep and are fired as this one
    # (services.escalation.ladder.collapse): marked fired, their notices and documents not sent.
    skipped: Annotated[list[StepName], Field(max_length=10)] = []

    @model_validator(mode="after")
    def _skipped_are_lesser(self) -> "EscalateBody":
        from services.escalation.ladder import STEP_LABELS, Step, less_severe

        lesser = {s.name for s in less_severe(Step[self.step])}
        wrong = [s for s in self.skipped if s not in lesser]
        if wrong or len(set(self.skipped)) != len(self.skipped):
            raise PydanticCustomError(
                "zh_skipped", "跳过的督办步骤只能是同一督办阶梯上比“{step}”轻的步骤，且不重复：{wrong}",
                {"step": STEP_LABELS[Step[self.step]], "field": "skipped",
                 "wrong": "、".join(f"{STEP_LABELS[Step[s]]}（{s}）" for s in (wrong or self.skipped))},
            )
        return self


class AttachBody(Body):
    """What the audit trail keeps of an accepted upload (services.engine.attachments): the file is stored
    under its SHA-256, so the event proves which bytes were attached, by whom and when."""

    attachment_id: int
    filename: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    content_type: Short
    size: int
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class CommentBody(Body):
    text: Text


DeadlineStepName = Literal["remind", "overdue", "urge", "summon", "publicize", "elevate", "refer"]
_PLAN_FIELDS = ("responsible_person", "measures", "funds_wan", "time_limit", "contingency_plan", "plan_filed_on")
_FIVE_ITEMS = {"responsible_person": "责任", "measures": "措施", "funds_wan": "资金", "time_limit": "时限",
               "contingency_plan": "预案"}


class ImportBody(Body):
    """A hazard an office moves in from its running 台账 (services/imports/ledger.py), created directly
    in the state the ledger gives (`transitions.import_hazard`) with the facts that state stands on.
    `ledger_*` name the source row, so the trail says where the hazard's history here began.

    What must hold between the fields is checked here, every problem at once: a 挂牌督办 hazard is
    major and listed (a major hazard in any running state is listed: it is closed only by 摘牌);
    整改中 has a plan (for a major hazard all of 五落实); 待验收 has the date acceptance was asked
    for (and a major one its plan). Rules against today are the transition's."""

    ledger_file: Short
    ledger_sheet: Short
    ledger_row: Annotated[int, Field(ge=1, le=1_048_576)]
    title: Short
    description: Text
    location: Short
    region_code: str
    industry: str
    source: str
    discovered_on: date
    state: Literal["supervised", "rectifying", "acceptance_requested"]
    level: Literal["general", "major"]
    enterprise_uscc: str
    deadline: date
    category: Short | None = None
    listing_level: Literal["county", "city", "province"] | None = None
    listed_on: date | None = None
    plan_due: date | None = None
    suspend_production: bool = False
    responsible_person: Short | None = None
    measures: Text | None = None
    funds_wan: Money | None = None
    time_limit: date | None = None
    contingency_plan: Text | None = None
    plan_filed_on: date | None = None
    acceptance_requested_on: date | None = None
    funds_spent_wan: Money | None = None
    # Deadline steps of the ladder already past on the import day: the office handled that part of
    # the history on paper, so the ladder goes on from the import day (services/imports/ledger.py).
    ladder_past: Annotated[list[DeadlineStepName], Field(max_length=7)] = []

    _region = field_validator("region_code")(ReportBody._region.__func__)  # type: ignore[attr-defined]
    _industry = field_validator("industry")(ReportBody._industry.__func__)  # type: ignore[attr-defined]
    _source = field_validator("source")(ReportBody._source.__func__)  # type: ignore[attr-defined]
    _check_uscc = field_validator("enterprise_uscc")(classmethod(lambda cls, v: _uscc(v)))

    @model_validator(mode="after")
    def _facts_of_the_state(self) -> "ImportBody":
        problems: list[tuple[str, str]] = []
        major = self.level == "major"
        listed = self.state == "supervised" or major
        if self.state == "supervised" and not major:
            problems.append(("level", "挂牌督办的隐患应为重大隐患"))
        if listed:
            why = "挂牌督办的隐患" if self.state == "supervised" else "重大隐患实行挂牌督办，"
            if self.listing_level is None:
                problems.append(("listing_level", f"{why}须填写挂牌级别（县级、市级或省级）"))
            if self.listed_on is None:
                problems.append(("listed_on", f"{why}须填写挂牌日期"))
        elif self.listing_level is not None or self.listed_on is not None or self.plan_due is not None:
            field = "listing_level" if self.listing_level is not None else (
                "listed_on" if self.listed_on is not None else "plan_due")
            problems.append((field, "一般隐患不挂牌督办，请删除挂牌信息"))
        plan_given = any(getattr(self, name) is not None for name in _PLAN_FIELDS)
        if self.state == "supervised" and plan_given:
            field = next(name for name in _PLAN_FIELDS if getattr(self, name) is not None)
            problems.append((field, "已报送整改方案的隐患处于“整改中”：请将状态填为整改中，或删除整改方案的各项"))
        elif self.state == "rectifying" or (self.state == "acceptance_requested" and major) or plan_given:
            needed = _FIVE_ITEMS if major else {k: _FIVE_ITEMS[k] for k in ("responsible_person", "measures")}
            for name, item in needed.items():
                if getattr(self, name) is None:
                    what = "重大隐患的整改方案须做到五落实（责任、措施、资金、时限、预案）" if major else "整改方案须有责任人和整改措施"
                    problems.append((name, f"{what}，缺少{item}"))
        if self.state == "acceptance_requested":
            if self.acceptance_requested_on is None:
                problems.append(("acceptance_requested_on", "待验收的隐患须填写验收申请日期"))
        elif self.acceptance_requested_on is not None or self.funds_spent_wan is not None:
            field = "acceptance_requested_on" if self.acceptance_requested_on is not None else "funds_spent_wan"
            problems.append((field, "只有待验收的隐患填写验收申请日期和实际投入资金"))
        found = self.discovered_on
        if self.deadline <= found:
            problems.append(("deadline", "整改期限应晚于发现日期"))
        for name, label in (("listed_on", "挂牌日期"), ("plan_filed_on", "方案报送日期"),
                            ("acceptance_requested_on", "验收申请日期")):
            day = getattr(self, name)
            if day is not None and day < found:
                problems.append((name, f"{label}不能早于发现日期"))
        for name, label in (("plan_due", "整改方案报送期限"), ("time_limit", "整改时限")):
            day = getattr(self, name)
            if day is not None and day > self.deadline:
                problems.append((name, f"{label}不能晚于整改期限"))
        if self.plan_filed_on and self.acceptance_requested_on and self.plan_filed_on > self.acceptance_requested_on:
            problems.append(("plan_filed_on", "方案报送日期不能晚于验收申请日期"))
        if len(set(self.ladder_past)) != len(self.ladder_past):
            problems.append(("ladder_past", "督办环节不能重复"))
        if problems:
            raise PydanticCustomError("zh_import_facts", problems[0][1],
                                      {"field": problems[0][0], "fields": problems})
        return self


# --- request examples (the OpenAPI document's; they work against `hazard demo`'s data) -------------

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
