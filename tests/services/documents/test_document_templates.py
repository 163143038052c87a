"""The document templates (templates/documents/) rendered through the real content and render code,
without a database: every kind renders its facts, undefined fields fail loudly, user text is
escaped, never evaluated."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from types import SimpleNamespace

import jinja2
import pytest

from services.documents import content, render
from services.documents.kinds import KINDS

REGIONS = {
    "140000": SimpleNamespace(code="140000", name="山西省", parent_code=None, level="province"),
    "141100": SimpleNamespace(code="141100", name="吕梁市", parent_code="140000", level="city"),
    "141102": SimpleNamespace(code="141102", name="离石区", parent_code="141100", level="county"),
}
ACTION = {"rectification_notice": "register", "listing_notice": "supervise", "extension_decision": "grant_extension",
          "acceptance_opinion": "accept", "closure_notice": "close", "urge_letter": "escalate",
          "summon_notice": "escalate"}
BODY = {"register": {"deadline": "2027-01-20"},
        "supervise": {"plan_due": "2026-12-04", "deadline": "2027-01-20", "suspend_production": True},
        "grant_extension": {"note": "同意延期"}, "accept": {"reviewed_on": "2026-11-24", "opinion": "整改到位"},
        "close": {"opinion": "同意销号"}, "escalate": {"as_of": "2026-12-01"}}


class FakeSession:
    """What content needs of a session: region lookups and a per-session cache."""

    def __init__(self):
        self.info = {}

    def get(self, model, code):
        return REGIONS.get(code)


def hazard(**over):
    base = dict(code="141102-2026-000001", title="主运输巷道顶板离层", location="井下 +450 水平主运输巷",
                description="锚索失效，顶板离层 30 毫米。", level="major", category="顶板管理", industry="煤矿",
                region_code="141102", discovered_at=datetime(2026, 11, 24, 2, tzinfo=timezone.utc),
                deadline=date(2027, 1, 20), listing_level="city", failed_acceptances=0)
    return SimpleNamespace(**{**base, **over})


def source(kind: str, **over) -> content.Source:
    action = ACTION[kind]
    changes = {"listing_level": "city"} if action == "supervise" else {}
    base = dict(hazard=hazard(), enterprise_name="离石区金源煤业有限公司", action=action, body=BODY[action],
                changes=changes, occurred_at=datetime(2026, 11, 24, 2, tzinfo=timezone.utc),
                actor_role="committee" if kind in ("listing_notice", "closure_notice") else "inspector",
                actor_region="141102", extension_request={"reason": "材料延迟", "interim_measures": "限制通行",
                                                          "new_deadline": "2027-02-20"})
    return content.Source(**{**base, **over})


def rendered(kind: str, src: content.Source | None = None) -> str:
    session, k = FakeSession(), KINDS[kind]
    src = src or source(kind)
    plan = content.plan(session, k, src)
    return render.render_html(k.template, content.context(session, k, src, plan, "离应急改〔2026〕7号"))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_renders_an_official_notice(kind):
    html = rendered(kind)
    for text in ("离应急改〔2026〕7号", "离石区金源煤业有限公司：", "141102-2026-000001", "主运输巷道顶板离层",
                 "井下 +450 水平主运输巷", "重大事故隐患", "顶板管理", "2026年11月24日", "（印章）",
                 "《生产安全事故隐患排查治理暂行规定》", "@page", "Noto Serif CJK SC"):
        assert text in html, (kind, text)
    title = {"closure_notice": "解除挂牌督办通知书"}.get(kind, KINDS[kind].label)
    assert f"<h1>{title}</h1>" in html
    # listed at city level: the city's 安委办 lists, closes and writes the ladder's letters
    committee = kind in ("listing_notice", "closure_notice", "urge_letter", "summon_notice")
    issuer = "吕梁市安全生产委员会办公室" if committee else "吕梁市离石区应急管理局"
    header = re.search(r'<div class="red-header" style="font-size: ([\d.]+)pt">([^<]+)</div>', html)
    assert header and header.group(2) == issuer
    # on one line across the 156 mm (≈ 442 pt) type area, at most the 26 pt of a short name
    size = float(header.group(1))
    assert len(issuer) * (size + 2) <= 442 and size <= 26


def test_deadlines_and_decisions_come_from_the_event():
    assert "2027年1月20日前整改完毕" in rendered("rectification_notice")
    listing = rendered("listing_notice")
    assert "市级挂牌督办" in listing and "2026年12月4日" in listing and "第七十条" in listing
    assert "材料延迟" in rendered("extension_decision")
    unlisted = rendered("closure_notice", source("closure_notice", hazard=hazard(listing_level=None)))
    assert "<h1>事故隐患销号通知</h1>" in unlisted
    assert "截至2026年12月1日仍未整改完毕" in rendered("urge_letter")


def test_missing_field_fails_loudly():
    k = KINDS["urge_letter"]
    session, src = FakeSession(), source("urge_letter")
    ctx = content.context(session, k, src, content.plan(session, k, src), "x")
    del ctx["as_of"]
    with pytest.raises(jinja2.UndefinedError):
        render.render_html(k.template, ctx)
    ctx = content.context(session, k, src, content.plan(session, k, src), "x")
    del ctx["hazard"]["location"]
    with pytest.raises(jinja2.UndefinedError):
        render.render_html(k.template, ctx)


def test_user_text_is_escaped_and_never_a_template():
    evil = '<script>alert("x")</script>{{ doc.number }}'
    src = source("closure_notice", hazard=hazard(title=evil, description=evil), body={"opinion": evil},
                 enterprise_name=evil)
    html = rendered("closure_notice", src)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;{{ doc.number }}" in html


def test_five_items_are_the_five_everywhere():
    """五落实 is 责任、措施、资金、时限、预案 (issue 11): the 挂牌督办通知书 once listed six items."""
    for kind in ("listing_notice", "rectification_notice"):
        html = rendered(kind)
        assert "责任、措施、资金、时限、预案" in html, kind
        assert "治理目标和任务" not in html and "机构和人员" not in html, kind
