"""The audit trail: every access to ALPR data, on the audit topic (kept >= 2 years, P14, P15).

One record per action (a hold placed or released, a replay, a search, ...) with who (user, badge,
agency), when, what was asked (the plate or other data elements), why (purpose, crime type, case
number), how many records it touched and the decision. Keyed by user. Written before the command
reports success: an action whose audit record cannot be written fails.

The trail is tamper-evident. Several processes write it at once and Kafka has no conditional
append, so there is no single chain: each :class:`AuditWriter` (one per process or long-lived
service) keeps its own hash chain. Every record carries ``chain`` (a uuid4), ``seq`` (0, 1, 2, ...),
``prev_hash`` (the ``hash`` of the chain's previous record) and ``hash`` (sha256 of the record's
canonical JSON without ``hash``). A chain's first record links instead to an *anchor*: the hash of
the newest record on the topic when the chain began ("genesis" on an empty topic), so a chain that
disappears leaves a dangling anchor behind in the chain that followed it. Altering a record breaks
its hash, removing one breaks its chain's sequence, removing a whole chain breaks an anchor;
``alpr audit verify`` (:mod:`streams.access.audit_tools`) finds the first broken link.

What a hash chain without a secret cannot prove: that nobody appended well-formed records of
their own, or cut the newest records of the newest chain before anything anchored on them. The
signed checkpoints of :mod:`streams.access.checkpoint` narrow that to what was written since the
last checkpoint (P14): a chain re-anchored on genesis, a back-dated record, a record rewritten or
cut after a checkpoint, and a head cut as if by retention are found by ``alpr audit verify``.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import fastjsonschema
import orjson
from aiokafka import TopicPartition

from streams.codec import dumps, validator
from streams.errors import InvalidRecord
from streams.kafka.connection import Connection
from streams.kafka.log import TopicWriter, fetch_from, log_ends, started_reader
from streams.kafka.topics import existing_partitions
from streams.settings import Settings

__all__ = [
    "GENESIS",
    "AccessRecorded",
    "AuditWriter",
    "capped",
    "chain_record",
    "newest_hash",
    "process_chain",
    "record_access",
    "write_audited",
    "record_hash",
]

#: The anchor of a chain begun on an empty audit topic.
GENESIS = "genesis"
#: How many of each partition's newest records are looked at for an anchor before reading it all.
_ANCHOR_TAIL = 64


@dataclass(frozen=True, slots=True)
class AccessRecorded:
    at: datetime
    user: str
    action: str  # e.g. hold_add, hold_release, replay, search, export, retro_hunt, sign_in
    case_number: str | None
    purpose: str | None
    query: dict[str, Any] = field(default_factory=dict)  # the plate or other data elements asked for
    result_count: int = 0
    decision: str = "allowed"  # or "refused"
    badge: str | None = None
    reason: str | None = None  # why it was refused (or the reason given for a hold)
    agency: str | None = None  # the person's department or agency (P15)
    crime_type: str | None = None  # the presumed crime (P16)
    #: P17: the agency a search was made for, the Commander who approved it and the approval's
    #: date. Written only when set, so records without them hash as they always did.
    on_behalf_of: str | None = None
    commander: str | None = None
    approved_on: date | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record as written: every text field capped (:func:`capped`), so that nobody can
        fill the two-year audit topic with megabytes typed into a form (P14)."""
        served = {
            "on_behalf_of": capped(self.on_behalf_of),
            "commander": capped(self.commander),
            "approved_on": self.approved_on.isoformat() if self.approved_on else None,
        }
        record = {
            "event": "AccessRecorded",
            "at": self.at.isoformat(),
            "user": capped(self.user),
            "badge": capped(self.badge),
            "agency": capped(self.agency),
            "action": capped(self.action),
            "case_number": capped(self.case_number),
            "purpose": capped(self.purpose),
            "crime_type": capped(self.crime_type),
            "reason": capped(self.reason),
            "query": capped(self.query),
            "result_count": self.result_count,
            "decision": self.decision,
        }
        record.update((k, v) for k, v in served.items() if v is not None)
        return record

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccessRecorded:
        """A record read back from the topic (already validated against the schema)."""
        try:
            at = datetime.fromisoformat(data["at"])
        except ValueError as exc:
            raise InvalidRecord("schema", f"at={data['at']!r} is not an RFC 3339 date-time") from exc
        if at.tzinfo is None:
            raise InvalidRecord("schema", f"at={data['at']!r} has no UTC offset")
        return cls(
            at,
            data["user"],
            data["action"],
            data["case_number"],
            data["purpose"],
            dict(data["query"]),
            int(data["result_count"]),
            decision=data["decision"],
            badge=data.get("badge"),
            reason=data.get("reason"),
            agency=data.get("agency"),
            crime_type=data.get("crime_type"),
            on_behalf_of=data.get("on_behalf_of"),
            commander=data.get("commander"),
            approved_on=date.fromisoformat(data["approved_on"]) if data.get("approved_on") else None,
        )


#: The longest text an audit field keeps; longer text keeps its start and says how much was cut.
MAX_FIELD = 200
#: The most items a list in a record's query keeps (a view of many alerts writes several records).
MAX_ITEMS = 1000


def capped(value: Any, depth: int = 0) -> Any:
    """``value`` with every string cut to :data:`MAX_FIELD` characters and lists to
    :data:`MAX_ITEMS` items, at most three levels deep."""
    if isinstance(value, str):
        return value if len(value) <= MAX_FIELD else f"{value[:MAX_FIELD]}...[{len(value) - MAX_FIELD} more]"
    if depth >= 3 and isinstance(value, dict | list | tuple):
        return "...[nested too deep]"
    if isinstance(value, dict):
        return {capped(str(k)): capped(v, depth + 1) for k, v in list(value.items())[:MAX_ITEMS]}
    if isinstance(value, list | tuple):
        items = [capped(v, depth + 1) for v in value[:MAX_ITEMS]]
        return items + ([f"...[{len(value) - MAX_ITEMS} more]"] if len(value) > MAX_ITEMS else [])
    return value


def record_hash(data: Mapping[str, Any]) -> str:
    """sha256 (hex) of the record's canonical JSON without its ``hash``: keys sorted at every level,
    orjson's compact form. Writer and verifier both hash a value parsed from JSON, so they agree."""
    body = {k: v for k, v in data.items() if k != "hash"}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def chain_record(data: Mapping[str, Any], chain: str, seq: int, prev_hash: str) -> dict[str, Any]:
    """The record as it goes on the topic: ``data`` with its place in the chain and its hash.

    ``data`` goes through JSON first, so what is hashed is exactly what a reader will parse.
    """
    body: dict[str, Any] = orjson.loads(dumps(dict(data)))
    body.update(chain=chain, seq=seq, prev_hash=prev_hash)
    body["hash"] = record_hash(body)
    return body


def _hash_of(value: bytes | None) -> str | None:
    try:
        data = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    digest = data.get("hash") if isinstance(data, dict) else None
    return digest if isinstance(digest, str) and len(digest) == 64 else None


async def newest_hash(kafka: Connection, topic: str) -> str:
    """The hash of the newest record on the audit topic (by record timestamp), or :data:`GENESIS`.

    Looks at each partition's newest records first; reads further back only when none of them
    carries a hash (records of another program, or damaged ones).
    """
    consumer = await started_reader(kafka)
    try:
        tps = [TopicPartition(topic, p) for p in await existing_partitions(consumer._client, topic)]  # noqa: SLF001
        consumer.assign(tps)
        ends = await log_ends(consumer, tps)
        for tail in (_ANCHOR_TAIL, None):
            best: tuple[int, int, int, str] | None = None  # timestamp, partition, offset, hash
            for tp, (start, end) in ends.items():
                offset = start if tail is None else max(start, end - tail)
                while offset < end:
                    records = await fetch_from(consumer, tp, offset, end - offset)
                    for record in records:
                        digest = _hash_of(record.value) if record.offset < end else None
                        if digest is not None:
                            found = (int(record.timestamp), tp.partition, int(record.offset), digest)
                            best = found if best is None or found[:3] > best[:3] else best
                    offset = int(records[-1].offset) + 1
            if best is not None:
                return best[3]
            if all(end - start <= _ANCHOR_TAIL for start, end in ends.values()):
                break  # everything was looked at
        return GENESIS
    finally:
        await consumer.stop()


class AuditWriter:
    """One hash chain of the audit trail: one per process or per long-lived service.

    Appends are serialized, so concurrent callers in one process share the chain safely. The anchor
    is looked up just before the chain's first record, so it is the newest record when the chain
    actually begins. When a write fails Kafka may or may not have the record, so the chain ends
    there and the next record begins a new one (a retried seq could collide, a skipped one would
    look like a removal).

    Use as ``async with AuditWriter(settings) as audit`` to keep a producer open; otherwise each
    append uses the caller's :class:`TopicWriter` or a short-lived one.
    """

    def __init__(self, settings: Settings) -> None:
        self.kafka = settings.kafka
        self.topic = settings.topic("audit")
        self.chain = str(uuid.uuid4())
        self.seq = 0  # of the next record
        self._prev: str | None = None  # None: the next record begins the chain and needs an anchor
        self._writer: TopicWriter | None = None
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> AuditWriter:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._writer is None:
            writer = TopicWriter(self.kafka)
            await writer.start()
            self._writer = writer

    async def stop(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            await writer.stop()

    def _guard(self) -> asyncio.Lock:
        """A lock of the running event loop (a process may run several loops one after another)."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    def _begin_new_chain(self) -> None:
        self.chain, self.seq, self._prev = str(uuid.uuid4()), 0, None

    async def append(self, record: AccessRecorded, writer: TopicWriter | None = None) -> dict[str, Any]:
        """Write the record as the chain's next link; return it as written, once Kafka has it."""
        data = record.to_dict()
        async with self._guard():
            if self._prev is None:
                self._prev = await newest_hash(self.kafka, self.topic)
            chained = chain_record(data, self.chain, self.seq, self._prev)
            try:
                validator("audit_record")(chained)
            except fastjsonschema.JsonSchemaValueException as exc:
                raise InvalidRecord("schema", f"audit_record: {exc.message}") from exc
            out = writer or self._writer
            own = out is None
            try:
                if out is None:
                    out = TopicWriter(self.kafka)
                    await out.start()
                await out.write(self.topic, chained["user"].encode(), dumps(chained))
                await out.flush()
            except BaseException:
                self._begin_new_chain()
                raise
            finally:
                if own and out is not None:
                    await out.stop()
            self.seq += 1
            self._prev = chained["hash"]
            return chained


#: The chain of each (bootstrap servers, topic) that :func:`record_access` continues when the caller
#: brings no :class:`AuditWriter`: one chain per process, as the design asks. It holds only chain
#: state (no connection), so it outlives event loops.
_DEFAULT_WRITERS: dict[tuple[str, str], AuditWriter] = {}


def process_chain(settings: Settings) -> AuditWriter:
    """This process's chain, which :func:`record_access` continues; a long-lived service keeps its
    producer open with ``async with process_chain(settings):``."""
    key = (settings.bootstrap_servers, settings.topic("audit"))
    audit = _DEFAULT_WRITERS.get(key)
    if audit is None:
        audit = _DEFAULT_WRITERS[key] = AuditWriter(settings)
    return audit


async def record_access(
    settings: Settings, record: AccessRecorded, writer: TopicWriter | None = None
) -> None:
    """Append the record to the audit topic, on this process's chain, and wait until Kafka has it."""
    await process_chain(settings).append(record, writer)


async def write_audited(
    settings: Settings, records: Iterable[tuple[str, bytes, bytes]], audit: AccessRecorded
) -> None:
    """Write (topic, key, value) records, wait until Kafka has them, then append their audit
    record: a change is audited only once it is made (P14)."""
    writer = TopicWriter(settings.kafka)
    await writer.start()
    try:
        for topic, key, value in records:
            await writer.write(topic, key, value)
        await writer.flush()
        await record_access(settings, audit, writer)
    finally:
        await writer.stop()
