"""Domain errors. Each carries a stable code, the HTTP status the API maps it to, and a message in
Chinese for the person who caused it."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Invalid(DomainError):
    """Invalid input; `details` is a list of {field, message} in Chinese."""

    status = 422
    code = "invalid"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"


def invalid_field(field: str, message: str) -> Invalid:
    return Invalid("提交的内容有误，请按提示修改。", details=[{"field": field, "message": message}])
