"""Issuing a 通报 (services/bulletins/issue.py): the included entries, numbered per issuer, once —
also when two offices' clerks press the button at the same moment."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from db.engine import read_only, transaction
from db.models import Bulletin, BulletinItem, RecordEvent
from services.bulletins import collect, review
from services.bulletins import issue as issuing
from services.bulletins.items import propose
from services.kernel.errors import Conflict, Forbidden
from tests.services.bulletins.support import escalated, uow


def listed(factory, world, clock) -> tuple[str, list[int]]:
    escalated(factory, world, clock, 20)
    collect.sweep(uow(factory), now=clock())
    month = f"{clock():%Y-%m}"
    with transaction(factory) as s:
        propose(s, key=f"late_report:141102:{month}", region_code="141102", month=month, kind="late_report",
                reason="月报逾期3个工作日上报", now=clock(), subject_region_code="141102")
        ids = list(s.scalars(select(BulletinItem.id).order_by(BulletinItem.id)))
    return month, ids


def test_two_concurrent_issues_make_one_document(factory, world, clock):
    month, ids = listed(factory, world, clock)
    committee = world.p("county_committee")
    with transaction(factory) as s:
        for i in ids:
            review.decide(s, committee, i, "include", None, now=clock())
    barrier, outcomes = threading.Barrier(2), []

    def attempt() -> None:
        barrier.wait(timeout=10)
        try:
            with transaction(factory) as s:
                outcomes.append(issuing.issue(s, committee, region="141102", month=month, now=clock()).number)
        except Conflict as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    year = clock().year
    assert sorted(outcomes) == sorted([f"离石安委办通〔{year}〕1号", "nothing_to_issue"])
    with read_only(factory) as s:
        assert s.scalar(select(func.count()).select_from(Bulletin)) == 1
        bid = s.scalar(select(Bulletin.id))
        assert set(s.scalars(select(BulletinItem.bulletin_id))) == {bid}
        actions = list(s.scalars(select(RecordEvent.action).where(RecordEvent.subject == f"bulletin:141102:{month}")
                                 .order_by(RecordEvent.seq)))
        assert actions == ["include", "include", "issue"]


def test_only_the_region_office_issues_and_only_included_entries(factory, world, clock):
    month, ids = listed(factory, world, clock)
    with transaction(factory) as s:
        with pytest.raises(Forbidden):
            issuing.issue(s, world.p("city_committee"), region="141102", month=month, now=clock())
        with pytest.raises(Conflict):  # nothing reviewed yet
            issuing.issue(s, world.p("county_committee"), region="141102", month=month, now=clock())
        review.decide(s, world.p("county_committee"), ids[0], "include", "逾期严重", now=clock())
        review.decide(s, world.p("county_committee"), ids[1], "exclude", "已说明情况", now=clock())
        out = issuing.issue(s, world.p("county_committee"), region="141102", month=month, now=clock())
    assert out.entries == 1
    with read_only(factory) as s:
        html = s.get(Bulletin, out.id).html
    assert "隐患逾期未整改" in html and "月报逾期3个工作日上报" not in html
    assert "离石区金源煤业有限公司" in html and out.number in html
