"""Authenticator secrets are stored encrypted on the users topic (P18), with a key kept outside
Kafka: whoever can read the topic (a backup, an operator with topic access) cannot mint codes.

AES-256-GCM, the user name as associated data (a secret copied onto another user does not
decrypt). The key is ``ALPR_DIRECTORY_KEY`` (base64 of 32 bytes, e.g. a mounted Kubernetes
Secret through ``ALPR_DIRECTORY_KEY_FILE``); when it is unset the key is a file ``directory.key``
in the state directory, created owner-only (0600, in a 0700 directory) on first use.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from streams.errors import ConfigError
from streams.settings import Settings

__all__ = ["SecretBox", "create_key_file", "private_dir", "private_file"]

_PREFIX = "v1:"


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) owner-only (0700), and make an existing one so."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to a file that is owner-only (0600) from the moment it exists."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def create_key_file(path: Path, data: bytes) -> None:
    """Create the owner-only key file ``path`` holding ``data`` unless it exists. It is written whole
    under another name and then linked, so two processes starting at once agree on one key (the
    second link fails and that process reads the first's key)."""
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    private_file(draft, data)
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ConfigError(
                "ALPR_DIRECTORY_KEY must be the base64 of 32 bytes (e.g. `openssl rand -base64 32`)"
            )
        self._aead = AESGCM(key)

    @classmethod
    def for_settings(cls, settings: Settings) -> SecretBox:
        if settings.directory_key:
            try:
                return cls(base64.b64decode(settings.directory_key, validate=True))
            except binascii.Error as exc:
                raise ConfigError("ALPR_DIRECTORY_KEY is not base64 (use `openssl rand -base64 32`)") from exc
        path = settings.state_dir / "directory.key"
        if not path.exists():
            create_key_file(path, base64.b64encode(AESGCM.generate_key(bit_length=256)))
        try:
            return cls(base64.b64decode(path.read_bytes().strip(), validate=True))
        except binascii.Error as exc:
            raise ConfigError(f"{path} is not a base64 key: restore it from its backup") from exc

    def seal(self, secret: str, name: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, secret.encode(), name.encode())
        return _PREFIX + base64.b64encode(nonce + sealed).decode()

    def open(self, sealed: str, name: str) -> str:
        if not sealed.startswith(_PREFIX):
            raise ConfigError(f"the authenticator secret of {name!r} is not encrypted: re-enrol the user")
        raw = base64.b64decode(sealed[len(_PREFIX) :])
        try:
            return self._aead.decrypt(raw[:12], raw[12:], name.encode()).decode()
        except InvalidTag as exc:
            raise ConfigError(
                f"the authenticator secret of {name!r} does not open with this directory key "
                "(ALPR_DIRECTORY_KEY or the state directory's directory.key)"
            ) from exc
