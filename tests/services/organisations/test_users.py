"""Users belong to an organisation: by name within their region, or the usual body of their role."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from db.engine import read_only, transaction
from db.models import Organisation, User
from services.kernel.errors import Invalid
from services.organisations import queries
from tests.services.organisations.support import load, org_id


def test_users_organisation(factory, world):
    load(factory)
    with transaction(factory) as s:
        user = s.execute(select(User).where(User.username == "inspector")).scalar_one()
        user.organisation_id = queries.organisation_for(s, "141102", "区应急局")
    with read_only(factory) as s:
        user = s.execute(select(User).where(User.username == "inspector")).scalar_one()
        assert s.get(Organisation, user.organisation_id).name == "离石区应急管理局"
        with pytest.raises(Invalid):
            queries.organisation_for(s, "141102", "安委会成员单位")  # a group is not one body
        with pytest.raises(Invalid):
            queries.organisation_for(s, "141102", "不存在的局")
        homes = queries.home_organisations(s, [("141100", "committee"), ("141102", "inspector"),
                                               ("140000", "auditor"), ("140902", "supervisor")])
        assert homes == {("141100", "committee"): org_id(s, "吕梁市安全生产委员会办公室"),
                         ("141102", "inspector"): org_id(s, "离石区应急管理局"),
                         ("140000", "auditor"): org_id(s, "山西省应急管理厅"),
                         ("140902", "supervisor"): org_id(s, "忻府区应急管理局")}
