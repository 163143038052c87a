"""The task list API (issue 14): `GET /tasks`, `GET /tasks/{id}`, one route per action a person may
take, evidence files. Scope and the table's refusals over HTTP, one part walked from 签收 to 核查
with If-Match, idempotency keys, and hostile input that must never answer 500."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import event, func, select

from db.engine import read_only
from db.models import Attachment, PlanTask, RecordEvent
from services.tasks.body_examples import examples
from services.tasks.lifecycle import TASK_LIFECYCLE
from services.tasks.states import TASK_STATE_LABELS, TaskState
from tests.app.api import task_world
from tests.app.api.support import API, EXE, PDF, assert_error, field_errors, png_bytes
from tests.conftest import START

TASKS = f"{API}/tasks"
DONE = {"summary": "已印发责任清单", "completed_on": "2026-11-20", "evidence_text": "忻应急发〔2026〕12号"}
ACTIONS = [a for a, s in TASK_LIFECYCLE.items() if s.sources and s.lifecycle]


@pytest.fixture
def tw(factory, world, client):
    return task_world.build(factory, world)


def _get(client, world, user, path, **params):
    return client.get(path, headers=world.auth(user), params=params)


def _act(client, world, user, part_id, action, body=None, **headers):
    hdrs = {**world.auth(user), **{k.replace("_", "-"): v for k, v in headers.items()}}
    return client.post(f"{TASKS}/{part_id}/actions/{action}", json={} if body is None else body, headers=hdrs)


def _ok(resp, status=200):
    assert resp.status_code == status, resp.text
    return resp.json()


def _all_ids(client, world, user, **params) -> list[int]:
    return [p["id"] for p in _ok(_get(client, world, user, TASKS, limit=200, **params))["items"]]


def _events(factory, part_id) -> int:
    with read_only(factory) as s:
        return s.scalar(select(func.count()).select_from(RecordEvent).where(RecordEvent.subject == f"assignment:{part_id}"))


# --- lists ----------------------------------------------------------------------------------------


def test_each_person_lists_the_parts_in_their_scope(client, world, factory, tw):
    (one,) = tw.part_ids(factory, "1")
    lead, co = tw.part_ids(factory, "2")
    counties = tw.part_ids(factory, "3")
    assert len(counties) == 14
    everything = sorted([one, lead, co, *counties])
    assert _all_ids(client, world, "xz_ema") == [one, lead]  # its organisation's parts, in plan order
    assert _all_ids(client, world, "xz_ema2") == [one, lead]
    assert _all_ids(client, world, "xz_housing") == [co]
    for reader in ("xz_office", "xz_auditor", "province_committee"):  # the issuing office and those above
        assert _all_ids(client, world, reader) == everything, reader
    for outsider in ("ll_ema", "city_committee", "auditor", "inspector", "ent_coal"):  # 吕梁's people, an enterprise
        assert _all_ids(client, world, outsider) == [], outsider
    page = _ok(_get(client, world, "xz_ema", TASKS))
    first = page["items"][0]
    assert first["number"] == "1" and first["unit_name"] == "市应急局" and first["state_label"] == "待签收"
    assert first["plan_title"] == "忻州市2026年重点任务" and first["deadline"] == "2026-12-31"
    assert first["allowed_actions"] == ["acknowledge", "report_progress", "report_completion", "request_extension",
                                        "comment"]
    assert [p["role"] for p in page["items"]] == ["负责", "牵头"]


def test_filters_and_keyset_pages(client, world, factory, tw, clock):
    (one,) = tw.part_ids(factory, "1")
    counties = tw.part_ids(factory, "3")
    _ok(_act(client, world, "xz_ema", one, "acknowledge"))
    assert _all_ids(client, world, "xz_office", state="acknowledged") == [one]
    assert len(_all_ids(client, world, "xz_office", state=["assigned", "acknowledged"])) == 17
    with read_only(factory) as s:
        task3 = s.scalar(select(PlanTask.id).where(PlanTask.plan_id == tw.plan_id, PlanTask.number == "3"))
    assert _all_ids(client, world, "xz_office", task_id=task3) == counties
    assert _all_ids(client, world, "xz_office", org_id=tw.p("xz_housing").organisation_id) == tw.part_ids(factory, "2")[1:]
    assert _all_ids(client, world, "xz_office", plan_id=tw.plan_id + 1) == []
    assert _all_ids(client, world, "xz_office", overdue="true") == []
    clock.advance(days=30)  # 2026-12-24: task 2 (due 12-15) is overdue, task 1 (12-31) and the year-long not yet
    assert _all_ids(client, world, "xz_office", overdue="true") == tw.part_ids(factory, "2")
    assert len(_all_ids(client, world, "xz_office", overdue="false")) == 15
    seen, cursor = [], None
    while True:
        page = _ok(_get(client, world, "xz_office", TASKS, limit=4, **({"cursor": cursor} if cursor else {})))
        seen += [p["id"] for p in page["items"]]
        assert page["limit"] == 4 and len(page["items"]) <= 4
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 17


def test_a_list_is_a_bounded_number_of_queries(app, client, world, factory, tw):
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    _ok(_get(client, world, "xz_office", TASKS, limit=1))  # the first request also loads the calendar
    event.listen(app.state.engine, "before_cursor_execute", count)
    try:
        sizes = {}
        for limit in (1, 5, 17):
            statements.clear()
            assert len(_ok(_get(client, world, "xz_office", TASKS, limit=limit))["items"]) == limit
            sizes[limit] = len(statements)
    finally:
        event.remove(app.state.engine, "before_cursor_execute", count)
    assert sizes[1] == sizes[5] == sizes[17], sizes


@pytest.mark.parametrize("params, field", [
    ({"state": "done"}, "state"), ({"limit": 0}, "limit"), ({"limit": 201}, "limit"),
    ({"plan_id": 0}, "plan_id"), ({"plan_id": -1}, "plan_id"), ({"plan_id": 10**30}, "plan_id"),
    ({"org_id": "abc"}, "org_id"), ({"cursor": "not-a-cursor"}, "cursor"), ({"overdue": "maybe"}, "overdue"),
])
def test_bad_filters_are_refused_with_the_field(client, world, tw, params, field):
    fields = field_errors(_get(client, world, "xz_office", TASKS, **params))
    assert any(f.split(".")[0] == field for f in fields), fields


# --- one part, walked ------------------------------------------------------------------------------


def test_the_walk_from_acknowledge_to_verify_with_if_match(client, world, factory, tw, settings):
    (part,) = tw.part_ids(factory, "1")
    seen = _get(client, world, "xz_ema", f"{TASKS}/{part}")
    view = _ok(seen)
    assert seen.headers["ETag"] == '"1"' and view["version"] == 1 and view["state"] == "assigned"
    assert view["task"]["number"] == "1" and "责任清单" in view["task"]["text"] and view["task"]["state_label"] == "办理中"
    assert view["task"]["deadline_text"] == "2026年12月底" and view["unit_name"] == "市应急局"
    assert [e["action"] for e in view["trail"]] == ["assign"] and view["trail"][0]["label"] == "交办"
    assert view["action_labels"]["acknowledge"] == "签收"

    stale = _act(client, world, "xz_ema", part, "acknowledge", If_Match='"7"')
    assert assert_error(stale, 409, "stale_version") and stale.headers["ETag"] == '"1"'
    done = _act(client, world, "xz_ema", part, "acknowledge", If_Match='"1"')
    assert _ok(done)["state"] == "acknowledged" and done.headers["ETag"] == '"2"'
    assert done.json()["acknowledged_at"] is not None

    upload = client.post(f"{TASKS}/{part}/attachments", files={"file": ("台账.pdf", PDF, "application/pdf")},
                         headers=world.auth("xz_ema2"))
    att = _ok(upload, 201)
    assert att["sha256"] == hashlib.sha256(PDF).hexdigest() and att["assignment_id"] == part
    assert _events(factory, part) == 2  # an upload is no event
    progress = _ok(_act(client, world, "xz_ema2", part, "report_progress",
                        {"text": "已完成 12 家企业检查", "evidence": [att["id"]]}, If_Match='"2"'))
    assert progress["state"] == "in_progress" and progress["progress"]["count"] == 1
    assert progress["progress"]["last_text"] == "已完成 12 家企业检查"
    assert progress["trail"][-1]["attachments"] == [{"id": att["id"], "sha256": att["sha256"], "filename": "台账.pdf"}]
    assert [a["id"] for a in progress["attachments"]] == [att["id"]]

    reported = _ok(_act(client, world, "xz_ema", part, "report_completion", DONE, If_Match='"3"'))
    assert reported["state"] == "reported" and reported["state_label"] == "待核查"
    assert reported["completion"]["summary"] == DONE["summary"]
    assert reported["completion"]["reported_by"] == {"id": tw.p("xz_ema").id, "name": "xz_ema"}
    assert reported["allowed_actions"] == ["comment"]  # the unit waits for the check
    office_view = _ok(_get(client, world, "xz_office", f"{TASKS}/{part}"))
    assert office_view["allowed_actions"] == ["verify", "return", "comment"]
    assert _ok(_get(client, world, "xz_auditor", f"{TASKS}/{part}"))["allowed_actions"] == []

    returned = _ok(_act(client, world, "xz_office", part, "return", {"reason": "缺少检查台账"}, If_Match='"4"'))
    assert returned["state"] == "in_progress" and returned["returned_count"] == 1 and returned["completion"] is None
    _ok(_act(client, world, "xz_ema", part, "report_completion", DONE, If_Match='"5"'))
    verified = _act(client, world, "xz_office2", part, "verify", {"note": "材料齐全"}, If_Match='"6"')
    final = _ok(verified)
    assert verified.headers["ETag"] == '"7"' and final["state"] == "verified" and final["state_label"] == "已核查"
    assert final["verification"]["verified_by"] == {"id": tw.p("xz_office2").id, "name": "xz_office2"}
    assert final["task"]["state"] == "closed" and final["task"]["state_label"] == "已销号"  # its only part
    trail = final["trail"]
    assert [e["action"] for e in trail] == ["assign", "acknowledge", "report_progress", "report_completion", "return",
                                            "report_completion", "verify"]
    assert [e["seq"] for e in trail] == list(range(1, 8))
    assert trail[-1]["actor"] == {"id": tw.p("xz_office2").id, "role": "committee", "role_label": "安委办",
                                  "name": "xz_office2"}
    assert (trail[-1]["from_state"], trail[-1]["to_state"], trail[-1]["body"]) == ("reported", "verified",
                                                                                   {"note": "材料齐全"})
    assert trail[4]["body"] == {"reason": "缺少检查台账"}
    assert _act(client, world, "xz_ema", part, "comment", {"text": "谢谢"}).status_code == 200  # comment stays open
    late = client.post(f"{TASKS}/{part}/attachments", files={"file": ("b.png", png_bytes(), "image/png")},
                       headers=world.auth("xz_ema"))
    assert_error(late, 409, "state")  # no new files on a verified part


def test_idempotency_keys_answer_once(client, world, factory, tw):
    (part,) = tw.part_ids(factory, "1")
    first = _act(client, world, "xz_ema", part, "report_progress", {"text": "第一次"}, Idempotency_Key="tk-1")
    again = _act(client, world, "xz_ema", part, "report_progress", {"text": "第一次"}, Idempotency_Key="tk-1")
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true" and again.content == first.content
    assert _events(factory, part) == 2
    other = _act(client, world, "xz_ema", part, "report_progress", {"text": "另一次"}, Idempotency_Key="tk-1")
    assert_error(other, 409, "idempotency_key_reused")
    assert _events(factory, part) == 2


# --- who may do what -------------------------------------------------------------------------------


def _ready(client, world, factory, tw, action: str) -> tuple[int, str, dict]:
    """A fresh part of 市应急局 in a state where `action` is allowed, the person to do it and a body."""
    part = tw.part_ids(factory, "1")[0] if action != "comment" else tw.part_ids(factory, "2")[0]
    body = examples(START.date())[action]
    if action in ("verify", "return"):
        _ok(_act(client, world, "xz_ema", part, "report_completion", DONE))
        return part, "xz_office", body
    if action in ("grant_extension", "deny_extension"):
        _ok(_act(client, world, "xz_ema", part, "request_extension", {"new_deadline": "2027-03-31", "reason": "x"}))
        return part, "xz_office", body
    return part, "xz_ema", body


UNIT_ACTIONS = ("acknowledge", "report_progress", "report_completion", "request_extension")
OFFICE_ACTIONS = ("verify", "return", "grant_extension", "deny_extension")


@pytest.mark.parametrize("action", ACTIONS)
def test_authorization_from_the_table(client, world, factory, tw, action):
    part, doer, body = _ready(client, world, factory, tw, action)
    # Not in scope at all: another unit of the same city, another city's unit and office, an enterprise.
    for outsider in ("xz_housing", "ll_ema", "city_committee", "ent_coal"):
        assert_error(_act(client, world, outsider, part, action, body), 404)
    # Readers without the role (the auditors) or without the part (the province's 安委办).
    assert_error(_act(client, world, "xz_auditor", part, action, body), 403, "role")
    expected = "issuing_office" if action in OFFICE_ACTIONS else "own_unit"
    assert_error(_act(client, world, "province_committee", part, action, body), 403, expected)
    if action in UNIT_ACTIONS:  # the office reads the unit's part but does not do its work
        assert_error(_act(client, world, "xz_office", part, action, body), 403, "own_unit")
    if action in OFFICE_ACTIONS:  # and the unit does not check itself
        assert_error(_act(client, world, "xz_ema", part, action, body), 403, "role")
    assert _events(factory, part) == (1 if action in UNIT_ACTIONS or action == "comment" else 2)
    resp = _act(client, world, doer, part, action, body)
    assert _ok(resp)["version"] == int(resp.headers["ETag"].strip('"'))
    if action not in ("comment", "report_progress", "request_extension"):  # the same click again: the state moved on
        again = _act(client, world, doer, part, action, body)
        assert again.status_code == 409, again.text


def test_four_eyes_and_state_refusals(client, world, factory, tw):
    (part,) = tw.part_ids(factory, "1")
    assert_error(_act(client, world, "xz_office", part, "verify", {"note": "x"}), 409, "state")
    _ok(_act(client, world, "xz_ema", part, "request_extension", {"new_deadline": "2027-03-31", "reason": "需部署"}))
    assert_error(_act(client, world, "xz_ema", part, "request_extension",
                      {"new_deadline": "2027-04-30", "reason": "again"}), 409, "extension_pending")
    early = _act(client, world, "xz_ema2", tw.part_ids(factory, "2")[0], "request_extension",
                 {"new_deadline": "2026-12-01", "reason": "x"})
    assert "new_deadline" in field_errors(early)
    future = _act(client, world, "xz_ema", tw.part_ids(factory, "2")[0], "report_completion",
                  {**DONE, "completed_on": "2027-01-05"})
    assert "completed_on" in field_errors(future)
    granted = _ok(_act(client, world, "xz_office", part, "grant_extension", {"note": "同意"}))
    assert granted["deadline"] == "2027-03-31" and granted["extensions_granted"] == 1
    assert granted["pending_extension"] is None


# --- hostile input -------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["0", "-1", str(10**30), "abc", "1e3", "²", "9223372036854775808"])
def test_hostile_ids_never_answer_500(client, world, factory, tw, bad):
    (part,) = tw.part_ids(factory, "1")
    answers = [
        _get(client, world, "xz_ema", f"{TASKS}/{bad}"),
        _act(client, world, "xz_ema", bad, "acknowledge"),
        client.post(f"{TASKS}/{bad}/attachments", files={"file": ("a.png", png_bytes(), "image/png")},
                    headers=world.auth("xz_ema")),
        _get(client, world, "xz_ema", f"{TASKS}/{bad}/attachments/1"),
        _get(client, world, "xz_ema", f"{TASKS}/{part}/attachments/{bad}"),
    ]
    for resp in answers:
        assert resp.status_code in (404, 422), (resp.request.url, resp.status_code, resp.text)
        assert_error(resp, resp.status_code)
    assert _events(factory, part) == 1


def test_hostile_bodies_and_actions(client, world, factory, tw):
    (part,) = tw.part_ids(factory, "1")
    unknown = _act(client, world, "xz_ema", part, "escalate", {"step": "urge"})  # the system's, no route
    assert_error(unknown, 404)
    assert_error(_act(client, world, "xz_ema", part, "delete"), 404)
    assert_error(_act(client, world, "xz_ema", part, "assign"), 404)
    assert "extra" in field_errors(_act(client, world, "xz_ema", part, "acknowledge", {"extra": 1}))
    assert "text" in field_errors(_act(client, world, "xz_ema", part, "report_progress", {"text": "进展\x00"}))
    assert "text" in field_errors(_act(client, world, "xz_ema", part, "report_progress", {"text": "x" * 4001}))
    assert "text" in field_errors(_act(client, world, "xz_ema", part, "report_progress", {"text": ["list"]}))
    assert field_errors(_act(client, world, "xz_ema", part, "report_progress", {"text": "x", "evidence": [10**30]}))
    other = _ok(client.post(f"{TASKS}/{tw.part_ids(factory, '2')[0]}/attachments",
                            files={"file": ("a.png", png_bytes(), "image/png")}, headers=world.auth("xz_ema")), 201)
    foreign = _act(client, world, "xz_ema", part, "report_progress", {"text": "x", "evidence": [other["id"]]})
    assert "不属于该任务" in field_errors(foreign)["evidence"]
    for raw in (b"{", b"[]", b'"text"', b"null", b"\xff\xfe"):
        resp = client.post(f"{TASKS}/{part}/actions/report_progress", content=raw,
                           headers={**world.auth("xz_ema"), "Content-Type": "application/json"})
        assert resp.status_code in (400, 422), (raw, resp.status_code, resp.text)
        assert_error(resp, resp.status_code)
    bad_match = _act(client, world, "xz_ema", part, "acknowledge", If_Match="abc")
    assert_error(bad_match, 409, "bad_if_match")
    huge = _act(client, world, "xz_ema", part, "acknowledge", If_Match='"' + "9" * 40 + '"')
    assert_error(huge, 409)
    # The order holds for bodies FastAPI refuses: scope first (404), then role (403), then state (409).
    assert_error(_act(client, world, "ll_ema", part, "report_progress", {"bogus": 1}), 404)
    assert_error(_act(client, world, "xz_auditor", part, "report_progress", {"bogus": 1}), 403, "role")
    assert_error(_act(client, world, "xz_office", part, "verify", {"bogus": 1}), 409, "state")
    assert _events(factory, part) == 1


# --- files -----------------------------------------------------------------------------------------


def test_evidence_files_scope_type_and_download(client, world, factory, tw, settings):
    (part,) = tw.part_ids(factory, "1")

    def up(user, data=png_bytes(2, 2), name="现场.png", target=part):
        return client.post(f"{TASKS}/{target}/attachments", files={"file": (name, data, "image/png")},
                           headers=world.auth(user))

    att = _ok(up("xz_ema"), 201)
    assert att["content_type"] == "image/png" and att["filename"] == "现场.png" and att["size"] == len(png_bytes(2, 2))
    with read_only(factory) as s:
        row = s.get(Attachment, att["id"])
        assert (row.assignment_id, row.hazard_id, row.uploaded_by_id) == (part, None, tw.p("xz_ema").id)
    assert_error(up("xz_office"), 403, "own_unit")  # the office checks, it does not supply the evidence
    assert_error(up("xz_auditor"), 403, "own_unit")
    assert_error(up("xz_housing"), 404)
    assert_error(up("ll_ema"), 404)
    assert "file" in field_errors(up("xz_ema", EXE, "a.exe"))
    assert "file" in field_errors(up("xz_ema", b""))
    assert "file" in field_errors(up("xz_ema", png_bytes(pad=settings.max_attachment_bytes)))
    assert not list(settings.attachments_dir.glob(".upload-*"))
    for reader in ("xz_ema2", "xz_office", "xz_auditor"):
        got = _get(client, world, reader, f"{TASKS}/{part}/attachments/{att['id']}")
        assert got.status_code == 200 and got.content == png_bytes(2, 2), reader
        assert got.headers["content-type"] == "image/png" and "filename*=UTF-8''" in got.headers["content-disposition"]
    for outsider in ("xz_housing", "ll_ema"):
        assert_error(_get(client, world, outsider, f"{TASKS}/{part}/attachments/{att['id']}"), 404)
    other_part = tw.part_ids(factory, "2")[0]
    assert_error(_get(client, world, "xz_ema", f"{TASKS}/{other_part}/attachments/{att['id']}"), 404)
    with read_only(factory) as s:
        hazard_file = s.scalar(select(func.min(Attachment.id)).where(Attachment.hazard_id.is_not(None)))
    if hazard_file is not None:
        assert_error(_get(client, world, "xz_ema", f"{TASKS}/{part}/attachments/{hazard_file}"), 404)


# --- the document ----------------------------------------------------------------------------------


def test_the_task_routes_are_in_the_openapi_document(client):
    doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    assert {"get"} <= set(paths[f"{TASKS}"]) and {"get"} <= set(paths[f"{TASKS}/{{assignment_id}}"])
    assert "post" in paths[f"{TASKS}/{{assignment_id}}/attachments"]
    assert "get" in paths[f"{TASKS}/{{assignment_id}}/attachments/{{attachment_id}}"]
    task_actions = {p.rsplit("/", 1)[-1] for p in paths if p.startswith(f"{TASKS}/") and "/actions/" in p}
    assert task_actions == set(ACTIONS) and "escalate" not in task_actions
    for action in ACTIONS:
        op = paths[f"{TASKS}/{{assignment_id}}/actions/{action}"]["post"]
        content = op["requestBody"]["content"]["application/json"]
        ref = content["schema"]["$ref"].rsplit("/", 1)[-1]
        schema = doc["components"]["schemas"][ref]
        assert schema["title"] == TASK_LIFECYCLE[action].body.__name__
        assert schema.get("additionalProperties") is False
        [example] = content["examples"].values()
        TASK_LIFECYCLE[action].body.model_validate(example["value"])  # the served example is a valid body
        assert {p["name"] for p in op["parameters"]} >= {"assignment_id", "If-Match", "Idempotency-Key"}
        assert {"403", "404", "409", "422"} <= set(op["responses"]), action
        assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/TaskPartOut")
    labels = {s.value for s in TaskState}
    assert set(TASK_STATE_LABELS) == labels


# --- 待办 -------------------------------------------------------------------------------------------


def test_the_inbox_and_the_todo_page_show_the_parts_waiting(app, client, world, factory, tw):
    from fastapi.testclient import TestClient

    from tests.app.web.conftest import login

    (one,) = tw.part_ids(factory, "1")
    lead, co = tw.part_ids(factory, "2")

    def task_todos(user):
        inbox = _ok(_get(client, world, user, f"{API}/me/inbox"))
        assert all(t["kind"] == "hazard" and isinstance(t["hazard_id"], int) for t in inbox["todos"])
        return {t["assignment_id"]: t for t in inbox["task_todos"]}

    mine = task_todos("xz_ema")
    assert set(mine) == {one, lead} and all(t["actions"] == ["acknowledge"] for t in mine.values())
    assert all(t["kind"] == "task" and t["action_labels"] == ["签收"] for t in mine.values())
    assert set(task_todos("xz_housing")) == {co} and task_todos("xz_office") == {} and task_todos("ll_ema") == {}
    _ok(_act(client, world, "xz_ema", one, "report_completion", DONE))
    office = task_todos("xz_office")
    assert set(office) == {one} and office[one]["actions"] == ["verify", "return"]
    assert office[one]["due_label"] == "核查期限" and office[one]["plan_title"] == "忻州市2026年重点任务"
    assert set(task_todos("xz_ema")) == {lead}
    with TestClient(app, follow_redirects=False) as web:
        assert login(web, "xz_office").status_code == 303
        page = web.get("/")
        assert page.status_code == 200 and f'href="/tasks/{one}"' in page.text and "任务1" in page.text
