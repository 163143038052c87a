"""`hazard demo`: a realistic data set to try the service with (山西省：吕梁市、忻州市).

What must hold: every hazard is created and moved only through `services.engine` (creation, transitions), one
transaction per action at a simulated moment, so each carries its full real audit trail and every
rule (scope, role, state, guards, four-eyes) is checked exactly as for a real user. A story that
breaks a rule fails loudly; nothing is forced into the tables.

How: each hazard's story (reporter, deadlines, plan, extensions, acceptances, the escalation ladder
a daily sweep would have fired) is planned first in plain Python against a simulated clock that
starts 1–10 months before `now`; then all stories are replayed in time order, so hazard codes and
repeat-offence links (屡查屡犯) come out as they would have in real life. The result depends only
on the seed and `now` (API tokens excepted: they are secrets).

The demo refuses to load into a database that already holds users, enterprises or hazards.

The pieces: `catalogue` (enterprises, people and texts, from `app/demo/demo_catalogue.json`),
`plan` (what to create and when each story starts), `office` (the enterprises' self-inspection
returns and the office duties run once at the end), `plots` (which acts bring a hazard to its
target state), `stories` (those acts: who does what, with which body), `timeline` (a story's
clock and the escalations a daily sweep fires on the way), `example` (the hazard the API
documentation's request examples work on, one of the `hazards`) and `summary` (what is printed);
this module loads it all in.
"""

from __future__ import annotations

import hashlib
import os
import random
import struct
import time
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from db.engine import UnitOfWork, read_only, transaction
from db.models import Attachment, Enterprise, Hazard, User
from services.accounts import admin
from services.engine import attachments, creation, transitions
from services.accounts.auth import SYSTEM, Principal, hash_password, principal_of, public_principal
from services.kernel.clock import utcnow
from app.demo import example, office, plan, summary, tasklist
from app.demo.catalogue import DEMO_PASSWORD, ORGS, PEOPLE, STAFF, org_uscc
from app.demo.stories import Spec
from app.demo.timeline import Step
from services.documents import issue_pending
from services.organisations import queries as org_queries
from services.organisations.shanxi import load_shanxi
from services.lifecycle.table import LIFECYCLE
from services.outbox import kinds as outbox_kinds
from services.kernel.errors import Conflict, DomainError, invalid_field
from services.kernel.settings import get_settings

__all__ = ["DEFAULT_SEED", "DEMO_PASSWORD", "ORGS", "PEOPLE", "STAFF", "load", "org_uscc"]

DEFAULT_SEED = 20261124


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
    specs = plan.choose(max(hazards - 1, 0), rng)
    stories = [plan.schedule(spec, seed, i, anchor, ext_days) for i, spec in enumerate(specs)]
    first = min((st[0].at for st in stories if st), default=anchor)
    if hazards:  # one of them is the API documentation's example hazard, told before all others
        specs.append(example.SPEC)
        stories.append(example.story(first))
    founded = first - timedelta(days=30)

    tokens, principals = _setup(factory, founded)
    _replay(factory, specs, stories, principals, seed=seed, root=root, ext_days=ext_days)
    filed = office.file_returns(factory, {o.key: principals[f"ent_{o.key}"] for o in ORGS},
                                {o.key: o.head for o in ORGS}, anchor, seed)
    tasks = tasklist.publish_and_work(factory, anchor)
    duties = office.run_duties(factory, anchor)
    issue_pending(UnitOfWork(factory), now=anchor, limit=100)  # what the duties called for (a task's 督办函)
    plans = office.import_plans(factory, anchor)
    elapsed = time.perf_counter() - started
    return (summary.render(factory, seed=seed, anchor=anchor, elapsed=elapsed, tokens=tokens, uploads_root=root)
            + "\n" + office.describe(filed, duties, plans) + "\n" + tasklist.describe(tasks))


def _setup(factory: sessionmaker[Session], at: datetime) -> tuple[dict[str, str], dict[str, Principal]]:
    """Regions, enterprises and users in one transaction; every user gets the demo password
    (hashed once: argon2 is deliberately slow) and a first API token."""
    password_hash = hash_password(DEMO_PASSWORD)
    tokens: dict[str, str] = {}
    principals: dict[str, Principal] = {}
    codes = {o.key: org_uscc(o) for o in ORGS}
    with transaction(factory) as s:
        admin.load_regions_csv(s)
        load_shanxi(s, now=at)  # 政府机构: 安委会、安委办、部门、县乡政府 (services/data/organisations-shanxi.csv)
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
        staff = [p for p in PEOPLE if p.role != "enterprise"]
        homes = org_queries.home_organisations(s, [(p.region, p.role) for p in staff])
        for p in staff:  # each government user belongs to the body they work in
            s.execute(update(User).where(User.username == p.username)
                      .values(organisation_id=homes.get((p.region, p.role))))
    return tokens, principals


def _store(root: Path, data: bytes) -> str:
    """Write a file where `services.engine.attachments` keeps uploads (content-addressed); returns its SHA-256."""
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
    An upload is stored like `services.engine.attachments.save` stores it (its row and its `attach` event),
    in the same transaction as the action that cites it (one commit, not one per file: the demo
    stays fast)."""
    order = sorted(((st.at, i, j) for i, steps in enumerate(stories) for j, st in enumerate(steps)))
    ids: dict[int, int] = {}
    for at, i, j in order:
        step = stories[i][j]
        try:
            if step.action == "report":
                actor = public_principal(specs[i].org.region) if step.actor is None else principals[step.actor]
                with transaction(factory) as s:
                    ids[i] = creation.report(s, actor, step.body, now=at, public_contact=step.contact).id
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
                    # Every accepted file is an `attach` event, as services.engine.attachments.save writes it.
                    transitions.perform(s, actor, ids[i], "attach", {
                        "attachment_id": att.id, "filename": att.filename, "content_type": att.content_type,
                        "size": att.size, "sha256": sha}, now=at)
                    if up.field == "evidence":
                        body.setdefault("evidence", []).append(att.id)
                    else:
                        body[up.field] = att.id
                transitions.perform(s, actor, ids[i], step.action, body, now=at,
                                    extension_min_working_days=ext_days)
            spec = LIFECYCLE[step.action]
            if spec.documents is not None or any(outbox_kinds.is_document(k) for k in spec.effects):
                # The document is issued as part of the story, at its act: numbered in the order
                # the office would have issued it, dated and recorded when it happened.
                issue_pending(UnitOfWork(factory), now=at, limit=10)
        except DomainError as exc:
            raise RuntimeError(
                f"演示数据的情节违反了业务规则（这是演示脚本的缺陷）：隐患 #{i} 第 {j + 1} 步 {step.action}"
                f"（{step.actor or '系统/群众'}，{at.isoformat()}）：{exc.message} {exc.details or ''}"
            ) from exc



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
