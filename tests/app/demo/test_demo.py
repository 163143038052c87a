"""`hazard demo`: a realistic data set loaded through the real transaction path.

The demo builds its own regions and people, so these tests use an empty database (`factory`), not
the `world` fixture.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from db.engine import make_engine, make_session_factory, read_only
from db.models import Attachment, AuditEvent, Document, Enterprise, Hazard, OutboxMessage, User
from services.audit import verification as audit
from app import demo
from services.kernel import uscc
from services.engine.attachments import path_for, sniff
from services.accounts.auth import authenticate, verify_password
from services.kernel.errors import DomainError
from services.lifecycle.roles import USER_ROLES, Role
from services.lifecycle.states import State

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)


def test_demo_loads_a_realistic_data_set(factory, tmp_path):
    root = tmp_path / "attachments"
    summary = demo.load(factory, hazards=200, seed=20261124, now=NOW, attachments_root=root)

    with read_only(factory) as s:
        hazards = s.execute(select(Hazard)).scalars().all()
        states = Counter(h.state for h in hazards)
        assert sum(states.values()) == 200
        assert set(states) == {st.value for st in State}
        assert all(n >= 5 for n in states.values()), states
        assert states["closed"] == max(states.values())
        assert {h.level for h in hazards if h.level} == {"general", "major"}
        assert all(h.level is None for h in hazards if h.state in ("reported", "dismissed"))
        assert all(h.level == "major" for h in hazards if h.state in ("supervised", "accepted"))
        assert len({h.industry for h in hazards}) >= 10
        assert len({h.source for h in hazards}) == 6
        assert {h.listing_level for h in hazards if h.listing_level} == {"county", "city", "province"}
        assert all(re.fullmatch(r"\d{6}-\d{4}-\d{6}", h.code) for h in hazards)
        assert all(NOW.replace(year=NOW.year - 1) < h.discovered_at < NOW for h in hazards)

        open_ = [h for h in hazards if h.state not in ("closed", "dismissed")]
        overdue = [h for h in open_ if h.deadline and h.deadline < NOW.date()]
        assert 0 < len(overdue) < len(open_) / 2
        assert any(h.extension_requested_at for h in open_), "a pending extension request"
        assert any(h.suspended for h in open_)
        assert any(h.failed_acceptances for h in hazards)
        by_id = {h.id: h for h in hazards}
        repeats = [h for h in hazards if h.repeat_of_id]
        assert repeats, "屡查屡犯"
        assert all(by_id[h.repeat_of_id].discovered_at < h.discovered_at for h in repeats)
        assert all(by_id[h.repeat_of_id].enterprise_id == h.enterprise_id for h in repeats)
        assert any(h.tracking_code for h in hazards), "public reports carry a tracking code"

        roles = set(s.scalars(select(User.role)))
        assert set(USER_ROLES) - {Role.SYSTEM} <= roles  # `system` is the escalation sweep, not a person
        ents = s.scalars(select(Enterprise.uscc)).all()
        assert len(ents) >= 20 and all(uscc.validate(code) is None for code in ents)
        assert s.scalar(select(func.count()).select_from(User).where(User.role == "committee",
                                                                     User.region_code == "141100")) >= 2

        # every hazard went through the real path: its version is its number of events
        events = dict(s.execute(select(AuditEvent.hazard_id, func.count()).group_by(AuditEvent.hazard_id)).all())
        assert all(events[h.id] == h.version for h in hazards)
        actions = Counter(s.scalars(select(AuditEvent.action)))
        for action in ("register", "dismiss", "supervise", "file_plan", "report_progress", "request_extension",
                       "grant_extension", "deny_extension", "request_acceptance", "accept", "reject", "close",
                       "order_suspension", "lift_suspension", "escalate", "comment"):
            assert actions[action] > 0, action
        first_events = s.execute(select(AuditEvent.hazard_id, AuditEvent.occurred_at).where(AuditEvent.seq == 1)).all()
        assert all(at < NOW for _, at in first_events)
        assert s.scalar(select(func.max(AuditEvent.occurred_at))) < NOW

        report = audit.verify(s)
        assert report.ok, report.as_dict()
        assert report.hazards_checked == 200

        # the documents were issued as part of their stories: none left pending, each issued and
        # recorded at its act, numbered without gaps per 代字, kind and year in the order issued
        pending = s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.kind.startswith("document."), OutboxMessage.status != "done"))
        assert pending == 0
        docs = s.execute(select(Document.number, Document.issued_at, Document.year, Document.seq, Document.kind,
                                AuditEvent.occurred_at).join(AuditEvent, AuditEvent.id == Document.event_id)
                         .order_by(Document.issued_at, Document.id)).all()
        assert len(docs) > 300 and all(d.issued_at == d.occurred_at for d in docs)
        recorded = dict(s.execute(select(AuditEvent.payload, AuditEvent.occurred_at)
                                  .where(AuditEvent.action == "issue_document")).all())
        assert sorted(recorded.values()) == sorted(d.issued_at for d in docs)
        series: dict[tuple[str, int], list[int]] = {}
        for d in docs:
            series.setdefault((re.sub(r"〔\d{4}〕\d+号$", "", d.number), d.year), []).append(d.seq)
        assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in series.values()), series

        # evidence files are real, stored under their SHA-256
        files = s.execute(select(Attachment.sha256, Attachment.content_type, Attachment.size)).all()
        assert len(files) > 50 and {f.content_type for f in files} == {"image/png", "application/pdf"}
        for f in files[:40]:
            data = path_for(root, f.sha256).read_bytes()
            assert hashlib.sha256(data).hexdigest() == f.sha256 and len(data) == f.size
            assert sniff(data[:16]) == f.content_type

        # the printed tokens work, and so does the printed password
        token = re.search(r"lvliang_committee1 .*?(hz_\S+)", summary).group(1)
        assert authenticate(s, token, now=NOW).username == "lvliang_committee1"
        assert verify_password(s.scalar(select(User.password_hash).where(User.username == "admin")),
                               demo.DEMO_PASSWORD)
    assert demo.DEMO_PASSWORD in summary and "已销号  closed" in summary and "已登记（限期整改）  registered" in summary

    with pytest.raises(DomainError) as refused:
        demo.load(factory, hazards=200, seed=1, attachments_root=root)
    assert "演示数据已存在" in refused.value.message
    with read_only(factory) as s:
        assert s.scalar(select(func.count()).select_from(Hazard)) == 200


def test_demo_is_deterministic_for_a_seed(sqlite_template, tmp_path):
    def load(name: str) -> tuple[list, list]:
        path = tmp_path / f"{name}.db"
        shutil.copyfile(sqlite_template, path)
        engine = make_engine(f"sqlite:///{path}")
        f = make_session_factory(engine)
        demo.load(f, hazards=40, seed=7, now=NOW, attachments_root=tmp_path / "att")
        with read_only(f) as s:
            hazards = s.execute(select(Hazard.code, Hazard.title, Hazard.state, Hazard.level, Hazard.deadline,
                                       Hazard.version).order_by(Hazard.code)).all()
            events = s.execute(select(Hazard.code, AuditEvent.seq, AuditEvent.action, AuditEvent.actor_name,
                                      AuditEvent.occurred_at, AuditEvent.payload)
                               .join(Hazard, Hazard.id == AuditEvent.hazard_id)
                               .order_by(Hazard.code, AuditEvent.seq)).all()
        engine.dispose()
        return hazards, events

    first, second = load("a"), load("b")
    assert first == second
    assert len(first[0]) == 40 and {h.state for h in first[0]} == {st.value for st in State}


def test_cli_demo_end_to_end(tmp_path):
    env = {**os.environ, "HAZARD_DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "HAZARD_DATA_DIR": str(tmp_path / "var"),
           "HAZARD_ENVIRONMENT": "development"}
    uv = shutil.which("uv")
    cmd = [uv, "run", "hazard", "demo"] if uv else [sys.executable, "-m", "app.cli.main", "demo"]
    cwd = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert demo.DEMO_PASSWORD in done.stdout
    assert len(set(re.findall(r"\bhz_[A-Za-z0-9_-]{20,}", done.stdout))) == len(demo.PEOPLE)
    assert "不予立案  dismissed" in done.stdout
    assert any((tmp_path / "var" / "attachments").rglob("*"))

    again = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert again.returncode != 0
    assert "演示数据已存在" in again.stderr and "Traceback" not in again.stderr
