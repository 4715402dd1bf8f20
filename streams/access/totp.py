"""Time-based one-time passwords (RFC 6238, HMAC-SHA1, 30 s, 6 digits): the second factor (P18).

The codes any authenticator app shows. A code is accepted for its own 30-second step and the one
before (clock drift), and only once per user: a code seen once cannot sign in again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from datetime import datetime
from urllib.parse import quote

__all__ = ["code_at", "new_secret", "provisioning_uri", "verify"]

STEP_S = 30
DIGITS = 6


def new_secret() -> str:
    """A random base32 secret (160 bits), as authenticator apps take it."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _key(secret: str) -> bytes:
    padded = secret.upper().replace(" ", "")
    return base64.b32decode(padded + "=" * (-len(padded) % 8))


def code_at(secret: str, when: datetime, step_offset: int = 0) -> str:
    counter = int(when.timestamp()) // STEP_S + step_offset
    digest = hmac.new(_key(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


def verify(secret: str, code: str, when: datetime) -> int | None:
    """The time step the code belongs to (now or one step back), or None when it is wrong."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    now_step = int(when.timestamp()) // STEP_S
    for back in (0, -1):
        if hmac.compare_digest(code_at(secret, when, back), code):
            return now_step + back
    return None


def provisioning_uri(secret: str, user: str, issuer: str) -> str:
    """``otpauth://`` URI for an authenticator app (shown as a QR code by most tools)."""
    return (
        f"otpauth://totp/{quote(issuer)}:{quote(user)}?secret={secret}&issuer={quote(issuer)}&period={STEP_S}"
    )
