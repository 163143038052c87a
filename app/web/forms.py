"""Action forms generated from the actions' Pydantic bodies (services/lifecycle/bodies.py).

The body model is the single description of what an action carries; this module only decides how
each field looks (a date input for a date, a select for a closed vocabulary, a checkbox for a
flag, an attachment picker plus upload for evidence) and gives it a Chinese label. Validation stays
with the model and the lifecycle: a submitted form becomes the same dict the JSON API receives.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from fastapi import Depends, Request
from pydantic import BaseModel
from starlette.datastructures import FormData, UploadFile

from services.kernel.inputs import ascii_id, form_text
from services.lifecycle.table import LIFECYCLE
from services.kernel.vocab import ASSESSMENTS, LEVELS, LISTING_LEVELS

LABELS = {
    "level": "隐患等级", "enterprise_uscc": "企业统一社会信用代码", "deadline": "整改期限",
    "category": "隐患类别", "rectified_on_spot": "立查立改（现场已整改，直接销号）", "evidence": "整改证据",
    "reason": "理由", "listing_level": "挂牌督办层级", "plan_due": "整改方案报送期限",
    "suspend_production": "责令停产整顿", "responsible_person": "整改责任人", "measures": "整改措施",
    "funds_wan": "整改资金（万元）", "time_limit": "整改时限", "contingency_plan": "应急预案",
    "note": "说明", "interim_measures": "整改期间的临时管控措施", "new_deadline": "申请延期至",
    "work_done": "整改完成情况", "completed_on": "整改完成日期", "funds_spent_wan": "实际投入资金（万元）",
    "assessment": "评估方式", "assessment_report": "评估报告（附件）", "reviewed_on": "现场核查日期",
    "opinion": "意见", "reasons": "不通过的理由", "text": "备注内容", "summons_id": "落实的约谈承诺",
}
CHOICES = {"level": LEVELS, "listing_level": LISTING_LEVELS, "assessment": ASSESSMENTS}
LONG_TEXT = 1000  # a str field allowing more than this is a textarea


@dataclass
class Field:
    name: str
    label: str
    kind: Literal["text", "textarea", "date", "number", "select", "checkbox", "evidence", "attachment"]
    required: bool
    choices: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ActionForm:
    action: str
    label: str
    fields: list[Field]
    multipart: bool
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    message: str | None = None  # a refusal that is about the whole form (four-eyes, stale version)
    open: bool = False


def _plain(annotation: Any) -> Any:
    """`X | None` → X."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _unwrap(info: Any) -> tuple[Any, list[Any]]:
    """The field's base type and all its constraint metadata (`Annotated` peeled off)."""
    annotation = _plain(info.annotation)
    metas = list(info.metadata)
    if get_origin(annotation) is Annotated:
        metas += list(annotation.__metadata__)
        annotation = get_args(annotation)[0]
    return annotation, metas


def fields_of(model: type[BaseModel]) -> list[Field]:
    out = []
    for name, info in model.model_fields.items():
        annotation, metas = _unwrap(info)
        origin = get_origin(annotation)
        label = LABELS.get(name, name)
        required = info.is_required()
        if annotation is bool:
            out.append(Field(name, label, "checkbox", False))
        elif annotation is date:
            out.append(Field(name, label, "date", required))
        elif annotation is Decimal:
            out.append(Field(name, label, "number", required))
        elif origin is Literal:
            table = CHOICES.get(name, {})
            out.append(Field(name, label, "select", required, [(v, table.get(v, v)) for v in get_args(annotation)]))
        elif origin is list:  # evidence: required when the model wants at least one item
            out.append(Field(name, label, "evidence", any(getattr(m, "min_length", 0) for m in metas)))
        elif annotation is int and name == "summons_id":  # one of the hazard's 约谈 records
            out.append(Field(name, label, "summons", required))
        elif annotation is int:
            out.append(Field(name, label, "attachment", required))
        else:
            long = max((getattr(m, "max_length", 0) or 0 for m in metas), default=0) > LONG_TEXT
            out.append(Field(name, label, "textarea" if long else "text", required))
    return out


def action_form(action: str) -> ActionForm:
    spec = LIFECYCLE[action]
    fields = fields_of(spec.body)
    return ActionForm(action, spec.label, fields, any(f.kind in ("evidence", "attachment") for f in fields))


def upload_name(field_name: str) -> str:
    """The file input that goes with an evidence or attachment field."""
    return f"{field_name}_upload"


def body_from_form(action: str, form: FormData, uploaded: dict[str, list[int]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the JSON body for the action, the values to put back into the form). Empty inputs are left
    out, so the model reports a missing required field as 此项为必填项 and optional ones default.
    `uploaded`: per field, the ids of the files sent with this form (already stored)."""
    body: dict[str, Any] = {}
    kept: dict[str, Any] = {}
    for f in fields_of(LIFECYCLE[action].body):
        if f.kind == "checkbox":
            body[f.name] = kept[f.name] = form.get(f.name) in ("on", "true", "1")
        elif f.kind == "evidence":
            ids = [v.strip() for v in form.getlist(f.name) if isinstance(v, str) and v.strip()]
            values: list[Any] = [_id_or_text(v) for v in ids] + uploaded.get(f.name, [])
            kept[f.name] = [str(v) for v in values]
            if values or f.required:
                body[f.name] = values
        else:
            text = form_text(form.get(f.name))
            if f.kind == "attachment" and uploaded.get(f.name):
                text = str(uploaded[f.name][0])
            kept[f.name] = text
            if text:
                body[f.name] = _id_or_text(text) if f.kind in ("attachment", "summons") else text
    return body, kept


def _id_or_text(text: str) -> Any:
    """An attachment id as a number when it is one in ASCII digits; anything else stays text, for
    the body's validation to refuse with its message (`int("²")` would raise instead)."""
    value = ascii_id(text)
    return value if value is not None else text


def uploads(action: str, form: FormData) -> dict[str, list[UploadFile]]:
    """The files chosen in the form's upload inputs, per field."""
    out = {}
    for f in fields_of(LIFECYCLE[action].body):
        if f.kind in ("evidence", "attachment"):
            files = [u for u in form.getlist(upload_name(f.name)) if isinstance(u, UploadFile) and u.filename]
            if files:
                out[f.name] = files if f.kind == "evidence" else files[:1]
    return out


async def posted_form(request: Request) -> FormData:
    """The POSTed form, parsed on the event loop (Starlette caches it: `CsrfChecked` reads the same
    one), so a sync route gets it and does its database work in the thread pool."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(posted_form)]
