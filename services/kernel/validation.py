"""Turning Pydantic's errors into field-level messages in Chinese.

Users are officials and enterprise staff: an English parser message helps nobody, so every error
type that user input can cause has a Chinese sentence here.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from services.kernel.errors import Invalid
from services.kernel.inputs import IDEMPOTENCY_KEY_MESSAGE

M = TypeVar("M", bound=BaseModel)

_MESSAGES: dict[str, str] = {
    "missing": "此项为必填项",
    "string_type": "应为文本",
    "string_too_short": "不能为空",
    "string_too_long": "内容过长，最多 {max_length} 个字",
    "string_pattern_mismatch": "格式不正确",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "decimal_parsing": "应为数字",
    "decimal_type": "应为数字",
    "decimal_max_places": "最多保留 {decimal_places} 位小数",
    "decimal_max_digits": "数值过大",
    "float_parsing": "应为数字",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "date_type": "日期格式应为 YYYY-MM-DD",
    "date_parsing": "日期格式应为 YYYY-MM-DD",
    "date_from_datetime_parsing": "日期格式应为 YYYY-MM-DD",
    "date_from_datetime_inexact": "日期格式应为 YYYY-MM-DD",
    "greater_than": "应大于 {gt}",
    "greater_than_equal": "应不小于 {ge}",
    "less_than_equal": "应不大于 {le}",
    "literal_error": "取值应为以下之一：{expected}",
    "enum": "取值应为以下之一：{expected}",
    "list_type": "应为列表",
    "too_long": "最多 {max_length} 项",
    "too_short": "至少 {min_length} 项",
    "extra_forbidden": "不支持此字段",
    "model_type": "请求体应为 JSON 对象",
    "dict_type": "请求体应为 JSON 对象",
    "json_invalid": "请求体不是有效的 JSON",
}


# Fields whose every error says the same thing (a header has one rule, whatever check failed).
FIELD_MESSAGES = {"Idempotency-Key": IDEMPOTENCY_KEY_MESSAGE}


def zh_errors(exc: Any) -> list[dict[str, Any]]:
    """Field messages for a Pydantic `ValidationError` or FastAPI's `RequestValidationError`."""
    details = []
    errors = exc.errors(include_url=False) if isinstance(exc, ValidationError) else exc.errors()
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        field = ".".join(loc) or "body"
        etype = err["type"]
        ctx = err.get("ctx") or {}
        if field in FIELD_MESSAGES:
            message = FIELD_MESSAGES[field]
        elif etype.startswith("zh_"):  # our own PydanticCustomError: already Chinese
            message = err["msg"]
            if field == "body" and ctx.get("fields"):  # several fields at once: one detail each
                details += [{"field": f, "message": m, "type": etype} for f, m in ctx["fields"]]
                continue
            if field == "body" and ctx.get("field"):
                field = ctx["field"]
        else:
            template = _MESSAGES.get(etype)
            if "expected" in ctx:
                ctx = {**ctx, "expected": str(ctx["expected"]).replace(" or ", "、")}
            if template is None:
                message = "内容不正确"
            else:
                try:
                    message = template.format(**ctx)
                except (KeyError, IndexError):
                    message = template
        details.append({"field": field, "message": message, "type": etype})
    return details


def parse(model: type[M], data: Any) -> M:
    """Validate `data` against `model`, raising `Invalid` with Chinese field messages."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise Invalid("提交的内容有误，请按提示修改。", details=zh_errors(exc)) from None
