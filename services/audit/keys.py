"""The key that signs audit checkpoints, kept outside the database (DESIGN 3).

Whoever can write the database can recompute every hash, but cannot sign: checkpoints are signed
with an Ed25519 private key in a file only the service's account reads (HAZARD_AUDIT_SIGNING_KEY,
written by `hazard audit keygen`). Verifying needs only public keys: derived from that file, or
read from HAZARD_AUDIT_VERIFY_KEY, so an auditor's machine verifies without the private key. That
file holds one public key per line (hex, as keygen prints it, `#` comments allowed) or PEM public
keys; keeping the old key there after a rotation lets the checkpoints it signed still verify.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.kernel.errors import DomainError

log = structlog.get_logger("hazard.audit")

# What is signed: the checkpoint's hash under a fixed prefix, so the signature means nothing else.
CONTEXT = b"hazard-audit-checkpoint:v1:"


class AuditKeyError(DomainError):
    """The signing key cannot be had (missing outside development, unreadable, not Ed25519)."""

    status = 503
    code = "audit_key"


def public_bytes(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """The first 16 hex digits of the SHA-256 of the raw public key."""
    return hashlib.sha256(public_bytes(public)).hexdigest()[:16]


def public_path(private_path: Path) -> Path:
    """Where keygen puts the public key, to be copied to an auditor's HAZARD_AUDIT_VERIFY_KEY."""
    return private_path.with_name(private_path.name + ".pub")


@dataclass(frozen=True)
class Signer:
    private: Ed25519PrivateKey
    key_id: str

    def sign(self, checkpoint_hash: str) -> tuple[str, str]:
        """(signature hex, key id) over a checkpoint's hash."""
        return self.private.sign(CONTEXT + checkpoint_hash.encode("ascii")).hex(), self.key_id


@dataclass(frozen=True)
class Keyring:
    """The public keys checkpoints are verified with, by key id; `error` says why there are none."""

    keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    source: str = ""
    error: str | None = None

    def verify(self, key_id: str | None, checkpoint_hash: str, signature: str | None) -> bool | None:
        """True or False; None when no key of that id is known."""
        public = self.keys.get(key_id or "")
        if public is None:
            return None
        try:
            public.verify(bytes.fromhex(signature or ""), CONTEXT + checkpoint_hash.encode("ascii"))
        except (InvalidSignature, ValueError):
            return False
        return True


def keygen(path: Path, *, force: bool = False) -> Signer:
    """Write a new private key (PEM, mode 0600) and its public key next to it (`.pub`, hex).

    Refuses to replace an existing key unless `force`: checkpoints already signed verify only
    with the old public key, which must then be kept in HAZARD_AUDIT_VERIFY_KEY."""
    if path.exists() and not force:
        raise AuditKeyError(f"签名密钥已存在：{path}。如确需更换，请加 --force（旧公钥须保留在验证公钥文件中，"
                            "否则此前的检查点将无法校验）")
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write_atomically(path, pem, 0o600)
    public = private.public_key()
    _write_atomically(public_path(path), (public_bytes(public).hex() + "\n").encode("ascii"), 0o644)
    return Signer(private, key_id(public))


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)  # whatever the umask
    os.replace(tmp, path)


def load_signer(path: Path, *, development: bool) -> Signer:
    """The signing key. Missing: generated in development (with a warning), refused elsewhere."""
    if not path.exists():
        if not development:
            raise AuditKeyError(
                f"审计检查点签名密钥不存在：{path}。请先在服务主机上运行 hazard audit keygen 生成密钥"
                "（妥善备份，并把公钥交给审计方），或设置 HAZARD_AUDIT_SIGNING_KEY 指向已有的密钥文件；"
                "未签名的检查点不会建立")
        signer = keygen(path)
        log.warning("audit_signing_key_generated", path=str(path), key_id=signer.key_id,
                    zh=f"已生成审计检查点签名私钥 {path}（开发环境自动生成；生产环境请用 hazard audit keygen 生成并离线备份）")
        return signer
    private = _read_private(path)
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("audit_signing_key_readable_by_others", path=str(path))
    return Signer(private, key_id(private.public_key()))


def _read_private(path: Path) -> Ed25519PrivateKey:
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise AuditKeyError(f"无法读取审计签名密钥 {path}：{exc}") from exc
    if not isinstance(private, Ed25519PrivateKey):
        raise AuditKeyError(f"审计签名密钥 {path} 不是 Ed25519 密钥")
    return private


def load_keyring(signing_key: Path, verify_key: Path | None) -> Keyring:
    """The verification keys: from `verify_key` when given, else derived from the signing key.
    Never raises: a missing or bad file is a Keyring with an `error`, reported by verification
    only if there are signed checkpoints to check."""
    if verify_key is None:
        if not signing_key.exists():
            return Keyring(source=str(signing_key), error=f"签名密钥文件不存在：{signing_key}")
        try:
            public = _read_private(signing_key).public_key()
        except AuditKeyError as exc:
            return Keyring(source=str(signing_key), error=exc.message)
        return Keyring({key_id(public): public}, str(signing_key))
    try:
        keys = [public for public in _read_publics(verify_key.read_bytes())]
    except (OSError, ValueError) as exc:
        return Keyring(source=str(verify_key), error=f"无法读取验证公钥文件 {verify_key}：{exc}")
    if not keys:
        return Keyring(source=str(verify_key), error=f"验证公钥文件中没有公钥：{verify_key}")
    return Keyring({key_id(k): k for k in keys}, str(verify_key))


def _read_publics(data: bytes) -> list[Ed25519PublicKey]:
    text = data.decode("ascii")
    if "-----BEGIN PUBLIC KEY-----" in text:
        blocks = text.split("-----END PUBLIC KEY-----")
        keys = [serialization.load_pem_public_key((b + "-----END PUBLIC KEY-----").encode("ascii"))
                for b in blocks if "-----BEGIN PUBLIC KEY-----" in b]
        if not all(isinstance(k, Ed25519PublicKey) for k in keys):
            raise ValueError("不是 Ed25519 公钥")
        return keys  # type: ignore[return-value]
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return [Ed25519PublicKey.from_public_bytes(bytes.fromhex(line)) for line in lines if line]
