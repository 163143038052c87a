"""Filing and amending self-inspection returns: one per enterprise and month, hazards reported
through the lifecycle and linked, nil-return rules, the filing window, scope."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from db.engine import transaction
from db.models import Hazard, SelfInspection
from services.engine import creation
from services.inspections import reads
from services.kernel.errors import Forbidden, Invalid, NotFound
from tests.conftest import START
from tests.helpers import drive, report_body
from tests.services.inspections.support import chain, file, nil_body, return_body


def _fields(exc: Invalid) -> dict[str, str]:
    return {d["field"]: d["message"] for d in exc.details}


def test_file_reports_the_hazards_through_the_lifecycle_and_links_them(factory, world):
    rid = file(factory, world, "ent_coal", return_body(), START)
    with transaction(factory) as s:
        row = s.get(SelfInspection, rid)
        assert (row.month, row.version, row.nil_return, row.principal) == ("2026-11", 1, False, "王建国")
        hazards = s.scalars(select(Hazard).where(Hazard.self_inspection_id == rid)).all()
        assert [(h.title, h.source, h.state, h.enterprise_id) for h in hazards] == [
            ("皮带机护罩缺失", "self_check", "reported", world.p("ent_coal").enterprise_id)]
        assert hazards[0].region_code == "141102" and hazards[0].industry == "煤矿"
    ent = world.p("ent_coal").enterprise_id
    assert chain(factory, f"return:{ent}:2026-11") == [("file", 1)]


def test_the_same_filing_again_changes_nothing_and_an_amendment_is_a_new_version(factory, world):
    rid = file(factory, world, "ent_coal", return_body(), START)
    assert file(factory, world, "ent_coal", return_body(), START) == rid
    ent = world.p("ent_coal").enterprise_id
    assert chain(factory, f"return:{ent}:2026-11") == [("file", 1)]
    second = {"title": "配电室无绝缘垫", "description": "井下中央变电所配电柜前未铺绝缘垫。", "location": "中央变电所"}
    body = return_body(scope="全矿井", hazards=[*return_body()["hazards"], second])
    assert file(factory, world, "ent_coal", body, START) == rid
    with transaction(factory) as s:
        row = s.get(SelfInspection, rid)
        assert (row.version, row.scope) == (2, "全矿井")
        titles = s.scalars(select(Hazard.title).where(Hazard.self_inspection_id == rid).order_by(Hazard.id)).all()
        assert titles == ["皮带机护罩缺失", "配电室无绝缘垫"]  # the first one not reported twice
        assert s.scalar(select(SelfInspection.id).where(SelfInspection.enterprise_id == ent).limit(2)) == rid
    assert chain(factory, f"return:{ent}:2026-11") == [("file", 1), ("amend", 2)]


def test_nil_return_rules(factory, world):
    with pytest.raises(Invalid) as exc:
        file(factory, world, "ent_coal", return_body(nil_return=True), START)
    assert _fields(exc.value) == {"nil_return": "零报告（未发现重大事故隐患）不能同时列出发现的隐患"}
    with pytest.raises(Invalid) as exc:
        file(factory, world, "ent_coal", return_body(hazards=[]), START)
    assert "hazards" in _fields(exc.value)
    rid = file(factory, world, "ent_chem", nil_body(), START)  # a nil return of another enterprise
    with transaction(factory) as s:
        assert s.get(SelfInspection, rid).nil_return is True
    drive(factory, world, START, "registered", level="major")  # a major hazard of the coal mine this month
    with pytest.raises(Invalid) as exc:
        file(factory, world, "ent_coal", nil_body(), START)
    assert "已发现重大事故隐患" in _fields(exc.value)["nil_return"]
    file(factory, world, "ent_coal", return_body(), START)
    with pytest.raises(Invalid) as exc:  # hazards on the return already: it cannot become nil
        file(factory, world, "ent_coal", nil_body(), START)
    assert _fields(exc.value)["nil_return"] == "本报告已列有发现的隐患，不能改为零报告"


def test_dates_are_checked_field_by_field(factory, world):
    with pytest.raises(Invalid) as exc:
        file(factory, world, "ent_coal", return_body(checked_from="2026-11-20", checked_to="2026-11-02"), START)
    assert _fields(exc.value) == {"checked_to": "检查结束日期不能早于开始日期"}
    with pytest.raises(Invalid) as exc:
        file(factory, world, "ent_coal", return_body(checked_from="2026-10-30", checked_to="2026-11-27"), START)
    assert _fields(exc.value) == {"checked_from": "检查日期应在 2026-11 月内", "checked_to": "检查日期不能晚于今天"}
    with pytest.raises(Invalid) as exc:
        file(factory, world, "ent_coal", return_body(principal="王" * 101, scope=""), START)
    assert set(_fields(exc.value)) == {"principal", "scope"}


def test_the_filing_window(factory, world):
    with pytest.raises(Invalid) as exc:  # October closed on its third working day of November
        file(factory, world, "ent_coal", nil_body("2026-10"), START)
    assert "2026-11-04" in _fields(exc.value)["month"]
    with pytest.raises(Invalid):
        file(factory, world, "ent_coal", nil_body("2026-12"), START)  # not begun
    late = datetime(2026, 12, 3, 8, 0, tzinfo=timezone.utc)  # the third working day of December
    rid = file(factory, world, "ent_coal", nil_body(), late)
    with pytest.raises(Invalid):
        file(factory, world, "ent_coal", nil_body(scope="补充"), datetime(2026, 12, 4, 2, tzinfo=timezone.utc))
    with transaction(factory) as s:
        assert s.get(SelfInspection, rid).version == 1


def test_only_an_enterprise_files_its_own(factory, world):
    with pytest.raises(Forbidden):
        file(factory, world, "inspector", nil_body(), START)


def test_linking_own_self_check_hazards_of_the_month(factory, world):
    with transaction(factory) as s:
        own = creation.report(s, world.p("ent_coal"), report_body(source="self_check"), now=START).id
        other = creation.report(s, world.p("ent_chem"), report_body(
            source="self_check", region_code="141181", industry="危险化学品"), now=START).id
        inspection = creation.report(s, world.p("ent_coal"), report_body(source="inspection"), now=START).id
    for bad in (other, inspection, 10**12):
        with pytest.raises(Invalid) as exc:
            file(factory, world, "ent_coal", return_body(hazards=[], link_hazard_ids=[bad]), START)
        assert _fields(exc.value)["link_hazard_ids"] == f"隐患 {bad} 不是本企业本月自查发现且未报送的隐患"
    rid = file(factory, world, "ent_coal", return_body(hazards=[], link_hazard_ids=[own]), START)
    assert file(factory, world, "ent_coal", return_body(hazards=[], link_hazard_ids=[own]), START) == rid
    with transaction(factory) as s:
        assert s.get(Hazard, own).self_inspection_id == rid
        assert s.get(SelfInspection, rid).version == 1


def test_earlier_hazards_are_recorded_with_their_state(factory, world):
    with transaction(factory) as s:
        earlier = creation.report(s, world.p("inspector"), report_body(
            discovered_on="2026-10-15", enterprise_uscc=world.enterprises["coal"]), now=START).id
    rid = file(factory, world, "ent_coal", nil_body(), START)
    with transaction(factory) as s:
        stored = json.loads(s.get(SelfInspection, rid).earlier_state)
        view = reads.get_view(s, world.p("ent_coal"), rid, now=START)
    assert [(e["id"], e["state"], e["state_label"]) for e in stored] == [(earlier, "reported", "待核查")]
    assert [e.id for e in view.earlier] == [earlier] and view.amendable


def test_scope_of_reading(factory, world):
    rid = file(factory, world, "ent_coal", return_body(), START)
    with transaction(factory) as s:
        for reader in ("ent_coal", "inspector", "city_committee", "coal_only_inspector", "auditor"):
            assert reads.get_view(s, world.p(reader), rid, now=START).id == rid
        for outsider in ("ent_chem", "xiaoyi_inspector", "xinzhou_inspector"):
            with pytest.raises(NotFound):
                reads.get_view(s, world.p(outsider), rid, now=START)
