"""Signed checkpoints and the checkpoint log outside the database (DESIGN 3).

A checkpoint in the database alone stops an attacker who can change events but not checkpoints;
the database's owner can change both, recompute every hash and delete what gives them away. So each
checkpoint is also signed (services/audit/keys.py: the private key is not in the database) and
appended, with every chain head it covers, to a log outside the database
(HAZARD_AUDIT_CHECKPOINT_LOG: a JSON-lines file, or a folder with one file per checkpoint, so a
deployment can put it on separate or write-once storage). Verification then holds the database to
the log: a checkpoint deleted, rewritten or forged, a chain rewritten or cut after the newest
logged checkpoint, or no checkpoint at all once the trail is older than one interval.

The log entry is written, and synced, after the checkpoint's row is flushed and before its
transaction commits; a failure to write it fails the checkpoint, so there is no checkpoint without
its entry. The reverse can happen: a commit that fails after its entry was written leaves an entry
the database lacks, which verification reports like a deleted checkpoint (someone must look).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import AuditCheckpoint, AuditCheckpointHead, AuditEvent
from services.audit import merkle
from services.audit.chain import canonical
from services.audit.verification import Problem
from services.audit.keys import Keyring, Signer, load_keyring, load_signer
from services.kernel.clock import SHANGHAI
from services.kernel.errors import DomainError

if TYPE_CHECKING:
    from services.kernel.settings import Settings

log = structlog.get_logger("hazard.audit")

ENTRY_FIELDS = ("id", "created_at", "leaf_count", "merkle_root", "prev_hash", "hash", "signature", "key_id")
_ENTRY_FILE = re.compile(r"^checkpoint-(\d+)-[0-9a-f]+\.json$")


class CheckpointLogError(DomainError):
    status = 503
    code = "audit_checkpoint_log"


@dataclass(frozen=True)
class CheckpointLog:
    """Where checkpoints are logged: one JSON line each in a file, or one file each in a folder."""

    path: Path
    per_file: bool

    @classmethod
    def at(cls, target: str | Path) -> CheckpointLog:
        text = str(target)
        return cls(Path(text), text.endswith(("/", os.sep)) or Path(text).is_dir())

    def exists(self) -> bool:
        return self.path.is_dir() if self.per_file else self.path.is_file()

    def append(self, entry: dict[str, Any]) -> Path:
        """Write one entry and sync it to disk; raises OSError when that cannot be done."""
        line = canonical(entry).encode("utf-8") + b"\n"
        folder = self.path if self.per_file else self.path.parent
        created = not folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        if self.per_file:
            target = folder / f"checkpoint-{entry['id']:012d}-{entry['hash'][:16]}.json"
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            new_file = True
        else:
            target = self.path
            new_file = not target.exists()
            fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            if not new_file and _ends_unterminated(target):
                line = b"\n" + line  # a line cut short by a crash stays a line of its own
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        if new_file:
            _sync_folder(folder)
        if created:
            _sync_folder(folder.parent)
        return target

    def entries(self) -> Iterator[tuple[str, dict[str, Any] | None, str | None]]:
        """(where, entry, error) in log order, one at a time (the log can be long)."""
        if self.per_file:
            named = sorted((int(m.group(1)), p.name) for p in self.path.iterdir()
                           if (m := _ENTRY_FILE.match(p.name)))
            for _, name in named:
                where = f"文件 {name}"
                try:
                    yield where, *_parse((self.path / name).read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError) as exc:
                    yield where, None, str(exc)
            return
        with self.path.open("rb") as fh:
            for number, raw in enumerate(fh, 1):
                if raw.strip():
                    try:
                        yield f"第 {number} 行", *_parse(raw.decode("utf-8"))
                    except UnicodeDecodeError as exc:
                        yield f"第 {number} 行", None, str(exc)


def _ends_unterminated(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() == 0:
            return False
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) != b"\n"


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _parse(text: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        entry = json.loads(text)
        if not isinstance(entry, dict) or any(name not in entry for name in (*ENTRY_FIELDS, "heads", "base")):
            return None, "缺少字段"
        entry["created_at_dt"] = datetime.fromisoformat(entry["created_at"])
        entry["heads"] = [(int(h), int(s), str(d)) for h, s, d in entry["heads"]]
        return entry, None
    except (ValueError, TypeError) as exc:
        return None, f"格式错误（{exc}）"


def log_entry(cp: AuditCheckpoint, heads: list[Any], base: int | None) -> dict[str, Any]:
    """A checkpoint as logged. `heads` ([hazard id, seq, hash] in hazard id order) are the chain
    heads that changed since checkpoint `base`, the log's previous entry (None: every head). So the
    log grows with the trail's events, not with checkpoints × hazards; verification folds the
    entries and holds the result to the newest entry's Merkle root and leaf count."""
    return {"id": cp.id, "created_at": _stamp(cp.created_at), "leaf_count": cp.leaf_count,
            "merkle_root": cp.merkle_root, "prev_hash": cp.prev_hash, "hash": cp.hash,
            "signature": cp.signature, "key_id": cp.key_id, "base": base,
            "heads": [[h.id, h.version, h.audit_head] for h in heads]}


def _changed_heads(session: Session, cp: AuditCheckpoint, heads: list[Any], log_to: CheckpointLog,
                   ) -> tuple[list[Any], int | None]:
    """The heads that differ from the previous checkpoint's, and its id; every head (base None)
    when there is no previous checkpoint or the log is new (its first entry must stand alone)."""
    previous = session.execute(select(func.max(AuditCheckpoint.id)).where(AuditCheckpoint.id < cp.id)).scalar()
    if previous is None or not log_to.exists():
        return list(heads), None
    before = {r.hazard_id: (r.seq, r.hash) for r in session.execute(
        select(AuditCheckpointHead.hazard_id, AuditCheckpointHead.seq, AuditCheckpointHead.hash)
        .where(AuditCheckpointHead.checkpoint_id == previous))}
    return [h for h in heads if before.get(h.id) != (h.version, h.audit_head)], previous


def take_checkpoint(session: Session, *, now: datetime, signer: Signer, log_to: CheckpointLog) -> AuditCheckpoint:
    """A signed checkpoint, in the database (flushed, committed by the caller) and in the log."""
    cp, heads = merkle.record_checkpoint(session, now=now, sign=signer.sign)
    changed, base = _changed_heads(session, cp, heads, log_to)
    try:
        where = log_to.append(log_entry(cp, changed, base))
    except OSError as exc:
        log.error("audit_checkpoint_log_failed", path=str(log_to.path), error=str(exc))
        raise CheckpointLogError(f"检查点日志写入失败（{log_to.path}：{exc.strerror or exc}），检查点未建立") from exc
    log.info("audit_checkpoint", id=cp.id, leaf_count=cp.leaf_count, changed=len(changed), key_id=cp.key_id,
             log=str(where))
    return cp


def checkpoint(session: Session, settings: Settings, *, now: datetime) -> AuditCheckpoint:
    """`take_checkpoint` with the key and log the settings name (the CLI and the flow)."""
    signer = load_signer(settings.audit_signing_key_path, development=settings.environment == "development")
    return take_checkpoint(session, now=now, signer=signer,
                           log_to=CheckpointLog.at(settings.audit_checkpoint_log_target))


# --- verification against the evidence outside the database ----------------------------------------


@dataclass
class Findings:
    problems: list[Problem] = field(default_factory=list)
    anchors: dict[int, tuple[int, str]] = field(default_factory=dict)  # the newest logged heads
    checkpoint_id: int | None = None  # the newest logged checkpoint
    entries: int = 0

    def add(self, kind: str, message: str) -> None:
        self.problems.append(Problem(kind, None, None, None, None, message))


@dataclass(frozen=True)
class Evidence:
    """What verification trusts from outside the database: the public keys, the checkpoint log,
    and how often a checkpoint must be taken. None of them: that check is skipped."""

    keyring: Keyring | None = None
    log: CheckpointLog | None = None
    interval: timedelta = timedelta(hours=1)

    def check(self, session: Session, checkpoints: list[AuditCheckpoint], wanted: set[int] | None,
              now: datetime | None) -> Findings:
        found = Findings()
        signed = [cp for cp in checkpoints if cp.signature is not None]
        self._signatures(checkpoints, found)
        if self.log is not None:
            self._against_log(checkpoints, signed, wanted, found)
        if now is not None and not checkpoints and not found.entries:
            _no_checkpoint(session, now, self.interval, found)
        return found

    def _signatures(self, checkpoints: list[AuditCheckpoint], found: Findings) -> None:
        if self.keyring is None:
            return
        signing_began = False
        for cp in checkpoints:
            if cp.signature is None:
                if signing_began:  # unsigned ones are those taken before checkpoints were signed
                    found.add("signature", f"检查点 {cp.id} 没有签名（此前的检查点已签名，它是伪造的）")
                continue
            signing_began = True
            if self.keyring.error:
                found.add("signature", f"无法校验检查点签名：{self.keyring.error}")
                return
            ok = self.keyring.verify(cp.key_id, cp.hash, cp.signature)
            if ok is None:
                found.add("signature", f"检查点 {cp.id} 的签名密钥 {cp.key_id} 不在验证公钥中（{self.keyring.source}）")
            elif not ok:
                found.add("signature", f"检查点 {cp.id} 的签名无效（检查点被改写或伪造）")

    def _against_log(self, checkpoints: list[AuditCheckpoint], signed: list[AuditCheckpoint],
                     wanted: set[int] | None, found: Findings) -> None:
        assert self.log is not None
        if not self.log.exists():
            if signed:
                found.add("checkpoint_log",
                          f"检查点日志不存在：{self.log.path}（数据库中有 {len(signed)} 个已签名的检查点）")
            return
        by_id = {cp.id: cp for cp in checkpoints}
        logged: set[int] = set()
        known_hashes = {merkle.ZERO}
        newest: dict[str, Any] | None = None
        folded: dict[int, tuple[int, str]] = {}  # every head as of the newest entry read
        for where, entry, error in self.log.entries():
            if entry is None:
                found.add("checkpoint_log", f"检查点日志{where}无法读取：{error}")
                continue
            found.entries += 1
            cid = entry["id"]
            if merkle.checkpoint_hash(entry["created_at_dt"], entry["leaf_count"], entry["merkle_root"],
                                     entry["prev_hash"]) != entry["hash"]:
                found.add("checkpoint_log", f"检查点日志{where}（检查点 {cid}）被改动：哈希不符")
                continue
            keyring = self.keyring if self.keyring is not None and not self.keyring.error else None
            if keyring is not None and not keyring.verify(entry["key_id"], entry["hash"], entry["signature"]):
                found.add("checkpoint_log", f"检查点日志{where}（检查点 {cid}）的签名无效或密钥未知")
                continue
            if entry["prev_hash"] not in known_hashes:
                found.add("checkpoint_log", f"检查点日志{where}（检查点 {cid}）不接续此前记录的检查点（日志被删改）")
            known_hashes.add(entry["hash"])
            if entry["base"] is None:
                folded = {}
            elif newest is None or entry["base"] != newest["id"]:
                found.add("checkpoint_log", f"检查点日志{where}（检查点 {cid}）所依据的检查点 {entry['base']} "
                                            "不是日志中的上一条（日志被删改）")
            folded.update((h, (seq, d)) for h, seq, d in entry["heads"])
            logged.add(cid)
            db = by_id.get(cid)
            if db is None:
                found.add("checkpoint_deleted", f"检查点 {cid}（{_local(entry['created_at_dt'])}）记在检查点日志中，"
                                                "但数据库中已没有它（被删除）")
            elif _db_fields(db) != tuple(entry[name] for name in ENTRY_FIELDS[1:]):
                found.add("checkpoint", f"数据库中的检查点 {cid} 与检查点日志中的记录不符（被改写）")
            newest = entry
        for cp in signed:
            if cp.id not in logged:
                found.add("checkpoint_unlogged", f"检查点 {cp.id} 不在检查点日志中（日志被删改，或检查点是伪造的）")
        if newest is not None:
            self._newest_heads(newest, folded, wanted, found)

    @staticmethod
    def _newest_heads(entry: dict[str, Any], folded: dict[int, tuple[int, str]], wanted: set[int] | None,
                      found: Findings) -> None:
        """The heads the log holds as of its newest entry (folded from every entry), which must
        make that entry's Merkle root: then they anchor the chains."""
        root = merkle.merkle_root(merkle.leaf_hash(h, *folded[h]) for h in sorted(folded))
        if root != entry["merkle_root"] or len(folded) != entry["leaf_count"]:
            found.add("checkpoint_log", f"检查点日志中检查点 {entry['id']} 的链头记录被改动")
            return
        found.checkpoint_id = entry["id"]
        found.anchors = {h: head for h, head in folded.items() if wanted is None or h in wanted}


def _db_fields(cp: AuditCheckpoint) -> tuple[Any, ...]:
    return (_stamp(cp.created_at), cp.leaf_count, cp.merkle_root, cp.prev_hash, cp.hash,
            cp.signature, cp.key_id)


def _stamp(moment: datetime) -> str:
    """A timestamp as the checkpoint's hash reads it (`chain.canonical`)."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _no_checkpoint(session: Session, now: datetime, interval: timedelta, found: Findings) -> None:
    """No checkpoint at all, in the database or the log, although the trail is older than one
    interval: the checkpoint flow is not running, or every checkpoint was deleted."""
    oldest = session.execute(select(AuditEvent.occurred_at).order_by(AuditEvent.id).limit(1)).scalar_one_or_none()
    if oldest is not None and now - oldest > interval:
        found.add("no_checkpoint", f"没有任何检查点：最早的审计事件记于 {_local(oldest)}，已超过检查点间隔 "
                                   f"{int(interval.total_seconds())} 秒（检查点流程没有运行，或检查点已被删除）")


def evidence(settings: Settings) -> Evidence:
    """The evidence the settings name: the CLI, the flow, the API and the web page verify with it."""
    return Evidence(
        keyring=load_keyring(settings.audit_signing_key_path, settings.audit_verify_key),
        log=CheckpointLog.at(settings.audit_checkpoint_log_target),
        interval=timedelta(seconds=settings.audit_checkpoint_interval_seconds),
    )
