"""Schemathesis over the whole OpenAPI document: the campaign shared by the bounded test
(tests/app/api/test_schema_fuzz.py, in CI) and the larger run by hand (scripts/fuzz.py).

What a campaign does, per operation of `/openapi.json`: it draws requests from the schema, valid
(positive) and invalid (negative) ones and the document's own request examples, many of them with
the path ids of rows that exist (hazards in several states, documents, inbox messages, dead letters,
a tracking code), sends each as one of the given users (or anonymously) through the ASGI app, and
checks every answer:

- not_a_server_error: no 5xx;
- status_code_conformance: every status that occurs is documented for the operation;
- content_type_conformance, response_schema_conformance, response_headers_conformance: the answer
  matches what the document says of that status.

A finding is kept per (operation, check, status) with the first request that showed it (as curl)
and, for a 5xx, the server's traceback. Nothing here sleeps or depends on the wall clock.
"""

from __future__ import annotations

import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from db.engine import UnitOfWork, read_only, transaction
from db.models import Delivery, Document, InboxItem
from services.engine import commands
from services import documents
from services.outbox.deliver import run_once
from services.kernel.settings import Settings
from tests.conftest import World
from tests.helpers import drive, new_hazard

CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance)
ROLES = ("inspector", "ent_coal")  # an official and an enterprise user: two views of scope
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
# Hazards the campaign's path ids point at: every state, both levels (`ent_coal`'s, in the
# inspector's county), plus one of another county and enterprise that neither user may see.
HAZARDS = (("reported", "general"), ("registered", "general"), ("supervised", "major"),
           ("rectifying", "general"), ("acceptance_requested", "major"), ("accepted", "major"),
           ("closed", "general"), ("dismissed", "general"))


# --- rows for the path ids ------------------------------------------------------------------------


def seed_rows(factory: sessionmaker[Session], world: World, settings: Settings, now: datetime) -> dict[str, list[int | str]]:
    """Create the rows the campaign aims at; returns {path parameter name: existing values}."""
    hazards = [drive(factory, world, now, state, level=level) for state, level in HAZARDS]
    hazards.append(new_hazard(factory, world, now, reporter="xiaoyi_inspector", region_code="141181",
                              industry="危险化学品", enterprise_uscc=world.enterprises["chem"]))
    documents.issue_pending(UnitOfWork(factory), now=now)
    run_once(UnitOfWork(factory), now=now, settings=settings)  # the inbox messages
    with transaction(factory) as s:
        receipt = commands.public_report(
            s, settings,
            {"title": "楼道堆放杂物", "description": "消防通道被杂物堵塞。", "location": "离石区滨河北路 1 号",
             "region_code": "141102", "industry": "消防"},
            client="fuzz-seed", now=now)
    with transaction(factory) as s:
        for i in range(2):
            s.execute(insert(Delivery).values(
                channel="webhook", recipient="bureau", dedupe_key=f"fuzz-dead:{i}", subject="测试", body="{}",
                status="dead", attempts=6, available_at=now, created_at=now, last_error="HTTP 500"))
    with read_only(factory) as s:
        return {
            "hazard_id": hazards,
            "document_id": list(s.scalars(select(Document.id).order_by(Document.id))),
            "item_id": list(s.scalars(select(InboxItem.id).order_by(InboxItem.id).limit(20))),
            "delivery_id": list(s.scalars(select(Delivery.id).order_by(Delivery.id).limit(20))),
            "tracking_code": [receipt.tracking_code],
        }


# --- recording what the server did ----------------------------------------------------------------


class Tracebacks:
    """Wraps the ASGI app: an exception that escapes it (Starlette re-raises after sending the 500)
    is kept as the traceback of the current request instead of reaching the test client."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last: str | None = None

    async def __call__(self, scope, receive, send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:  # noqa: BLE001 - recorded, and the 500 was already sent
            self.last = "".join(traceback.format_exception(exc))


@dataclass
class Finding:
    operation: str
    check: str
    status: int
    request: str  # a curl command
    as_user: str
    server_traceback: str | None = None
    count: int = 1

    def describe(self) -> str:
        text = f"{self.operation} [{self.check}] HTTP {self.status} ×{self.count} as {self.as_user}\n    {self.request}"
        if self.server_traceback:
            tail = self.server_traceback.strip().splitlines()[-12:]
            text += "\n    server traceback (last lines):\n      " + "\n      ".join(tail)
        return text


@dataclass
class Stats:
    sent: Counter[str] = field(default_factory=Counter)
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    findings: dict[tuple[str, str, int], Finding] = field(default_factory=dict)
    transport_errors: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.sent.values())

    def server_errors(self, operation: str) -> int:
        return sum(n for code, n in self.statuses[operation].items() if code >= 500)

    def record(self, finding: Finding) -> None:
        key = (finding.operation, finding.check, finding.status)
        if key in self.findings:
            self.findings[key].count += 1
        else:
            self.findings[key] = finding

    def report(self) -> str:
        return "\n".join(f.describe() for f in self.findings.values())

    def table(self) -> str:
        lines = [f"{'operation':<58}{'sent':>6}{'5xx':>6}  statuses"]
        for op in sorted(self.sent):
            codes = " ".join(f"{c}:{n}" for c, n in sorted(self.statuses[op].items()))
            lines.append(f"{op:<58}{self.sent[op]:>6}{self.server_errors(op):>6}  {codes}")
        lines.append(f"{'total':<58}{self.total:>6}{sum(self.server_errors(o) for o in self.sent):>6}")
        return "\n".join(lines)


# --- the campaign ---------------------------------------------------------------------------------


def load_schema(app: Tracebacks) -> Any:
    """The document as the app serves it; reproducers keep every header (test tokens only)."""
    config = schemathesis.Config.from_dict({"output": {"sanitization": {"enabled": False}}})
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


def operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


def _aimed(pair: tuple[Any, dict[str, Any]]) -> Any:
    case, path = pair
    case.path_parameters = {**(case.path_parameters or {}), **path}
    return case


def case_strategy(op: Any, rows: dict[str, list[int | str]]) -> st.SearchStrategy:
    """Positive and negative cases, and the document's own examples (valid bodies: they get past
    validation into the service); where the path names rows that exist, as many again aimed at them."""
    examples = op.get_strategies_from_examples()
    options = [op.as_strategy(mode) for mode in MODES] + examples
    real = {p.name: rows[p.name] for p in op.path_parameters if rows.get(p.name)}
    if real:
        fixed = st.fixed_dictionaries({name: st.sampled_from(values) for name, values in real.items()})
        options += [fixed.flatmap(lambda path, mode=mode: op.as_strategy(mode, path_parameters=path))
                    for mode in MODES]
        options += [st.tuples(example, fixed).map(_aimed) for example in examples]
    return st.one_of(options)


def run(app: Tracebacks, schema: Any, tokens: dict[str, str], rows: dict[str, list[int | str]], *,
        examples: int, seed: int | None = None, only: Iterable[str] | None = None,
        progress: Callable[[str, Stats], None] | None = None) -> Stats:
    """Up to `examples` requests per operation. `seed=None`: derandomized (the same requests every
    run, as CI needs); a seed: a reproducible campaign of its own."""
    stats = Stats()
    users: list[str | None] = [*tokens, None]
    wanted = set(only) if only else None
    for op in operations(schema):
        if wanted is not None and op.label not in wanted:
            continue
        _run_operation(app, op, stats, tokens, users, case_strategy(op, rows), examples, seed)
        if progress is not None:
            progress(op.label, stats)
    return stats


def _run_operation(app: Tracebacks, op: Any, stats: Stats, tokens: dict[str, str], users: list[str | None],
                   strategy: st.SearchStrategy, examples: int, seed: int | None) -> None:
    @settings(max_examples=examples, derandomize=seed is None, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet,
              print_blob=False, report_multiple_bugs=False)
    @given(case=strategy, user=st.sampled_from(users))
    def one(case: Any, user: str | None) -> None:
        headers = {"Authorization": f"Bearer {tokens[user]}"} if user else {}
        as_user = user or "anonymous"
        app.last = None
        stats.sent[op.label] += 1
        try:
            response = case.call(headers=headers)
        except Exception as exc:  # noqa: BLE001 - the client refused to send it: not the server's fault
            stats.transport_errors.setdefault(f"{op.label}: {type(exc).__name__}", str(exc)[:300])
            return
        stats.statuses[op.label][response.status_code] += 1
        try:
            case.validate_response(response, checks=list(CHECKS), headers=headers)
        except FailureGroup as group:
            failures = group.exceptions
        except AssertionError as exc:  # a single failure is raised on its own
            failures = (exc,)
        else:
            failures = ()
        for failure in failures:
            request = case.as_curl_command(headers=headers)
            for name, token in tokens.items():
                request = request.replace(token, f"<token of {name}>")
            stats.record(Finding(op.label, getattr(failure, "title", type(failure).__name__),
                                 response.status_code, request, as_user,
                                 app.last if response.status_code >= 500 else None))

    if seed is not None:
        one = hypothesis_seed(seed)(one)
    one()
