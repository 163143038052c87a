"""The demo loads Shanxi's government bodies and puts its government staff in them."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select

from app import demo
from db.engine import read_only
from db.models import Organisation, User
from services.organisations.resolve import Resolver
from tests.services.organisations.support import SHANXI_ROWS

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)


def test_demo_has_shanxis_organisations(factory, tmp_path):
    summary = demo.load(factory, hazards=3, seed=5, now=NOW, attachments_root=tmp_path / "att")
    assert demo.DEMO_PASSWORD in summary
    with read_only(factory) as s:
        assert s.execute(select(func.count()).select_from(Organisation)).scalar_one() == SHANXI_ROWS
        homes = dict(s.execute(select(User.username, Organisation.name)
                               .join(Organisation, Organisation.id == User.organisation_id)).all())
        assert homes["lvliang_committee1"] == "吕梁市安全生产委员会办公室"
        assert homes["lishi_inspector"] == "离石区应急管理局"
        assert homes["xinzhou_supervisor"] == "忻州市应急管理局"
        assert homes["shanxi_auditor"] == homes["admin"] == "山西省应急管理厅"
        staff = s.execute(select(User.username, User.organisation_id).where(User.role != "enterprise")).all()
        assert len(staff) == len(demo.STAFF) and all(org is not None for _, org in staff)
        assert s.execute(select(func.count()).select_from(User)
                         .where(User.role == "enterprise", User.organisation_id.is_not(None))).scalar_one() == 0
        assert len(Resolver(s, "141100").resolve("各县（市、区）政府").org_ids) == 13
