"""Where a read's images are kept: a plate crop and an overview image (issue 18, item 1).

A read on Kafka never carries image bytes; it carries ``image_ref``: a vendor's URL, or
``alpr-image:<key>`` when its images are in the project's store. The key is derived from the read
(its id and capture day), so a front end recomputes it from the read it is allowed to see and
never trusts a key that came over the wire. The images live exactly as long as their read: the
retention sweep (streams/images/sweep.py) deletes them with the read retention (P11) unless the
read is on evidence hold (P12), so every store can list what was captured before a cutoff.

Two stores: files under the state directory (the embedded default) and any S3-compatible object
store (production: AWS S3, MinIO, Ceph). Only JPEG and PNG are ever stored, recognised by their
magic bytes: anything else (SVG, HTML...) would be served to a browser by the console.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from streams.errors import ConfigError, InvalidRecord

if TYPE_CHECKING:
    from streams.settings import Settings

__all__ = [
    "KINDS",
    "REF_PREFIX",
    "ImageStore",
    "LocalImageStore",
    "S3ImageStore",
    "StoredImage",
    "check_image",
    "image_key",
    "image_ref",
    "key_of_ref",
    "open_store",
    "read_digest",
    "sniff",
]

KINDS = ("plate", "overview")  # plate crop, overview (vehicle/scene) image
REF_PREFIX = "alpr-image:"  # a read's image_ref when its images are in the project's store
_KEY = re.compile(r"(\d{4}-\d{2}-\d{2})/([0-9a-f]{40})")
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}
_STAMP = "%Y%m%dT%H%M%S.%fZ"


def image_key(read_id: str, captured_at: datetime) -> str:
    """'<YYYY-MM-DD of captured_at in UTC>/<sha256(read_id) hex, first 40>'.

    The day first, so a retention sweep lists only the days before its cutoff; a hash of the
    read id, so a key holds no vendor text that could climb out of its folder.
    """
    if captured_at.tzinfo is None:
        raise ValueError("captured_at must be timezone-aware (UTC)")
    return f"{captured_at.astimezone(UTC).date().isoformat()}/{read_digest(read_id)}"


def read_digest(read_id: str) -> str:
    """The part of a read's image key that names the read (the same whatever its day)."""
    return hashlib.sha256(read_id.encode("utf-8")).hexdigest()[:40]


def image_ref(read_id: str, captured_at: datetime) -> str:
    """The read's ``image_ref`` when its images are in the project's store."""
    return REF_PREFIX + image_key(read_id, captured_at)


def key_of_ref(ref: str | None) -> str | None:
    """The store key an ``alpr-image:`` ref names; None for a vendor URL, nothing, or a malformed ref."""
    if not ref or not ref.startswith(REF_PREFIX):
        return None
    key = ref.removeprefix(REF_PREFIX)
    return key if _valid_key(key) else None


@dataclass(frozen=True, slots=True)
class StoredImage:
    data: bytes
    content_type: str  # "image/jpeg" | "image/png"


def sniff(data: bytes) -> str | None:
    """The content type from the magic bytes: JPEG or PNG only; None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return None


def check_image(kind: str, data: bytes, max_bytes: int) -> str:
    """The content type of an image that may be stored; InvalidRecord saying why not otherwise."""
    _check_kind(kind)
    content_type = sniff(data)
    if content_type is None:
        raise InvalidRecord(
            "image_type", f"the {kind} image is not a JPEG or PNG (by its first bytes): send JPEG or PNG"
        )
    if len(data) > max_bytes:
        raise InvalidRecord(
            "image_size",
            f"the {kind} image has {len(data)} bytes, more than the {max_bytes} bytes allowed: "
            "send a smaller one",
        )
    return content_type


def _valid_key(key: str) -> bool:
    match = _KEY.fullmatch(key)
    if match is None:
        return False
    try:
        date.fromisoformat(match.group(1))
    except ValueError:
        return False
    return True


def _check_key(key: str) -> None:
    if not _valid_key(key):
        raise InvalidRecord("image_key", f"{key!r} is not an image key ('YYYY-MM-DD/' and 40 hex digits)")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InvalidRecord("image_kind", f"{kind!r} is not an image kind: use one of {', '.join(KINDS)}")


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware (UTC)")
    return moment.astimezone(UTC)


class ImageStore(Protocol):
    async def put(self, key: str, kind: str, data: bytes, captured_at: datetime) -> None: ...

    async def get(self, key: str, kind: str) -> StoredImage | None: ...

    async def delete(self, key: str) -> int:
        """Remove all kinds of one read; how many objects were removed."""
        ...

    def older_than(self, cutoff: datetime) -> AsyncIterator[tuple[str, datetime]]:
        """(key, capture time) of every read whose images were captured before ``cutoff``."""
        ...


@dataclass(frozen=True, slots=True)
class _Limits:
    plate: int
    overview: int

    def check(self, kind: str, data: bytes) -> str:
        _check_kind(kind)
        return check_image(kind, data, self.plate if kind == "plate" else self.overview)


# -- local files under the state directory ----------------------------------------------------------


class LocalImageStore:
    """``<root>/<YYYY-MM-DD>/<hash>/<kind>.<capture time>.<jpg|png>``, 0600 files in 0700 folders.

    The capture time is in the file name (to the microsecond), so the sweep is exact and an image
    and its time are written by one atomic rename: no sidecar that a crash could leave behind.
    """

    def __init__(self, root: Path, max_plate_bytes: int, max_overview_bytes: int) -> None:
        self.root = root
        self._limits = _Limits(max_plate_bytes, max_overview_bytes)

    def _dir(self, key: str) -> Path:
        _check_key(key)
        return self.root / key

    async def put(self, key: str, kind: str, data: bytes, captured_at: datetime) -> None:
        folder = self._dir(key)
        content_type = self._limits.check(kind, data)
        name = f"{kind}.{_utc(captured_at).strftime(_STAMP)}.{_EXTENSIONS[content_type]}"
        await asyncio.to_thread(self._write, folder, kind, name, data)

    def _write(self, folder: Path, kind: str, name: str, data: bytes) -> None:
        for directory in (self.root, folder.parent, folder):
            directory.mkdir(mode=0o700, exist_ok=True)
            directory.chmod(0o700)
        tmp = folder / f".tmp-{secrets.token_hex(8)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, folder / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        for old in self._files(folder, kind):  # the same kind written again: one copy only
            if old.name != name:
                old.unlink(missing_ok=True)

    @staticmethod
    def _files(folder: Path, kind: str | None = None) -> list[Path]:
        try:
            entries = list(folder.iterdir())
        except FileNotFoundError:
            return []
        return [
            entry
            for entry in entries
            if not entry.name.startswith(".") and (kind is None or entry.name.split(".", 1)[0] == kind)
        ]

    async def get(self, key: str, kind: str) -> StoredImage | None:
        folder = self._dir(key)
        _check_kind(kind)
        return await asyncio.to_thread(self._read, folder, kind)

    def _read(self, folder: Path, kind: str) -> StoredImage | None:
        for path in self._files(folder, kind):
            with contextlib.suppress(FileNotFoundError):
                data = path.read_bytes()
                content_type = sniff(data)
                if content_type is not None:
                    return StoredImage(data, content_type)
        return None

    async def delete(self, key: str) -> int:
        folder = self._dir(key)
        return await asyncio.to_thread(self._remove, folder)

    def _remove(self, folder: Path) -> int:
        removed = 0
        for path in self._files(folder):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
        with contextlib.suppress(FileNotFoundError, OSError):
            folder.rmdir()  # left in place only if a put is writing into it right now
            folder.parent.rmdir()  # the day's folder, once its last read is gone
        return removed

    async def older_than(self, cutoff: datetime) -> AsyncIterator[tuple[str, datetime]]:
        cutoff = _utc(cutoff)
        for day in await asyncio.to_thread(self._days_through, cutoff.date()):
            for key, captured in await asyncio.to_thread(self._captured_on, day):
                if captured < cutoff:
                    yield key, captured

    def _days_through(self, last: date) -> list[str]:
        try:
            names = sorted(entry.name for entry in self.root.iterdir())
        except FileNotFoundError:
            return []
        return [name for name in names if (day := _day(name)) is not None and day <= last]

    def _captured_on(self, day: str) -> list[tuple[str, datetime]]:
        found = []
        for folder in sorted((self.root / day).iterdir()):
            key = f"{day}/{folder.name}"
            if not _valid_key(key):
                continue
            times = [t for t in (_stamp(path.name) for path in self._files(folder)) if t is not None]
            if times:
                found.append((key, min(times)))
        return found


def _day(name: str) -> date | None:
    try:
        return date.fromisoformat(name) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", name) else None
    except ValueError:
        return None


def _stamp(name: str) -> datetime | None:
    parts = name.split(".")
    if len(parts) != 4:  # kind, date-time, fraction, extension
        return None
    try:
        return datetime.strptime(f"{parts[1]}.{parts[2]}", _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


# -- S3-compatible object storage -------------------------------------------------------------------


class S3ImageStore:
    """Objects ``<prefix>/<key>/<kind>`` in one bucket, the capture time in their metadata.

    boto3 is blocking, so each call runs in a thread. Credentials come from boto3's standard
    chain (environment, shared files, instance/pod role) and are never read or logged here.
    """

    def __init__(
        self, client: Any, bucket: str, prefix: str, max_plate_bytes: int, max_overview_bytes: int
    ) -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._limits = _Limits(max_plate_bytes, max_overview_bytes)

    def _object(self, key: str, kind: str) -> str:
        _check_key(key)
        _check_kind(kind)
        return f"{self.prefix}/{key}/{kind}"

    async def put(self, key: str, kind: str, data: bytes, captured_at: datetime) -> None:
        name = self._object(key, kind)
        content_type = self._limits.check(kind, data)
        await asyncio.to_thread(
            self._client.put_object,
            Bucket=self.bucket,
            Key=name,
            Body=data,
            ContentType=content_type,
            Metadata={"captured-at": _utc(captured_at).isoformat()},
        )

    async def get(self, key: str, kind: str) -> StoredImage | None:
        name = self._object(key, kind)
        return await asyncio.to_thread(self._get, name)

    def _get(self, name: str) -> StoredImage | None:
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=name)
        except self._client.exceptions.NoSuchKey:
            return None
        data: bytes = answer["Body"].read()
        content_type = sniff(data)  # what the bytes are, never what the object claims
        return StoredImage(data, content_type) if content_type is not None else None

    async def delete(self, key: str) -> int:
        _check_key(key)
        return await asyncio.to_thread(self._delete, f"{self.prefix}/{key}/")

    def _delete(self, folder: str) -> int:
        names = [item["Key"] for page in self._pages(folder) for item in page.get("Contents", [])]
        if not names:
            return 0
        answer = self._client.delete_objects(
            Bucket=self.bucket, Delete={"Objects": [{"Key": n} for n in names], "Quiet": True}
        )
        if answer.get("Errors"):
            first = answer["Errors"][0]
            raise OSError(
                f"S3 refused to delete {first.get('Key')}: {first.get('Code')} {first.get('Message')}"
            )
        return len(names)

    def _pages(self, prefix: str, delimiter: str | None = None) -> list[dict[str, Any]]:
        paginator = self._client.get_paginator("list_objects_v2")
        options = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            options["Delimiter"] = delimiter
        return list(paginator.paginate(**options))

    async def older_than(self, cutoff: datetime) -> AsyncIterator[tuple[str, datetime]]:
        cutoff = _utc(cutoff)
        for day in await asyncio.to_thread(self._days_through, cutoff.date()):
            for key, captured in await asyncio.to_thread(self._captured_on, day):
                if captured < cutoff:
                    yield key, captured

    def _days_through(self, last: date) -> list[str]:
        days = []
        for page in self._pages(f"{self.prefix}/", "/"):
            for common in page.get("CommonPrefixes", []):
                name = common["Prefix"].removeprefix(f"{self.prefix}/").rstrip("/")
                day = _day(name)
                if day is not None and day <= last:
                    days.append(name)
        return sorted(days)

    def _captured_on(self, day: str) -> list[tuple[str, datetime]]:
        first_object: dict[str, str] = {}
        for page in self._pages(f"{self.prefix}/{day}/"):
            for item in page.get("Contents", []):
                key = item["Key"].removeprefix(f"{self.prefix}/").rsplit("/", 1)[0]
                if _valid_key(key):
                    first_object.setdefault(key, item["Key"])
        found = []
        for key, name in sorted(first_object.items()):
            metadata = self._client.head_object(Bucket=self.bucket, Key=name).get("Metadata", {})
            try:
                captured = datetime.fromisoformat(metadata["captured-at"])
            except (KeyError, ValueError):
                captured = datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC)
            found.append((key, _utc(captured)))
        return found


def open_store(settings: Settings) -> ImageStore:
    """The store the settings name: local files (default) or S3 (ALPR_IMAGES=s3)."""
    limits = (settings.image_max_plate_bytes, settings.image_max_overview_bytes)
    if settings.images == "local":
        return LocalImageStore(settings.state_dir / "images", *limits)
    if not settings.images_s3_bucket:
        raise ConfigError("ALPR_IMAGES=s3 needs ALPR_IMAGES_S3_BUCKET (the bucket the images go to)")
    try:
        import boto3  # the optional extra: pip install 'alpr-streams[s3]'
    except ImportError as exc:
        raise ConfigError(
            "ALPR_IMAGES=s3 needs boto3: install the project with its s3 extra (pip install '.[s3]')"
        ) from exc
    client = boto3.client(
        "s3",
        endpoint_url=settings.images_s3_endpoint or None,
        region_name=settings.images_s3_region or None,
    )
    return S3ImageStore(client, settings.images_s3_bucket, settings.images_s3_prefix, *limits)
