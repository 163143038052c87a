"""The summary `hazard demo` prints once the data set is loaded (Chinese)."""

from __future__ import annotations

import unicodedata
from collections import Counter
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.engine import read_only
from db.models import Attachment, AuditEvent, Enterprise, Hazard, Region, User
from services.kernel.clock import SHANGHAI, local_date
from app.demo.catalogue import DEMO_PASSWORD, region_names
from services.lifecycle.roles import ROLE_LABELS, Role
from services.lifecycle.states import FINAL_STATES, STATE_LABELS, State
from services.reads.filters import is_overdue
from services.kernel.vocab import LEVELS, LISTING_LEVELS, SOURCES


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(1, width - _width(text))


def render(factory: sessionmaker[Session], *, seed: int, anchor: datetime, elapsed: float,
             tokens: dict[str, str], uploads_root: Path) -> str:
    names = region_names()
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
    overdue = sum(1 for r in rows if is_overdue(r.deadline, r.state, today))
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
        lines.append(f"  {_pad(f'{STATE_LABELS[st]}  {st.value}', 34)}{states.get(st.value, 0):>4}")
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
