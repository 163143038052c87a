"""`GET /me/inbox` (to-dos per role, messages with keyset pagination), `POST /me/inbox/{id}/read`,
and the dead-letter routes `GET /outbox/dead`, `POST /outbox/dead/{id}/retry` (admin only)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, update

from db.engine import UnitOfWork, transaction
from db.models import Delivery, Hazard, InboxItem
from services.outbox.deliver import run_once
from services.calendar.workdays import default_calendar
from services.kernel.clock import local_date
from services.escalation.ladder import LadderConfig
from services.notify.channels import default_channels
from tests.app.api.support import API, MISSING_ID, act, assert_error
from tests.helpers import body_for, drive, new_hazard
from tests.receivers import deliveries, notify_settings, user_id

INBOX = f"{API}/me/inbox"


def inbox(client, world, user: str, **params):
    resp = client.get(INBOX, headers=world.auth(user), params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def todo_map(client, world, user: str) -> dict[int, list[str]]:
    return {t["hazard_id"]: t["actions"] for t in inbox(client, world, user)["todos"]}


@pytest.fixture
def hazards(factory, world, clock, client) -> dict[str, int]:
    """One hazard waiting at each step, all of the coal enterprise in 离石区."""
    today = local_date(clock())
    ids = {
        "reported": new_hazard(factory, world, clock(), reporter="inspector"),
        "registered": drive(factory, world, clock(), "registered"),
        "major_registered": drive(factory, world, clock(), "registered", level="major"),
        "acceptance": drive(factory, world, clock(), "acceptance_requested"),
        "accepted": drive(factory, world, clock(), "accepted", level="major"),  # listed by the city
        "extension": drive(factory, world, clock(), "rectifying"),
    }
    ok = act(client, world, "ent_coal", ids["extension"], "request_extension",
             body_for("request_extension", today=today, level="general", uscc=world.enterprises["coal"]))
    assert ok.status_code == 200, ok.text
    return ids


def test_todos_per_role(client, world, hazards):
    h = hazards
    assert todo_map(client, world, "ent_coal") == {
        h["registered"]: ["file_plan", "request_acceptance"],
        # a major hazard not yet listed waits for its 挂牌督办, not for the enterprise
        h["extension"]: ["request_acceptance", "report_progress"],  # the extension is not theirs to decide
    }
    # the reporter may register but not dismiss (four-eyes); a colleague may do both
    assert todo_map(client, world, "inspector") == {h["reported"]: ["register"], h["acceptance"]: ["accept", "reject"]}
    assert todo_map(client, world, "inspector2") == {h["reported"]: ["register", "dismiss"],
                                                     h["acceptance"]: ["accept", "reject"]}
    assert todo_map(client, world, "supervisor") == {
        h["reported"]: ["register", "dismiss"], h["acceptance"]: ["accept", "reject"],
        h["extension"]: ["grant_extension", "deny_extension"],
    }
    assert todo_map(client, world, "city_committee") == {h["major_registered"]: ["supervise"], h["accepted"]: ["close"]}
    # only the listing level's office closes
    assert todo_map(client, world, "county_committee") == {h["major_registered"]: ["supervise"]}
    for nobody in ("ent_chem", "xinzhou_inspector", "auditor", "admin"):
        assert todo_map(client, world, nobody) == {}, nobody
    [todo] = [t for t in inbox(client, world, "city_committee")["todos"] if t["hazard_id"] == h["accepted"]]
    assert todo["state"] == "accepted" and todo["state_label"] == "待销号" and todo["action_labels"] == ["销号（摘牌）"]
    assert todo["code"].startswith("141102-") and todo["title"] and todo["deadline"]


def test_todos_overdue_first_then_by_deadline(client, world, factory, clock, hazards):
    today = local_date(clock())
    late = drive(factory, world, clock(), "registered")
    with transaction(factory) as s:
        for hid, days in ((hazards["registered"], 40), (late, -2), (hazards["extension"], 1)):
            s.execute(update(Hazard).where(Hazard.id == hid).values(deadline=today + timedelta(days=days)))
    todos = inbox(client, world, "ent_coal")["todos"]
    assert [t["hazard_id"] for t in todos] == [late, hazards["extension"], hazards["registered"]]
    assert [(t["overdue"], t["due_soon"]) for t in todos] == [(True, False), (False, True), (False, False)]


def test_officials_todos_are_dated_by_their_own_step(client, world, factory, clock):
    """A report waits to be registered within 3 working days, an acceptance request to be reviewed
    within 10: that, not the enterprise's rectification deadline, is what an inspector is late on.
    An enterprise owes a listed hazard's plan by its 方案报送期限."""
    calendar = default_calendar()
    start = local_date(clock())
    waiting = drive(factory, world, clock(), "acceptance_requested")
    with transaction(factory) as s:  # the enterprise's own deadline has long passed
        s.execute(update(Hazard).where(Hazard.id == waiting).values(deadline=start - timedelta(days=20)))
    clock.advance(days=1)
    reported = new_hazard(factory, world, clock(), reporter="inspector2")
    listed = drive(factory, world, clock(), "supervised", level="major")
    reported_on = local_date(clock())

    todos = {t["hazard_id"]: t for t in inbox(client, world, "inspector")["todos"]}
    assert todos[reported]["due"] == calendar.add_working_days(reported_on, 3).isoformat()
    assert todos[reported]["due_label"] == "登记期限" and not todos[reported]["overdue"]
    assert todos[waiting]["due"] == calendar.add_working_days(start, 10).isoformat()
    assert todos[waiting]["due_label"] == "验收审查期限" and not todos[waiting]["overdue"]
    [plan] = [t for t in inbox(client, world, "ent_coal")["todos"] if t["hazard_id"] == listed]
    with transaction(factory) as s:
        plan_due = s.get(Hazard, listed).plan_due
    assert (plan["due"], plan["due_label"]) == (plan_due.isoformat(), "方案报送期限")

    while calendar.working_days_between(reported_on, local_date(clock())) < 4:
        clock.advance(days=1)
    order = [(t["hazard_id"], t["overdue"]) for t in inbox(client, world, "inspector")["todos"]]
    assert order[:2] == [(reported, True), (waiting, False)]  # the late registration comes first


def _add_messages(factory, clock, username: str, n: int, *, start: int = 0) -> list[int]:
    uid = user_id(factory, username)
    with transaction(factory) as s:
        return [s.execute(insert(InboxItem).values(
            user_id=uid, hazard_id=None, kind="message", title=f"通知 {i}", body=f"正文 {i}",
            dedupe_key=f"{username}:{i}", created_at=clock(), read_at=None).returning(InboxItem.id)).scalar_one()
            for i in range(start, start + n)]


def test_messages_newest_first_with_keyset_pagination(client, world, factory, clock):
    ids = _add_messages(factory, clock, "inspector", 5)
    _add_messages(factory, clock, "inspector2", 2)
    page = inbox(client, world, "inspector", limit=2)
    assert [m["id"] for m in page["messages"]] == ids[:-3:-1]
    assert page["unread"] == 5 and page["next_cursor"]
    seen = [m["id"] for m in page["messages"]]
    while page["next_cursor"]:
        page = inbox(client, world, "inspector", limit=2, cursor=page["next_cursor"])
        assert page["todos"] == []  # to-dos come with the first page only
        seen += [m["id"] for m in page["messages"]]
    assert seen == ids[::-1]
    first = inbox(client, world, "inspector", limit=2)["messages"][0]
    assert (first["title"], first["body"], first["read"], first["read_at"]) == ("通知 4", "正文 4", False, None)
    assert_error(client.get(INBOX, headers=world.auth("inspector"), params={"cursor": "not-a-cursor"}), 422)
    assert_error(client.get(INBOX, headers=world.auth("inspector"), params={"limit": 0}), 422)


def test_mark_read(client, world, factory, clock):
    mine = _add_messages(factory, clock, "inspector", 2)
    theirs = _add_messages(factory, clock, "inspector2", 1, start=10)
    resp = client.post(f"{INBOX}/{mine[0]}/read", headers=world.auth("inspector"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["read"] is True and resp.json()["read_at"] == clock().isoformat()
    clock.advance(hours=1)
    again = client.post(f"{INBOX}/{mine[0]}/read", headers=world.auth("inspector"))
    assert again.json()["read_at"] == resp.json()["read_at"]  # idempotent: the first reading counts
    assert inbox(client, world, "inspector")["unread"] == 1
    assert_error(client.post(f"{INBOX}/{theirs[0]}/read", headers=world.auth("inspector")), 404, "not_found")
    assert_error(client.post(f"{INBOX}/{MISSING_ID}/read", headers=world.auth("inspector")), 404, "not_found")
    assert_error(client.post(f"{INBOX}/{2**63}/read", headers=world.auth("inspector")), 404)
    assert_error(client.post(f"{INBOX}/{2**70}/read", headers=world.auth("inspector")), 422)  # not an id
    assert_error(client.post(f"{INBOX}/{mine[1]}/read"), 401, "unauthorized")
    assert_error(client.get(INBOX), 401, "unauthorized")


def test_a_notification_reaches_the_inbox(client, world, factory, clock, db_url):
    hid = drive(factory, world, clock(), "registered")
    settings = notify_settings(db_url)
    run_once(UnitOfWork(factory), now=clock(), settings=settings, channels=default_channels(settings))
    [message] = inbox(client, world, "ent_coal")["messages"]
    assert message["hazard_id"] == hid and "：已登记，限期整改至" in message["title"]
    assert "按期完成整改" in message["body"]


# --- dead letters ---------------------------------------------------------------------------------

DEAD = f"{API}/outbox/dead"


def _dead_letters(factory, clock, n: int) -> list[int]:
    with transaction(factory) as s:
        return [s.execute(insert(Delivery).values(
            channel="webhook", recipient="bureau", dedupe_key=f"dead:{i}", subject="测试", body="{}",
            status="dead", attempts=6, available_at=clock(), created_at=clock(), last_error="Webhook 返回 HTTP 500",
        ).returning(Delivery.id)).scalar_one() for i in range(n)]


def test_dead_letters_are_for_the_admin_only(client, world, factory, clock):
    ids = _dead_letters(factory, clock, 3)
    resp = client.get(DEAD, headers=world.auth("admin"), params={"limit": 2})
    assert resp.status_code == 200, resp.text
    page = resp.json()
    assert [d["id"] for d in page["items"]] == ids[:2] and page["next_cursor"] == ids[1]
    assert page["items"][0]["last_error"] == "Webhook 返回 HTTP 500" and page["items"][0]["attempts"] == 6
    rest = client.get(DEAD, headers=world.auth("admin"), params={"after": page["next_cursor"]}).json()
    assert [d["id"] for d in rest["items"]] == ids[2:] and rest["next_cursor"] is None

    retried = client.post(f"{DEAD}/{ids[0]}/retry", headers=world.auth("admin"))
    assert retried.status_code == 200 and retried.json() == {"id": ids[0], "status": "pending"}
    [row] = [d for d in deliveries(factory) if d.id == ids[0]]
    assert (row.status, row.attempts, row.available_at) == ("pending", 0, clock())
    assert_error(client.post(f"{DEAD}/{ids[0]}/retry", headers=world.auth("admin")), 409, "not_dead")
    assert_error(client.post(f"{DEAD}/{MISSING_ID}/retry", headers=world.auth("admin")), 404, "not_found")

    for user in ("supervisor", "auditor", "ent_coal"):
        assert_error(client.get(DEAD, headers=world.auth(user)), 403, "role")
        assert_error(client.post(f"{DEAD}/{ids[1]}/retry", headers=world.auth(user)), 403, "role")
    assert_error(client.get(DEAD), 401, "unauthorized")
    assert_error(client.post(f"{DEAD}/{ids[1]}/retry"), 401, "unauthorized")
    assert [d.status for d in deliveries(factory) if d.id in ids[1:]] == ["dead", "dead"]


def test_the_inbox_counts_all_messages_and_marks_them_read_at_once(client, world, factory, clock):
    me, other = world.p("ent_coal").id, world.p("inspector").id
    with transaction(factory) as s:
        s.execute(insert(InboxItem), [
            {"user_id": uid, "hazard_id": None, "kind": "message", "title": f"t{i}", "body": "b",
             "dedupe_key": f"all:{uid}:{i}", "created_at": clock()} for uid in (me, other) for i in range(3)])
    first = inbox(client, world, "ent_coal", limit=1)
    assert (first["total"], first["unread"], len(first["messages"])) == (3, 3, 1)
    done = client.post(f"{INBOX}/read", headers=world.auth("ent_coal"))
    assert done.status_code == 200 and done.json() == {"marked": 3}
    assert client.post(f"{INBOX}/read", headers=world.auth("ent_coal")).json() == {"marked": 0}
    assert inbox(client, world, "ent_coal")["unread"] == 0
    assert inbox(client, world, "inspector")["unread"] == 3  # nobody else's
    assert_error(client.post(f"{INBOX}/read"), 401, "unauthorized")


def test_a_major_hazard_awaiting_its_listing_is_due_by_its_listing_date(client, world, factory, clock):
    """The 安委办's `supervise` to-do is dated by the 挂牌期限 (registration + the ladder's
    `unlisted_escalate` working days), not by the rectification deadline two months away."""
    registered_on = local_date(clock())
    hid = drive(factory, world, clock(), "registered", level="major")
    due = default_calendar().add_working_days(registered_on, LadderConfig().unlisted_escalate)
    [todo] = [t for t in inbox(client, world, "county_committee")["todos"] if t["hazard_id"] == hid]
    assert (todo["due_label"], todo["due"], todo["overdue"]) == ("挂牌期限", due.isoformat(), False)
    assert todo["deadline"] != todo["due"]
    clock.current += timedelta(days=(due - registered_on).days + 1)
    [todo] = [t for t in inbox(client, world, "county_committee")["todos"] if t["hazard_id"] == hid]
    assert todo["overdue"] and todo["due_label"] == "挂牌期限"
