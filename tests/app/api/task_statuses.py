"""The documented statuses of the task list routes (app/api/routers/tasks.py), provoked for
tests/app/api/test_documented_statuses.py (kept here so that table gains one line per feature).

Every action gets a part of its own in a state where it is allowed (the plan has one 市应急局
task per action), so the 200 of one action does not move another's part on."""

from __future__ import annotations

from typing import Any

from db.engine import transaction
from services.tasks import engine
from services.tasks.body_examples import examples
from tests.app.api import task_world
from tests.app.api.support import API, MISSING_ID, PDF, png_bytes

TASKS = f"{API}/tasks"
DONE = {"summary": "已完成", "completed_on": "2026-11-20", "evidence_text": "文件"}
OFFICE = ("verify", "return", "grant_extension", "deny_extension")


def rows(t: Any) -> dict[tuple[str, str], dict[int, Any]]:
    from app.api.routers.tasks import ACTIONS

    c, factory, now = t.call, t.env.factory, t.env.now
    n = len(ACTIONS)
    tw = task_world.build(factory, t.world, extra=2 * n + 1, now=now)
    # Two parts per action: the 200 moves one on; the 422 is judged on the other, still where the
    # action is allowed (scope, role and state come before the body).
    parts = {action: tw.part_ids(factory, str(4 + i))[0] for i, action in enumerate(ACTIONS)}
    spare = {action: tw.part_ids(factory, str(4 + n + i))[0] for i, action in enumerate(ACTIONS)}
    verified = tw.part_ids(factory, str(4 + 2 * n))[0]
    ema, office = tw.p("xz_ema"), tw.p("xz_office")
    with transaction(factory) as s:
        for action, part in [*parts.items(), *spare.items()]:
            if action in ("verify", "return"):
                engine.perform(s, ema, part, "report_completion", DONE, now=now)
            if action in ("grant_extension", "deny_extension"):
                engine.perform(s, ema, part, "request_extension", {"new_deadline": "2027-03-31", "reason": "x"},
                               now=now)
        engine.perform(s, ema, verified, "report_completion", DONE, now=now)
        engine.perform(s, office, verified, "verify", {"note": "ok"}, now=now)
    one = parts["comment"]
    item, path = f"{TASKS}/{{assignment_id}}", f"{TASKS}/{one}"
    png = {"file": ("a.png", png_bytes(), "image/png")}
    uploaded = c("POST", f"{path}/attachments", "xz_ema", files={"file": ("a.pdf", PDF, "application/pdf")}).json()
    table: dict[tuple[str, str], dict[int, Any]] = {
        ("GET", TASKS): {
            **t.common("GET", TASKS, TASKS, user="xz_office", id_param=False, body=False),
            200: lambda: c("GET", TASKS, "xz_office"),
            422: lambda: c("GET", TASKS, "xz_office", params={"limit": 0}),
        },
        ("GET", item): {**t.common("GET", item, path, user="xz_ema", id_param=True, body=False),
                        200: lambda: c("GET", path, "xz_ema")},
        ("POST", f"{item}/attachments"): {
            **t.common("POST", f"{item}/attachments", f"{path}/attachments", user="xz_ema", id_param=True,
                       body=False, files=png),
            201: lambda: c("POST", f"{path}/attachments", "xz_ema", files=png),
            400: lambda: c("POST", f"{path}/attachments", "xz_ema", content=b"x",
                           headers={"Content-Type": "multipart/form-data"}),
            403: lambda: c("POST", f"{path}/attachments", "xz_office", files=png),
            409: lambda: c("POST", f"{TASKS}/{verified}/attachments", "xz_ema", files=png),
            422: lambda: c("POST", f"{path}/attachments", "xz_ema",
                           files={"file": ("a.exe", b"MZ\x90\x00", "image/png")}),
        },
        ("GET", f"{item}/attachments/{{attachment_id}}"): {
            **t.common("GET", f"{item}/attachments/{{attachment_id}}", f"{path}/attachments/{uploaded['id']}",
                       user="xz_ema", id_param=True, body=False),
            200: lambda: c("GET", f"{path}/attachments/{uploaded['id']}", "xz_ema"),
            404: lambda: c("GET", f"{path}/attachments/{MISSING_ID}", "xz_ema"),
        },
    }
    body_of = examples(now.date())
    for action, part in parts.items():
        template = f"{item}/actions/{action}"
        target = template.replace("{assignment_id}", str(part))
        user = "xz_office" if action in OFFICE else "xz_ema"
        body = body_of[action]
        row = t.common("POST", template, target, user=user, id_param=True, body=True, json=body)
        row[403] = (lambda target=target, body=body: c("POST", target, "xz_auditor", json=body))
        row[409] = (lambda target=target, body=body, user=user:
                    c("POST", target, user, json=body, headers={"If-Match": '"999"'}))
        other = template.replace("{assignment_id}", str(spare[action]))
        row[422] = (lambda other=other, user=user: c("POST", other, user, json={"unknown_field": 1}))
        row[200] = (lambda target=target, body=body, user=user: c("POST", target, user, json=body))
        table[("POST", template)] = row
    return table
