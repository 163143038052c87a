"""The route's unit of work (`Db` in app/api/deps.py): the commit happens before the answer is sent,
so a commit that fails is answered as the error it is, and nothing of the request remains."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import AuditEvent

from services.kernel.errors import Conflict
from tests.app.api.support import act, assert_error, db_state, events
from tests.helpers import drive


def test_a_failed_commit_is_answered_as_an_error_and_leaves_nothing(client, world, factory, clock, monkeypatch):
    hid = drive(factory, world, clock(), "registered")
    before = db_state(factory, hid)
    real_commit = Session.commit
    failed: list[str] = []

    def commit_that_fails_once(self: Session) -> None:
        """Fails the commit of the unit that holds the comment (no other session's)."""
        ours = self.execute(select(AuditEvent.id).where(AuditEvent.hazard_id == hid,
                                                        AuditEvent.action == "comment")).first()
        if ours is not None and not failed:
            failed.append("commit")
            raise Conflict("提交时发生冲突，请重试", code="concurrent_update")
        real_commit(self)

    monkeypatch.setattr(Session, "commit", commit_that_fails_once)
    resp = act(client, world, "inspector", hid, "comment", {"text": "这条不应留下"})
    assert failed == ["commit"]
    assert_error(resp, 409, "concurrent_update")
    monkeypatch.undo()
    assert db_state(factory, hid) == before
    assert "这条不应留下" not in str(events(client, world, "inspector", hid))


def test_a_refused_action_writes_nothing_of_what_it_began(client, world, factory, clock):
    """A refusal raised in the route rolls the unit back (If-Match stale: 409)."""
    hid = drive(factory, world, clock(), "registered")
    before = db_state(factory, hid)
    assert_error(act(client, world, "inspector", hid, "comment", {"text": "过期版本"}, If_Match='"1"'), 409)
    assert db_state(factory, hid) == before
