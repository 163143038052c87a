"""Choosing what to create, and when each story starts (see `app.demo`).

`choose` decides, from the seed alone, each hazard's target state, level, listing, enterprise,
template and source; `schedule` plans its story so that it ends at a realistic distance before
`now`.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from services.kernel import regions
from services.calendar.workdays import is_working_day
from services.kernel.clock import local_date
from app.demo.catalogue import CATALOG, ORGS, STAFF
from app.demo.plots import story
from app.demo.stories import Spec
from app.demo.timeline import Overflow, Step, local_at
from services.lifecycle.roles import Role
from services.lifecycle.states import FINAL_STATES, State
from services.kernel.vocab import INDUSTRIES

INDUSTRY_WEIGHTS = {
    "煤矿": 16, "危险化学品": 12, "建筑施工": 10, "燃气": 10, "消防": 9, "冶金工贸": 7, "非煤矿山": 6,
    "特种设备": 6, "道路交通": 5, "经营性自建房": 4, "文化旅游": 3, "校园": 3, "养老机构": 3,
    "民爆物品": 2, "水上交通": 2, "其他": 2,
}
SOURCE_WEIGHTS = {"inspection": 34, "self_check": 22, "public_report": 12, "expert_review": 12,
                  "covert_inspection": 10, "transfer": 10}
# What the public can see and report (举报); a gas pressure regulator's valve calibration it cannot.
PUBLIC_INDUSTRIES = {"燃气", "消防", "经营性自建房", "建筑施工", "道路交通", "校园", "养老机构", "文化旅游", "水上交通"}

# Target share of each state, the share of major hazards in it, and of those majors listed (挂牌督办):
# a major hazard still registered is waiting for its listing; past that every one is listed, as its
# plan, acceptance and closing (摘牌) all follow the listing.
STATE_WEIGHTS = {State.REPORTED: 8, State.REGISTERED: 12, State.SUPERVISED: 6, State.RECTIFYING: 20,
                 State.ACCEPTANCE_REQUESTED: 9, State.ACCEPTED: 4, State.CLOSED: 34, State.DISMISSED: 7}
MAJOR_SHARE = {State.REGISTERED: 0.15, State.SUPERVISED: 1.0, State.RECTIFYING: 0.2,
               State.ACCEPTANCE_REQUESTED: 0.2, State.ACCEPTED: 1.0, State.CLOSED: 0.1}
LISTED_SHARE = {State.REGISTERED: 0.0}
# An open story's last action was this many days ago (what makes some of them overdue); a finished
# story started 1–10 months ago.
IDLE_DAYS = {State.REPORTED: (0, 10), State.REGISTERED: (0, 25), State.SUPERVISED: (0, 25),
             State.RECTIFYING: (0, 30), State.ACCEPTANCE_REQUESTED: (0, 8), State.ACCEPTED: (0, 12)}
HISTORY_DAYS = (30, 300)


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


def choose(n: int, rng: random.Random) -> list[Spec]:
    """`n` hazards to create: target states in their shares, each with its level, listing,
    enterprise, template and source (shuffled)."""
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
            if level == "major" and rng.random() < LISTED_SHARE.get(state, 1.0):
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


def schedule(spec: Spec, seed: int, index: int, anchor: datetime, ext_days: int) -> list[Step]:
    """Plan the story once far in the past to learn how long it takes, then again so that it ends
    the wanted number of days before `anchor` (the same random choices both times)."""
    shape = random.Random(f"{seed}:{index}:start")
    office = spec.source != "public_report"
    minute = shape.randint(8 * 60 + 30, 17 * 60) if office else shape.randint(7 * 60, 22 * 60)

    def start_at(age: int) -> datetime:
        day = local_date(anchor) - timedelta(days=age)
        while office and not is_working_day(day):
            day -= timedelta(days=1)
        return local_at(day, minute)

    def run(age: int) -> list[Step]:
        return story(spec, random.Random(f"{seed}:{index}"), start_at(age), anchor, ext_days)

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
            except Overflow as over:
                age += over.days
        age += 1
    raise RuntimeError(f"演示数据：第 {index} 条隐患的情节无法排进时间线")


# --- evidence files -------------------------------------------------------------------------------
