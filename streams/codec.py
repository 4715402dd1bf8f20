"""Wire formats, at the edge: bytes <-> domain objects, validated against ``schemas/``.

orjson for speed; the JSON Schemas in ``schemas/`` are the one statement of
each record's shape and are compiled (fastjsonschema) for run-time checks.
"""

from __future__ import annotations

import base64
import re
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from functools import cache
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Annotated, Any

import fastjsonschema
import msgspec
import orjson

from streams.alerts.lifecycle import (
    Actor,
    AlertConfirmed,
    AlertDispositioned,
    AlertEvent,
    AlertRejected,
    AlertSighted,
    AlertStatusValidated,
    AlertVisuallyVerified,
)
from streams.alerts.model import AlertRaised
from streams.errors import ConfigError, InvalidRecord
from streams.hotlists.model import HotlistEntry, Person
from streams.matching.normalize import MAX_PLATE_LEN, normalize_plate
from streams.reads.model import Read

__all__ = [
    "SCHEMA_DIR",
    "alert_from_dict",
    "alert_record_from_dict",
    "alert_to_dict",
    "ReadBatch",
    "decode_read_batch",
    "decode_read_record",
    "dumps",
    "entry_from_dict",
    "entry_to_dict",
    "event_from_dict",
    "event_to_dict",
    "loads",
    "person_to_dict",
    "read_from_dict",
    "read_to_dict",
    "rejected_record",
    "schema",
    "stored_reads",
    "validator",
]

#: The project's ``schemas/`` folder (the package is installed in editable mode).
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
MAX_RECORD_BYTES = 4 * 1024 * 1024

Json = dict[str, Any]


def dumps(obj: Any) -> bytes:
    """orjson, copied to an exact-size object: orjson's own result keeps a 4-8 KiB allocation,
    which multiplies memory by ten for anything held (measured: 8.1 KiB per 600-byte entry)."""
    return memoryview(orjson.dumps(obj)).tobytes()


def loads(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidRecord("undecodable", f"not valid JSON: {exc}") from exc


def _inline_refs(node: Any) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.endswith(".json"):
            inner = dict(schema(ref.removesuffix(".json")))
            inner.pop("$schema", None)
            inner.pop("$id", None)
            return _inline_refs(inner)
        return {k: _inline_refs(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(v) for v in node]
    return node


@cache
def schema(name: str) -> Json:
    """The JSON Schema ``schemas/<name>.json``."""
    path = SCHEMA_DIR / f"{name}.json"
    try:
        data: Json = orjson.loads(path.read_bytes())
    except FileNotFoundError as exc:
        raise ConfigError(
            f"schema {path} not found: install the project in editable mode (pip install -e .)"
        ) from exc
    return data


@cache
def validator(name: str) -> Callable[[Any], Any]:
    """A compiled validator of ``schemas/<name>.json`` (refs to sibling files inlined)."""
    compiled: Callable[[Any], Any] = fastjsonschema.compile(_inline_refs(schema(name)))
    return compiled


def _validate(name: str, data: Any) -> None:
    try:
        validator(name)(data)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise InvalidRecord("schema", f"{name}: {exc.message}") from exc


def _time(value: str | None, field: str) -> datetime | None:
    return None if value is None else _required_time(value, field)


def _required_time(value: str, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRecord("schema", f"{field}={value!r} is not an RFC 3339 date-time") from exc
    if parsed.tzinfo is None:
        raise InvalidRecord("schema", f"{field}={value!r} has no UTC offset")
    return parsed


# -- reads -------------------------------------------------------------------------------
#
# Every read is checked against schemas/read.json, and the stream does it for millions of reads a
# second: msgspec decodes a record straight into structs whose field types and bounds are made
# from the schema (in C, faster than orjson builds dicts); the two rules msgspec cannot state are
# then checked for the whole batch at once (the capture times as RFC 3339 date-times on one joined
# string, the plate_state pattern). A record that fails any of that is decoded again read by read,
# so each bad read is rejected with the schema's own message and the good ones go on.


@cache
def _wire_read() -> Any:
    """A msgspec struct type with schemas/read.json's fields, types, lengths and bounds."""
    spec = schema("read")
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for name, prop in spec["properties"].items():
        types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
        base = {"string": str, "number": float}[next(t for t in types if t != "null")]
        limits = {
            meta: prop[key]
            for key, meta in (
                ("minLength", "min_length"),
                ("maxLength", "max_length"),
                ("minimum", "ge"),
                ("maximum", "le"),
            )
            if key in prop
        }
        kind: Any = Annotated[base, msgspec.Meta(**limits)] if limits else base
        if "null" in types:
            kind = kind | None
        if name in spec["required"]:
            fields.append((name, kind))
        else:
            fields.append((name, kind, None))
    fields.sort(key=len)  # required fields (no default) first
    return msgspec.defstruct("WireRead", fields, forbid_unknown_fields=True, frozen=True, gc=False)


@cache
def _wire_decoders() -> tuple[Any, Any]:
    wire = _wire_read()
    reads: Any = list[wire]  # type: ignore[valid-type]  # a type made at run time
    batch = msgspec.defstruct("WireReadBatch", [("reads", reads)], forbid_unknown_fields=True, gc=False)
    return msgspec.json.Decoder(batch), msgspec.json.Decoder(wire)


@cache
def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    """The read fields with a "pattern" in the schema (re.search, as JSON Schema means it)."""
    return [
        (name, re.compile(p["pattern"])) for name, p in schema("read")["properties"].items() if "pattern" in p
    ]


#: RFC 3339 date-times with a UTC offset, one per line: no looser than schemas/read.json's
#: "date-time" (the calendar date itself is checked by parsing it), and only forms that
#: datetime.fromisoformat parses (upper-case T and Z).
_RFC3339 = r"\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
_RFC3339_LINES = re.compile(rf"(?:{_RFC3339}\n)*{_RFC3339}")
_CAPTURED = attrgetter("captured_at")
_DAY = itemgetter(slice(0, 10))
_LAST = itemgetter(-1)
_OFFSET = itemgetter(slice(-6, None))


def _time_bounds(texts: list[str]) -> tuple[datetime, datetime] | None:
    """The earliest and latest of RFC 3339 capture times, or None when one is not a date-time.

    Parses two of them, not all: times written alike (same length, same UTC offset) sort as
    text in time order, which is how one camera gateway writes them. Mixed forms are parsed.
    """
    if _RFC3339_LINES.fullmatch("\n".join(texts)) is None:
        return None
    try:
        for day in set(map(_DAY, texts)):  # the calendar: 2026-02-30 is no date
            date.fromisoformat(day)
    except ValueError:
        return None
    if len(set(map(len, texts))) == 1 and (
        set(map(_LAST, texts)) == {"Z"} or len(set(map(_OFFSET, texts))) == 1
    ):
        return datetime.fromisoformat(min(texts)), datetime.fromisoformat(max(texts))
    times = list(map(datetime.fromisoformat, texts))
    return min(times), max(times)


def _rest_of_schema(wires: list[Any]) -> tuple[datetime, datetime] | None:
    """The capture times' bounds of structs msgspec accepted, or None when one breaks a rule of
    the schema that msgspec cannot state (date-time format, patterns)."""
    for name, pattern in _patterns():
        distinct = set(map(attrgetter(name), wires))  # a few states among a batch's reads
        distinct.discard(None)
        if not all(map(pattern.search, distinct)):
            return None
    return _time_bounds(list(map(_CAPTURED, wires)))


class ReadBatch:
    """One record of the reads topic, decoded and checked: the good reads (``wires``, with their
    ``positions`` in the record and the ``earliest`` and ``latest`` capture times) and the refused
    ones, each with its error. :meth:`read` makes the domain :class:`Read` of a good one (the
    stream needs it only for the few reads that may match)."""

    __slots__ = ("earliest", "failed", "latest", "positions", "wires")

    def __init__(self) -> None:
        self.wires: list[Any] = []
        self.positions: list[int] = []
        self.earliest: datetime | None = None
        self.latest: datetime | None = None
        self.failed: list[tuple[int, InvalidRecord, Any]] = []  # position, error, the read as sent

    def __len__(self) -> int:
        return len(self.wires)

    def add(self, wire: Any, position: int, captured: datetime) -> None:
        self.wires.append(wire)
        self.positions.append(position)
        if self.earliest is None or captured < self.earliest:
            self.earliest = captured
        if self.latest is None or captured > self.latest:
            self.latest = captured

    def read(self, i: int) -> Read:
        w = self.wires[i]
        return Read(
            w.read_id,
            w.camera_id,
            datetime.fromisoformat(w.captured_at),
            w.plate,
            w.plate_state,
            w.confidence,
            w.lat,
            w.lon,
            w.image_ref,
            w.vehicle_make,
            w.vehicle_model,
            w.vehicle_color,
        )


def _checked_read(raw: Any) -> tuple[Any, datetime]:
    """One read as sent, checked like a batch (the schema gives the message when it refuses)."""
    try:
        wire = msgspec.convert(raw, _wire_read())
        bounds = _rest_of_schema([wire])
    except msgspec.ValidationError as exc:
        _validate("read", raw)
        raise InvalidRecord("schema", f"read: {exc}") from exc  # stricter than the schema: say how
    if bounds is None:
        _validate("read", raw)
        raise InvalidRecord(
            "schema", f"read: captured_at={raw['captured_at']!r} is not an RFC 3339 date-time"
        )
    return wire, bounds[0]


def read_from_dict(data: Any) -> Read:
    wire, captured = _checked_read(data)
    batch = ReadBatch()
    batch.add(wire, 0, captured)
    return batch.read(0)


def read_to_dict(read: Read) -> Json:
    out: Json = {
        "read_id": read.read_id,
        "camera_id": read.camera_id,
        "captured_at": read.captured_at.isoformat(),
        "plate": read.plate,
        "plate_state": read.plate_state,
        "confidence": read.confidence,
        "lat": read.lat,
        "lon": read.lon,
    }
    for name in ("image_ref", "vehicle_make", "vehicle_model", "vehicle_color"):
        value = getattr(read, name)
        if value is not None:
            out[name] = value
    return out


def decode_read_batch(payload: bytes | None) -> ReadBatch:
    """Decode one record of the reads topic: a read batch, or a bare read (a batch of one).

    Raises :class:`InvalidRecord` when the record as a whole cannot be used.
    """
    if not payload:
        raise InvalidRecord("empty", "the record has no value")
    if len(payload) > MAX_RECORD_BYTES:
        raise InvalidRecord(
            "oversized", f"the record has {len(payload)} bytes; the limit is {MAX_RECORD_BYTES}"
        )
    out = ReadBatch()
    batch_decoder, read_decoder = _wire_decoders()
    try:
        if payload.startswith(b'{"reads":'):
            wires = batch_decoder.decode(payload).reads
        else:
            wires = [read_decoder.decode(payload)]
        bounds = _rest_of_schema(wires) if 0 < len(wires) <= MAX_BATCH_READS else None
    except (msgspec.DecodeError, UnicodeDecodeError):  # msgspec: bad UTF-8 inside a string
        bounds = None
    if bounds is not None:
        out.wires, out.positions = wires, list(range(len(wires)))
        out.earliest, out.latest = bounds
        return out
    for position, raw in enumerate(_raw_reads(payload)):  # something is wrong: read by read
        try:
            wire, when = _checked_read(raw)
        except InvalidRecord as exc:
            out.failed.append((position, exc, raw))
            continue
        out.add(wire, position, when)
    return out


MAX_BATCH_READS = 10_000


def _raw_reads(payload: bytes) -> list[Any]:
    data = loads(payload)
    if isinstance(data, dict) and "reads" in data:
        if set(data) != {"reads"} or not isinstance(data["reads"], list) or not data["reads"]:
            raise InvalidRecord("schema", 'read_batch: must be {"reads": [read, ...]} with at least one read')
        if len(data["reads"]) > MAX_BATCH_READS:
            raise InvalidRecord(
                "oversized", f"read_batch: {len(data['reads'])} reads; the limit is {MAX_BATCH_READS}"
            )
        return list(data["reads"])
    if isinstance(data, dict):
        return [data]
    raise InvalidRecord(
        "schema", f"expected a read batch or a read (a JSON object), got {type(data).__name__}"
    )


def decode_read_record(payload: bytes | None) -> list[Read | tuple[InvalidRecord, Any]]:
    """:func:`decode_read_batch` as a list in record order: each read, or ``(error, raw_read)``."""
    batch = decode_read_batch(payload)
    out: list[Read | tuple[InvalidRecord, Any]] = [(e, raw) for _, e, raw in batch.failed]
    order = [p for p, _, _ in batch.failed]
    for i, position in enumerate(batch.positions):
        out.append(batch.read(i))
        order.append(position)
    return [item for _, item in sorted(zip(order, out, strict=True), key=lambda pair: pair[0])]


def stored_reads(value: bytes | None) -> list[dict[str, Any]]:
    """The read objects in a stored record of the reads topic, leniently: for tools that look back
    (replay, holds, the retro-hunt), where a record the worker rejected is simply passed over (the
    rejected topic keeps it with its reason)."""
    if not value:
        return []
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return []
    if isinstance(data, dict) and isinstance(data.get("reads"), list):
        return [read for read in data["reads"] if isinstance(read, dict)]
    return [data] if isinstance(data, dict) else []


def rejected_record(
    error: InvalidRecord,
    payload: Any,
    *,
    topic: str,
    partition: int,
    offset: int,
    index: int | None,
    now: datetime,
) -> Json:
    """A rejected-topic record that keeps the input as received, with the reason."""
    if isinstance(payload, bytes | bytearray):
        try:
            text, encoding = bytes(payload).decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(payload).decode("ascii"), "base64"
    else:
        text, encoding = orjson.dumps(payload).decode("utf-8"), "json"
    camera = payload.get("camera_id") if isinstance(payload, dict) else None
    return {
        "reason_code": error.code,
        "reason": error.reason,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "index": index,
        "camera_id": camera if isinstance(camera, str) else None,
        "rejected_at": now.isoformat(),
        "payload": text,
        "payload_encoding": encoding,
    }


# -- hot-list entries ----------------------------------------------------------------------


def _person(data: Mapping[str, Any] | None) -> Person | None:
    if data is None:
        return None
    return Person(data["name"], data["badge"], data.get("assignment"), data.get("rank"))


def _normalize_pattern(text: str) -> str:
    if "?" not in text and "*" not in text:
        return normalize_plate(text)
    pattern = text.upper().replace(" ", "").replace("-", "").replace(".", "")
    if len(pattern.replace("*", "")) > MAX_PLATE_LEN:
        raise InvalidRecord("bad_plate", f"pattern {text!r} is longer than a plate can be")
    return pattern


def _shared(value: str | None) -> str | None:
    """One copy of a value that millions of entries repeat (states, agencies, makes, colors)."""
    return None if value is None else sys.intern(value)


_PAIRS: dict[tuple[str, str], tuple[str, str]] = {}


def _vehicle(data: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    if not data:
        return ()
    pairs = []
    for name, value in sorted(data.items()):
        pair = (sys.intern(name), value if name == "vin" else sys.intern(value))
        pairs.append(pair if name == "vin" else _PAIRS.setdefault(pair, pair))
    return tuple(pairs)


def entry_from_dict(data: Any) -> HotlistEntry:
    """Decode and validate a hot-list entry (the policy checks are :func:`check_entry`'s).

    Repeated values are shared: a worker holds millions of entries.
    """
    _validate("hotlist_entry", data)
    return HotlistEntry(
        source=sys.intern(data["source"]),
        entry_id=data["entry_id"],
        plate=_normalize_pattern(data["plate"]),
        plate_state=_shared(data["plate_state"]),
        list_type=sys.intern(data["list_type"]),
        reason=sys.intern(data["reason"]),
        case_number=data["case_number"],
        effective_at=_time(data.get("effective_at"), "effective_at"),
        expires_at=_time(data.get("expires_at"), "expires_at"),
        synced_at=_time(data.get("synced_at"), "synced_at"),
        entered_by=_person(data.get("entered_by")),
        approved_by=_person(data.get("approved_by")),
        ori=_shared(data.get("ori")),
        vehicle=_vehicle(data.get("vehicle")),
    )


def person_to_dict(person: Person | None) -> Json | None:
    if person is None:
        return None
    return {"name": person.name, "badge": person.badge, "assignment": person.assignment, "rank": person.rank}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def entry_to_dict(entry: HotlistEntry) -> Json:
    return {
        "source": entry.source,
        "entry_id": entry.entry_id,
        "plate": entry.plate,
        "plate_state": entry.plate_state,
        "list_type": entry.list_type,
        "reason": entry.reason,
        "case_number": entry.case_number,
        "effective_at": _iso(entry.effective_at),
        "expires_at": _iso(entry.expires_at),
        "synced_at": _iso(entry.synced_at),
        "entered_by": person_to_dict(entry.entered_by),
        "approved_by": person_to_dict(entry.approved_by),
        "ori": entry.ori,
        "vehicle": dict(entry.vehicle) or None,
    }


# -- alerts -------------------------------------------------------------------------------


def alert_to_dict(alert: AlertRaised) -> Json:
    read, entry = alert.read, alert.entry
    return {
        "event": "AlertRaised",
        "alert_id": alert.alert_id,
        "status": alert.status,
        "raised_at": alert.raised_at.astimezone(UTC).isoformat(),
        "read_id": read.read_id,
        "camera_id": read.camera_id,
        "captured_at": read.captured_at.isoformat(),
        "plate_read": read.plate,
        "plate_state_read": read.plate_state,
        "confidence": read.confidence,
        "lat": read.lat,
        "lon": read.lon,
        "image_ref": read.image_ref,
        "entry_key": entry.key,
        "entry_id": entry.entry_id,
        "source": entry.source,
        "list_type": entry.list_type,
        "plate_listed": entry.plate,
        "plate_state_listed": entry.plate_state,
        "reason": entry.reason,
        "case_number": entry.case_number,
        "ori": entry.ori,
        "vehicle": dict(entry.vehicle) or None,
        "match_kind": alert.match_kind,
        "state_mismatch": alert.state_mismatch,
        "historical": alert.historical,
        "occupant_check_required": alert.occupant_check_required,
        "advisory": alert.advisory,
        # a late read's age on arrival (a HISTORICAL READ alert); absent on a live alert
        **({"captured_age_s": alert.captured_age_s} if alert.captured_age_s is not None else {}),
    }


_EVENTS: dict[str, type[AlertEvent]] = {
    cls.__name__: cls
    for cls in (
        AlertSighted,
        AlertVisuallyVerified,
        AlertRejected,
        AlertStatusValidated,
        AlertConfirmed,
        AlertDispositioned,
    )
}
_EXTRA = (
    "reason",
    "priority",
    "confirming_agency",
    "disposition",
    "evidence_shown",
    "characters_match",
    "state_match",
    "acknowledged",
    "read_id",
    "camera_id",
    "plate",
    "image_ref",
    "lat",
    "lon",
)


def alert_from_dict(data: dict[str, Any]) -> AlertRaised:
    read = Read(
        read_id=data["read_id"],
        camera_id=data["camera_id"],
        captured_at=datetime.fromisoformat(data["captured_at"]),
        plate=data["plate_read"],
        plate_state=data["plate_state_read"],
        confidence=float(data.get("confidence", 0.0)),
        lat=float(data["lat"]),
        lon=float(data["lon"]),
        image_ref=data.get("image_ref"),
    )
    entry = HotlistEntry(
        source=data["source"],
        entry_id=data["entry_id"],
        plate=data["plate_listed"],
        plate_state=data["plate_state_listed"],
        list_type=data["list_type"],
        reason=data["reason"],
        case_number=data["case_number"],
        ori=data.get("ori"),
        vehicle=tuple(sorted((data.get("vehicle") or {}).items())),
    )
    return AlertRaised(
        alert_id=data["alert_id"],
        raised_at=datetime.fromisoformat(data["raised_at"]),
        read=read,
        entry=entry,
        match_kind=data["match_kind"],
        state_mismatch=bool(data["state_mismatch"]),
        historical=bool(data.get("historical", False)),
        captured_age_s=float(data["captured_age_s"]) if data.get("captured_age_s") is not None else None,
    )


def event_to_dict(event: AlertEvent) -> dict[str, Any]:
    out: dict[str, Any] = {
        "event": type(event).__name__,
        "event_id": event.event_id,
        "alert_id": event.alert_id,
        "at": event.at.isoformat(),
        "by": None if event.by is None else {"user": event.by.user, "badge": event.by.badge},
        "note": event.note,
    }
    for name in _EXTRA:
        if hasattr(event, name):
            out[name] = getattr(event, name)
    if isinstance(event, AlertSighted) and event.captured_at is not None:
        out["captured_at"] = event.captured_at.isoformat()
    return out


def event_from_dict(data: dict[str, Any]) -> AlertEvent:
    cls = _EVENTS[data["event"]]
    by = data.get("by")
    fields: dict[str, Any] = {
        "event_id": data["event_id"],
        "alert_id": data["alert_id"],
        "at": datetime.fromisoformat(data["at"]),
        "by": None if by is None else Actor(by["user"], by["badge"]),
        "note": data.get("note", ""),
    }
    fields.update({k: data[k] for k in _EXTRA if k in data and k in cls.__dataclass_fields__})
    if "acknowledged" in fields:  # P7: a JSON list on the wire, a tuple in the frozen event
        fields["acknowledged"] = tuple(fields["acknowledged"])
    if cls is AlertSighted and data.get("captured_at"):
        fields["captured_at"] = datetime.fromisoformat(data["captured_at"])
    return cls(**fields)


def alert_record_from_dict(data: Any) -> AlertRaised | AlertEvent | None:
    """A record of the alerts topic: the raised alert or a lifecycle event; None for anything else."""
    kind = data.get("event") if isinstance(data, dict) else None
    if kind == "AlertRaised":
        return alert_from_dict(data)
    if kind in _EVENTS:
        return event_from_dict(data)
    return None
