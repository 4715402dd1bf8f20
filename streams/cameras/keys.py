"""Per-camera ingest keys (issue 9, item 2): issued at registration, replaceable, revocable.

A camera (or the vendor gateway that speaks for it) sends its reads to ``alpr ingest`` with
``Authorization: Bearer <key>``; the key names the camera, so a camera can only send its own reads.

* A key is ``alprck_<camera label>.<secret>``, the secret ``secrets.token_urlsafe(32)`` (256 random
  bits). The label is the camera id with every character a bearer token may not hold (RFC 6750:
  a space, ``:``) written as ``_``, so ``BXH9904 SPD2020627MDC`` gives ``alprck_BXH9904_SPD2020627MDC.``
  It only tells people which camera a key belongs to: a key is found by its hash, never parsed.
* Only the key's sha256 is stored, on the compacted ``camera-keys`` topic keyed by camera id, one
  record per camera holding its current key. A plain sha256 is enough here: slow, salted password
  hashes (bcrypt, argon2) exist because passwords are guessable; a 256-bit random secret is not,
  and no table of precomputed hashes can cover 2**256 inputs. The ingest hashes every request's key,
  which a fast hash keeps cheap.
* The key is shown once, to the administrator who issued it (P21); it cannot be shown again.
  Issuing a new key replaces the record, so the old key stops working; revoking keeps the record
  with status ``revoked`` so that its holder is told the key was revoked (403) rather than that it
  is unknown (401). Retiring the camera makes its key useless: the ingest also checks the camera.
* Each issue and revoke is written to the audit trail (P14), as the registry's changes are.

:func:`authenticate` is what the ingest decides for a presented key; it and everything above
:class:`CameraKeyStore` are pure (``new_key`` takes the secret as an argument for tests).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from streams.access.audit import AccessRecorded, write_audited
from streams.access.permissions import require
from streams.access.principal import Principal
from streams.cameras.registry import PURPOSE, Camera, CameraRegistry, CameraStore
from streams.codec import dumps, loads
from streams.errors import ConfigError, InvalidRecord, NotFound
from streams.kafka.log import fold_latest, read_latest
from streams.settings import Settings

__all__ = [
    "KEY_PREFIX",
    "Admitted",
    "CameraKey",
    "CameraKeyStore",
    "IssuedKey",
    "KeyRing",
    "Refused",
    "authenticate",
    "decode_key",
    "encode_key",
    "fold",
    "issue",
    "key_digest",
    "new_key",
    "revoke",
]

KEY_PREFIX = "alprck_"
SECRET_BYTES = 32  # 256 bits
#: Longer than any key this module makes (prefix, a 64-character camera id, '.', 43 characters).
MAX_KEY_LENGTH = 160
KeyStatus = Literal["active", "revoked"]
#: Characters a bearer token may not hold (RFC 6750 b64token), as found in camera ids.
_NOT_IN_TOKEN = re.compile(r"[^A-Za-z0-9._~+/-]")
_DIGEST_HEX = 64


def key_digest(key: str) -> str:
    """The stored form of a key: sha256, hex (see the module's docstring for why sha256 suffices)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class CameraKey:
    """A camera's current key, as stored: its hash, never the key."""

    camera_id: str
    sha256: str
    issued_at: datetime
    issued_by: str
    status: KeyStatus = "active"
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    @property
    def fingerprint(self) -> str:
        """A short, non-secret name of the key for people, the audit trail and logs."""
        return self.sha256[:12]

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key and its record. ``key`` exists only here: it is shown once and never stored."""

    key: str = field(repr=False)
    record: CameraKey


def new_key(camera_id: str, by: str, now: datetime, secret: str | None = None) -> IssuedKey:
    """A fresh key for the camera. ``secret`` is for tests; by default 256 random bits."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    label = _NOT_IN_TOKEN.sub("_", camera_id)
    key = f"{KEY_PREFIX}{label}.{secret or secrets.token_urlsafe(SECRET_BYTES)}"
    return IssuedKey(key, CameraKey(camera_id, key_digest(key), now, by))


# -- the wire -------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def encode_key(record: CameraKey) -> bytes:
    """The record's value on the camera-keys topic."""
    return dumps(
        {
            "camera_id": record.camera_id,
            "sha256": record.sha256,
            "status": record.status,
            "issued_at": record.issued_at.isoformat(),
            "issued_by": record.issued_by,
            "revoked_at": _iso(record.revoked_at),
            "revoked_by": record.revoked_by,
        }
    )


def _time(data: Mapping[str, Any], name: str) -> datetime:
    value = data.get(name)
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InvalidRecord("schema", f"camera key: {name}={value!r} is not a date-time with a UTC offset")
    return parsed


def decode_key(key: bytes | None, value: bytes) -> CameraKey:
    """A record of the camera-keys topic, checked field by field and against its key."""
    data = loads(value)
    if not isinstance(data, dict):
        raise InvalidRecord("schema", "camera key: the record is not a JSON object")
    camera_id, digest, status = data.get("camera_id"), data.get("sha256"), data.get("status")
    if not isinstance(camera_id, str) or not camera_id:
        raise InvalidRecord("schema", "camera key: camera_id is missing")
    if not (
        isinstance(digest, str)
        and len(digest) == _DIGEST_HEX
        and all(c in "0123456789abcdef" for c in digest)
    ):
        raise InvalidRecord("schema", "camera key: sha256 is not 64 lower-case hex digits")
    if status not in ("active", "revoked"):
        raise InvalidRecord("schema", f"camera key: status {status!r}: use active or revoked")
    issued_by, revoked_by = data.get("issued_by"), data.get("revoked_by")
    if not isinstance(issued_by, str) or not (revoked_by is None or isinstance(revoked_by, str)):
        raise InvalidRecord("schema", "camera key: issued_by and revoked_by are user names")
    record = CameraKey(
        camera_id,
        digest,
        _time(data, "issued_at"),
        issued_by,
        status,
        None if data.get("revoked_at") is None else _time(data, "revoked_at"),
        revoked_by,
    )
    if (record.status == "revoked") != (record.revoked_at is not None):
        raise InvalidRecord("schema", "camera key: revoked_at is set exactly when the key is revoked")
    if key is not None and key != camera_id.encode():
        raise InvalidRecord("key", f"the key record of camera {camera_id!r} is under key {key!r}")
    return record


# -- the keys: a fold over the topic --------------------------------------------------------------


@dataclass(frozen=True)
class KeyRing:
    keys: Mapping[str, CameraKey] = field(default_factory=dict)  # camera id -> its current key
    invalid: Mapping[str, str] = field(default_factory=dict)  # camera id -> why its record is unusable

    def by_digest(self) -> dict[str, CameraKey]:
        return {k.sha256: k for k in self.keys.values()}


def fold(records: Iterable[tuple[bytes | None, bytes | None]], ring: KeyRing | None = None) -> KeyRing:
    """The keys after these (key, value) records of the camera-keys topic, in log order. As in the
    registry, a key's newest record decides; one that cannot be read leaves the camera keyless."""
    keys = dict(ring.keys) if ring else {}
    invalid = dict(ring.invalid) if ring else {}
    fold_latest(records, decode_key, keys, invalid)
    return KeyRing(keys, invalid)


# -- the commands (pure) --------------------------------------------------------------------------


def issue(
    registry: CameraRegistry, ring: KeyRing, camera_id: str, by: str, now: datetime, secret: str | None = None
) -> tuple[IssuedKey, CameraKey | None]:
    """A new key for a registered, active camera, and the key it replaces (None: it had none)."""
    camera = registry.get(camera_id)
    if not camera.active:
        raise ConfigError(
            f"camera {camera_id} was retired on {camera.retired_on}: a retired camera gets no key"
        )
    return new_key(camera_id, by, now, secret), ring.keys.get(camera_id)


def revoke(ring: KeyRing, camera_id: str, by: str, now: datetime) -> CameraKey:
    """The camera's key, revoked: the camera's reads are refused until a new key is issued."""
    current = ring.keys.get(camera_id)
    if current is None:
        raise NotFound(f"camera {camera_id} has no key: issue one with 'alpr camera key issue {camera_id}'")
    if not current.active:
        raise ConfigError(f"the key of camera {camera_id} was revoked already, on {_iso(current.revoked_at)}")
    return replace(current, status="revoked", revoked_at=now, revoked_by=by)


@dataclass(frozen=True, slots=True)
class Admitted:
    camera: Camera
    key: CameraKey


@dataclass(frozen=True, slots=True)
class Refused:
    status: int  # 401: no such key (whether or not the camera exists); 403: known key, not allowed
    reason: str
    camera_id: str | None = None  # set for 403 only: the holder of a real key may know its camera


def authenticate(
    presented: str | None, keys_by_digest: Mapping[str, CameraKey], cameras: Mapping[str, Camera]
) -> Admitted | Refused:
    """What the ingest answers a request bearing ``presented`` (the bearer key, None: no header).

    401 for a missing or unknown key, in the same words whether or not the camera named in it
    exists or has another key (P20: say nothing to someone who holds no key). 403 only to the
    holder of a key that was real: revoked, or its camera retired or no longer registered.
    """
    if not presented:
        return Refused(401, "missing key: send 'Authorization: Bearer <camera key>'")
    unknown = Refused(401, "unknown key")
    if len(presented) > MAX_KEY_LENGTH or not presented.startswith(KEY_PREFIX):
        return unknown
    digest = key_digest(presented)
    record = keys_by_digest.get(digest)
    # the lookup is by a hash the caller cannot steer; compare_digest keeps the final check constant-time
    if record is None or not hmac.compare_digest(record.sha256, digest):
        return unknown
    if not record.active:
        when = _iso(record.revoked_at)
        return Refused(403, f"the key of camera {record.camera_id} was revoked on {when}", record.camera_id)
    camera = cameras.get(record.camera_id)
    if camera is None:
        return Refused(403, f"camera {record.camera_id} is not registered", record.camera_id)
    if not camera.active:
        return Refused(403, f"camera {camera.id} was retired on {camera.retired_on}", camera.id)
    return Admitted(camera, record)


# -- I/O ------------------------------------------------------------------------------------------


def _audit(
    now: datetime, by: Principal, action: str, camera_id: str, detail: dict[str, Any]
) -> AccessRecorded:
    # The registry's shape ("registered_camera", not "camera": audit_tools counts that as a search).
    return by.audit(now, action, {"registered_camera": camera_id, **detail}, 1, purpose=PURPOSE)


class CameraKeyStore:
    """The keys on the camera-keys topic; each change is checked against the state read just before."""

    def __init__(self, settings: Settings, cameras: CameraStore | None = None) -> None:
        self.settings = settings
        self.topic = settings.topic("camera-keys")
        self.cameras = cameras or CameraStore(settings)

    async def load(self) -> KeyRing:
        latest = await read_latest(self.settings.kafka, self.topic)
        return fold((key, record.value) for key, record in latest.items())

    async def add_camera(self, camera: Camera, by: Principal, now: datetime) -> tuple[Camera, IssuedKey]:
        """Register the camera with its first key: both records are written before the one audit
        record of the registration (which names the key's fingerprint); a refusal writes neither.
        Administrators only (P21)."""
        require(by, "camera.admin")
        issued = new_key(camera.id, by.name, now)
        added = await self.cameras.add(
            camera,
            by,
            now,
            also=[(self.topic, camera.id.encode(), encode_key(issued.record))],
            detail={"key": issued.record.fingerprint},
        )
        return added, issued

    async def _write(self, record: CameraKey, audit: AccessRecorded) -> None:
        await write_audited(
            self.settings, [(self.topic, record.camera_id.encode(), encode_key(record))], audit
        )

    async def issue(self, camera_id: str, by: Principal, now: datetime) -> tuple[IssuedKey, CameraKey | None]:
        """A new key for the camera (the old one, returned, stops working); administrators (P21)."""
        require(by, "camera.admin")
        issued, old = issue(await self.cameras.load(), await self.load(), camera_id, by.name, now)
        detail = {"key": issued.record.fingerprint, "replaces": old.fingerprint if old else None}
        await self._write(issued.record, _audit(now, by, "camera_key_issue", camera_id, detail))
        return issued, old

    async def revoke(self, camera_id: str, by: Principal, now: datetime) -> CameraKey:
        require(by, "camera.admin")
        revoked = revoke(await self.load(), camera_id, by.name, now)
        await self._write(
            revoked, _audit(now, by, "camera_key_revoke", camera_id, {"key": revoked.fingerprint})
        )
        return revoked
