"""Document numbers never collide (issue 11 item 1): each issuing body has its own 机关代字, unique
across the deployment, and numbers run without gaps per 代字, kind and year.

Before, the 代字 was the first character of the region's name, so 忻州市 and 忻府区 (交城/交口,
五台/五寨) wrote the same `忻应急改〔2026〕N号` from counters of their own, and the second one
failed for good on the unique number."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from db.engine import UnitOfWork, read_only, transaction
from db.models import Document, DocumentIssuer, OutboxMessage, Region
from services.accounts import admin
from services import documents
from services.engine import transitions
from services.accounts.auth import principal_of
from services.kernel.clock import local_date, utcnow
from services.documents import issuers
from services.kernel.errors import Conflict, Invalid
from services.kernel.uscc import make as make_uscc
from tests.app.cli.test_cli_audit import run_cli  # noqa: F401 - the in-process CLI fixture
from tests.helpers import body_for, new_hazard

NUMBER = re.compile(r"^(?P<code>.+?)(?P<word>[改督延验销函约])〔(?P<year>\d{4})〕(?P<seq>\d+)号$")


def _register_in(factory, world, clock, region: str, industry: str, name: str, prefix: str) -> int:
    """A hazard of an enterprise of `region`, reported and registered by an inspector of it."""
    uscc = make_uscc(prefix)
    with transaction(factory) as s:
        admin.add_enterprise(s, uscc, name, region, industry, now=clock())
    inspector = f"insp_{region}"
    if inspector not in world.principals:
        with transaction(factory) as s:
            user, _ = admin.add_user(s, inspector, "inspector", region, now=clock(), display_name=inspector)
            world.principals[inspector] = principal_of(user)
    hid = new_hazard(factory, world, clock(), reporter=inspector, region_code=region, industry=industry)
    with transaction(factory) as s:
        transitions.perform(s, world.p(inspector), hid, "register",
                            body_for("register", today=local_date(clock()), level="general", uscc=uscc), now=clock())
    return hid


def test_bodies_whose_names_begin_alike_get_their_own_numbers(factory, world, clock):
    pairs = [("140900", "忻州市"), ("140902", "忻府区"), ("141122", "交城县"), ("141130", "交口县"),
             ("140922", "五台县"), ("140928", "五寨县")]
    for i, (region, name) in enumerate(pairs):
        _register_in(factory, world, clock, region, "燃气", f"{name}燃气公司", f"9114{region[2:]}MA0HRD{i:03d}")
    report = documents.issue_pending(UnitOfWork(factory), now=clock())
    assert report.failed == 0 and report.issued == len(pairs)
    assert sorted(report.numbers) == sorted([
        "忻应急改〔2026〕1号", "忻府应急改〔2026〕1号", "交城应急改〔2026〕1号", "交口应急改〔2026〕1号",
        "五台应急改〔2026〕1号", "五寨应急改〔2026〕1号"])


def test_every_body_of_the_province_gets_a_distinct_code(factory, world, clock):
    """All regions of the shipped data, both bodies each, in two different orders: no two bodies
    ever share a 代字, and counties keep their own names rather than a fallback."""
    with read_only(factory) as s:
        codes = s.execute(select(Region.code)).scalars().all()
    keys = [f"{c}:{b}" for c in codes for b in (issuers.BUREAU, issuers.COMMITTEE)]
    for order in (keys, list(reversed(keys))):
        with transaction(factory) as s:
            s.execute(DocumentIssuer.__table__.delete())
            got = {k: issuers.code_of(s, issuers.Issuer(k, k), now=clock()) for k in order}
        assert len(set(got.values())) == len(keys)
        assert got["141102:bureau"] == "离石应急" and got["141100:committee"] == "吕安委办"
        assert got["140923:bureau"] == "代县应急"  # one-character stem: the full name


def test_the_same_code_cannot_be_held_twice(factory, world, clock):
    with transaction(factory) as s:
        issuers.set_code(s, "141102:bureau", "离石应急", now=clock())
    with pytest.raises(Conflict) as refused, transaction(factory) as s:
        issuers.set_code(s, "141181:bureau", "离石应急", now=clock())
    assert "已由 141102:bureau 使用" in refused.value.message
    with pytest.raises(IntegrityError), transaction(factory) as s:  # and the database says so too
        s.add(DocumentIssuer(key="141181:bureau", name="x", code="离石应急", created_at=clock()))
    for bad in ("", "离石\x00", "离〔石", "x" * 17):
        with pytest.raises(Invalid), transaction(factory) as s:
            issuers.set_code(s, "141102:bureau", bad, now=clock())
    with pytest.raises(Invalid), transaction(factory) as s:
        issuers.set_code(s, "999999:bureau", "某应急", now=clock())


def test_numbers_run_per_code_kind_and_year_without_gaps(factory, world, clock):
    for i in range(3):
        _register_in(factory, world, clock, "141102", "煤矿", f"离石煤矿{i}", f"91141102MA0HRD1{i:02d}")
    documents.issue_pending(UnitOfWork(factory), now=clock())
    with transaction(factory) as s:
        issuers.set_code(s, "141102:bureau", "离石区应急", now=clock())  # renamed mid-year
    _register_in(factory, world, clock, "141102", "煤矿", "离石煤矿9", "91141102MA0HRD199")
    report = documents.issue_pending(UnitOfWork(factory), now=clock())
    assert report.numbers == ["离石区应急改〔2026〕1号"]  # a new 代字 counts from 1; the old one's stay
    with read_only(factory) as s:
        numbers = s.execute(select(Document.number)).scalars().all()
    by_counter: dict[tuple[str, str, str], list[int]] = {}
    for n in numbers:
        m = NUMBER.match(n)
        by_counter.setdefault((m["code"], m["word"], m["year"]), []).append(int(m["seq"]))
    assert by_counter[("离石应急", "改", "2026")] == [1, 2, 3]
    for seqs in by_counter.values():
        assert sorted(seqs) == list(range(1, len(seqs) + 1))


def test_issuers_list_and_set_commands(run_cli, factory, world, clock):
    _register_in(factory, world, clock, "140902", "燃气", "忻府燃气", "91140902MA0HRD201")
    documents.issue_pending(UnitOfWork(factory), now=clock())
    code, out, _ = run_cli("issuers", "list")
    assert code == 0 and "140902:bureau\t忻府应急\t忻州市忻府区应急管理局" in out
    code, out, _ = run_cli("issuers", "set", "--key", "140900:bureau", "--code", "忻府应急")
    assert code == 2
    code, out, _ = run_cli("issuers", "set", "--key", "140900:bureau", "--code", "忻市应急")
    assert code == 0 and "忻市应急" in out


def test_the_demo_issues_every_document(db_url, tmp_path, monkeypatch):
    """`hazard documents issue` on the demo: every pending document issues, none fails for good."""
    from db.engine import make_engine, make_session_factory
    from app import demo
    from services.kernel.settings import get_settings

    monkeypatch.setenv("HAZARD_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    engine = make_engine(db_url)
    try:
        factory = make_session_factory(engine)
        demo.load(factory, hazards=200)  # it issues its documents as part of its stories
        report = documents.issue_pending(UnitOfWork(factory), now=utcnow(), limit=5000)
        assert (report.issued, report.failed) == (0, 0)  # nothing left over to issue, nothing failed
        with read_only(factory) as s:
            numbers = s.execute(select(Document.number)).scalars().all()
            assert len(numbers) > 300 and len(set(numbers)) == len(numbers)
            failed = s.execute(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.kind.startswith("document."), OutboxMessage.attempts > 0)).scalar_one()
            assert failed == 0  # not one try failed on the way
        with read_only(factory) as s:
            left = s.execute(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.kind.startswith("document."), OutboxMessage.status != "done")).scalar_one()
        assert left == 0
    finally:
        engine.dispose()
        get_settings.cache_clear()
