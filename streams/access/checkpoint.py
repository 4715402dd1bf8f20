"""Signed checkpoints of the audit trail's head (P14).

A hash chain without a secret cannot show that nobody rebuilt it: whoever can write Kafka can
append a chain anchored on "genesis", back-date records, or cut a partition's head and call it
retention. So the head of every audit partition is signed now and then with an Ed25519 key kept
outside Kafka: for each partition its first offset (retention removes records before it), its end
(how many records were ever written), and the offset, hash and time of its first and newest
record. ``alpr audit verify`` (:mod:`streams.access.audit_tools`) holds the trail to every
checkpoint signed by a trusted key; the digest of the latest one is published (transparency page,
annual report), so a rewrite after publication is found even by someone who rewrites the
checkpoints too.

The key is ``ALPR_AUDIT_SIGNING_KEY_FILE`` or ``audit-signing.key`` in the state directory,
created owner-only (0600 in a 0700 directory) on first use. Trusted keys: ``ALPR_AUDIT_PUBLIC_KEYS``
(the published ones) and the public half of the local key when the file exists. A checkpoint
signed by another key, or whose signature does not match, is a broken link, never evidence.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import TopicPartition
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from streams.access.secretbox import create_key_file
from streams.errors import BrokerError, ConfigError
from streams.kafka.log import TopicWriter, fetch_from, log_ends, read_topic, started_reader
from streams.kafka.topics import existing_partitions
from streams.settings import Settings

__all__ = [
    "KEY_FILE",
    "Checkpoint",
    "Mark",
    "PartitionHead",
    "audit_heads",
    "decode_checkpoint",
    "keep_checkpointing",
    "latest",
    "make_checkpoint",
    "newest_checkpoint",
    "public_key_text",
    "published_line",
    "read_checkpoints",
    "sign_checkpoint",
    "signing_key",
    "trusted_keys",
]

log = logging.getLogger(__name__)

KEY_FILE = "audit-signing.key"
EVENT = "AuditCheckpoint"


@dataclass(frozen=True, slots=True)
class Mark:
    """A record a checkpoint names: where it is, its chain hash and its ``at``."""

    offset: int
    hash: str
    at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "offset": self.offset,
            "hash": self.hash,
            "at": None if self.at is None else self.at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Mark | None:
        if data is None:
            return None
        at = data.get("at")
        return cls(int(data["offset"]), str(data["hash"]), None if at is None else datetime.fromisoformat(at))


@dataclass(frozen=True, slots=True)
class PartitionHead:
    """One audit partition as the checkpoint saw it: ``start`` is Kafka's log start offset (records
    before it had been removed), ``end`` one past the newest record (records ever written)."""

    partition: int
    start: int
    end: int
    first: Mark | None  # the record at ``start``
    head: Mark | None  # the record at ``end - 1``

    def to_dict(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "start": self.start,
            "end": self.end,
            "first": None if self.first is None else self.first.to_dict(),
            "head": None if self.head is None else self.head.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PartitionHead:
        return cls(
            int(data["partition"]),
            int(data["start"]),
            int(data["end"]),
            Mark.from_dict(data.get("first")),
            Mark.from_dict(data.get("head")),
        )


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A checkpoint whose signature checked out with a trusted key."""

    signed_at: datetime
    topic: str
    partitions: tuple[PartitionHead, ...]
    key: str  # base64 of the raw Ed25519 public key
    digest: str  # sha256 (hex) of the signed record's canonical JSON: what is published
    where: tuple[int, int] = (0, -1)  # partition and offset on the checkpoints topic

    def partition(self, number: int) -> PartitionHead | None:
        return next((p for p in self.partitions if p.partition == number), None)

    @property
    def records(self) -> int:
        """Records ever written to the audit topic when the checkpoint was signed."""
        return sum(p.end for p in self.partitions)


def _canonical(data: Mapping[str, Any]) -> bytes:
    return orjson.dumps(dict(data), option=orjson.OPT_SORT_KEYS)


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The public key as published: base64 of its 32 raw bytes."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def _key_path(settings: Settings) -> Path:
    return settings.audit_signing_key_file or settings.state_dir / KEY_FILE


def _load_key(path: Path) -> Ed25519PrivateKey:
    try:
        raw = base64.b64decode(path.read_bytes().strip(), validate=True)
        return Ed25519PrivateKey.from_private_bytes(raw)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(
            f"{path} is not an audit signing key (base64 of 32 bytes): restore it from its backup (P14)"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"the audit signing key {path} cannot be read: {exc.strerror}") from exc


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The key that signs checkpoints, created owner-only on first use (one key even when two
    processes start at once: :func:`~streams.access.secretbox.create_key_file`)."""
    path = _key_path(settings)
    if not path.exists():
        try:
            create_key_file(path, base64.b64encode(Ed25519PrivateKey.generate().private_bytes_raw()))
        except OSError as exc:
            raise ConfigError(
                f"no audit signing key at {path} and none can be created there ({exc.strerror}): set "
                "ALPR_AUDIT_SIGNING_KEY_FILE to the key file (P14)"
            ) from exc
    return _load_key(path)


def trusted_keys(settings: Settings) -> frozenset[str]:
    """The published keys (``ALPR_AUDIT_PUBLIC_KEYS``) and the local signing key's, if it exists
    (never created here: a verifier has no business minting a key)."""
    keys = set(settings.audit_public_keys)
    path = _key_path(settings)
    if path.exists():
        keys.add(public_key_text(_load_key(path)))
    return frozenset(keys)


def sign_checkpoint(
    key: Ed25519PrivateKey, topic: str, heads: Sequence[PartitionHead], signed_at: datetime
) -> dict[str, Any]:
    """The checkpoint record: the body and an Ed25519 signature over its canonical JSON."""
    body: dict[str, Any] = {
        "event": EVENT,
        "signed_at": signed_at.astimezone(UTC).isoformat(),
        "topic": topic,
        "partitions": [h.to_dict() for h in sorted(heads, key=lambda h: h.partition)],
        "key": public_key_text(key),
    }
    body = orjson.loads(_canonical(body))  # exactly what a reader parses
    body["signature"] = base64.b64encode(key.sign(_canonical(body))).decode()
    return body


def decode_checkpoint(
    raw: bytes, trusted: Iterable[str], where: tuple[int, int] = (0, -1)
) -> Checkpoint | str:
    """The checkpoint, or what is wrong with it: not a checkpoint, signed by a key nobody
    published, or a signature that does not match (the record was altered or forged)."""
    try:
        data = orjson.loads(raw)
        if not isinstance(data, dict) or data.get("event") != EVENT:
            return "not an audit checkpoint"
        signature = base64.b64decode(str(data["signature"]), validate=True)
        key_text = str(data["key"])
        body = {k: v for k, v in data.items() if k != "signature"}
        signed_at = datetime.fromisoformat(str(data["signed_at"]))
        heads = tuple(PartitionHead.from_dict(p) for p in data["partitions"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, binascii.Error) as exc:
        return f"not a readable audit checkpoint ({exc})"
    if key_text not in set(trusted):
        return (
            f"signed by an unknown key {key_text[:12]}...: not one of the published audit signing keys "
            "(ALPR_AUDIT_PUBLIC_KEYS): a forged checkpoint"
        )
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(key_text)).verify(signature, _canonical(body))
    except (InvalidSignature, ValueError, binascii.Error):
        return "bad signature: the checkpoint was altered after it was signed, or forged"
    if signed_at.tzinfo is None:
        return "a checkpoint time without UTC offset"
    digest = hashlib.sha256(_canonical(data)).hexdigest()
    return Checkpoint(signed_at, str(data["topic"]), heads, key_text, digest, where)


def latest(checkpoints: Iterable[Checkpoint]) -> Checkpoint | None:
    return max(checkpoints, key=lambda c: (c.signed_at, c.where), default=None)


def published_line(checkpoint: Checkpoint) -> str:
    """What is published: the digest with its time and the offsets it covers."""
    covered = ", ".join(
        f"partition {p.partition} offsets {p.start}-{p.end - 1}"
        if p.end > p.start
        else f"partition {p.partition} empty"
        for p in checkpoint.partitions
    )
    signed = checkpoint.signed_at.astimezone(UTC).isoformat(timespec="seconds")
    return f"sha256 {checkpoint.digest} signed {signed} ({checkpoint.records} records: {covered or 'empty'})"


# -- Kafka I/O ------------------------------------------------------------------------------------


def _mark(record: Any) -> Mark:
    """A record's place, chain hash and time; a record that is no audit record is named by the
    sha256 of its bytes (the verifier names it unreadable anyway)."""
    try:
        data = orjson.loads(record.value or b"")
    except orjson.JSONDecodeError:
        data = None
    digest = data.get("hash") if isinstance(data, dict) else None
    if not isinstance(digest, str):
        return Mark(int(record.offset), hashlib.sha256(record.value or b"").hexdigest(), None)
    try:
        at: datetime | None = datetime.fromisoformat(str(data.get("at")))
    except ValueError:
        at = None
    return Mark(int(record.offset), digest, at)


async def audit_heads(settings: Settings, audit_topic: str) -> list[PartitionHead]:
    """Each audit partition's bounds and its first and newest record, now: two records a partition."""
    consumer = await started_reader(settings.kafka)
    try:
        partitions = await existing_partitions(consumer._client, audit_topic)  # noqa: SLF001
        tps = [TopicPartition(audit_topic, p) for p in partitions]
        consumer.assign(tps)
        heads = []
        for tp, (start, end) in sorted(
            (await log_ends(consumer, tps)).items(), key=lambda kv: kv[0].partition
        ):
            first = head = None
            if end > start:
                first = _mark((await fetch_from(consumer, tp, start, 1))[0])
                head = first if end - 1 == start else _mark((await fetch_from(consumer, tp, end - 1, 1))[0])
            heads.append(PartitionHead(tp.partition, start, end, first, head))
        return heads
    finally:
        await consumer.stop()


async def make_checkpoint(
    settings: Settings, audit_topic: str, checkpoint_topic: str, now: datetime
) -> Checkpoint:
    """Sign the audit topic's head and write the checkpoint; return it once Kafka has it."""
    key = signing_key(settings)
    record = sign_checkpoint(key, audit_topic, await audit_heads(settings, audit_topic), now)
    writer = TopicWriter(settings.kafka)
    await writer.start()
    try:
        await writer.write(checkpoint_topic, b"checkpoint", _canonical(record))
        await writer.flush()
    finally:
        await writer.stop()
    decoded = decode_checkpoint(_canonical(record), {public_key_text(key)})
    if isinstance(decoded, str):  # our own signature: cannot happen unless the library is broken
        raise ConfigError(f"the checkpoint just signed does not verify: {decoded}")
    return decoded


async def read_checkpoints(settings: Settings, checkpoint_topic: str) -> list[tuple[int, int, bytes]]:
    """Every checkpoint record as (partition, offset, value)."""
    out: list[tuple[int, int, bytes]] = []
    await read_topic(
        settings.kafka,
        checkpoint_topic,
        lambda tp, r: out.append((tp.partition, int(r.offset), r.value or b"")),
    )
    return out


async def newest_checkpoint(
    settings: Settings, checkpoint_topic: str, trusted: Iterable[str], chunk: int = 64
) -> Checkpoint | None:
    """The newest checkpoint signed by a trusted key, read back from the topic's end a chunk at a
    time (a public page must not read two years of checkpoints on every refresh)."""
    keys = frozenset(trusted)
    consumer = await started_reader(settings.kafka)
    try:
        partitions = await existing_partitions(consumer._client, checkpoint_topic)  # noqa: SLF001
        tps = [TopicPartition(checkpoint_topic, p) for p in partitions]
        consumer.assign(tps)
        found: list[Checkpoint] = []
        for tp, (start, end) in (await log_ends(consumer, tps)).items():
            stop = end
            while stop > start and not any(c.where[0] == tp.partition for c in found):
                begin = max(start, stop - chunk)
                offset = begin
                while offset < stop:
                    for record in await fetch_from(consumer, tp, offset, stop - offset):
                        if record.offset < stop:
                            made = decode_checkpoint(
                                record.value or b"", keys, (tp.partition, int(record.offset))
                            )
                            if isinstance(made, Checkpoint):
                                found.append(made)
                        offset = int(record.offset) + 1
                stop = begin
        return latest(found)
    finally:
        await consumer.stop()


async def keep_checkpointing(
    settings: Settings, every_s: float, audit_topic: str, checkpoint_topic: str
) -> None:
    """The worker's timer: a checkpoint at start and every ``every_s`` seconds. A broker that is
    away, or a signing key that cannot be read, is logged and tried again at the next tick:
    matching reads does not stop for it, and the trail's writers do not depend on it."""
    while True:
        try:
            made = await make_checkpoint(settings, audit_topic, checkpoint_topic, datetime.now(UTC))
            log.info("audit checkpoint %s", published_line(made))
        except BrokerError as exc:
            log.warning("audit checkpoint not written (next try in %.0f s): %s", every_s, exc)
        except ConfigError as exc:  # the key: matching goes on, the operator must act (P14)
            log.error("audit checkpoint not signed (next try in %.0f s): %s", every_s, exc)
        await asyncio.sleep(every_s)
