"""Schemathesis over the whole OpenAPI document, bounded, on SQLite and PostgreSQL (the campaign is
tests/app/api/fuzzing.py; `uv run python scripts/fuzz.py` runs a larger one by hand).

Every operation gets generated valid and invalid requests as an inspector, an enterprise user and
nobody, half of them aimed at rows that exist; no answer may be a 5xx, and every answer's status,
content type, headers and body must be what the document declares. The requests are derandomized:
a failure here fails the same way on the next run. PostgreSQL gets a smaller run: it is where NUL
bytes and out-of-range numbers are refused by the database itself rather than by Python.
"""

from __future__ import annotations

from db.engine import read_only
from services.audit import verification as audit
from tests.app.api import fuzzing

EXAMPLES = {"sqlite": 60, "postgresql": 25}  # per operation: ~25 s and ~10 s here, ~3x that on busy cores
AIMED = ("GET /api/v1/hazards/{hazard_id}", "GET /api/v1/hazards/{hazard_id}/events",
         "GET /api/v1/hazards/{hazard_id}/documents")


def test_schemathesis_finds_nothing(app, world, factory, clock, settings, backend):
    rows = fuzzing.seed_rows(factory, world, settings, clock())
    wrapped = fuzzing.Tracebacks(app)
    schema = fuzzing.load_schema(wrapped)
    documented = {op.label for op in fuzzing.operations(schema)}
    assert len(documented) >= 30, sorted(documented)

    tokens = {name: world.tokens[name] for name in fuzzing.ROLES}
    stats = fuzzing.run(wrapped, schema, tokens, rows, examples=EXAMPLES[backend])

    assert set(stats.sent) == documented, documented - set(stats.sent)
    parameterless = {"GET /healthz", "GET /metrics"}  # nothing to vary: a couple of requests
    thin = {op: n for op, n in stats.sent.items() if op not in parameterless and n < EXAMPLES[backend]}
    assert not thin, f"operations that got fewer requests than asked: {thin}"
    for op in AIMED:  # the path ids reached real rows, not only 404s
        assert stats.statuses[op][200] > 0, (op, stats.statuses[op])
    assert not stats.transport_errors, stats.transport_errors
    assert not stats.findings, (
        f"[{backend}] {len(stats.findings)} finding(s) in {stats.total} requests:\n{stats.report()}\n\n{stats.table()}"
    )
    with read_only(factory) as s:  # what the fuzzer did went through the real path
        report = audit.verify(s)
    assert report.ok, report.as_dict()
