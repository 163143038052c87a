"""The OpenAPI document: one route per lifecycle action with its body schema and a working example,
bearer auth, and documented error responses."""

from __future__ import annotations

import pytest

from services.lifecycle.bodies import ReportBody
from services.lifecycle.body_examples import EXAMPLES
from services.lifecycle.table import LIFECYCLE

ACTIONS = [name for name, spec in LIFECYCLE.items() if name != "report" and spec.lifecycle]
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def doc(client) -> dict:
    resp = client.get("/openapi.json")
    assert resp.status_code == 200
    return resp.json()


def _operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, op


def _resolve(doc, schema: dict) -> dict:
    ref = schema.get("$ref")
    return doc["components"]["schemas"][ref.rsplit("/", 1)[-1]] if ref else schema


def test_every_lifecycle_action_has_a_route_with_schema_and_example(doc):
    for action in ACTIONS:
        path = f"/api/v1/hazards/{{hazard_id}}/actions/{action}"
        assert path in doc["paths"], action
        op = doc["paths"][path]["post"]
        body = op["requestBody"]
        assert body["required"] is True
        content = body["content"]["application/json"]
        spec = LIFECYCLE[action]
        schema = _resolve(doc, content["schema"])
        assert schema["title"] == spec.body.__name__
        assert set(schema["properties"]) == set(spec.body.model_fields), action
        assert schema.get("additionalProperties") is False, action  # extra fields are refused
        examples = content.get("examples") or {}
        assert examples, f"{action}: no example"
        for example in examples.values():
            assert example["value"], action
            spec.body.model_validate(example["value"])  # the example is a valid body
        assert op["summary"] and op["description"]
        assert {p["name"] for p in op["parameters"]} >= {"hazard_id", "If-Match", "Idempotency-Key"}
    # No route for what people may not do (the system's escalation) and nothing undeclared.
    action_paths = {p.rsplit("/", 1)[-1] for p in doc["paths"] if p.startswith("/api/v1/hazards/") and "/actions/" in p}
    assert action_paths == set(ACTIONS)
    assert "escalate" not in action_paths


def test_report_route_has_schema_and_example(doc):
    op = doc["paths"]["/api/v1/hazards"]["post"]
    content = op["requestBody"]["content"]["application/json"]
    assert _resolve(doc, content["schema"])["title"] == "ReportBody"
    for example in content["examples"].values():
        ReportBody.model_validate(example["value"])
    assert EXAMPLES["report"] in [e["value"] for e in content["examples"].values()]
    public = doc["paths"]["/api/v1/public/reports"]["post"]["requestBody"]["content"]["application/json"]
    assert public["examples"]


def test_bearer_security_scheme(doc):
    schemes = doc["components"]["securitySchemes"]
    bearer = [name for name, s in schemes.items() if s["type"] == "http" and s["scheme"].lower() == "bearer"]
    assert bearer
    for path, method, op in _operations(doc):
        secured = any(name in req for req in op.get("security", []) for name in bearer)
        public = path.startswith("/api/v1/public/") or path == "/healthz"  # /metrics wants a token
        assert secured != public, (method, path)


def test_every_route_documents_its_error_responses(doc):
    for path, method, op in _operations(doc):
        responses = op["responses"]
        errors = {code for code in responses if code[0] in "45"}
        assert errors, (method, path)
        for code in errors:
            assert responses[code].get("description"), (method, path, code)
            assert "application/json" in responses[code].get("content", {}), (method, path, code, responses[code])
            schema = responses[code]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, code)
        if op.get("security"):
            assert "401" in errors, (method, path)
        if op.get("requestBody") or op.get("parameters"):
            assert "422" in errors, (method, path)
        if "/actions/" in path:
            assert errors >= {"401", "403", "404", "409", "422"}, (method, path)
        if "{hazard_id}" in path:
            assert "404" in errors, (method, path)
    assert "429" in doc["paths"]["/api/v1/public/reports"]["post"]["responses"]
    assert "404" in doc["paths"]["/api/v1/public/reports/{tracking_code}"]["get"]["responses"]
    assert "403" in doc["paths"]["/api/v1/audit/verify"]["get"]["responses"]


def test_error_schema_is_the_error_envelope(doc):
    schema = doc["components"]["schemas"]["ErrorOut"]
    assert schema["required"] == ["error"]
    detail = _resolve(doc, schema["properties"]["error"])
    assert set(detail["properties"]) == {"code", "message", "details"}


def test_success_responses_have_schemas(doc):
    hazard = doc["paths"]["/api/v1/hazards/{hazard_id}"]["get"]["responses"]["200"]
    assert hazard["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/HazardOut"}
    for action in ACTIONS:
        ok = doc["paths"][f"/api/v1/hazards/{{hazard_id}}/actions/{action}"]["post"]["responses"]["200"]
        assert ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/HazardOut"}
    assert "allowed_actions" in doc["components"]["schemas"]["HazardOut"]["properties"]
