"""The body of the `import` action: one row of an office's running 台账 (services/imports/ledger.py).

What must hold between the fields is checked here, every problem at once; rules against the
import day are guards (`services.lifecycle.guards.IMPORTED_DATES`).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from services.lifecycle.bodies import (
    FIVE_ITEMS,
    MAJOR_PLAN_RULE,
    Body,
    HazardDescription,
    Money,
    Short,
    Text,
    valid_source,
    valid_uscc,
)

DeadlineStepName = Literal["remind", "overdue", "urge", "summon", "publicize", "elevate", "refer"]
_PLAN_FIELDS = (*FIVE_ITEMS, "plan_filed_on")
_GENERAL_PLAN = {k: FIVE_ITEMS[k] for k in ("responsible_person", "measures")}
# The dates a running hazard's history gives, in their order (none before it was found, none after
# the import day).
HISTORY_DATES = {"listed_on": "挂牌日期", "plan_filed_on": "方案报送日期", "acceptance_requested_on": "验收申请日期"}


class LedgerSource(Body):
    """Where the row stands in the ledger, so the trail says where the hazard's history here began."""

    ledger_file: Short
    ledger_sheet: Short
    ledger_row: Annotated[int, Field(ge=1, le=1_048_576)]


class ImportBody(HazardDescription, LedgerSource):
    """A hazard an office moves in from its running 台账, created directly in the state the ledger
    gives (`creation.import_hazard`) with the facts that state stands on. `ledger_*` name the
    source row (its fields come first: `LedgerSource` is the last base).

    What must hold between the fields: a 挂牌督办 hazard is major and listed (a major hazard in any
    running state is listed: it is closed only by 摘牌); 整改中 has a plan (for a major hazard all
    of 五落实); 待验收 has the date acceptance was asked for (and a major one its plan)."""

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

    _source = field_validator("source")(classmethod(lambda cls, v: valid_source(v)))
    _check_uscc = field_validator("enterprise_uscc")(classmethod(lambda cls, v: valid_uscc(v)))

    @model_validator(mode="after")
    def _facts_of_the_state(self) -> "ImportBody":
        problems = [*self._listing_problems(), *self._plan_problems(), *self._acceptance_problems(),
                    *self._date_problems()]
        if len(set(self.ladder_past)) != len(self.ladder_past):
            problems.append(("ladder_past", "督办环节不能重复"))
        if problems:
            raise PydanticCustomError("zh_import_facts", problems[0][1],
                                      {"field": problems[0][0], "fields": problems})
        return self

    def _listing_problems(self) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        major = self.level == "major"
        if self.state == "supervised" and not major:
            problems.append(("level", "挂牌督办的隐患应为重大隐患"))
        if self.state == "supervised" or major:
            why = "挂牌督办的隐患" if self.state == "supervised" else "重大隐患实行挂牌督办，"
            if self.listing_level is None:
                problems.append(("listing_level", f"{why}须填写挂牌级别（县级、市级或省级）"))
            if self.listed_on is None:
                problems.append(("listed_on", f"{why}须填写挂牌日期"))
        elif self.listing_level is not None or self.listed_on is not None or self.plan_due is not None:
            field = "listing_level" if self.listing_level is not None else (
                "listed_on" if self.listed_on is not None else "plan_due")
            problems.append((field, "一般隐患不挂牌督办，请删除挂牌信息"))
        return problems

    def _plan_problems(self) -> list[tuple[str, str]]:
        major = self.level == "major"
        plan_given = any(getattr(self, name) is not None for name in _PLAN_FIELDS)
        if self.state == "supervised" and plan_given:
            field = next(name for name in _PLAN_FIELDS if getattr(self, name) is not None)
            return [(field, "已报送整改方案的隐患处于“整改中”：请将状态填为整改中，或删除整改方案的各项")]
        if self.state == "rectifying" or (self.state == "acceptance_requested" and major) or plan_given:
            what = MAJOR_PLAN_RULE if major else "整改方案须有责任人和整改措施"
            return [(name, f"{what}，缺少{item}") for name, item in (FIVE_ITEMS if major else _GENERAL_PLAN).items()
                    if getattr(self, name) is None]
        return []

    def _acceptance_problems(self) -> list[tuple[str, str]]:
        if self.state == "acceptance_requested":
            if self.acceptance_requested_on is None:
                return [("acceptance_requested_on", "待验收的隐患须填写验收申请日期")]
        elif self.acceptance_requested_on is not None or self.funds_spent_wan is not None:
            field = "acceptance_requested_on" if self.acceptance_requested_on is not None else "funds_spent_wan"
            return [(field, "只有待验收的隐患填写验收申请日期和实际投入资金")]
        return []

    def _date_problems(self) -> list[tuple[str, str]]:
        """The dates in their order: found, then listed, planned and asked for acceptance, all by
        the deadline."""
        problems: list[tuple[str, str]] = []
        found = self.discovered_on
        if self.deadline <= found:
            problems.append(("deadline", "整改期限应晚于发现日期"))
        for name, label in HISTORY_DATES.items():
            day = getattr(self, name)
            if day is not None and day < found:
                problems.append((name, f"{label}不能早于发现日期"))
        for name, label in (("plan_due", "整改方案报送期限"), ("time_limit", "整改时限")):
            day = getattr(self, name)
            if day is not None and day > self.deadline:
                problems.append((name, f"{label}不能晚于整改期限"))
        if self.plan_filed_on and self.acceptance_requested_on and self.plan_filed_on > self.acceptance_requested_on:
            problems.append(("plan_filed_on", "方案报送日期不能晚于验收申请日期"))
        return problems
