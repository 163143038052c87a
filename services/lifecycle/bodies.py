"""Request bodies of the lifecycle actions (DESIGN section 6), with Chinese validation messages.

Only rules that need nothing but the body live here; rules that need the hazard (a plan's time
limit against its deadline, the level of the hazard) are guards (`services.lifecycle.guards`).
The `import` action's body is `services.lifecycle.import_body`; the OpenAPI document's examples
are `services.lifecycle.body_examples`.
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


def valid_uscc(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().upper()
    reason = uscc.validate(value)
    if reason:
        raise PydanticCustomError("zh_uscc", reason)
    return value


class HazardDescription(Body):
    """What describes a new hazard, however it comes in (a report, the public form, a ledger row)."""

    title: Short
    description: Text
    location: Short
    region_code: str
    industry: str

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


def valid_source(v: str) -> str:
    if v not in SOURCES:
        raise PydanticCustomError(
            "zh_source", "隐患来源应为：" + "、".join(f"{k}（{v}）" for k, v in SOURCES.items())
        )
    return v


class ReportBody(HazardDescription):
    source: str
    enterprise_uscc: str | None = None
    # 发现日期 when it was earlier than the report (an inspection written up the next day, a ledger
    # imported); the hazard's `discovered_at`, while the report event keeps when it was recorded.
    discovered_on: date | None = None

    _source = field_validator("source")(classmethod(lambda cls, v: valid_source(v)))
    _check_uscc = field_validator("enterprise_uscc")(classmethod(lambda cls, v: valid_uscc(v)))


class PublicReportBody(HazardDescription):
    """What the public may send: no source (it is always 群众举报), an optional contact."""

    enterprise_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    contact: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None


class RegisterBody(Body):
    level: Literal["general", "major"]
    enterprise_uscc: str
    deadline: date
    category: Short | None = None
    rectified_on_spot: bool = False
    evidence: Evidence = []

    _check_uscc = field_validator("enterprise_uscc")(classmethod(lambda cls, v: valid_uscc(v)))

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


# 五落实, as the published plans name them: a plan's field and its item. A general hazard's plan
# needs the first two; a major hazard's all five (a guard, and the import body, check it).
FIVE_ITEMS = {"responsible_person": "责任", "measures": "措施", "funds_wan": "资金", "time_limit": "时限",
              "contingency_plan": "预案"}
MAJOR_PLAN_RULE = f"重大隐患的整改方案须做到五落实（{'、'.join(FIVE_ITEMS.values())}）"


class ProgressBody(Body):
    note: Text
    evidence: Evidence = []
    # The 约谈 whose commitments this progress carries out (a record of this hazard's, issue 13).
    summons_id: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = None


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


class IssueDocumentBody(Body):
    """What the audit trail keeps of an issued document (services.documents): enough to find it
    and to prove its stored HTML unchanged."""

    kind: Short
    number: Short
    title: Short
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    document_id: int
