"""Wire formats, at the edge: bytes <-> domain objects, validated against ``schemas/``.

orjson for speed; the JSON Schemas in ``schemas/`` are the one statement of
each record's shape and are compiled (fastjsonschema) for run-time checks.
"""

from __future__ import annotations

import base64
import logging
import re
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, date, datetime
from functools import cache, lru_cache, partial
from itertools import chain
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import fastjsonschema
import msgspec
import orjson
from alpr_native import check_read_batches
from fastjsonschema.draft04 import CodeGeneratorDraft04

from streams.alerts.lifecycle import (
    Actor,
    AlertClaimed,
    AlertConfirmed,
    AlertDispositioned,
    AlertEvent,
    AlertImageShown,
    AlertRejected,
    AlertReleased,
    AlertSighted,
    AlertStatusValidated,
    AlertVisuallyVerified,
)
from streams.alerts.model import AlertRaised
from streams.cameras.ids import camera_id_problem
from streams.errors import ConfigError, InvalidRecord
from streams.hotlists.model import HotlistEntry, Person
from streams.matching.normalize import MAX_PLATE_LEN, normalize_plate
from streams.reads.model import Read, position_problem

__all__ = [
    "SCHEMA_DIR",
    "alert_from_dict",
    "alert_record_from_dict",
    "alert_to_dict",
    "ReadBatch",
    "decode_read_batch",
    "decode_read_batches",
    "decode_read_record",
    "dumps",
    "entries_from_json",
    "entry_from_dict",
    "entry_to_dict",
    "event_from_dict",
    "event_to_dict",
    "loads",
    "person_to_dict",
    "read_from_dict",
    "read_to_dict",
    "rejected_group",
    "rejected_item",
    "rejected_reads",
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
        if "enum" in prop:
            kind = Literal[tuple(v for v in prop["enum"] if v is not None)]
        if "null" in types:
            kind = kind | None
        if name in spec["required"]:
            fields.append((name, kind))
        else:
            fields.append((name, kind, None))
    fields.sort(key=len)  # required fields (no default) first
    # omit_defaults: encoded (ReadBatch.as_sent), a read leaves out what it did not send
    return msgspec.defstruct(
        "WireRead", fields, forbid_unknown_fields=True, frozen=True, gc=False, omit_defaults=True
    )


@cache
def _wire_decoders() -> tuple[Any, Any, Any]:
    """Decoders of a read batch (structs), of one read (a struct), and of a read batch as its reads'
    bytes as sent (:class:`msgspec.Raw`: the record is split in C, each read decoded on its own)."""
    wire = _wire_read()
    reads: Any = list[wire]  # type: ignore[valid-type]  # a type made at run time
    batch = msgspec.defstruct("WireReadBatch", [("reads", reads)], forbid_unknown_fields=True, gc=False)
    raw = msgspec.defstruct(
        "RawReadBatch", [("reads", list[msgspec.Raw])], forbid_unknown_fields=True, gc=False
    )
    return msgspec.json.Decoder(batch), msgspec.json.Decoder(wire), msgspec.json.Decoder(raw)


@cache
def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    """The read fields with a "pattern" in the schema (re.search, as JSON Schema means it: a
    final "$" is the end of the text, not also before a final newline as in Python)."""
    return [
        (name, re.compile(re.sub(r"(?<!\\)\$$", r"\\Z", p["pattern"])))
        for name, p in schema("read")["properties"].items()
        if "pattern" in p
    ]


#: RFC 3339 date-times with a UTC offset, one per line: no looser than schemas/read.json's
#: "date-time" (the calendar date itself is checked by parsing it), and only forms that
#: datetime.fromisoformat parses (upper-case T and Z).
_RFC3339 = r"\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
_RFC3339_LINES = re.compile(rf"(?:{_RFC3339}\n)*{_RFC3339}", re.ASCII)  # digits: 0-9 only
_RFC3339_ONE = re.compile(_RFC3339, re.ASCII)
_FIRST = itemgetter(0)
_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")  # a date-time's shape: its digits as 0
_CAPTURED = attrgetter("captured_at")
_DAY = itemgetter(slice(0, 10))
_LAST = itemgetter(-1)
_OFFSET = itemgetter(slice(-6, None))
_LAT = attrgetter("lat")
_LON = attrgetter("lon")
_PLATE = attrgetter("plate")
_CAMERA = attrgetter("camera_id")


def _time_bounds(texts: list[str]) -> tuple[datetime, datetime] | None:
    """The earliest and latest of RFC 3339 capture times, or None when one is not a date-time.

    Times written alike, as one camera gateway writes them (ASCII, one form: digits in the same
    places, the same UTC offset), are checked together, at a third of the cost of the pattern
    over all of them (measured, records of 200 reads): the first is an RFC 3339 date-time, the
    others have its shape (their digits as 0 are its), and each parses, which refuses an hour,
    minute, second or calendar day out of range as the pattern and the calendar check below do.
    Other times are matched one pattern over all of them and their days parsed.
    """
    first = texts[0]
    if _RFC3339_ONE.fullmatch(first) is not None and (first[-1] == "Z" or len(set(map(_OFFSET, texts))) == 1):
        joined = "\n".join(texts)
        if joined.isascii() and (joined + "\n").encode().translate(_AS_ZERO) == (
            first.encode().translate(_AS_ZERO) + b"\n"
        ) * len(texts):
            try:
                times = list(map(datetime.fromisoformat, texts))
            except ValueError:
                return None
            return min(times), max(times)
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


#: Values known to match their field's pattern (camera ids, states: a few thousand a deployment
#: sends again and again), so a batch searches only the new ones; emptied when it grows past
#: _MATCHED_MAX, which bounds the memory whatever is sent.
_MATCHED: dict[str, set[str]] = {}
_MATCHED_MAX = 100_000


def _unmatched(name: str, pattern: re.Pattern[str], values: set[str]) -> set[str]:
    """Those of ``values`` (distinct, None removed) that do not match the field's pattern."""
    known = _MATCHED.setdefault(name, set())
    new = values - known
    if not new:
        return new
    wrong = {v for v in new if not pattern.search(v)}
    if len(known) > _MATCHED_MAX:
        known.clear()
    known.update(new - wrong)
    return wrong


def _rest_of_schema(wires: list[Any]) -> tuple[datetime, datetime] | None:
    """The capture times' bounds of structs msgspec accepted, or None when one breaks a rule of
    the schema that msgspec cannot state (date-time format, patterns)."""
    for name, pattern in _patterns():
        distinct = set(map(attrgetter(name), wires))  # a few states among a batch's reads
        distinct.discard(None)
        if _unmatched(name, pattern, distinct):
            return None
    if (None in map(_LAT, wires) or None in map(_LON, wires)) and any(
        position_problem(w.lat, w.lon, w.position_source) for w in wires
    ):  # a read without a position is good; lat and lon come together (schemas/read.json allOf)
        return None
    return _time_bounds(list(map(_CAPTURED, wires)))


class ReadBatch:
    """One record of the reads topic, decoded and checked: the good reads (``wires``, with their
    ``positions`` in the record and the ``earliest`` and ``latest`` capture times) and the refused
    ones, each with its error. :meth:`read` makes the domain :class:`Read` of a good one (the
    stream needs it only for the few reads that may match). A batch checked read by read also
    keeps each good read as sent (``sent``), so a read refused later (its capture time, its
    camera) is kept on the rejected topic as received at no cost (:meth:`as_sent`).

    A batch the native kernel checked (:func:`_native_batch`) holds what the screen needs (plates,
    distinct cameras, positions, bounds) and the record's bytes; its structs are decoded only when
    a rare path asks for ``wires``, and one read (:meth:`read`) from its own bytes."""

    __slots__ = (
        "_cameras",
        "_coords",
        "_placed",
        "_plates",
        "_screen",
        "_wires",
        "earliest",
        "failed",
        "latest",
        "payload",
        "positions",
        "sent",
        "spans",
    )

    def __init__(self) -> None:
        self._wires: list[Any] | None = []
        self.positions: Sequence[int] = []
        self.earliest: datetime | None = None
        self.latest: datetime | None = None
        #: position, error, the read as sent (its bytes, msgspec.Raw, or its object), its camera id
        self.failed: list[tuple[int, InvalidRecord, Any, str | None]] = []
        self.sent: list[Any] | None = None  # each good read as sent, when the batch was split
        # what the native kernel found (None: a batch of structs): the record, each read's byte
        # range in it, the plates, distinct camera ids, lats and lons (NaN: no position)
        self.payload: bytes | None = None
        self.spans: memoryview | None = None
        self._plates: list[str] | None = None
        self._cameras: list[str] | None = None
        self._coords: tuple[bytes, bytes] | None = None
        self._placed = True
        #: what the kernel's screen found (None: the plates are screened in Python): the number of
        #: reads, their canonical keys "\n"-joined and the candidates' positions (native u32s): the
        #: Bloom's positives and the keys a partial pattern fits
        self._screen: tuple[int, str, bytes] | None = None

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def wires(self) -> list[Any]:
        """The good reads as structs (a native batch decodes them now, once)."""
        if self._wires is None:
            assert self.payload is not None  # noqa: S101 - a native batch keeps its record
            self._wires = _wire_decoders()[0].decode(self.payload).reads
        return self._wires

    @wires.setter
    def wires(self, wires: list[Any]) -> None:
        self._wires = wires

    def plates(self) -> list[str]:
        """The good reads' plates as sent, in order."""
        return self._plates if self._plates is not None else list(map(_PLATE, self.wires))

    def plate(self, i: int) -> str:
        """Good read ``i``'s plate as sent."""
        plate: str = self._wire(i).plate
        return plate

    def screen_part(self) -> list[str] | tuple[int, str, bytes, Callable[[int], str]]:
        """What the matcher's screen takes of this batch (``screen_parts``): the plates, or what the
        kernel's screen found with a way to the plate of a read (for a candidate's normalized plate)."""
        if self._screen is not None:
            count, keys, candidates = self._screen
            return count, keys, candidates, self.plate
        return self.plates()

    def cameras(self) -> Collection[str]:
        """The distinct camera ids of the good reads."""
        return self._cameras if self._cameras is not None else set(map(_CAMERA, self.wires))

    def unplaced(self) -> bool:
        """Whether a good read has no position."""
        return not self._placed if self._coords is not None else None in map(_LAT, self.wires)

    def coordinates(self) -> list[tuple[float, float] | None]:
        """Each good read's (lat, lon), None when it has no position."""
        if self._coords is None:
            return [None if w.lat is None else (w.lat, w.lon) for w in self.wires]
        lats, lons = (memoryview(c).cast("d") for c in self._coords)
        return [None if lat != lat else (lat, lon) for lat, lon in zip(lats, lons, strict=True)]

    def camera(self, i: int) -> str:
        """Good read ``i``'s camera id."""
        camera: str = self._wire(i).camera_id
        return camera

    def _wire(self, i: int) -> Any:
        if self._wires is None and self.spans is not None and self.payload is not None:
            start, end = self.spans[2 * i], self.spans[2 * i + 1]
            return _wire_decoders()[1].decode(self.payload[start:end])
        return self.wires[i]

    def structs(self) -> None:
        """Make this a batch of structs (its reads are about to change): what the kernel found is
        dropped, so a read is sent again as its struct says, as for any batch of structs. Its
        screen stays: only a read's position changes (``_place_at_cameras``), never its plate."""
        self._wires = self.wires  # decoded now, before the record is let go
        self.payload = self.spans = self._plates = self._cameras = self._coords = None
        self._placed = True

    def add(self, wire: Any, position: int, captured: datetime) -> None:
        self.wires.append(wire)
        assert isinstance(self.positions, list)  # noqa: S101 - a batch built read by read
        self.positions.append(position)
        if self.earliest is None or captured < self.earliest:
            self.earliest = captured
        if self.latest is None or captured > self.latest:
            self.latest = captured

    def subset(self, kept: list[int], times: list[datetime]) -> ReadBatch:
        """The good reads at indexes ``kept``, with their capture times ``times`` (in that order)."""
        out = ReadBatch()
        wires, positions = self.wires, self.positions
        out.wires = [wires[i] for i in kept]
        out.positions = [positions[i] for i in kept]
        if self.sent is not None or self.spans is not None:
            out.sent = [self.as_sent(i) for i in kept]
        if times:
            out.earliest, out.latest = min(times), max(times)
        return out

    def as_sent(self, i: int) -> Any:
        """Good read ``i`` as sent: its bytes when the batch was split or checked by the kernel,
        else its fields encoded again (in C; what it did not send left out)."""
        if self.sent is not None:
            return self.sent[i]
        if self.spans is not None and self.payload is not None:
            return msgspec.Raw(self.payload[self.spans[2 * i] : self.spans[2 * i + 1]])
        return msgspec.Raw(msgspec.json.encode(self.wires[i]))

    def read(self, i: int) -> Read:
        w = self._wire(i)
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
            w.position_source,
        )


def _checked_read(raw: Any) -> tuple[Any, datetime]:
    """One read as sent, checked like a batch; :class:`InvalidRecord` with the message of
    :func:`_read_problem` when it is refused."""
    checked = _checked_reads([raw])
    if checked.failed:
        raise checked.failed[0][1]
    assert checked.earliest is not None  # noqa: S101 - a read that passed has its capture time
    return checked.wires[0], checked.earliest


def _checked_reads(raws: list[Any]) -> ReadBatch:
    """The reads of a record that failed the batch check, read by read, at about the cost of a
    good batch (issue 17: a refused read costs at most twice an accepted one): one pass, each read
    decoded by msgspec (C; from its bytes as sent when ``raws`` are :class:`msgspec.Raw`, else
    converted from the object) and checked for the rules msgspec cannot state with the values
    already known good; only a refused read has its message made (:func:`_refusal`,
    :func:`_wire_refusal`: the schema's own words) and, when msgspec refused it, is made an object.
    ``failed`` keeps each refused read as sent: its bytes (:class:`msgspec.Raw`) or its object."""
    out = ReadBatch()
    from_bytes = bool(raws) and isinstance(raws[0], msgspec.Raw)
    decode = _wire_decoders()[1].decode if from_bytes else partial(msgspec.convert, type=_wire_read())
    cameras = _MATCHED.setdefault("camera_id", set())
    states = _MATCHED.setdefault("plate_state", set())
    rfc3339 = _RFC3339_ONE.fullmatch
    wires, failed = out.wires, out.failed
    positions: list[int] = []
    out.positions = positions
    sent_reads: list[Any] = []
    out.sent = sent_reads
    for position, raw in enumerate(raws):
        try:
            w = decode(raw)
        except msgspec.ValidationError as exc:
            text = str(exc)
            sent = _as_sent(raw) if from_bytes else raw
            failed.append(
                (position, _refusal(sent, f"read: {text}", _named_field(text)), raw, _camera_of(sent))
            )
            continue
        if (
            w.camera_id not in cameras
            or (w.plate_state not in states and w.plate_state is not None)
            or w.lat is None
            or w.lon is None
            or rfc3339(w.captured_at) is None
        ) and (error := _wire_refusal(w)) is not None:
            failed.append((position, error, raw, w.camera_id))
            continue
        wires.append(w)
        positions.append(position)
        sent_reads.append(raw)
    if not wires:
        return out
    texts = list(map(_CAPTURED, wires))
    if not _calendar_days(texts):  # a date that is no day of the calendar (2026-02-30)
        kept = [i for i, text in enumerate(texts) if _calendar_days([text])]
        for i in set(range(len(wires))) - set(kept):
            w = wires[i]
            failed.append((positions[i], _time_refusal(w.captured_at), raws[positions[i]], w.camera_id))
        out.wires = [wires[i] for i in kept]
        out.positions = [positions[i] for i in kept]
        out.sent = [sent_reads[i] for i in kept]
        failed.sort(key=_FIRST)
        texts = [texts[i] for i in kept]
    bounds = _time_bounds(texts) if texts else None
    if bounds is not None:
        out.earliest, out.latest = bounds
    return out


def _camera_of(sent: Any) -> str | None:
    camera = sent.get("camera_id") if isinstance(sent, dict) else None
    return camera if isinstance(camera, str) else None


def _as_sent(raw: msgspec.Raw) -> Any:
    """A refused read's bytes as the object sent (their UTF-8 is checked with the record's); what
    msgspec cannot make an object of (a number out of range) is said as orjson says it: the whole
    record is undecodable (:func:`loads`), as when the record is decoded whole."""
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return loads(bytes(raw))


def _wire_refusal(w: Any) -> InvalidRecord | None:
    """The error of a struct msgspec accepted that breaks a rule of schemas/read.json msgspec
    cannot state, in :func:`_refusal`'s order (the camera id grammar, lat and lon together, the
    state's pattern, an RFC 3339 capture time: stricter than the schema's date-time format, so its
    own words when the schema accepts it); None when it breaks none. The pattern values it finds
    good are remembered (:func:`_unmatched`)."""
    camera = w.camera_id
    if camera not in _MATCHED["camera_id"] and _unmatched("camera_id", _pattern("camera_id"), {camera}):
        problem = camera_id_problem(camera)  # the schema's pattern is the grammar
        if problem is not None:
            return InvalidRecord("bad_camera_id", problem)
        return _field_refusal("camera_id", camera, "does not match the schema's pattern")
    if w.lat is None or w.lon is None:
        problem = position_problem(w.lat, w.lon, w.position_source)
        if problem is not None:
            return InvalidRecord("schema", problem)
    state = w.plate_state
    if (
        state is not None
        and state not in _MATCHED["plate_state"]
        and _unmatched("plate_state", _pattern("plate_state"), {state})
    ):
        return _field_refusal("plate_state", state, "does not match the schema's pattern")
    if _RFC3339_ONE.fullmatch(w.captured_at) is None:
        return _time_refusal(w.captured_at)
    return None


def _time_refusal(text: str) -> InvalidRecord:
    return _field_refusal("captured_at", text, "is not an RFC 3339 date-time")


def _field_refusal(field: str, value: str, otherwise: str) -> InvalidRecord:
    """A string field's error in the schema validator's words, else (a check stricter than the
    schema) ``otherwise``, after the value."""
    problem = _value_problem(field, "str", value)
    return InvalidRecord(
        "schema", f"read: {field}={value!r} {otherwise}" if problem is None else f"read: {problem}"
    )


@cache
def _pattern(name: str) -> re.Pattern[str]:
    return dict(_patterns())[name]


def _calendar_days(texts: list[str]) -> bool:
    """Whether every date of these RFC 3339 texts is a day of the calendar (2026-02-30 is not)."""
    try:
        for day in set(map(_DAY, texts)):
            date.fromisoformat(day)
    except ValueError:
        return False
    return True


def _refusal(raw: Any, fallback: str, field: str | None) -> InvalidRecord:
    """The error of a refused read: the camera id grammar and the lat/lon pairing in their own
    words, else the rule of schemas/read.json it breaks in the words of the schema's validator
    (fastjsonschema): the rule of ``field`` (the one the check stopped at) when it names one, else
    the first in the schema's order (:func:`_read_problem`); else ``fallback`` (a check stricter
    than the schema: it says how)."""
    if isinstance(raw, dict):
        camera = raw.get("camera_id")
        if (
            isinstance(camera, str)
            and camera not in _MATCHED.get("camera_id", ())  # the schema's pattern is the grammar
            and (problem := camera_id_problem(camera)) is not None
        ):
            return InvalidRecord("bad_camera_id", problem)
        if raw.get("lat") is None or raw.get("lon") is None:
            problem = position_problem(raw.get("lat"), raw.get("lon"), raw.get("position_source"))
            if problem is not None:
                return InvalidRecord("schema", problem)
    problem = _field_problem(raw, field) if field is not None else None
    if problem is None:
        problem = _read_problem(raw)
    return InvalidRecord("schema", fallback if problem is None else f"read: {problem}")


#: msgspec's words for a refused field: "... - at `$.confidence`", "Object missing required
#: field `plate`", "Object contains unknown field `speed_mph`".
_MSGSPEC_FIELD = re.compile(r"(?:at `\$\.|required field `|unknown field `)(\w+)`")


@lru_cache(maxsize=1024)  # msgspec words a refusal in a few ways: one search each (issue 17)
def _named_field(message: str) -> str | None:
    found = _MSGSPEC_FIELD.search(message)
    return found.group(1) if found else None


def _field_problem(data: Any, field: str) -> str | None:
    """What schemas/read.json says is wrong with ``field`` of ``data``, in its validator's words
    (missing and unknown fields as it names them, all at once); None when nothing is."""
    if not isinstance(data, dict):
        return None
    props, _all_of, required, no_others = _read_rules()
    if field not in data:
        missing = required - data.keys()
        return f"data must contain {sorted(missing)} properties" if missing else None
    if field not in props:
        extra = _unknown(data, props)
        return f"data must not contain {extra} properties" if no_others else None
    value = data[field]
    if isinstance(value, str | int | float | None):  # hashable, its type in the key (True is not 1)
        return _value_problem(field, type(value).__name__, value)
    return props[field].problem(value)


@lru_cache(maxsize=4096)
def _value_problem(field: str, _kind: str, value: Any) -> str | None:
    """:meth:`_Property.problem` of a scalar, made once for the many reads a camera sends alike:
    its messages name the rule broken, not the value (issue 17: refusing a read costs little)."""
    return _read_rules()[0][field].problem(value)


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "null": (type(None),),
}


def _is(value: Any, kind: str) -> bool:
    return isinstance(value, _JSON_TYPES[kind]) and not isinstance(value, bool)


#: The "date-time" format as the schema's validator (fastjsonschema) checks it.
_SCHEMA_DATE_TIME = re.compile(CodeGeneratorDraft04.FORMAT_REGEXS["date-time"])


class _Property:
    """One property of schemas/read.json, ready to be checked (:func:`_read_problem`)."""

    __slots__ = (
        "enum",
        "is_date_time",
        "max_length",
        "maximum",
        "min_length",
        "minimum",
        "pattern",
        "pattern_text",
        "pytypes",
        "type_text",
        "where",
    )

    def __init__(self, name: str, prop: Json, pattern: re.Pattern[str] | None) -> None:
        types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
        self.where = f"data.{name}"
        self.type_text = " or ".join(types)
        self.pytypes = tuple(t for kind in types for t in _JSON_TYPES[kind])
        self.min_length: int = prop.get("minLength", 0)
        self.max_length: int | None = prop.get("maxLength")
        self.pattern = pattern
        self.pattern_text = prop.get("pattern")
        self.is_date_time = prop.get("format") == "date-time"
        self.minimum: float | None = prop.get("minimum")
        self.maximum: float | None = prop.get("maximum")
        self.enum: list[Any] | None = prop.get("enum")

    def problem(self, value: Any) -> str | None:
        where = self.where
        if not isinstance(value, self.pytypes) or value is True or value is False:
            return f"{where} must be {self.type_text}"
        if isinstance(value, str):
            if len(value) < self.min_length:
                return f"{where} must be longer than or equal to {self.min_length} characters"
            if self.max_length is not None and len(value) > self.max_length:
                return f"{where} must be shorter than or equal to {self.max_length} characters"
            if self.pattern is not None and not self.pattern.search(value):
                return f"{where} must match pattern {self.pattern_text}"
            if self.is_date_time and not _SCHEMA_DATE_TIME.match(value):
                return f"{where} must be date-time"
        elif isinstance(value, int | float):
            if self.minimum is not None and value < self.minimum:
                return f"{where} must be bigger than or equal to {self.minimum}"
            if self.maximum is not None and value > self.maximum:
                return f"{where} must be smaller than or equal to {self.maximum}"
        if self.enum is not None and value not in self.enum:
            return f"{where} must be one of {self.enum}"
        return None


@cache
def _read_rules() -> tuple[dict[str, _Property], list[Json], frozenset[str], bool]:
    """schemas/read.json as :func:`_read_problem` checks it: the properties (in the schema's order),
    the allOf if/then rules, the required fields, whether other fields are refused."""
    spec = schema("read")
    patterns = dict(_patterns())
    props = {name: _Property(name, prop, patterns.get(name)) for name, prop in spec["properties"].items()}
    additional = spec.get("additionalProperties") is False
    return props, list(spec.get("allOf", ())), frozenset(spec["required"]), additional


def _read_problem(data: Any) -> str | None:
    """The first rule of schemas/read.json that ``data`` breaks, worded as the schema's validator
    (fastjsonschema) words it and checked in its order (object, allOf, required, properties,
    additionalProperties); None when the schema accepts it. Made only for refused reads: running
    the validator itself costs ~30 us a read (tests/unit/test_reject_cost.py holds them equal)."""
    if not isinstance(data, dict):
        return "data must be object"
    props, all_of, required, no_others = _read_rules()
    for rule in all_of:
        ((name, cond),) = rule["if"]["properties"].items()
        if name not in data or not _fits(data[name], cond):
            continue
        for then_name in rule["then"]["required"]:
            if then_name not in data:
                return f"data must contain {[then_name]} properties"
        for then_name, then in rule["then"]["properties"].items():
            if not _fits(data[then_name], then):
                return f"data.{then_name} must be {then['type']}"
    missing = required - data.keys()
    if missing:
        return f"data must contain {sorted(missing)} properties"
    for name, checked in props.items():  # the schema's order, as its validator checks
        value = data.get(name, _ABSENT)
        if value is not _ABSENT and (problem := checked.problem(value)) is not None:
            return problem
    extra = _unknown(data, props)
    if extra and no_others:
        return f"data must not contain {extra} properties"
    return None


_ABSENT = object()


def _unknown(data: dict[str, Any], props: dict[str, _Property]) -> set[str]:
    """The fields of ``data`` the schema does not name, as a set made the way its validator makes
    it (all keys, then each property removed), so it prints in the same order."""
    keys = set(data.keys())
    for name in props:
        keys.discard(name)
    return keys


def _fits(value: Any, cond: Json) -> bool:
    if "const" in cond:
        return isinstance(value, str) and value == cond["const"]
    return _is(value, cond["type"])


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
    }
    if read.lat is not None:  # position unknown: lat and lon left out, as many cameras send it
        out["lat"], out["lon"] = read.lat, read.lon
    for name in ("image_ref", "vehicle_make", "vehicle_model", "vehicle_color", "position_source"):
        value = getattr(read, name)
        if value is not None:
            out[name] = value
    return out


def decode_read_batch(payload: bytes | None) -> ReadBatch:
    """Decode one record of the reads topic: a read batch, or a bare read (a batch of one).

    Raises :class:`InvalidRecord` when the record as a whole cannot be used.
    """
    [batch] = decode_read_batches([payload])
    if isinstance(batch, InvalidRecord):
        raise batch
    return batch


def decode_read_batches(
    payloads: Sequence[bytes | None], screen: tuple[Any, bytes, Any] | None = None
) -> list[ReadBatch | InvalidRecord]:
    """:func:`decode_read_batch` of records taken together, each its batch or the error that
    refuses it whole. The native kernel (``alpr_native``) checks the records it is sure of in one
    pass; the others are each decoded by msgspec on its own, and the rules msgspec cannot state
    are checked once over the reads of them all (a record of 20 reads would pay their fixed cost
    per 20 reads), and only when one breaks them record by record, then read by read. Records
    checked together share their capture times' bounds: the earliest and latest of them all,
    as wide as each record's own or wider. With ``screen`` (``HotlistIndex.native_screen``) the
    kernel also screens the plates of the records it checks (:meth:`ReadBatch.screen_part`)."""
    native = _native_batches(payloads, screen)
    rest = [i for i, batch in enumerate(native) if batch is None]
    decoded = [_wires(payloads[i]) for i in rest]
    wired = [wires for wires in decoded if isinstance(wires, list)]
    bounds = None
    if len(wired) == len(decoded) and all(0 < len(wires) <= MAX_BATCH_READS for wires in wired):
        bounds = _rest_of_schema(list(chain.from_iterable(wired))) if wired else None
        if bounds is not None or not wired:
            # all of them checked together: the kernel's records (which would have passed with
            # the others) share the bounds too, as when the Python path checks them all
            fast = [batch for batch in native if batch is not None]
            if fast:
                earliest = [b.earliest for b in fast if b.earliest is not None]
                latest = [b.latest for b in fast if b.latest is not None]
                if bounds is not None:
                    earliest.append(bounds[0])
                    latest.append(bounds[1])
                bounds = (min(earliest), max(latest))
                for each in fast:
                    each.earliest, each.latest = bounds
            if bounds is not None:
                for i, wires in zip(rest, wired, strict=True):
                    native[i] = _batch(wires, bounds)
                return cast(list[ReadBatch | InvalidRecord], native)
    out: list[ReadBatch | InvalidRecord] = []
    records = iter(decoded)
    for payload, found in zip(payloads, native, strict=True):
        out.append(found if found is not None else _record_batch(payload, next(records)))
    return out


#: The native kernel's check (native/; the worker needs it: the matcher's Bloom filter is the
#: kernel's too). Tests set it to None to compare with the Python path, which checks the records
#: the kernel leaves.
_native: Callable[..., list[Any]] | None = check_read_batches


def _native_batches(
    payloads: Sequence[bytes | None], screen: tuple[Any, bytes, Any] | None = None
) -> list[ReadBatch | None]:
    """The kernel's batch of each record it is sure of (every read good), else None."""
    check = _native
    if check is None:
        return [None] * len(payloads)
    try:
        found = check(
            [p if isinstance(p, bytes) else b"" for p in payloads], MAX_RECORD_BYTES, MAX_BATCH_READS, screen
        )
    except BaseException as exc:
        # A panic in the kernel (pyo3's PanicException, a BaseException) must not stop the worker
        # on a record it would meet again after every restart: the Python path decides instead.
        if type(exc).__name__ != "PanicException":
            raise
        logging.getLogger(__name__).error(
            "the native read kernel failed (%s); these records are checked in Python", exc
        )
        return [None] * len(payloads)
    return [None if f is None else _native_batch(p, f) for p, f in zip(payloads, found, strict=True)]


def _native_batch(payload: Any, found: tuple[Any, ...]) -> ReadBatch:
    plates, cameras, spans, lats, lons, placed, earliest, latest = found
    out = ReadBatch.__new__(ReadBatch)  # every slot set here, once (a record of 20 reads feels it)
    out._wires, out.sent, out.failed = None, None, []
    out.payload, out.spans = payload, memoryview(spans).cast("I")
    if type(plates) is tuple:  # screened by the kernel: (count, keys, candidates), no plate made
        out._plates, out._screen = None, plates
        out.positions = range(plates[0])
    else:
        out._plates, out._screen = plates, None
        out.positions = range(len(plates))
    out._cameras, out._coords, out._placed = cameras, (lats, lons), placed
    out.earliest, out.latest = datetime.fromisoformat(earliest), datetime.fromisoformat(latest)
    return out


def _wires(payload: bytes | None) -> list[Any] | InvalidRecord | None:
    """The structs msgspec decodes a record into; None when it refuses them, the error when the
    record as a whole cannot be used."""
    if not payload:
        return InvalidRecord("empty", "the record has no value")
    if len(payload) > MAX_RECORD_BYTES:
        return InvalidRecord(
            "oversized", f"the record has {len(payload)} bytes; the limit is {MAX_RECORD_BYTES}"
        )
    batch_decoder, read_decoder, _raw = _wire_decoders()
    try:
        if payload.startswith(b'{"reads":'):
            wires: list[Any] = batch_decoder.decode(payload).reads
            return wires
        return [read_decoder.decode(payload)]
    except (msgspec.DecodeError, UnicodeDecodeError):  # msgspec: bad UTF-8 inside a string
        return None


def _batch(wires: list[Any], bounds: tuple[datetime, datetime]) -> ReadBatch:
    out = ReadBatch()
    out.wires, out.positions = wires, list(range(len(wires)))
    out.earliest, out.latest = bounds
    return out


def _record_batch(
    payload: bytes | None, wires: list[Any] | InvalidRecord | None
) -> ReadBatch | InvalidRecord:
    """One record's batch, checked on its own (:func:`_wires` decoded it)."""
    if isinstance(wires, InvalidRecord):
        return wires
    bounds = _rest_of_schema(wires) if wires is not None and 0 < len(wires) <= MAX_BATCH_READS else None
    if wires is not None and bounds is not None:
        return _batch(wires, bounds)
    try:
        return _checked_reads(_raw_reads(payload or b""))  # something is wrong: read by read
    except InvalidRecord as exc:
        return exc


MAX_BATCH_READS = 10_000


def _raw_reads(payload: bytes) -> list[Any]:
    """The reads of a record that failed the batch check: each read's bytes as sent when the record
    is a well-formed batch (split in C: no object is made of a read that passes), else the objects
    of the JSON record (a bare read, or a batch that is wrong as a whole: its error said here)."""
    if payload.startswith(b'{"reads":'):
        try:
            if not payload.isascii():
                payload.decode("utf-8")  # msgspec.Raw does not check it: undecodable, said below
            reads: list[Any] = _wire_decoders()[2].decode(payload).reads
        except (msgspec.DecodeError, UnicodeDecodeError):
            reads = []
        if 0 < len(reads) <= MAX_BATCH_READS:
            return reads
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
    out: list[Read | tuple[InvalidRecord, Any]] = [(e, sent_object(raw)) for _, e, raw, _c in batch.failed]
    order = [p for p, _, _, _ in batch.failed]
    for i, position in enumerate(batch.positions):
        out.append(batch.read(i))
        order.append(position)
    return [item for _, item in sorted(zip(order, out, strict=True), key=lambda pair: pair[0])]


def sent_object(sent: Any) -> Any:
    """A refused read as sent (:attr:`ReadBatch.failed`) as an object."""
    return _as_sent(sent) if isinstance(sent, msgspec.Raw) else sent


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


def rejected_item(error: InvalidRecord, sent: Any, index: int | None, camera: str | None) -> bytes:
    """One refusal of a rejected record (an item of ``refused`` in schemas/rejected_read.json),
    encoded: the reason, the read's position in its record (None: the whole record) and camera
    id, and the input as received (``sent``: a read's bytes as :class:`msgspec.Raw`, an object,
    or a record's bytes)."""
    if isinstance(sent, msgspec.Raw):  # its UTF-8 was checked with its record's (_raw_reads)
        text, encoding = bytes(sent).decode("utf-8"), "json"
    elif isinstance(sent, bytes | bytearray):
        try:
            text, encoding = bytes(sent).decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(sent).decode("ascii"), "base64"
    else:
        text, encoding = orjson.dumps(sent).decode("utf-8"), "json"
    item = {
        "reason_code": error.code,
        "reason": str(error),
        "index": index,
        "camera_id": camera,
        "payload": text,
        "payload_encoding": encoding,
    }
    return orjson.dumps(item)


def rejected_record(items: list[bytes], *, topic: str, partition: int, offset: int, now: datetime) -> bytes:
    """The rejected-topic record (schemas/rejected_read.json) of one source record: where it was,
    when it was refused, and its refusals (:func:`rejected_item`): one record however many of its
    reads were refused (issue 17), sent in a message of the rejected topic (:func:`rejected_group`)."""
    where = orjson.dumps(
        {"topic": topic, "partition": partition, "offset": offset, "rejected_at": now.isoformat()}
    )
    return b'{"refused":[' + b",".join(items) + b"]," + where[1:]


def rejected_group(records: list[bytes]) -> bytes:
    """A message of the rejected topic: the rejected records (:func:`rejected_record`) of source
    records refused about the same time, sent together (streams/kafka/outbox.py)."""
    return b'{"records":[' + b",".join(records) + b"]}"


def rejected_reads(value: bytes | None) -> list[Json]:
    """The refusals in a message of the rejected topic (:func:`rejected_group`) or in one rejected
    record, each with where its source record was and when it was refused: one object per refused
    read (or whole record) with every field the schema gives."""
    message = loads(value or b"")
    out = []
    for record in message["records"] if "records" in message else [message]:
        where = {k: record[k] for k in ("topic", "partition", "offset", "rejected_at")}
        out += [{**item, **where} for item in record["refused"]]
    return out


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
    get = data.get
    return _entry(
        data["source"],
        data["entry_id"],
        data["plate"],
        data["plate_state"],
        data["list_type"],
        data["reason"],
        data["case_number"],
        get("effective_at"),
        get("expires_at"),
        get("synced_at"),
        _person(get("entered_by")),
        _person(get("approved_by")),
        get("ori"),
        get("vehicle"),
    )


def _entry(
    source: str,
    entry_id: str,
    plate: str,
    plate_state: str | None,
    list_type: str,
    reason: str,
    case_number: str | None,
    effective_at: str | None,
    expires_at: str | None,
    synced_at: str | None,
    entered_by: Person | None,
    approved_by: Person | None,
    ori: str | None,
    vehicle: Mapping[str, str] | None,
) -> HotlistEntry:
    """The entry of schema-valid field values (both decoders build it here, so they agree)."""
    return HotlistEntry(
        source=sys.intern(source),
        entry_id=entry_id,
        plate=_normalize_pattern(plate),
        plate_state=_shared(plate_state),
        list_type=sys.intern(list_type),
        reason=sys.intern(reason),
        case_number=case_number,
        effective_at=_time(effective_at, "effective_at"),
        expires_at=_time(expires_at, "expires_at"),
        synced_at=_time(synced_at, "synced_at"),
        entered_by=entered_by,
        approved_by=approved_by,
        ori=_shared(ori),
        vehicle=_vehicle(vehicle),
    )


def entries_from_json(values: Sequence[bytes]) -> list[HotlistEntry | None]:
    """Hot-list entries from their JSON texts (a worker loading millions), each decoded and
    checked against the schema by msgspec in C (:func:`_wire_kind`) instead of orjson and the
    schema validator in Python: 40% less CPU (6.6 against 10.7 µs an entry, measured). None for
    a value it does not take: the caller decodes that one with :func:`entry_from_dict`, which
    refuses it with the schema's own message (or takes what this stricter decoder would not,
    e.g. a date-time in lower case)."""
    decode = _wire_entry_decoder().decode
    out: list[HotlistEntry | None] = []
    append = out.append
    for value in values:
        try:
            w = decode(value)
            append(
                _entry(
                    w.source,
                    w.entry_id,
                    w.plate,
                    w.plate_state,
                    w.list_type,
                    w.reason,
                    w.case_number,
                    w.effective_at,
                    w.expires_at,
                    w.synced_at,
                    None if w.entered_by is None else _wire_person(w.entered_by),
                    None if w.approved_by is None else _wire_person(w.approved_by),
                    w.ori,
                    w.vehicle,
                )
            )
        except (msgspec.DecodeError, InvalidRecord):
            append(None)
    return out


def _wire_person(p: Any) -> Person:
    return Person(p.name, p.badge, p.assignment, p.rank)


#: The JSON Schema keywords :func:`_wire_kind` states in msgspec types. Any other one in
#: schemas/hotlist_entry.json makes it fail loudly (a test builds it) rather than decode looser.
_WIRE_KEYWORDS = frozenset(
    {
        "$schema", "$id", "$ref", "title", "description", "type", "required", "properties",
        "additionalProperties", "anyOf", "minLength", "maxLength", "pattern", "format",
    }
)  # fmt: skip


@cache
def _wire_entry_decoder() -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(_wire_kind(schema("hotlist_entry"), "WireEntry"))


def _wire_kind(spec: Mapping[str, Any], name: str) -> Any:
    """The msgspec type of a JSON Schema node, no looser than the schema: every keyword of it
    is stated (a pattern's final "$" as the end of the text; a date-time as RFC 3339 in the
    upper-case form ``datetime.fromisoformat`` parses, with a UTC offset); objects without
    additional properties are structs (unknown fields refused) or, when all their properties
    are optional and alike, dicts with those keys."""
    unknown = set(spec) - _WIRE_KEYWORDS
    if unknown or spec.get("additionalProperties", False) is not False:
        raise NotImplementedError(f"{name}: no msgspec type for {sorted(unknown) or 'additionalProperties'}")
    if "$ref" in spec:
        return _wire_kind(schema(spec["$ref"].removesuffix(".json")), name)
    if "anyOf" in spec:
        kinds = [_wire_kind(option, name) for option in spec["anyOf"]]
        union = kinds[0]
        for kind in kinds[1:]:
            union = union | kind
        return union
    types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    kinds = [_wire_single(spec, t, name) for t in types]
    union = kinds[0]
    for kind in kinds[1:]:
        union = union | kind
    return union


def _wire_single(spec: Mapping[str, Any], json_type: str, name: str) -> Any:
    if json_type == "null":
        return None
    if json_type == "string":
        lengths = (("minLength", "min_length"), ("maxLength", "max_length"))
        limits: dict[str, Any] = {meta: spec[key] for key, meta in lengths if key in spec}
        if "pattern" in spec:
            limits["pattern"] = re.sub(r"(?<!\\)\$$", r"\\Z", spec["pattern"])
        if "format" in spec:
            if spec["format"] != "date-time" or "pattern" in spec:
                raise NotImplementedError(f"{name}: no msgspec type for format {spec['format']!r}")
            limits["pattern"] = rf"(?a)^{_RFC3339}\Z"
        return Annotated[str, msgspec.Meta(**limits)] if limits else str
    if json_type != "object" or "properties" not in spec:
        raise NotImplementedError(f"{name}: no msgspec type for {json_type!r}")
    properties: dict[str, Any] = spec["properties"]
    required = spec.get("required", [])
    alike = {orjson.dumps({k: v for k, v in p.items() if k != "description"}) for p in properties.values()}
    if not required and len(alike) == 1:
        field = next(iter(properties.values()))
        return dict[Literal[tuple(properties)], _wire_kind(field, name)]  # type: ignore[misc]
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for key, prop in properties.items():
        kind = _wire_kind(prop, f"{name}.{key}")
        fields.append((key, kind) if key in required else (key, kind, None))
    fields.sort(key=len)  # required fields (no default) first
    return msgspec.defstruct(name, fields, forbid_unknown_fields=True, frozen=True, gc=False)


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
        "lat": read.lat,  # null, never 0, when the position is unknown
        "lon": read.lon,
        "position_source": read.placed,
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
        AlertClaimed,
        AlertReleased,
        AlertImageShown,
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
    "stale",
    "kind",  # AlertImageShown: which image was served (P7)
)


def alert_from_dict(data: dict[str, Any]) -> AlertRaised:
    read = Read(
        read_id=data["read_id"],
        camera_id=data["camera_id"],
        captured_at=datetime.fromisoformat(data["captured_at"]),
        plate=data["plate_read"],
        plate_state=data["plate_state_read"],
        confidence=float(data.get("confidence", 0.0)),
        lat=None if data.get("lat") is None else float(data["lat"]),
        lon=None if data.get("lon") is None else float(data["lon"]),
        image_ref=data.get("image_ref"),
        position_source="camera" if data.get("position_source") == "camera" else None,
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
    if isinstance(event, AlertClaimed):  # a take-over names whom it took the alert from
        taken = event.taken_from
        out["taken_from"] = None if taken is None else {"user": taken.user, "badge": taken.badge}
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
    if cls is AlertClaimed and data.get("taken_from"):
        fields["taken_from"] = Actor(data["taken_from"]["user"], data["taken_from"]["badge"])
    return cls(**fields)


def alert_record_from_dict(data: Any) -> AlertRaised | AlertEvent | None:
    """A record of the alerts topic: the raised alert or a lifecycle event; None for anything else."""
    kind = data.get("event") if isinstance(data, dict) else None
    if kind == "AlertRaised":
        return alert_from_dict(data)
    if kind in _EVENTS:
        return event_from_dict(data)
    return None
