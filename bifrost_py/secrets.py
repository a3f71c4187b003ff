"""Secrets at rest: provider API keys and AWS secrets stored encrypted with AES-GCM.

The master key comes from `BIFROST_SECRET_KEY` (any text: it is stretched to 32 bytes with
SHA-256; `openssl rand -base64 32` is a good one) or, when that is unset, from the file
`secret.key` in the data folder, created on first start with mode 0600. A sealed value reads

    bfsec1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>

`key id` (8 hex digits of the key's SHA-256) says which master key sealed it, so that
`bifrost-py rotate-secret-key` and a wrong BIFROST_SECRET_KEY are told apart from a damaged
value. The associated data binds each value to where it is stored (`provider:NAME`): a sealed
key copied into another provider's row does not open there.

`cryptography`'s AESGCM is the whole cipher: writing our own would be the one thing worse than
storing the keys in plain text.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "bfsec1"
KEY_FILE = "secret.key"
ENV_KEY = "BIFROST_SECRET_KEY"
NONCE_BYTES = 12


class SecretError(Exception):
    """A sealed value cannot be opened: another master key sealed it, or it was damaged."""


@dataclass(frozen=True, slots=True)
class SecretBox:
    """Seals and opens values under one 32-byte master key."""

    key: bytes

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.key).hexdigest()[:8]

    def seal(self, plain: str, where: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.key).encrypt(nonce, plain.encode("utf-8"), where.encode("utf-8"))
        return f"{PREFIX}:{self.key_id}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def open(self, sealed: str, where: str) -> str:
        key_id, body = _parts(sealed)
        if key_id != self.key_id:
            raise SecretError(f"sealed under another master key ({key_id}; this one is {self.key_id}): "
                              f"set {ENV_KEY} to the key in use when it was stored")
        try:
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
            plain = AESGCM(self.key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], where.encode("utf-8"))
        except (InvalidTag, ValueError) as exc:
            raise SecretError(f"a stored secret of {where} is damaged or was moved from elsewhere") from exc
        return plain.decode("utf-8")


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX + ":")


def _parts(sealed: str) -> tuple[str, str]:
    """(key id, body) of a sealed value."""
    prefix, _, rest = sealed.partition(":")
    key_id, _, body = rest.partition(":")
    if prefix != PREFIX or not key_id or not body:
        raise SecretError("not a sealed secret")
    return key_id, body


def key_from_text(text: str) -> bytes:
    """32 bytes from the configured text: base64 of exactly 32 bytes is taken as is, anything
    else is stretched with SHA-256 (a passphrase still works, with the strength it has)."""
    text = text.strip()
    try:
        raw = base64.b64decode(text, validate=True) if len(text) == 44 else b""
    except ValueError:
        raw = b""
    return raw if len(raw) == 32 else hashlib.sha256(text.encode("utf-8")).digest()


def master_box(data_dir: Path, environ: dict[str, str] | None = None) -> SecretBox:
    """The master key: BIFROST_SECRET_KEY, else `data_dir/secret.key` (created 0600 when absent)."""
    env = os.environ if environ is None else environ
    text = env.get(ENV_KEY, "")
    if text.strip():
        return SecretBox(key_from_text(text))
    return SecretBox(key_from_text(read_or_create_key_file(data_dir / KEY_FILE)))


def read_or_create_key_file(path: Path) -> str:
    """The key file's text; a new random key when there is none. The new file is written
    whole under a temporary name with mode 0600, then linked into place: never readable by
    others, never seen half-written, and of two processes starting together one wins and
    both use its key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        temporary = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        _write_private(temporary, new_key_text())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_text()


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text.strip() + "\n")


def write_key_file(path: Path, text: str) -> None:
    """Replace the key file atomically (rotation), mode 0600 from the start."""
    temporary = path.with_name(path.name + ".new")
    _write_private(temporary, text)
    os.replace(temporary, path)


def new_key_text() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def mask(value: str) -> str:
    """What an API may show of a secret: its last four characters at most."""
    return ("…" + value[-4:]) if len(value) > 12 else "…"
