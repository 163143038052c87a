"""`hazard demo`: a realistic data set to try the service with (山西省：吕梁市、忻州市).

What must hold: every hazard is created and moved only through `services.transitions`, one
transaction per action at a simulated moment, so each carries its full real audit trail and every
rule (scope, role, state, guards, four-eyes) is checked exactly as for a real user. A story that
breaks a rule fails loudly; nothing is forced into the tables.

How: each hazard's story (reporter, deadlines, plan, extensions, acceptances, the escalation ladder
a daily sweep would have fired) is planned first in plain Python against a simulated clock that
starts 1–10 months before `now`; then all stories are replayed in time order, so hazard codes and
repeat-offence links (屡查屡犯) come out as they would have in real life. The result depends only
on the seed and `now` (API tokens excepted: they are secrets).

The demo refuses to load into a database that already holds users, enterprises or hazards.
"""

from __future__ import annotations

import hashlib
import os
import random
import struct
import time
import unicodedata
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.engine import read_only, transaction
from db.models import Attachment, AuditEvent, Enterprise, Hazard, Region, User
from services import admin, attachments, regions, transitions, uscc
from services.auth import SYSTEM, Principal, hash_password, principal_of, public_principal
from services.calendar import add_working_days, is_working_day
from services.clock import SHANGHAI, local_date, utcnow
from services.errors import Conflict, DomainError, invalid_field
from services.lifecycle import FINAL_STATES, ROLE_LABELS, STATE_LABELS, Role, State
from services.settings import get_settings
from services.vocab import INDUSTRIES, LEVELS, LISTING_LEVELS, SOURCES

DEMO_PASSWORD = "demo-password-2026"
DEFAULT_SEED = 20261124

# --- organisations and people ---------------------------------------------------------------------


@dataclass(frozen=True)
class Org:
    key: str
    name: str
    region: str
    industry: str
    kind: str  # first two characters of the 统一社会信用代码: 91 company, 92 个体工商户, 12 事业单位, 52 民办非企业
    head: str  # the person responsible for rectification (整改责任人)
    contact: str  # display name of its enterprise user (安全管理人员)


ORGS = (
    Org("hongyan", "离石区宏岩煤业有限公司", "141102", "煤矿", "91", "张建国（矿长）", "李红军"),
    Org("xinfeng", "柳林县鑫峰煤业有限公司", "141125", "煤矿", "91", "刘志强（矿长）", "王宏伟"),
    Org("longquan", "宁武县龙泉煤业有限公司", "140925", "煤矿", "91", "郭永胜（矿长）", "张晓峰"),
    Org("jinding", "代县金鼎矿业有限公司", "140923", "非煤矿山", "91", "李润生（总经理）", "刘军"),
    Org("xintai", "繁峙县鑫泰矿业有限公司", "140924", "非煤矿山", "91", "张文斌（矿长）", "胡建平"),
    Org("xinyuan", "孝义市鑫源化工有限公司", "141181", "危险化学品", "91", "王志刚（总经理）", "赵丽娟"),
    Org("huaxing", "交城县华兴精细化工有限公司", "141122", "危险化学品", "91", "赵卫东（总经理）", "郝建新"),
    Org("wanjia", "离石区万嘉购物广场有限公司", "141102", "消防", "91", "陈丽萍（总经理）", "闫晓燕"),
    Org("jinhui", "孝义市金辉大酒店有限公司", "141181", "消防", "91", "王保平（总经理）", "李娜"),
    Org("tongda", "吕梁通达客运有限公司", "141102", "道路交通", "91", "孙国平（总经理）", "康建华"),
    Org("hongji", "吕梁宏基建筑工程有限公司", "141102", "建筑施工", "91", "高建军（项目经理）", "牛志刚"),
    Org("dingsheng", "忻州鼎盛建设工程有限公司", "140902", "建筑施工", "91", "杨海峰（项目经理）", "梁文杰"),
    Org("xzgas", "忻州市城燃燃气有限公司", "140902", "燃气", "91", "马文斌（总经理）", "曹永红"),
    Org("fygas", "汾阳市天然气有限公司", "141182", "燃气", "91", "任晓东（总经理）", "乔丽"),
    Org("wsheat", "文水县热力有限公司", "141121", "特种设备", "91", "武建平（总经理）", "段文斌"),
    Org("hengchang", "交城县恒昌铁合金有限公司", "141122", "冶金工贸", "91", "田福生（总经理）", "邢志远"),
    Org("jinda", "孝义市金达铝业有限公司", "141181", "冶金工贸", "91", "冯国庆（总经理）", "雷鸣"),
    Org("anmin", "柳林县安民民爆器材经营有限公司", "141125", "民爆物品", "91", "贾俊峰（经理）", "常青"),
    Org("hequferry", "河曲县黄河旅游客运有限公司", "140930", "水上交通", "91", "苗二虎（经理）", "秦海龙"),
    Org("qingliang", "五台县清凉山旅游开发有限公司", "140922", "文化旅游", "91", "韩志勇（总经理）", "石磊"),
    Org("fengshan", "离石区凤山中学", "141102", "校园", "12", "薛红梅（校长）", "冯晓静"),
    Org("yikang", "忻府区颐康养老院", "140902", "养老机构", "52", "白玉兰（院长）", "贺春花"),
    Org("hongyun", "临县城关镇鸿运宾馆", "141124", "经营性自建房", "92", "刘二平（经营者）", "刘二平"),
    Org("fengyuan", "岚县丰源马铃薯淀粉有限公司", "141127", "其他", "91", "温国强（总经理）", "宋春生"),
)


@dataclass(frozen=True)
class Person:
    username: str
    role: str
    region: str
    name: str
    industry: str | None = None
    org: str | None = None  # Org.key of an enterprise user


STAFF = (
    Person("lishi_inspector", "inspector", "141102", "王振华"),
    Person("lishi_inspector_coal", "inspector", "141102", "李永刚", "煤矿"),
    Person("lishi_supervisor", "supervisor", "141102", "张文亮"),
    Person("lishi_committee", "committee", "141102", "刘海燕"),
    Person("xiaoyi_inspector", "inspector", "141181", "赵国栋"),
    Person("xiaoyi_inspector_chem", "inspector", "141181", "孙立新", "危险化学品"),
    Person("xiaoyi_supervisor", "supervisor", "141181", "郭建峰"),
    Person("xiaoyi_committee", "committee", "141181", "侯俊杰"),
    Person("liulin_inspector", "inspector", "141125", "高志明"),
    Person("liulin_supervisor", "supervisor", "141125", "马晓东"),
    Person("jiaocheng_inspector", "inspector", "141122", "武雪峰"),
    Person("jiaocheng_supervisor", "supervisor", "141122", "田慧敏"),
    Person("xinfu_inspector", "inspector", "140902", "杨文博"),
    Person("xinfu_supervisor", "supervisor", "140902", "韩建伟"),
    Person("ningwu_inspector", "inspector", "140925", "周海波"),
    Person("ningwu_supervisor", "supervisor", "140925", "吴晓光"),
    Person("lvliang_inspector", "inspector", "141100", "白建军"),
    Person("lvliang_inspector_coal", "inspector", "141100", "贺永平", "煤矿"),
    Person("lvliang_supervisor", "supervisor", "141100", "冯志远"),
    Person("lvliang_supervisor_chem", "supervisor", "141100", "任丽华", "危险化学品"),
    Person("lvliang_committee1", "committee", "141100", "陈卫国"),
    Person("lvliang_committee2", "committee", "141100", "闫淑芳"),
    Person("xinzhou_inspector", "inspector", "140900", "梁浩"),
    Person("xinzhou_inspector_gas", "inspector", "140900", "段晓辉", "燃气"),
    Person("xinzhou_supervisor", "supervisor", "140900", "董建国"),
    Person("xinzhou_committee1", "committee", "140900", "郝文华"),
    Person("xinzhou_committee2", "committee", "140900", "康丽萍"),
    Person("shanxi_committee", "committee", "140000", "牛晓军"),
    Person("shanxi_auditor", "auditor", "140000", "苏敏"),
    Person("admin", "admin", "140000", "赵立平"),
)

PEOPLE = STAFF + tuple(Person(f"ent_{o.key}", "enterprise", o.region, o.contact, org=o.key) for o in ORGS)

_ORG_ALPHABET = uscc.ALPHABET


def _gb11714_check(body8: str) -> str:
    """Check character of a 9-character organisation code (GB 11714)."""
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(body8, (3, 7, 9, 10, 5, 8, 4, 2)))
    c = 11 - total % 11
    return "X" if c == 10 else "0" if c == 11 else str(c)


def org_uscc(org: Org) -> str:
    """A valid, stable 统一社会信用代码: type + county code + organisation code + check character."""
    h = hashlib.sha256(("demo-uscc:" + org.key).encode()).digest()
    if org.kind == "12":
        body = "".join(str(b % 10) for b in h[:8])
    else:
        body = ("MJ" if org.kind == "52" else "MA") + "".join(_ORG_ALPHABET[b % 31] for b in h[:6])
    return uscc.make(org.kind + org.region + body + _gb11714_check(body))


# --- what hazards look like, per industry ---------------------------------------------------------


@dataclass(frozen=True)
class Template:
    title: str
    description: str
    location: str
    category: str
    levels: str  # "g" general only, "m" major only, "gm" either
    measures: str


T = Template
CATALOG: dict[str, tuple[Template, ...]] = {
    "煤矿": (
        T("瓦斯抽采系统负压不足，抽采不达标",
          "{face}工作面瓦斯抽采泵站实测负压仅{n}kPa，低于设计值，本煤层预抽钻孔抽采率未达到规定要求即安排回采作业。",
          "{ent}井下{face}工作面及地面瓦斯抽采泵站", "瓦斯防治", "m",
          "停止{face}工作面回采，补打抽采钻孔，检修抽采泵站，经抽采达标评判合格后方可恢复生产。"),
        T("采煤工作面上隅角瓦斯浓度超限仍组织作业",
          "安全监控系统显示{face}工作面上隅角甲烷浓度达{x}%，当班未按规定停止作业、撤出人员。",
          "{ent}井下{face}综采工作面上隅角", "瓦斯防治", "m",
          "完善上隅角瓦斯治理措施，加装抽采管路，严格执行瓦斯超限断电撤人制度，对当班管理人员追责。"),
        T("主运输巷顶板离层，部分锚索失效",
          "+{k}0水平主运输巷{n}00米处顶板离层值达{m}0毫米，{n}根锚索失效，未及时补强支护。",
          "{ent}井下+{k}0水平主运输巷", "顶板管理", "gm",
          "补打锚索并加密支护，增设顶板离层仪，落实每班顶板巡查。"),
        T("掘进工作面局部通风机无计划停风",
          "{face}掘进工作面局部通风机无计划停风{m}0分钟，未执行停风撤人规定，恢复通风前未检查瓦斯浓度。",
          "{ent}井下{face}掘进工作面", "通风管理", "gm",
          "落实局部通风机“双风机、双电源”自动切换，开展停风撤人专项培训。"),
        T("带式输送机防打滑、防跑偏保护失效",
          "主斜井带式输送机防打滑、防跑偏保护装置{m}处失效，烟雾保护传感器未按规定安装。",
          "{ent}主斜井带式输送机", "机电运输", "g",
          "更换失效保护装置，完善烟雾、温度保护，建立保护装置日检制度。"),
        T("水文地质类型划分报告超期未修编",
          "矿井水文地质类型划分报告已超过规定修编期限，采区防治水设计未依据最新水文资料编制。",
          "{ent}地测防治水科", "防治水", "gm",
          "委托有资质单位修编水文地质类型划分报告，补充探放水设计并组织审批。"),
        T("甲烷传感器未按期调校",
          "井下{n}台甲烷传感器超过调校周期，其中{m}台显示值与便携仪比对误差超限。",
          "{ent}安全监控系统及井下采掘工作面", "安全监控", "g",
          "调校全部超期传感器，建立调校台账，更换比对误差超限的传感器。"),
    ),
    "非煤矿山": (
        T("尾矿库排洪设施堵塞",
          "尾矿库{n}号排水井井口被杂物堵塞，排洪能力不足，汛期存在漫顶风险；库内干滩长度不足设计值。",
          "{ent}尾矿库", "尾矿库", "m",
          "清理排水井并修复排洪设施，调整放矿方式确保干滩长度，汛期实行24小时值守。"),
        T("露天采场边坡未按设计留设安全平台",
          "露天采场东帮{n}个台阶未按设计留设安全平台，局部边坡角超过设计值，存在滑坡风险。",
          "{ent}露天采场东帮", "边坡管理", "gm", "按设计重新削坡并留设安全平台，建立边坡位移在线监测。"),
        T("井下采空区未及时处理",
          "{k}0中段存在未处理采空区约{n}000立方米，未设置警示标志和封堵措施。",
          "{ent}井下{k}0中段", "采空区", "gm", "对采空区进行充填处理，设置封堵墙和警示标志。"),
        T("爆破器材库防雷设施检测过期",
          "爆破器材库防雷装置检测报告已过期{m}个月，库区视频监控存在盲区。",
          "{ent}爆破器材库", "爆破管理", "g", "委托有资质机构检测防雷设施，补装监控摄像机消除盲区。"),
    ),
    "危险化学品": (
        T("储罐区可燃气体报警器失效",
          "储罐区{n}台可燃气体检测报警器未按期检定，其中{m}台无法正常报警，报警信号未接入有人值守的控制室。",
          "{ent}储罐区", "储罐区", "gm", "更换失效报警器并全部送检，报警信号接入DCS控制室，建立定期检测台账。"),
        T("重点监管危险化工工艺装置未实现自动化控制",
          "{n}号生产装置涉及重点监管危险化工工艺，未按要求装设自动化控制系统和紧急停车系统，仍依靠人工操作。",
          "{ent}{n}号生产装置", "自动化控制", "m",
          "委托有资质单位设计并装设自动化控制系统和紧急停车系统，完成前该装置停止运行。"),
        T("液化烃储罐未设置紧急切断阀",
          "液化烃球罐区{m}台储罐进出料管线未设置紧急切断阀，不满足重大危险源管控要求。",
          "{ent}液化烃球罐区", "重大危险源", "m", "在储罐根部加装紧急切断阀并与液位联锁，完成后组织专家验收。"),
        T("动火作业未办理特殊作业票",
          "检修人员在{n}号装置区管廊上进行焊接作业，未办理动火作业票，现场未进行可燃气体分析。",
          "{ent}{n}号装置区管廊", "特殊作业", "g",
          "停止违规作业，对相关人员教育考核，严格执行特殊作业票证管理制度。"),
        T("装卸区未设置静电接地报警装置",
          "汽车装卸区{m}个鹤位未设置静电接地报警装置，装卸作业时未连接静电接地线。",
          "{ent}汽车装卸区", "装卸管理", "g", "加装静电接地报警装置并与装卸泵联锁。"),
        T("控制室面向火灾爆炸危险装置一侧不满足抗爆要求",
          "中心控制室面向{n}号装置一侧设有门窗，不满足抗爆设计要求，仍有人员值守。",
          "{ent}中心控制室", "总图布置", "m", "实施控制室抗爆改造，改造完成前减少控制室内人员。"),
    ),
    "消防": (
        T("疏散通道堆放货物，安全出口上锁",
          "商场{m}层疏散通道堆放大量货物，东侧安全出口被铁链锁闭，疏散指示标志损坏{n}处。",
          "{ent}{m}层东侧疏散通道", "安全疏散", "g",
          "清理疏散通道，拆除安全出口锁具，修复疏散指示标志，落实每日防火巡查。"),
        T("自动喷水灭火系统处于关闭状态",
          "自动喷水灭火系统湿式报警阀组前端信号阀处于关闭状态，系统无法正常启动，消防水池水位低于设计值。",
          "{ent}地下一层消防泵房", "消防设施", "gm", "开启信号阀并恢复系统运行，委托维保单位全面检测。"),
        T("消防控制室值班人员无证上岗",
          "消防控制室{n}名值班人员未取得消防设施操作员证书，夜间仅{m}人值班。",
          "{ent}消防控制室", "消防管理", "g", "安排持证人员值守，落实每班两人的值班制度。"),
        T("电动自行车在楼道内停放充电",
          "员工宿舍楼道内停放电动自行车{n}辆，私拉电线充电。",
          "{ent}员工宿舍楼", "用电管理", "g", "清理楼道内电动自行车，设置集中充电区域。"),
        T("防火卷帘下方堆放物品",
          "{m}层防火卷帘下方堆放货架，卷帘无法正常降落，防火分隔失效。",
          "{ent}{m}层营业区", "防火分隔", "g", "清理卷帘下方物品，划定禁止堆放区域并设置标识。"),
    ),
    "道路交通": (
        T("客运车辆动态监控平台未有效运行",
          "企业动态监控平台未安排专人24小时值守，近一个月{n}起超速报警未处置。",
          "{ent}动态监控中心", "动态监控", "g", "配齐监控人员，落实报警处置闭环，对相关驾驶员进行安全教育。"),
        T("驾驶员疲劳驾驶未及时纠正",
          "{n}辆长途客车驾驶员连续驾驶超过4小时未停车休息，企业未及时提醒纠正。",
          "{ent}长途客运车队", "驾驶员管理", "g", "完善疲劳驾驶预警，落实长途客运接驳运输制度。"),
        T("客车安全带损坏、应急锤缺失",
          "抽查{n}辆客车，{m}辆存在座椅安全带损坏、应急锤缺失问题。",
          "{ent}客运站停车场", "车辆技术", "g", "修复安全带、补齐应急锤，出车前由安全员逐车检查。"),
        T("临水临崖路段客运线路未落实防护措施",
          "企业运营的{n}号线路途经临水临崖路段，护栏缺失{m}00米，企业未开展线路风险评估。",
          "{ent}{n}号客运线路", "线路管理", "gm", "开展线路风险评估，协调公路部门补设护栏，恶劣天气停运。"),
    ),
    "建筑施工": (
        T("深基坑支护未按专项方案施工",
          "{n}号楼基坑开挖深度{d}米，支护桩间距大于专项施工方案要求，坑边{m}米范围内堆载，未开展第三方监测。",
          "{ent}承建的滨河花园项目{n}号楼基坑", "深基坑", "m",
          "停止基坑开挖，按专项方案补强支护，清除坑边堆载，委托第三方开展基坑监测。"),
        T("塔式起重机附着装置不符合要求",
          "{n}号塔式起重机附着装置间距超过说明书要求，未经验收即投入使用。",
          "{ent}承建项目{n}号塔吊", "起重机械", "gm", "停止使用该塔吊，按说明书重新安装附着装置并经检测验收。"),
        T("高处作业临边防护缺失",
          "{n}号楼{f}层楼面临边未设置防护栏杆，电梯井口未设置防护门。",
          "{ent}承建项目{n}号楼", "高处作业", "g", "设置临边防护栏杆和电梯井防护门，加强日常巡查。"),
        T("外脚手架连墙件缺失",
          "{n}号楼外脚手架连墙件缺失{m}0余处，剪刀撑不连续。",
          "{ent}承建项目{n}号楼外脚手架", "脚手架", "gm", "按方案补设连墙件和剪刀撑，经验收合格后方可使用。"),
        T("施工临时用电不规范",
          "施工现场配电箱未做到“一机一闸一漏”，{m}处电缆拖地敷设。",
          "{ent}承建项目施工现场", "临时用电", "g", "整改配电系统，电缆架空敷设，由持证电工每日检查。"),
    ),
    "燃气": (
        T("餐饮场所未安装燃气泄漏报警装置",
          "{street}沿街{n}家餐饮店使用瓶装液化石油气，后厨未安装可燃气体泄漏报警装置，使用不合格连接软管。",
          "{county}{street}沿街餐饮商户", "用户端", "g",
          "督促用户安装燃气泄漏报警装置和自动切断阀，更换金属波纹软管。"),
        T("燃气管道被违章占压",
          "{street}段中压燃气管道上方违章搭建彩钢房{m}处，占压管道约{k}米。",
          "{county}{street}中压燃气管道", "管网设施", "gm", "协调拆除违章建筑，对占压段管道进行检测评估。"),
        T("调压站安全阀未定期校验",
          "{n}号区域调压站安全阀超期未校验，站内可燃气体报警器故障。",
          "{ent}{n}号区域调压站", "场站设施", "g", "校验安全阀，修复报警器，完善调压站巡检制度。"),
        T("液化石油气钢瓶超期未检仍充装",
          "充装站抽查发现{n}只超期未检钢瓶仍在充装，充装记录不完整。",
          "{ent}液化石油气充装站", "瓶装燃气", "m", "停止超期钢瓶充装，封存问题钢瓶，追溯已充装钢瓶去向。"),
        T("老旧小区燃气管道腐蚀泄漏",
          "{street}老旧小区庭院燃气管道腐蚀严重，检测发现{m}处泄漏点。",
          "{county}{street}老旧小区", "管网设施", "gm", "更换腐蚀管道，泄漏点修复前临时停气并设专人值守。"),
    ),
    "特种设备": (
        T("电梯超期未检仍在使用", "{n}部乘客电梯定期检验已超期，仍在使用。",
          "{ent}办公楼及换热站", "电梯", "g", "停止使用超期电梯，申报定期检验，检验合格后方可使用。"),
        T("锅炉安全阀未按期校验", "{n}号热水锅炉安全阀校验超期，压力表未检定。",
          "{ent}{n}号锅炉房", "锅炉", "gm", "校验安全阀、检定压力表，建立锅炉安全附件台账。"),
        T("压力容器操作人员无证上岗", "分汽缸、储气罐操作人员{m}人未取得特种设备作业人员证。",
          "{ent}换热站", "作业人员", "g", "组织作业人员培训取证，取证前安排持证人员操作。"),
        T("起重机械限位器失效", "检修车间桥式起重机起升高度限位器失效，仍在使用。",
          "{ent}检修车间", "起重机械", "g", "修复限位器，经检验合格后使用。"),
    ),
    "冶金工贸": (
        T("吊运熔融金属未使用冶金起重机", "铸造车间吊运高温熔融金属的起重机不是冶金起重机，制动器未设双制动。",
          "{ent}铸造车间", "熔融金属", "m", "更换为冶金铸造起重机，更换前停止熔融金属吊运作业。"),
        T("煤气区域未设置固定式一氧化碳报警仪",
          "{n}号矿热炉煤气净化区域未设置固定式一氧化碳检测报警装置，作业人员未配备便携式报警仪。",
          "{ent}{n}号矿热炉煤气净化区", "煤气安全", "m",
          "安装固定式一氧化碳报警装置并接入中控室，为作业人员配备便携式报警仪。"),
        T("有限空间作业未检测通风", "检修人员进入{n}号除尘器内部作业前未进行气体检测和通风，现场无监护人。",
          "{ent}{n}号除尘器", "有限空间", "g", "严格执行“先通风、再检测、后作业”，设置专职监护人。"),
        T("粉尘涉爆除尘系统未设置泄爆装置", "抛光车间除尘系统未设置泄爆装置，除尘器未采取防静电措施。",
          "{ent}抛光车间", "粉尘防爆", "m", "加装泄爆、隔爆装置，完善防静电接地，整改完成前停止抛光作业。"),
    ),
    "民爆物品": (
        T("民爆仓库视频监控存在盲区", "{n}号库房视频监控存在盲区，监控录像保存不足30天。",
          "{ent}民爆器材仓库", "治安防范", "g", "补装摄像机，扩容存储设备。"),
        T("炸药库超量储存", "{n}号炸药库实际储存量超过核定储量{m}0%。",
          "{ent}{n}号炸药库", "储存管理", "m", "转移超量炸药，严格按核定储量储存。"),
        T("民爆物品运输车辆未配备押运员", "抽查{m}车次运输记录，运输车辆未配备押运员。",
          "{ent}运输车队", "运输管理", "g", "配齐押运员，完善运输审批和押运记录。"),
    ),
    "水上交通": (
        T("旅游客船超员载客", "节假日期间{n}号客船核定载客{k}人，实际载客超过核定人数。",
          "{ent}黄河{n}号客船", "客船管理", "m", "严格执行核定载客量，配备售票验票系统，节假日加派安全员。"),
        T("渡口救生衣配备不足", "渡口{n}艘渡船救生衣配备不足，部分救生衣老化。",
          "{ent}渡口", "救生设备", "g", "按核定载客量补齐救生衣，更换老化救生衣。"),
        T("船舶未按规定进行年度检验", "{n}号船舶年度检验已过期仍在营运。",
          "{ent}码头", "船舶检验", "g", "停航并申报检验，检验合格后方可营运。"),
    ),
    "文化旅游": (
        T("景区玻璃栈道未定期检测", "景区玻璃栈道未按规定开展年度安全检测，{m}块玻璃面板出现裂纹。",
          "{ent}景区玻璃栈道", "游乐设施", "gm", "暂停开放玻璃栈道，更换破损面板并委托检测。"),
        T("游乐设施安全压杠锁止失灵", "景区{n}号游乐设施安全压杠锁止装置失灵，仍在运营。",
          "{ent}游乐区{n}号设施", "游乐设施", "g", "停止运营，维修后经检验合格方可运营。"),
        T("景区落石隐患区域未设置防护", "景区步道{n}号段上方山体存在落石隐患，未设置警示标志和防护网。",
          "{ent}景区步道{n}号段", "地质灾害", "gm", "封闭隐患路段，设置警示标志，实施主动防护网工程。"),
    ),
    "校园": (
        T("学生宿舍违规使用大功率电器", "检查发现学生宿舍{n}间违规使用大功率电器，宿舍楼疏散指示损坏。",
          "{ent}学生宿舍楼", "用电安全", "g", "收缴违规电器，宿舍用电加装限流装置，修复疏散指示。"),
        T("学校食堂燃气软管老化", "学校食堂燃气灶具连接软管老化开裂，未安装燃气泄漏报警器。",
          "{ent}学生食堂", "燃气安全", "g", "更换金属软管，安装燃气泄漏报警和切断装置。"),
        T("教学楼疏散楼梯扶手松动", "教学楼{m}号疏散楼梯扶手松动，课间疏散存在踩踏风险。",
          "{ent}教学楼{m}号楼梯", "设施安全", "g", "加固楼梯扶手，安排教师课间值守。"),
    ),
    "养老机构": (
        T("养老院未设置自动喷水灭火系统", "养老院{m}层老年人居住用房未设置自动喷水灭火系统和独立式烟感报警器。",
          "{ent}{m}层居住区", "消防设施", "gm", "加装简易喷淋和独立式感烟火灾探测报警器。"),
        T("夜间值班护理人员不足", "夜间仅{m}名值班人员，不能满足失能老人疏散需要。",
          "{ent}护理区", "人员管理", "g", "增加夜间值班人员，开展夜间疏散演练。"),
        T("老人居室使用电暖器取暖", "{n}间老人居室使用电暖器取暖，电源线私拉乱接。",
          "{ent}居住区", "用电安全", "g", "收缴电暖器，改造供暖设施。"),
    ),
    "经营性自建房": (
        T("经营性自建房擅自加层改作旅馆", "该自建房原为{m}层住宅，擅自加建至{n}层并改作旅馆经营，未进行结构安全鉴定。",
          "{county}{street}{ent}", "结构安全", "m",
          "停止经营，委托有资质机构进行房屋安全鉴定，根据鉴定结论拆除加层或加固。"),
        T("自建房承重墙开裂", "房屋{m}层承重墙出现多处斜向裂缝，最大宽度约{n}毫米，仍在经营使用。",
          "{county}{street}{ent}", "结构安全", "gm", "停止使用，委托房屋安全鉴定并加固。"),
        T("“三合一”场所住宿与经营部分未分隔", "一层商铺经营、二层住人，住宿与经营部分未采取防火分隔，只有一个疏散出口。",
          "{county}{street}{ent}", "消防安全", "g", "设置防火分隔和独立疏散通道，整改前住宿人员搬离。"),
    ),
    "其他": (
        T("沉淀池清淤作业未执行有限空间审批", "检修人员进入{n}号沉淀池清淤作业前未办理有限空间作业审批，未检测有毒气体。",
          "{ent}{n}号沉淀池", "有限空间", "gm", "严格有限空间作业审批，配备气体检测仪和救援设备。"),
        T("成品仓库货架超载堆放", "成品仓库货架超载堆放，{m}排货架立柱变形。",
          "{ent}成品仓库", "仓储管理", "g", "卸载超载货物，更换变形立柱，标明货架限载。"),
    ),
}
del T

INDUSTRY_WEIGHTS = {
    "煤矿": 16, "危险化学品": 12, "建筑施工": 10, "燃气": 10, "消防": 9, "冶金工贸": 7, "非煤矿山": 6,
    "特种设备": 6, "道路交通": 5, "经营性自建房": 4, "文化旅游": 3, "校园": 3, "养老机构": 3,
    "民爆物品": 2, "水上交通": 2, "其他": 2,
}
SOURCE_WEIGHTS = {"inspection": 34, "self_check": 22, "public_report": 12, "expert_review": 12,
                  "covert_inspection": 10, "transfer": 10}
TRANSFER_FROM = {"建筑施工": "住建局", "燃气": "城市管理局", "特种设备": "市场监管局", "道路交通": "交警大队",
                 "消防": "消防救援大队", "水上交通": "交通运输局", "校园": "教育局", "养老机构": "民政局",
                 "文化旅游": "文旅局", "经营性自建房": "住建局"}
STREETS = ("滨河北路", "永宁中路", "龙凤大街", "凤山路", "北川河西路", "和平街", "七一路", "健康街", "新建路", "利民街")
FACES = ("8101", "8203", "9105", "12303", "3405", "2201")
# What the public can see and report (举报); a gas pressure regulator's valve calibration it cannot.
PUBLIC_INDUSTRIES = {"燃气", "消防", "经营性自建房", "建筑施工", "道路交通", "校园", "养老机构", "文化旅游", "水上交通"}
SUSPENDING_INDUSTRIES = {"煤矿", "非煤矿山", "危险化学品", "冶金工贸", "民爆物品", "建筑施工", "经营性自建房"}

DISMISS_REASONS = (
    "经现场核查，举报所述问题不存在，不构成事故隐患。",
    "经核查，该问题已于前期检查中登记整改，属重复报告。",
    "现场核查时该问题已整改完毕，经确认不予立案。",
    "经核查，所涉场所不属于本部门监管范围，已告知举报人并移交相关部门。",
)
PROGRESS_NOTES = (
    "已完成整改工程量约{pct}%，剩余部分正在施工。",
    "整改所需设备、材料已到货，正在安装调试。",
    "已组织专家对整改方案进行论证，按论证意见调整了施工顺序。",
    "临时管控措施落实到位，每班安排专人巡查，未发生异常。",
    "主体整改工作已完成，正在进行试运行和自查。",
)
EXTENSION_REASONS = (
    "整改所需设备供货周期延长，厂家承诺的到货时间晚于原整改期限。",
    "受冬季低温影响，土建和焊接作业无法按原计划施工。",
    "经专家论证，整改工程量较原方案增加，需委托有资质单位重新设计。",
    "整改涉及停产检修，需与上下游装置统一安排检修窗口。",
)
INTERIM_MEASURES = (
    "设置警戒区域，限制人员进入，安排专人每班巡查并记录。",
    "降低负荷运行，加密检测频次，现场配备应急救援器材。",
    "落实临时防护措施，由企业负责人带班值守，异常情况立即停止作业撤出人员。",
)
REJECT_REASONS = (
    "现场复查发现部分整改措施未落实到位，整改资料不完整，请继续整改后重新申请验收。",
    "整改后检测数据仍不满足规范要求，需进一步整改。",
    "现场抽查发现同类问题仍然存在，整改不彻底。",
)
ACCEPT_OPINIONS = (
    "经现场核查，整改措施已全部落实，隐患已消除，同意验收。",
    "整改资料齐全，现场复查符合要求，同意通过验收。",
)
CLOSE_OPINIONS = ("验收合格，同意销号摘牌。", "经审核验收材料，同意解除挂牌督办，予以销号。")
COMMENTS = {
    "enterprise": ("企业已成立整改工作专班，由主要负责人牵头。", "整改材料已采购，预计下周进场施工。",
                   "已按要求落实临时管控措施。"),
    "official": ("已电话督促企业加快整改进度。", "请企业于本周五前报送整改进展照片。",
                 "已现场复查临时管控措施落实情况。", "请同步排查同类设备设施是否存在相同问题。"),
    "committee": ("请属地监管部门加强跟踪督办，确保按期整改。", "此隐患列入本月安委办重点督办事项。"),
}
SUSPEND_REASONS = ("重大事故隐患排除前或排除过程中无法保证安全，责令暂时停产停业整顿。",
                   "隐患部位存在现实危险，责令相关区域停止作业。")
LIFT_REASONS = ("经复查，隐患已得到有效管控，同意恢复生产。", "整改措施已落实，经现场核查同意解除停产整顿。")

# Target share of each state, the share of major hazards in it, and of those majors listed (挂牌督办).
STATE_WEIGHTS = {State.REPORTED: 8, State.REGISTERED: 12, State.SUPERVISED: 6, State.RECTIFYING: 20,
                 State.ACCEPTANCE_REQUESTED: 9, State.ACCEPTED: 4, State.CLOSED: 34, State.DISMISSED: 7}
MAJOR_SHARE = {State.REGISTERED: 0.15, State.SUPERVISED: 1.0, State.RECTIFYING: 0.2,
               State.ACCEPTANCE_REQUESTED: 0.2, State.ACCEPTED: 1.0, State.CLOSED: 0.1}
LISTED_SHARE = {State.REGISTERED: 0.0, State.SUPERVISED: 1.0, State.ACCEPTED: 0.9}
# An open story's last action was this many days ago (what makes some of them overdue); a finished
# story started 1–10 months ago.
IDLE_DAYS = {State.REPORTED: (0, 10), State.REGISTERED: (0, 25), State.SUPERVISED: (0, 25),
             State.RECTIFYING: (0, 30), State.ACCEPTANCE_REQUESTED: (0, 8), State.ACCEPTED: (0, 12)}
HISTORY_DAYS = (30, 300)
# The escalation ladder (DESIGN 2.5): working days from the deadline.
LADDER = (("remind", -3), ("overdue", 0), ("urge", 5), ("summon", 10), ("publicize", 20), ("elevate", 30),
          ("refer", 60))
SWEEP_MIN = 7 * 60
NEXT_LISTING = {"county": "city", "city": "province", "province": "province"}
WORKING = {State.REGISTERED, State.SUPERVISED, State.RECTIFYING}
LEVEL_ORDER = {"county": 0, "city": 1, "province": 2}


# --- the plan of one hazard's story ---------------------------------------------------------------


@dataclass
class Upload:
    kind: str  # "png" or "pdf"
    filename: str
    field: str  # "evidence" or "assessment_report"


@dataclass
class Step:
    at: datetime
    action: str
    actor: str | None  # username; None: the public (report) or the system (escalate)
    body: dict[str, Any]
    uploads: list[Upload] = field(default_factory=list)
    contact: dict[str, Any] | None = None


@dataclass(frozen=True)
class Spec:
    target: State
    level: str | None
    listing: str | None
    org: Org
    template: Template
    source: str


class _Overflow(Exception):
    """The story ran past `now`: it is planned again, starting earlier."""

    def __init__(self, days: int) -> None:
        self.days = days


def _local(day: date, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=SHANGHAI).astimezone(timezone.utc)


def _next_sweep(after: datetime) -> datetime:
    """The first run of the daily escalation sweep (07:00 Shanghai) after `after`."""
    day = local_date(after)
    at = _local(day, SWEEP_MIN)
    return at if at > after else _local(day + timedelta(days=1), SWEEP_MIN)


def _next_working(day: date) -> date:
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


class _Story:
    """Plans one hazard against a model of its facts; the real engine checks every step later."""

    OPEN_MIN, CLOSE_MIN = 8 * 60 + 30, 17 * 60 + 30

    def __init__(self, spec: Spec, rng: random.Random, anchor: datetime, ext_days: int) -> None:
        self.spec, self.rng, self.anchor, self.ext_days = spec, rng, anchor, ext_days
        self.org = spec.org
        self.region = spec.org.region
        self.industry = spec.org.industry
        self.steps: list[Step] = []
        self.t = anchor
        self.state: State | None = None
        self.deadline: date | None = None
        self.listing: str | None = None
        self.plan_due: date | None = None
        self.suspended = False
        self.ext_pending = False
        self.ext_new: date | None = None
        self.fired: set[str] = set()
        self.reporter: str | None = None
        self.has_enterprise = False
        self.planned_funds: float | None = None
        self.registered_on: date | None = None
        r = rng
        self.vals = {
            "ent": self.org.name, "county": _region_names().get(self.region, ""), "street": r.choice(STREETS),
            "face": r.choice(FACES), "n": r.randint(2, 9), "m": r.randint(2, 5), "k": r.randint(15, 60),
            "d": r.randint(6, 15), "f": r.randint(3, 28), "x": f"{r.uniform(1.05, 1.9):.2f}",
        }

    # -- time ----------------------------------------------------------------------------------

    @property
    def today(self) -> date:
        return local_date(self.t)

    def _later(self, lo: int, hi: int, *, office: bool = True) -> datetime:
        r = self.rng
        start, end = (self.OPEN_MIN, self.CLOSE_MIN) if office else (7 * 60, 22 * 60)
        day = self.today + timedelta(days=r.randint(lo, hi))
        if office:
            day = _next_working(day)
        if day == self.today:
            local = self.t.astimezone(SHANGHAI)
            now_min = local.hour * 60 + local.minute + r.randint(10, 90)
            if now_min >= end:
                day = _next_working(day + timedelta(days=1)) if office else day + timedelta(days=1)
                minute = r.randint(start, end)
            else:
                minute = r.randint(now_min, end)
        else:
            minute = r.randint(start, end)
        at = _local(day, minute) + timedelta(seconds=r.randint(0, 59))
        if at >= self.anchor:
            raise _Overflow((at - self.anchor).days + 1)
        return at

    def _go(self, lo: int, hi: int, *, office: bool = True) -> None:
        """Move the clock to the next action, letting the daily escalation sweep run before it."""
        at = self._later(lo, hi, office=office)
        self._ladder(at)
        self.t = at

    def _ladder(self, upto: datetime) -> None:
        if self.state not in WORKING or self.deadline is None:
            return
        for step, offset in LADDER:
            if step in self.fired:
                continue
            due = _local(add_working_days(self.deadline, offset) if offset else self.deadline, SWEEP_MIN)
            at = max(due, _next_sweep(self.t))
            if at >= upto:
                return
            self.t = at
            self._emit("escalate", None, {"step": step})
            self.fired.add(step)
            if step == "elevate" and self.listing:
                self.listing = NEXT_LISTING[self.listing]

    def _set_deadline(self, deadline: date) -> None:
        self.deadline = deadline
        self.fired = set()

    def _deadline_in(self, lo: int, hi: int) -> date:
        return _next_working(self.today + timedelta(days=self.rng.randint(lo, hi)))

    # -- people --------------------------------------------------------------------------------

    def _candidates(self, roles: set[str], level: str | None = None,
                    exclude: Sequence[str | None] = ()) -> list[Person]:
        out = []
        for p in STAFF:
            if p.role not in roles or p.username in exclude or not regions.within(self.region, p.region):
                continue
            if p.role in (Role.INSPECTOR, Role.SUPERVISOR) and p.industry not in (None, self.industry):
                continue
            if level is not None and regions.region_level(p.region) != level:
                continue
            out.append(p)
        return out

    def _pick(self, roles: set[str], level: str | None = None, exclude: Sequence[str | None] = ()) -> str:
        """Someone in scope, most often of the most local office that has one."""
        people = self._candidates(roles, level, exclude)
        if not people:
            raise RuntimeError(f"演示数据配置有误：{self.region} {self.industry} 无可选人员 {roles} {level}")
        nearest = min(LEVEL_ORDER[regions.region_level(p.region)] for p in people)
        local = [p for p in people if LEVEL_ORDER[regions.region_level(p.region)] == nearest]
        return self.rng.choice(local if self.rng.random() < 0.8 else people).username

    def _official(self, exclude: Sequence[str | None] = ()) -> str:
        roles = {Role.INSPECTOR} if self.rng.random() < 0.8 else {Role.INSPECTOR, Role.SUPERVISOR}
        if not self._candidates(roles, exclude=exclude):
            roles = {Role.INSPECTOR, Role.SUPERVISOR}
        return self._pick(roles, exclude=exclude)

    @property
    def company(self) -> str:
        return f"ent_{self.org.key}"

    def _emit(self, action: str, actor: str | None, body: dict[str, Any], uploads: list[Upload] | None = None,
              contact: dict[str, Any] | None = None) -> None:
        self.steps.append(Step(self.t, action, actor, body, uploads or [], contact))

    # -- actions -------------------------------------------------------------------------------

    def report(self, start: datetime) -> None:
        r, spec, tpl = self.rng, self.spec, self.spec.template
        self.t = start
        description = tpl.description.format(**self.vals)
        body: dict[str, Any] = {
            "title": tpl.title, "location": tpl.location.format(**self.vals)[:200],
            "region_code": self.region, "industry": self.industry, "source": spec.source,
        }
        contact = None
        if spec.source == "public_report":
            actor = None
            description += f"\n（举报涉及单位：{self.org.name}）"
            contact = {"contact": f"139****{r.randint(0, 9999):04d}"}  # masked: never a real number
        else:
            body["enterprise_uscc"] = org_uscc(self.org)
            self.has_enterprise = True
            if spec.source == "self_check":
                actor = self.company
            elif spec.source == "covert_inspection":
                actor = self._pick({Role.COMMITTEE, Role.SUPERVISOR})
                description = "【明查暗访】" + description
            elif spec.source == "transfer":
                actor = self._pick({Role.INSPECTOR, Role.SUPERVISOR})
                description = f"【{TRANSFER_FROM.get(self.industry, '相关部门')}移交】" + description
            elif spec.source == "expert_review":
                actor = self._pick({Role.INSPECTOR})
                description = "【专家排查】" + description
            else:
                actor = self._pick({Role.INSPECTOR})
        body["description"] = description
        self.reporter = actor
        self.state = State.REPORTED
        self._emit("report", actor, body, contact=contact)

    def register(self, *, on_spot: bool = False) -> None:
        self._go(0, 4)
        level = self.spec.level or "general"
        actor = self._official()
        body: dict[str, Any] = {"level": level, "enterprise_uscc": org_uscc(self.org),
                                "category": self.spec.template.category}
        uploads = []
        if on_spot:
            body.update(deadline=self.today.isoformat(), rectified_on_spot=True)
            uploads = [Upload("png", "立查立改现场照片.png", "evidence")]
            self.state = State.CLOSED
        else:
            deadline = self._deadline_in(60, 120) if level == "major" else self._deadline_in(15, 45)
            body["deadline"] = deadline.isoformat()
            self._set_deadline(deadline)
            self.state = State.REGISTERED
        self.registered_on = self.today
        self.has_enterprise = True
        self._emit("register", actor, body, uploads)

    def dismiss(self) -> None:
        self._go(1, 8)
        actor = self._official(exclude=[self.reporter])
        self.state = State.DISMISSED
        self._emit("dismiss", actor, {"reason": self.rng.choice(DISMISS_REASONS)})

    def supervise(self) -> None:
        self._go(2, 10)
        listing = self.spec.listing or "city"
        actor = self._pick({Role.COMMITTEE}, level=listing)
        deadline = self._deadline_in(60, 150)
        plan_due = self.today + timedelta(days=self.rng.randint(7, 15))
        suspend = self.industry in SUSPENDING_INDUSTRIES and self.rng.random() < 0.35
        self._emit("supervise", actor, {"listing_level": listing, "deadline": deadline.isoformat(),
                                        "plan_due": plan_due.isoformat(), "suspend_production": suspend})
        self.listing, self.plan_due, self.state = listing, plan_due, State.SUPERVISED
        self.suspended = self.suspended or suspend
        self._set_deadline(deadline)

    def file_plan(self) -> None:
        r = self.rng
        if self.state == State.SUPERVISED and self.plan_due is not None:
            self._go(2, max(3, (self.plan_due - self.today).days))
        else:
            self._go(2, 10)
        assert self.deadline is not None
        if self.deadline < self.today:
            time_limit = self.deadline
        else:
            time_limit = max(self.today, self.deadline - timedelta(days=r.randint(0, 10)))
        major = self.spec.level == "major"
        funds = r.randint(200, 50000) / 100 if major else r.randint(20, 1500) / 100
        self.planned_funds = funds
        body: dict[str, Any] = {
            "responsible_person": self.org.head, "measures": self.spec.template.measures.format(**self.vals),
            "funds_wan": f"{funds:.2f}", "time_limit": time_limit.isoformat(),
        }
        if major or r.random() < 0.4:
            body["contingency_plan"] = f"《{self.org.name}{self.spec.template.category}事故专项应急预案》及现场处置方案"
        self.state = State.RECTIFYING
        self._emit("file_plan", self.company, body)

    def progress(self, lo: int = 5, hi: int = 20) -> None:
        self._go(lo, hi)
        note = self.rng.choice(PROGRESS_NOTES).format(pct=self.rng.choice((30, 40, 50, 60, 70, 80)))
        uploads = [Upload("png", "整改进展照片.png", "evidence")] if self.rng.random() < 0.3 else []
        self._emit("report_progress", self.company, {"note": note}, uploads)

    def request_extension(self, *, decide: bool) -> None:
        if self.ext_pending or self.state not in WORKING or self.deadline is None:
            return
        self._go(1, 6)
        if self.state not in WORKING or add_working_days(self.today, self.ext_days) > self.deadline:
            return  # too close to the deadline: the enterprise did not (could not) ask
        new = _next_working(self.deadline + timedelta(days=self.rng.randint(20, 60)))
        self._emit("request_extension", self.company, {
            "reason": self.rng.choice(EXTENSION_REASONS), "interim_measures": self.rng.choice(INTERIM_MEASURES),
            "new_deadline": new.isoformat()})
        self.ext_pending, self.ext_new = True, new
        if decide:
            self.decide_extension(grant=self.rng.random() < 0.65)

    def decide_extension(self, *, grant: bool) -> None:
        self._go(2, 7)
        if self.spec.level == "major":
            actor = self._pick({Role.COMMITTEE}, level=self.listing)
        else:
            actor = self._pick({Role.SUPERVISOR})
        if grant:
            note = f"经审查，延期理由充分，同意延期至{self.ext_new.isoformat()}，延期期间须落实临时管控措施。"  # type: ignore[union-attr]
            self._emit("grant_extension", actor, {"note": note})
            assert self.ext_new is not None
            self._set_deadline(self.ext_new)
        else:
            self._emit("deny_extension", actor, {"note": "延期理由不充分，请按原整改期限完成整改。"})
        self.ext_pending, self.ext_new = False, None

    def suspend(self) -> None:
        self._go(0, 3)
        actor = self._pick({Role.INSPECTOR, Role.SUPERVISOR, Role.COMMITTEE})
        self._emit("order_suspension", actor, {"reason": self.rng.choice(SUSPEND_REASONS)})
        self.suspended = True

    def lift(self) -> None:
        self._go(1, 5)
        actor = self._pick({Role.INSPECTOR, Role.SUPERVISOR, Role.COMMITTEE})
        self._emit("lift_suspension", actor, {"reason": self.rng.choice(LIFT_REASONS)})
        self.suspended = False

    def work_until_acceptance(self) -> None:
        """Progress reports, then the request for acceptance, most often before the deadline."""
        r = self.rng
        assert self.deadline is not None
        left = (self.deadline - self.today).days
        if left > 4 and r.random() < 0.9:
            span = max(2, int(left * r.uniform(0.4, 0.95)))
        else:
            span = max(2, left) + r.randint(3, 25)  # finished late: the ladder will have fired
        reports = r.choice((0, 1, 1, 2, 3)) if self.state == State.RECTIFYING else 0
        for _ in range(reports):
            gap = max(2, span // (reports + 1))
            self.progress(gap // 2, gap)
            span -= gap
        self._go(max(1, span // 2), max(1, span))
        self.request_acceptance()

    def request_acceptance(self) -> None:
        r = self.rng
        if self.suspended and self.state in WORKING and r.random() < 0.6:
            self.lift()  # 复产: lifted once the danger is under control, before the acceptance
        major = self.spec.level == "major"
        self._go(0, 1)
        completed = self.today - timedelta(days=r.randint(0, 2))
        if self.registered_on and completed < self.registered_on:
            completed = self.registered_on
        spent = (self.planned_funds or r.randint(20, 800) / 100) * r.uniform(0.8, 1.1)
        uploads = [Upload("png", f"整改后现场照片{i + 1}.png", "evidence") for i in range(r.randint(1, 2))]
        if major or r.random() < 0.15:
            uploads.append(Upload("pdf", "整改评估报告.pdf", "assessment_report"))
        assessment = r.choice(("expert", "third_party")) if major else r.choice(("self", "self", "expert"))
        body = {"work_done": "已完成：" + self.spec.template.measures.format(**self.vals),
                "completed_on": completed.isoformat(), "funds_spent_wan": f"{spent:.2f}",
                "assessment": assessment}
        self.state = State.ACCEPTANCE_REQUESTED
        self._emit("request_acceptance", self.company, body, uploads)

    def review(self, *, accept: bool) -> None:
        self._go(2, 10)
        actor = self._official()
        if accept:
            self._emit("accept", actor, {"reviewed_on": self.today.isoformat(),
                                         "opinion": self.rng.choice(ACCEPT_OPINIONS)})
            self.state = State.ACCEPTED if self.spec.level == "major" else State.CLOSED
        else:
            self._emit("reject", actor, {"reviewed_on": self.today.isoformat(),
                                         "reasons": self.rng.choice(REJECT_REASONS)})
            self.state = State.RECTIFYING

    def close(self) -> None:
        self._go(3, 15)
        actor = self._pick({Role.COMMITTEE}, level=self.listing)
        self._emit("close", actor, {"opinion": self.rng.choice(CLOSE_OPINIONS)})
        self.state, self.suspended = State.CLOSED, False

    def comment(self, chance: float) -> None:
        if self.rng.random() >= chance:
            return
        self._go(0, 6)
        kinds = ["official", "committee"] + (["enterprise"] if self.has_enterprise else [])
        kind = self.rng.choice(kinds)
        if kind == "enterprise":
            actor = self.company
        elif kind == "committee":
            actor = self._pick({Role.COMMITTEE})
        else:
            actor = self._pick({Role.INSPECTOR, Role.SUPERVISOR})
        self._emit("comment", actor, {"text": self.rng.choice(COMMENTS[kind])})

    def finish(self) -> None:
        self._ladder(self.anchor - timedelta(minutes=1))


def _story(spec: Spec, rng: random.Random, start: datetime, anchor: datetime, ext_days: int) -> list[Step]:
    """The steps that bring one hazard to `spec.target`, in time order."""
    s = _Story(spec, rng, anchor, ext_days)
    target, major, r = spec.target, spec.level == "major", rng
    s.report(start)
    s.comment(0.1)
    if target == State.REPORTED:
        return _done(s)
    if target == State.DISMISSED:
        s.dismiss()
        s.comment(0.1)
        return _done(s)
    on_spot = target == State.CLOSED and not major and r.random() < 0.25
    s.register(on_spot=on_spot)
    if on_spot:
        s.comment(0.1)
        return _done(s)
    s.comment(0.15)
    if not major and r.random() < 0.05:
        s.suspend()
    if target == State.REGISTERED:
        _extension(s, pending_ok=True)
        return _done(s)
    if spec.listing:
        s.supervise()
    if target == State.SUPERVISED:
        _extension(s, pending_ok=True)
        return _done(s)
    if major or target == State.RECTIFYING or r.random() < 0.6:
        s.file_plan()
        s.comment(0.1)
    _extension(s, pending_ok=False)
    if target == State.RECTIFYING:
        if r.random() < 0.2:
            s.work_until_acceptance()
            s.review(accept=False)
            s.progress()
        else:
            s.progress(3, 15)
        _extension(s, pending_ok=True)
        return _done(s)
    failures = r.choices((0, 1, 2), (75, 20, 5))[0]
    for _ in range(failures):
        s.work_until_acceptance()
        s.review(accept=False)
        s.progress(3, 12)
    s.work_until_acceptance()
    if target == State.ACCEPTANCE_REQUESTED:
        return _done(s)
    s.review(accept=True)
    if target == State.CLOSED and major:
        s.close()
    s.comment(0.1)
    return _done(s)


def _extension(s: _Story, *, pending_ok: bool) -> None:
    """Sometimes an extension request: decided (granted or denied), or still pending at the end."""
    roll = s.rng.random()
    if roll < 0.2:
        s.request_extension(decide=True)
    elif pending_ok and roll < 0.35:
        s.request_extension(decide=False)


def _done(s: _Story) -> list[Step]:
    s.finish()
    return s.steps


# --- choosing what to create ----------------------------------------------------------------------


def _allocate(n: int, weights: dict[State, int]) -> dict[State, int]:
    """Largest-remainder shares of `n`, at least one of each state when `n` allows it."""
    total = sum(weights.values())
    exact = {s: n * w / total for s, w in weights.items()}
    counts = {s: int(v) for s, v in exact.items()}
    for s in sorted(exact, key=lambda s: exact[s] - counts[s], reverse=True)[: n - sum(counts.values())]:
        counts[s] += 1
    if n >= len(weights):
        for s in weights:
            while counts[s] == 0:
                donor = max(counts, key=lambda k: counts[k])
                counts[donor] -= 1
                counts[s] += 1
    return counts


def _specs(n: int, rng: random.Random) -> list[Spec]:
    counts = _allocate(n, STATE_WEIGHTS)
    county_committees = {p.region for p in STAFF
                         if p.role == Role.COMMITTEE and regions.region_level(p.region) == "county"}
    forced = ["county", "city", "province"]
    seen: dict[str, set[str]] = {}  # org key -> categories so far: repeats (屡查屡犯) happen, but not mostly
    specs = []
    for state, count in counts.items():
        for _ in range(count):
            level = None
            if state not in (State.REPORTED, State.DISMISSED):
                level = "major" if rng.random() < MAJOR_SHARE.get(state, 0.0) else "general"
            listing = None
            if level == "major" and rng.random() < LISTED_SHARE.get(state, 0.85):
                listing = forced.pop(0) if forced else rng.choices(("county", "city", "province"), (3, 5, 2))[0]
            orgs = [o for o in ORGS if level != "major" or any("m" in t.levels for t in CATALOG[o.industry])]
            if listing == "county":
                orgs = [o for o in orgs if o.region in county_committees]
            industries = sorted({o.industry for o in orgs}, key=INDUSTRIES.index)
            industry = rng.choices(industries, [INDUSTRY_WEIGHTS[i] for i in industries])[0]
            org = rng.choice([o for o in orgs if o.industry == industry])
            wanted = {"major": "m", "general": "g"}.get(level or "", "")
            fitting = [t for t in CATALOG[industry] if wanted in t.levels]
            used = seen.setdefault(org.key, set())
            template = rng.choices(fitting, [0.15 if t.category in used else 1.0 for t in fitting])[0]
            used.add(template.category)
            weights = dict(SOURCE_WEIGHTS)
            if industry not in PUBLIC_INDUSTRIES:
                weights["public_report"] = 0
            elif state == State.DISMISSED:
                weights["public_report"] *= 3
            source = rng.choices(list(weights), list(weights.values()))[0]
            specs.append(Spec(state, level, listing, org, template, source))
    rng.shuffle(specs)
    return specs


def _plan(spec: Spec, seed: int, index: int, anchor: datetime, ext_days: int) -> list[Step]:
    """Plan the story once far in the past to learn how long it takes, then again so that it ends
    the wanted number of days before `anchor` (the same random choices both times)."""
    shape = random.Random(f"{seed}:{index}:start")
    office = spec.source != "public_report"
    minute = shape.randint(8 * 60 + 30, 17 * 60) if office else shape.randint(7 * 60, 22 * 60)

    def start_at(age: int) -> datetime:
        day = local_date(anchor) - timedelta(days=age)
        while office and not is_working_day(day):
            day -= timedelta(days=1)
        return _local(day, minute)

    def run(age: int) -> list[Step]:
        return _story(spec, random.Random(f"{seed}:{index}"), start_at(age), anchor, ext_days)

    far = 800
    trial = run(far)
    last = max(st.at for st in trial if st.action != "escalate")
    duration = (last - trial[0].at).days
    if spec.target in FINAL_STATES:
        age = shape.randint(max(HISTORY_DAYS[0], duration + 1), max(HISTORY_DAYS[1], duration + 30))
    else:
        age = duration + shape.randint(*IDLE_DAYS[spec.target])
    for _ in range(20):
        if start_at(age) < anchor - timedelta(minutes=30):
            try:
                return run(age)
            except _Overflow as over:
                age += over.days
        age += 1
    raise RuntimeError(f"演示数据：第 {index} 条隐患的情节无法排进时间线")


# --- evidence files -------------------------------------------------------------------------------


def _png(rng: random.Random, label: str) -> bytes:
    """A small real PNG (a coloured photo placeholder with a darker frame), unique through its text chunk."""
    width, height = 96, 64
    base = (rng.randint(60, 200), rng.randint(60, 200), rng.randint(60, 200))
    frame = tuple(c // 2 for c in base)
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            edge = x < 4 or y < 4 or x >= width - 4 or y >= height - 4
            rows.extend(frame if edge else base)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"tEXt", b"Comment\x00" + label.encode()) + chunk(b"IDAT", zlib.compress(bytes(rows)))
            + chunk(b"IEND", b""))


def _pdf(label: str) -> bytes:
    """A one-page real PDF (ASCII text: the standard fonts carry no Chinese)."""
    text = f"BT /F1 14 Tf 72 760 Td (Rectification assessment report - {label}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


# --- loading --------------------------------------------------------------------------------------

_REGION_NAMES: dict[str, str] = {}


def _region_names() -> dict[str, str]:
    import csv

    if not _REGION_NAMES:
        with admin.REGIONS_CSV.open(encoding="utf-8") as fh:
            _REGION_NAMES.update({row["code"].strip(): row["name"].strip() for row in csv.DictReader(fh)})
    return _REGION_NAMES


def _refuse_if_not_empty(factory: sessionmaker[Session]) -> None:
    with read_only(factory) as s:
        users = s.execute(select(func.count()).select_from(User)).scalar_one()
        orgs = s.execute(select(func.count()).select_from(Enterprise)).scalar_one()
        hazards = s.execute(select(func.count()).select_from(Hazard)).scalar_one()
        demo = s.execute(select(User.id).where(User.username == STAFF[0].username)).first() is not None
    if users or orgs or hazards:
        what = f"用户 {users} 个、企业 {orgs} 家、隐患 {hazards} 条"
        head = "演示数据已存在" if demo else "数据库中已有数据"
        raise Conflict(
            f"{head}（{what}），未做任何更改。演示数据只能载入空数据库："
            "请换一个新的数据库（设置 HAZARD_DATABASE_URL，或删除 var/hazard.db）后再运行 hazard demo。",
            code="demo_exists",
        )


def load(factory: sessionmaker[Session], *, hazards: int = 200, seed: int = DEFAULT_SEED,
         now: datetime | None = None, attachments_root: Path | None = None) -> str:
    """Load the demo data set into an empty database; returns the summary to print (Chinese).

    `now` is the end of the simulated history (default: the real time); attachments are written
    under `attachments_root` (default: the settings' attachments folder)."""
    started = time.perf_counter()
    settings = get_settings()
    anchor = (now or utcnow()).astimezone(timezone.utc)
    root = attachments_root or settings.attachments_dir
    ext_days = settings.extension_min_working_days
    if hazards < 0:
        raise invalid_field("hazards", "隐患数量不能为负数")
    _refuse_if_not_empty(factory)

    rng = random.Random(seed)
    specs = _specs(hazards, rng)
    stories = [_plan(spec, seed, i, anchor, ext_days) for i, spec in enumerate(specs)]
    first = min((st[0].at for st in stories if st), default=anchor)
    founded = first - timedelta(days=30)

    tokens, principals = _setup(factory, founded)
    _replay(factory, specs, stories, principals, seed=seed, root=root, ext_days=ext_days)
    elapsed = time.perf_counter() - started
    return _summary(factory, seed=seed, anchor=anchor, elapsed=elapsed, tokens=tokens, uploads_root=root)


def _setup(factory: sessionmaker[Session], at: datetime) -> tuple[dict[str, str], dict[str, Principal]]:
    """Regions, enterprises and users in one transaction; every user gets the demo password
    (hashed once: argon2 is deliberately slow) and a first API token."""
    password_hash = hash_password(DEMO_PASSWORD)
    tokens: dict[str, str] = {}
    principals: dict[str, Principal] = {}
    codes = {o.key: org_uscc(o) for o in ORGS}
    with transaction(factory) as s:
        admin.load_regions_csv(s)
        for o in ORGS:
            admin.add_enterprise(s, codes[o.key], o.name, o.region, o.industry, now=at)
        for p in PEOPLE:
            user, token = admin.add_user(
                s, p.username, p.role, p.region, now=at, enterprise_uscc=codes[p.org] if p.org else None,
                display_name=p.name, industry=p.industry,
            )
            user.password_hash = password_hash
            tokens[p.username] = token
            principals[p.username] = principal_of(user)
        s.flush()
    return tokens, principals


def _store(root: Path, data: bytes) -> str:
    """Write a file where `services.attachments` keeps uploads (content-addressed); returns its SHA-256."""
    sha = hashlib.sha256(data).hexdigest()
    final = attachments.path_for(root, sha)
    if not final.exists():
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{sha}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, final)
    return sha


def _replay(factory: sessionmaker[Session], specs: list[Spec], stories: list[list[Step]],
            principals: dict[str, Principal], *, seed: int, root: Path, ext_days: int) -> None:
    """Run every planned step, all stories merged in time order, through the real transaction path.
    An upload is stored like `services.attachments.save` stores it, in the same transaction as the
    action that cites it (one commit instead of two per file: the demo stays fast)."""
    order = sorted(((st.at, i, j) for i, steps in enumerate(stories) for j, st in enumerate(steps)))
    ids: dict[int, int] = {}
    for at, i, j in order:
        step = stories[i][j]
        try:
            if step.action == "report":
                actor = public_principal(specs[i].org.region) if step.actor is None else principals[step.actor]
                with transaction(factory) as s:
                    ids[i] = transitions.report(s, actor, step.body, now=at, public_contact=step.contact).id
                continue
            actor = SYSTEM if step.actor is None else principals[step.actor]
            body = dict(step.body)
            files = []
            for k, up in enumerate(step.uploads):
                label = f"demo {seed}/{i}/{j}/{k}"
                data = _png(random.Random(label), label) if up.kind == "png" else _pdf(label)
                files.append((up, data, _store(root, data)))
            with transaction(factory) as s:
                for up, data, sha in files:
                    att = Attachment(hazard_id=ids[i], filename=up.filename, content_type=attachments.sniff(data[:16]),
                                     size=len(data), sha256=sha, uploaded_by_id=actor.id, created_at=at)
                    s.add(att)
                    s.flush()
                    if up.field == "evidence":
                        body.setdefault("evidence", []).append(att.id)
                    else:
                        body[up.field] = att.id
                transitions.perform(s, actor, ids[i], step.action, body, now=at,
                                    extension_min_working_days=ext_days)
        except DomainError as exc:
            raise RuntimeError(
                f"演示数据的情节违反了业务规则（这是演示脚本的缺陷）：隐患 #{i} 第 {j + 1} 步 {step.action}"
                f"（{step.actor or '系统/群众'}，{at.isoformat()}）：{exc.message} {exc.details or ''}"
            ) from exc


# --- the summary ----------------------------------------------------------------------------------


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(1, width - _width(text))


def _summary(factory: sessionmaker[Session], *, seed: int, anchor: datetime, elapsed: float,
             tokens: dict[str, str], uploads_root: Path) -> str:
    names = _region_names()
    with read_only(factory) as s:
        rows = s.execute(select(Hazard.state, Hazard.level, Hazard.industry, Hazard.source, Hazard.listing_level,
                                Hazard.deadline, Hazard.suspended, Hazard.failed_acceptances,
                                Hazard.repeat_of_id)).all()
        actions = Counter(dict(s.execute(select(AuditEvent.action, func.count()).group_by(AuditEvent.action)).all()))
        n_regions = s.execute(select(func.count()).select_from(Region)).scalar_one()
        n_orgs = s.execute(select(func.count()).select_from(Enterprise)).scalar_one()
        n_files = s.execute(select(func.count()).select_from(Attachment)).scalar_one()
        orgs = dict(s.execute(select(Enterprise.id, Enterprise.name)).all())
        users = s.execute(select(User.username, User.role, User.region_code, User.display_name, User.industry,
                                 User.enterprise_id).order_by(User.id)).all()
    today = local_date(anchor)
    states = Counter(r.state for r in rows)
    levels = Counter(r.level for r in rows if r.level)
    listing = Counter(r.listing_level for r in rows if r.listing_level and r.state not in FINAL_STATES)
    overdue = sum(1 for r in rows if r.deadline and r.state not in FINAL_STATES and r.deadline < today)
    pending_ext = actions["request_extension"] - actions["grant_extension"] - actions["deny_extension"]

    def counted(counter: Counter, labels: dict[str, str] | None = None) -> str:
        return "、".join(f"{(labels or {}).get(k, k)} {v}" for k, v in counter.most_common())

    lines = [
        f"演示数据已载入：山西省 吕梁市、忻州市（随机种子 {seed}，模拟历史截至 "
        f"{anchor.astimezone(SHANGHAI):%Y-%m-%d %H:%M}，用时 {elapsed:.1f} 秒）",
        f"  行政区划 {n_regions} 个，企业 {n_orgs} 家，用户 {len(users)} 名，隐患 {len(rows)} 条，"
        f"审计事件 {sum(actions.values())} 个，证据附件 {n_files} 个（{uploads_root}）",
        "",
        "隐患状态分布：",
    ]
    for st in State:
        lines.append(f"  {_pad(f'{STATE_LABELS[st]}（{st.value}）', 34)}{states.get(st.value, 0):>4}")
    lines += [
        "",
        f"隐患等级：{counted(levels, LEVELS)}（另有 {sum(1 for r in rows if not r.level)} 条尚未登记定级）",
        f"在办挂牌督办：{counted(listing, LISTING_LEVELS) or '无'}；停产整顿中 "
        f"{sum(1 for r in rows if r.suspended)} 条；逾期未销号 {overdue} 条；屡查屡犯 "
        f"{sum(1 for r in rows if r.repeat_of_id)} 条",
        f"延期申请：批准 {actions['grant_extension']}、不予批准 {actions['deny_extension']}、待审批 {pending_ext}；"
        f"验收不通过 {actions['reject']} 次；责令停产整顿 {actions['order_suspension']} 次、解除 "
        f"{actions['lift_suspension']} 次；整改进展 {actions['report_progress']} 条；备注 {actions['comment']} 条；"
        f"督办升级（系统）{actions['escalate']} 次",
        f"行业领域（{len({r.industry for r in rows})} 个）：{counted(Counter(r.industry for r in rows))}",
        f"隐患来源：{counted(Counter(r.source for r in rows), SOURCES)}",
        "",
        f"全部演示用户的密码：{DEMO_PASSWORD}",
        "API 令牌（只显示这一次；请求头 Authorization: Bearer <令牌>）：",
        "  " + _pad("用户名", 26) + _pad("角色", 16) + _pad("行政区划", 10) + _pad("姓名 / 单位", 44) + "令牌",
    ]
    for u in users:
        who = u.display_name + (f"（{orgs[u.enterprise_id]}）" if u.enterprise_id else "")
        if u.industry:
            who += f"（分管{u.industry}）"
        lines.append("  " + _pad(u.username, 26) + _pad(ROLE_LABELS[Role(u.role)], 16)
                     + _pad(names.get(u.region_code, u.region_code), 10) + _pad(who, 44) + tokens[u.username])
    lines += [
        "",
        "试一试：uv run hazard serve，然后",
        f'  curl -H "Authorization: Bearer {tokens["lvliang_committee1"]}" '
        '"http://127.0.0.1:8000/api/v1/hazards?state=supervised"',
    ]
    return "\n".join(lines)
