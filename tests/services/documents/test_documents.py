"""The document engine (services.documents) on SQLite and PostgreSQL: the documents each action and
ladder step asks for, their numbers (per issuing body and year, gapless, also after a rollback and
under concurrent issuing), idempotence, and their record in the audit trail."""

from __future__ import annotations

import hashlib
import json
import re
import threading

import pytest
from sqlalchemy import func, select

from db.engine import UnitOfWork, make_engine, make_session_factory, read_only, transaction
from db.models import AuditEvent, Document, DocumentSequence, Hazard, OutboxMessage
from services.audit import verification as audit
from services import documents
from services.engine import transitions
from services.calendar.workdays import WorkCalendar
from services.kernel.clock import local_date
from services.documents import engine as doc_engine
from services.escalation.ladder import LadderConfig
from services.escalation.sweep import sweep
from tests.conftest import FakeClock, build_world
from tests.helpers import body_for, drive, new_hazard

NUMBER = re.compile(r"^(?P<zi>.+)〔(?P<year>\d{4})〕(?P<seq>\d+)号$")


def docs_of(factory, hazard_id: int | None = None) -> list[Document]:
    with read_only(factory) as s:
        q = select(Document).order_by(Document.id)
        if hazard_id is not None:
            q = q.where(Document.hazard_id == hazard_id)
        rows = list(s.execute(q).scalars())
        s.expunge_all()  # kept loaded: the read-only session rolls back (expiring them) on exit
        return rows


def act(factory, world, clock, hid: int, user: str, action: str, **over) -> None:
    body = {**body_for(action, today=local_date(clock()), level="major", uscc=world.enterprises["coal"]), **over}
    with transaction(factory) as s:
        transitions.perform(s, world.p(user), hid, action, body, now=clock())


def test_major_hazard_lifecycle_issues_its_documents(factory, world, clock):
    hid = drive(factory, world, clock(), "accepted", level="major")
    act(factory, world, clock, hid, "city_committee2", "close")
    report = documents.issue_pending(UnitOfWork(factory), now=clock())
    assert report.issued == 4 and report.failed == 0
    docs = docs_of(factory, hid)
    assert [(d.kind, d.title, d.issuer_name, d.number) for d in docs] == [
        ("rectification_notice", "限期整改通知书", "吕梁市离石区应急管理局", "离石应急改〔2026〕1号"),
        ("listing_notice", "挂牌督办通知书", "吕梁市安全生产委员会办公室", "吕安委办督〔2026〕1号"),
        ("acceptance_opinion", "验收意见书", "吕梁市离石区应急管理局", "离石应急验〔2026〕1号"),
        ("closure_notice", "解除挂牌督办通知书", "吕梁市安全生产委员会办公室", "吕安委办销〔2026〕1号"),
    ]
    for d in docs:
        assert d.sha256 == hashlib.sha256(d.html.encode("utf-8")).hexdigest()
        assert d.number in d.html and "离石区金源煤业有限公司：" in d.html and "2026年11月24日" in d.html
    assert "《中华人民共和国安全生产法》第四十一条、第六十五条" in docs[0].html
    assert "责令停产停业整顿" not in docs[0].html and "停产停业整顿" in docs[1].html  # 挂牌: suspended

    with read_only(factory) as s:
        events = s.execute(select(AuditEvent).where(AuditEvent.hazard_id == hid, AuditEvent.action == "issue_document")
                           .order_by(AuditEvent.seq)).scalars().all()
        hazard = s.get(Hazard, hid)
        assert hazard.state == "closed" and hazard.version == events[-1].seq
        assert s.execute(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.kind.startswith("document."), OutboxMessage.status != "done")).scalar_one() == 0
        assert audit.verify(s).ok
        trail = [(e.actor_role, e.from_state, e.to_state) for e in events]
        bodies = [json.loads(e.payload)["body"] for e in events]
    assert trail == [("system", "closed", "closed")] * 4
    assert bodies == [{"kind": d.kind, "number": d.number, "title": d.title, "sha256": d.sha256, "document_id": d.id}
                      for d in docs]

    again = documents.issue_pending(UnitOfWork(factory), now=clock())  # a retried run issues nothing twice
    assert (again.issued, again.failed) == (0, 0) and len(docs_of(factory)) == 4


def test_general_closure_and_rejection(factory, world, clock):
    hid = drive(factory, world, clock(), "acceptance_requested", level="general")
    act(factory, world, clock, hid, "inspector", "reject")
    documents.issue_pending(UnitOfWork(factory), now=clock())
    rejected = docs_of(factory, hid)[-1]
    assert rejected.kind == "acceptance_opinion" and "验收不合格" in rejected.html and "未按设计施工" in rejected.html


def test_extension_decision_quotes_the_request(factory, world, clock):
    hid = drive(factory, world, clock(), "registered", level="general")
    act(factory, world, clock, hid, "ent_coal", "request_extension")
    act(factory, world, clock, hid, "supervisor", "grant_extension")
    documents.issue_pending(UnitOfWork(factory), now=clock())
    doc = docs_of(factory, hid)[-1]
    assert (doc.kind, doc.number) == ("extension_decision", "离石应急延〔2026〕1号")
    assert "材料延迟" in doc.html and "同意延期" in doc.html


def test_ladder_issues_urge_letter_and_summon_notice_only(factory, world, clock):
    hid = drive(factory, world, clock(), "rectifying", level="general")
    with read_only(factory) as s:
        deadline = s.get(Hazard, hid).deadline
    cal = WorkCalendar()
    # the sweeps of +5 and +10 (one sweep at +10 alone would send only the 约谈通知书: catch-up)
    report = sweep(UnitOfWork(factory), now=clock(), calendar=cal, config=LadderConfig(), as_of=cal.add_working_days(deadline, 5))
    assert report.by_step == {"urge": 1}
    report = sweep(UnitOfWork(factory), now=clock(), calendar=cal, config=LadderConfig(), as_of=cal.add_working_days(deadline, 10))
    assert report.by_step == {"summon": 1}
    with read_only(factory) as s:
        kinds = s.execute(select(OutboxMessage.kind).where(OutboxMessage.hazard_id == hid,
                                                           OutboxMessage.kind.startswith("document."))).scalars().all()
    assert sorted(kinds) == ["document.rectification_notice", "document.summon_notice", "document.urge_letter"]
    documents.issue_pending(UnitOfWork(factory), now=clock())
    urge, summon = docs_of(factory, hid)[1:]
    assert (urge.title, urge.number, urge.issuer_name) == ("督办函", "离石安委办函〔2026〕1号", "吕梁市离石区安全生产委员会办公室")
    assert (summon.title, summon.number) == ("约谈通知书", "离石安委办约〔2026〕1号")
    assert "约谈你单位主要负责人" in summon.html
    with read_only(factory) as s:
        assert audit.verify(s).ok


def test_numbers_gapless_after_a_rollback_and_per_year(factory, world, clock, monkeypatch):
    hids = [drive(factory, world, clock(), "registered") for _ in range(3)]
    real = doc_engine.render_html
    calls = {"n": 0}

    def flaky(template, context):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("渲染失败（测试）")
        return real(template, context)

    monkeypatch.setattr(doc_engine, "render_html", flaky)
    report = documents.issue_pending(UnitOfWork(factory), now=clock())
    assert (report.issued, report.failed) == (2, 1)
    assert report.numbers == ["离石应急改〔2026〕1号", "离石应急改〔2026〕2号"]  # the failure took no number
    with read_only(factory) as s:
        failed = s.execute(select(OutboxMessage).where(OutboxMessage.hazard_id == hids[1],
                                                       OutboxMessage.kind == "document.rectification_notice")).scalar_one()
        assert (failed.status, failed.attempts, failed.last_error) == ("pending", 1, "渲染失败（测试）")
        assert failed.available_at > clock()
        assert s.get(DocumentSequence, ("离石应急改", 2026)).last_value == 2
    assert documents.issue_pending(UnitOfWork(factory), now=clock()).issued == 0  # backing off
    clock.advance(minutes=2)
    assert documents.issue_pending(UnitOfWork(factory), now=clock()).numbers == ["离石应急改〔2026〕3号"]

    clock.advance(days=40)  # 2027-01-03: a new year, a new sequence
    hid = new_hazard(factory, world, clock())
    act(factory, world, clock, hid, "inspector", "register", level="general")
    assert documents.issue_pending(UnitOfWork(factory), now=clock()).numbers == ["离石应急改〔2027〕1号"]
    seqs = sorted((d.year, d.seq) for d in docs_of(factory))
    assert seqs == [(2026, 1), (2026, 2), (2026, 3), (2027, 1)]


def test_cli_issues_pending_documents(factory, world, clock, db_url, monkeypatch, capsys):
    from app.cli import main as cli
    from services.kernel.settings import get_settings

    drive(factory, world, clock(), "registered")
    monkeypatch.setenv("HAZARD_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        assert cli.main(["documents", "issue"]) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert "签发公文 1 份，失败待重试 0 份" in out and "离石应急改〔" in out


@pytest.mark.pg_only
def test_concurrent_issuing_gives_distinct_gapless_numbers(pg_url):
    engine = make_engine(pg_url, pool_size=8, max_overflow=4)
    factory = make_session_factory(engine)
    clock = FakeClock()
    world = build_world(factory)
    hids = [drive(factory, world, clock(), "registered") for _ in range(16)]
    start = threading.Barrier(4)
    reports, errors = [], []

    def worker():
        try:
            start.wait(timeout=30)
            reports.append(documents.issue_pending(UnitOfWork(factory), now=clock()))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors
        assert sum(r.issued for r in reports) == 16 and sum(r.failed for r in reports) == 0
        numbers = [n for r in reports for n in r.numbers]
        seqs = sorted(int(NUMBER.match(n)["seq"]) for n in numbers)
        assert seqs == list(range(1, 17))
        assert {d.hazard_id for d in docs_of(factory)} == set(hids)
        with read_only(factory) as s:
            assert audit.verify(s).ok
    finally:
        engine.dispose()
