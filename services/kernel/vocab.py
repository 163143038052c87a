"""Closed vocabularies of the domain and their Chinese labels."""

from __future__ import annotations

INDUSTRIES = (
    "煤矿", "非煤矿山", "危险化学品", "消防", "道路交通", "建筑施工", "燃气", "特种设备",
    "冶金工贸", "民爆物品", "水上交通", "文化旅游", "校园", "养老机构", "经营性自建房", "其他",
)

SOURCES = {
    "self_check": "企业自查",
    "inspection": "监管检查",
    "covert_inspection": "明查暗访",
    "public_report": "群众举报",
    "transfer": "部门移交",
    "expert_review": "专家排查",
}

LEVELS = {"general": "一般隐患", "major": "重大隐患"}

LISTING_LEVELS = {"county": "县级", "city": "市级", "province": "省级"}

ASSESSMENTS = {"self": "企业自评", "expert": "专家评估", "third_party": "第三方评估"}
