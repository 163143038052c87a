"""The documented decision order also holds for a body FastAPI refuses before the route runs.

An action's body is validated by FastAPI from its model, before `commands.perform_action` checks
scope, role and state: an enterprise sending `register` with a malformed body would learn about
evidence rules (422) instead of being told it may not register at all (403). So when an action's
body is invalid, the refusal that comes first in the order (DESIGN 2.2: scope 404, role 403, state
409, body-free guards) is looked up and answered instead. Only invalid bodies pay for this lookup;
a valid request goes straight to the route, which checks the same things in the same order.
"""

from __future__ import annotations

import re

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from db.engine import read_only
from services.accounts.auth import authenticate
from services.kernel.errors import Conflict, DomainError, Forbidden
from services.kernel.inputs import ascii_id
from services.lifecycle.table import LIFECYCLE, check_pre
from services.engine.transitions import load_in_scope
from services.tasks import engine as tasks
from services.tasks.lifecycle import TASK_LIFECYCLE
from services.tasks.states import TASK_STATE_LABELS

_ACTION_PATH = re.compile(r"/api/v1/hazards/([0-9]{1,19})/actions/([a-z_]{1,40})")
_TASK_ACTION_PATH = re.compile(r"/api/v1/tasks/([0-9]{1,19})/actions/([a-z_]{1,40})")


def _refusal(request: Request) -> DomainError | None:
    found = _ACTION_PATH.fullmatch(request.url.path)
    task = _TASK_ACTION_PATH.fullmatch(request.url.path) if found is None else None
    if task is not None:  # a unit's part of a task (issue 14): the same order on its own table
        found = task
    spec = (TASK_LIFECYCLE if task else LIFECYCLE).get(found.group(2)) if found else None
    hazard_id = ascii_id(found.group(1)) if found else None
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if spec is None or hazard_id is None or scheme.lower() != "bearer" or not token:
        return None
    ctx = request.app.state.ctx
    try:
        with read_only(ctx.factory) as session:
            caller = authenticate(session, token, now=ctx.now(), cache=ctx.token_cache)
            if task is not None:
                part = tasks.load(session, caller, hazard_id)
                refusal = check_pre(spec, part, caller, TASK_STATE_LABELS, "任务")
            else:
                hazard = load_in_scope(session, caller, hazard_id)
                refusal = check_pre(spec, hazard, caller)
    except DomainError as exc:  # a token no longer valid (401), an unknown or hidden hazard (404)
        return exc
    if refusal is None:
        return None
    if refusal.kind in ("role", "forbidden"):
        return Forbidden(refusal.message, code=refusal.code)
    return Conflict(refusal.message, code=refusal.code)


async def refusal_before_body(request: Request) -> DomainError | None:
    """The refusal an action request meets before its body is looked at, or None."""
    if not request.url.path.startswith(("/api/v1/hazards/", "/api/v1/tasks/")) or request.method != "POST":
        return None
    return await run_in_threadpool(_refusal, request)
