"""The native read kernel (alpr_native, issue 19) against the Python path it stands in for.

The kernel may answer only for a record the Python path accepts whole, with the same plates,
positions, cameras and capture-time bounds; a pipeline gives the same outcome with it and without
it. Records are built from good reads at the edges of every rule and from reads broken in the ways
a camera gateway breaks them (a wrong type, a bound, a key, a date, an escape, UTF-8, truncation).
The module is imported, not skipped: a build without the kernel fails here.
"""

from __future__ import annotations

import json
import math
import string
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import alpr_native
import msgspec
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streams.codec as codec
from streams.cameras.active import ActiveCameras
from streams.cameras.ids import CAMERA_ID_PATTERN
from streams.cameras.registry import Camera, encode_camera
from streams.cameras.sites import SiteWatch, point_feature
from streams.codec import MAX_BATCH_READS, MAX_RECORD_BYTES, ReadBatch, decode_read_batches, schema
from streams.errors import InvalidRecord
from streams.matching.matcher import HotlistIndex, MatchRules, pattern_key
from streams.matching.normalize import OcrClasses, normalize_plate
from streams.matching.pipeline import Outcome, Pipeline, Source
from streams.settings import DEFAULT_OCR_CLASSES
from tests.factories import NOW, local_entry, make_entry, make_pipeline
from tests.unit.test_native_patterns import glob_fits

ALNUM = string.ascii_uppercase + string.digits

# -- the kernel knows the schema it checks ---------------------------------------------------------


def test_the_kernel_checks_the_rules_schemas_read_json_states() -> None:
    """A change to schemas/read.json the kernel does not know fails here, not in production."""
    spec = schema("read")
    required, rules = alpr_native.schema_rules()
    assert required == spec["required"] and spec["additionalProperties"] is False
    assert list(rules) == list(spec["properties"])
    for name, prop in spec["properties"].items():
        stated = {k: v for k, v in prop.items() if k != "description"}
        if "enum" in stated:  # the kernel states null as a type
            stated["enum"] = [v for v in stated["enum"] if v is not None]
        if not isinstance(stated["type"], list):
            stated["type"] = [stated["type"]]
        assert rules[name] == stated, name
    assert rules["camera_id"]["pattern"] == CAMERA_ID_PATTERN
    # the three allOf rules: lat and lon together, "camera" with a position (position_problem)
    assert spec["allOf"] == [
        {"if": {"properties": {"lat": {"type": "number"}}, "required": ["lat"]},
         "then": {"properties": {"lon": {"type": "number"}}, "required": ["lon"]}},
        {"if": {"properties": {"lon": {"type": "number"}}, "required": ["lon"]},
         "then": {"properties": {"lat": {"type": "number"}}, "required": ["lat"]}},
        {"if": {"properties": {"position_source": {"const": "camera"}}, "required": ["position_source"]},
         "then": {"properties": {"lat": {"type": "number"}}, "required": ["lat"]}},
    ]  # fmt: skip
    assert set(spec) == {"$schema", "$id", "title", "description", "type", "required", "additionalProperties",
                         "properties", "allOf"}  # fmt: skip


def test_the_worker_runs_the_kernel() -> None:
    assert codec._native is alpr_native.check_read_batches


# -- records: good reads at the edges, and broken ones ---------------------------------------------

ID_CHARS = "abcXYZ019._:-"
camera_ids = st.one_of(
    st.sampled_from(["cam-00001", "cam-00002", "BXH9904 SPD2020627MDC", "a", "A" * 64, "fixed-1"]),
    st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9._:-]| [A-Za-z0-9._:-]){0,20}", fullmatch=True),
)


def day_times() -> st.SearchStrategy[str]:
    """RFC 3339 times around NOW (in the pipeline's bounds and out of them), in their forms."""
    deltas = st.sampled_from([0, -1, -3600, -86400 * 29, -86400 * 31, 200, 400, -7 * 86400])
    fraction = st.sampled_from(["", ".1", ".123", ".123456", ".000001", ".5"])
    offset = st.sampled_from(["Z", "+00:00", "-00:00", "+05:30", "-08:00", "+23:59"])

    def text(delta: int, frac: str, off: str) -> str:
        when = NOW + timedelta(seconds=delta)
        if off != "Z":
            sign = 1 if off[0] == "+" else -1
            when = when.astimezone(timezone(sign * timedelta(hours=int(off[1:3]), minutes=int(off[4:6]))))
        return when.strftime("%Y-%m-%dT%H:%M:%S") + frac + off

    return st.builds(text, deltas, fraction, offset)


numbers = st.one_of(
    st.floats(min_value=-90, max_value=90, allow_nan=False),
    st.integers(min_value=-90, max_value=90),
    st.sampled_from([90, -90, 90.0, -90.0, 0, -0.0, 1e-7, 37.33, -121.89]),
)


#: Listed plates (exact entries of :func:`pipelines`) and partial patterns: reads of them, misread
#: within their OCR classes, written in lower case or with separators, must reach the same hits.
LISTED = ("7ABC123", "8DOG512", "5SZ2IB0", "Q1", "ABCDEFGH12")
PARTIALS = ("7GH?25X", "*8OB")
LOOKALIKES = {ch: cls for cls in DEFAULT_OCR_CLASSES for ch in cls}


@st.composite
def plate_texts(draw: st.DrawFn) -> str:
    """A plate as a camera sends it: a listed one or a partial pattern's fit, maybe misread (an
    OCR look-alike), in lower case, with spaces, dashes and dots; or any text of 1 to 16
    characters (the schema's bounds) of letters, look-alikes, separators and refused characters."""
    kind = draw(st.sampled_from(["listed", "listed", "partial", "text", "edge"]))
    if kind == "text":
        return draw(st.text("ABCDOQ0I1B8S5Z2xyzabdoqis -.#_", min_size=1, max_size=16))
    if kind == "edge":
        return draw(st.sampled_from(["A", "X" * 10, "X" * 11, "X" * 16, " - . ", "7gh 25x", "8D0G512"]))
    if kind == "listed":
        base = draw(st.sampled_from(LISTED))
    else:
        base = draw(st.sampled_from(["7GH{}25X", "{}8OB"])).format(draw(st.text(ALNUM, max_size=3)))
    rng = draw(st.randoms(use_true_random=False))
    text = ""
    for ch in base:
        if ch in LOOKALIKES and rng.random() < 0.3:
            ch = rng.choice(LOOKALIKES[ch])
        if rng.random() < 0.2:
            ch = ch.lower()
        if rng.random() < 0.15:
            text += rng.choice(" -.")
        text += ch
    return text[:16]


@st.composite
def good_reads(draw: st.DrawFn) -> dict[str, Any]:
    read: dict[str, Any] = {
        "read_id": draw(
            st.sampled_from(["r", "x" * 128]) | st.text("abc-0123456789", min_size=1, max_size=12)
        ),
        "camera_id": draw(camera_ids),
        "captured_at": draw(day_times()),
        "plate": draw(plate_texts()),
        "plate_state": draw(st.sampled_from(["CA", "NV", None])),
        "confidence": draw(st.sampled_from([0, 1, 0.0, 1.0, 0.5, 0.91]) | st.floats(0, 1)),
    }
    position = draw(st.sampled_from(["both", "none", "null", "camera"]))
    if position in ("both", "camera"):
        read["lat"] = draw(numbers)
        read["lon"] = draw(numbers | st.sampled_from([180, -180, 179.999999]))
        if position == "camera":
            read["position_source"] = "camera"
    elif position == "null":
        read["lat"] = read["lon"] = None
    for name, longest in (
        ("image_ref", 1024),
        ("vehicle_make", 64),
        ("vehicle_model", 64),
        ("vehicle_color", 32),
    ):
        choice = draw(st.sampled_from(["absent", "null", "short", "longest"]))
        if choice != "absent":
            read[name] = {"null": None, "short": "x", "longest": "y" * longest}[choice]
    if draw(st.booleans()):
        read["position_source"] = read.get("position_source", draw(st.sampled_from(["read", None])))
    keys = list(read)
    order = draw(st.permutations(keys))
    return {k: read[k] for k in order}


BAD_VALUES: dict[str, list[Any]] = {
    "read_id": ["", "x" * 129, 5, None, "caf\u00e9"],
    "camera_id": ["", "A" * 65, " cam", "cam ", "cam  1", "cam/1", "cam\t1", "cam\n", "c\u0430m", 7],
    "captured_at": [
        "2026-02-30T00:00:00Z",
        "2026-11-23T24:00:00Z",
        "2026-11-23T12:00:00z",
        "2026-11-23t12:00:00Z",
        "2026-11-23T12:00:60Z",
        "0000-01-01T00:00:00Z",
        "2026-11-23T12:00:00",
        "2026-11-23 12:00:00Z",
        "2026-11-23T12:00:00.1234567Z",
        "2026-11-23T12:00:00+24:00",
        "2026-11-23T12:00:00.Z",
        "2026-11-23T12:00Z",
        "2026-11-2\u0663T12:00:00Z",
        "",
        20261123,
    ],  # fmt: skip
    "plate": ["", "X" * 17, "\u0410BC123", "7ABC\u00e9", 7, None, "tab\there"],
    "plate_state": ["ca", "CAL", "C", "", 5, "\u0421A"],
    "confidence": [-0.01, 1.0000001, "0.9", None, True, 2],
    "lat": [90.0001, -91, "37", True, [1]],
    "lon": [180.5, -181, "x", False],
    "position_source": ["gps", "Read", "", 1],
    "image_ref": ["z" * 1025, 5],
    "vehicle_make": ["m" * 65, 1.5],
    "vehicle_color": ["c" * 33, {}],
    "speed_mph": [30],  # an unknown field
}


@st.composite
def broken_reads(draw: st.DrawFn) -> dict[str, Any]:
    read = draw(good_reads())
    kind = draw(st.sampled_from(["value", "missing", "half position", "camera without position"]))
    if kind == "value":
        name = draw(st.sampled_from(sorted(BAD_VALUES)))
        read[name] = draw(st.sampled_from(BAD_VALUES[name]))
    elif kind == "missing":
        del read[draw(st.sampled_from(sorted(schema("read")["required"])))]
    elif kind == "half position":
        read.pop("lat", None)
        read.pop("lon", None)
        given_one, other = draw(st.sampled_from([("lat", "lon"), ("lon", "lat")]))
        read[given_one] = 1.0
        if draw(st.booleans()):
            read[other] = None
    else:
        read.pop("lat", None)
        read.pop("lon", None)
        read["position_source"] = "camera"
    return read


def encode(read: dict[str, Any], spaced: bool) -> bytes:
    return json.dumps(read, separators=(", ", ": ") if spaced else (",", ":"), ensure_ascii=False).encode()


TEXT_MUTATIONS = [
    ("escape", lambda b: b.replace(b'"plate":"', b'"plate":"\\u0041', 1)),
    ("escaped quote", lambda b: b.replace(b'"read_id":"', b'"read_id":"\\"', 1)),
    ("duplicate key", lambda b: b.replace(b"{", b'{"read_id":"dup",', 1)),
    ("truncated", lambda b: b[: len(b) // 2]),
    ("trailing comma", lambda b: b[:-1] + b",}"),
    ("lowercase z", lambda b: b.replace(b'Z"', b'z"', 1)),
    ("nan", lambda b: b.replace(b'"confidence":', b'"confidence":NaN,"x":', 1)),
    ("big exponent", lambda b: b.replace(b'"confidence":', b'"confidence":1e400,"x":', 1)),
    ("leading zero", lambda b: b.replace(b'"confidence":', b'"confidence":00,"x":', 1)),
    ("minus zero", lambda b: b.replace(b'"confidence":', b'"confidence":-0,"x":', 1)),
    ("a tab", lambda b: b.replace(b":", b":\t", 1)),
    ("bad utf-8", lambda b: b.replace(b'"plate":"', b'"plate":"\xff', 1)),
    ("nul", lambda b: b.replace(b'"plate":"', b'"plate":"\x00', 1)),
]


@st.composite
def records(draw: st.DrawFn) -> bytes | None:
    broken = draw(st.integers(0, 2)) == 0
    reads = draw(st.lists(good_reads() | broken_reads() if broken else good_reads(), min_size=1, max_size=6))
    if draw(st.booleans()):  # a gateway's record: registered cameras, times within the bounds
        for read in reads:
            read["camera_id"] = draw(st.sampled_from(["cam-00001", "BXH9904 SPD2020627MDC", "fixed-1"]))
            read["captured_at"] = draw(st.sampled_from(["2026-11-23T11:59:00Z", "2026-11-23T11:58:59.5Z"]))
    spaced = draw(st.booleans())
    texts = [encode(r, spaced) for r in reads]
    if draw(st.integers(0, 3)) == 0:
        i = draw(st.integers(0, len(texts) - 1))
        _name, mutate = draw(st.sampled_from(TEXT_MUTATIONS))
        texts[i] = mutate(texts[i])
    shape = draw(st.sampled_from(["batch", "batch", "batch", "bare", "spaced batch", "extra key", "empty"]))
    body = b",".join(texts)
    if shape == "bare":
        return texts[0]
    if shape == "spaced batch":
        return b'{"reads": [ ' + body + b" ] }\n"
    if shape == "extra key":
        return b'{"reads":[' + body + b'],"more":1}'
    if shape == "empty":
        return draw(st.sampled_from([b'{"reads":[]}', b"", None, b"[]", b"null"]))
    return b'{"reads":[' + body + b"]}"


@contextmanager
def kernel(on: bool) -> Iterator[None]:
    saved = codec._native
    codec._native = saved if on else None
    try:
        yield
    finally:
        codec._native = saved


def python_batches(payloads: list[bytes | None]) -> list[ReadBatch | InvalidRecord]:
    with kernel(False):
        return decode_read_batches(payloads)


def nan_none(values: Any) -> list[float | None]:
    return [None if math.isnan(v) else v for v in values]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records(), min_size=1, max_size=4))
def test_the_kernel_answers_only_for_what_the_python_path_accepts_whole_with_its_values(
    payloads: list[bytes | None],
) -> None:
    found = alpr_native.check_read_batches(
        [p if isinstance(p, bytes) else b"" for p in payloads], MAX_RECORD_BYTES, MAX_BATCH_READS
    )
    for payload, answer in zip(payloads, found, strict=True):
        if answer is None:
            continue
        assert payload is not None
        [alone] = python_batches([payload])
        assert isinstance(alone, ReadBatch) and alone.failed == [], payload
        plates, cameras, spans, lats, lons, placed, earliest, latest = answer
        wires = alone.wires
        assert plates == [w.plate for w in wires]
        assert sorted(cameras) == sorted({w.camera_id for w in wires}) and len(cameras) == len(set(cameras))
        got_lats, got_lons = nan_none(memoryview(lats).cast("d")), nan_none(memoryview(lons).cast("d"))
        assert [repr(x) for x in got_lats] == [repr(w.lat) for w in wires]  # -0.0 is not 0.0
        assert [repr(x) for x in got_lons] == [repr(w.lon) for w in wires]
        assert placed == all(w.lat is not None for w in wires)
        bounds = (datetime.fromisoformat(earliest), datetime.fromisoformat(latest))
        assert bounds == (alone.earliest, alone.latest)
        offsets = memoryview(spans).cast("I")
        decode_one = codec._wire_decoders()[1].decode
        assert [decode_one(payload[offsets[2 * i] : offsets[2 * i + 1]]) for i in range(len(wires))] == wires


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records(), min_size=1, max_size=4))
def test_records_decode_alike_with_the_kernel_and_without(payloads: list[bytes | None]) -> None:
    with kernel(True):
        fast = decode_read_batches(payloads)
    slow = python_batches(payloads)
    for a, b in zip(fast, slow, strict=True):
        if isinstance(b, InvalidRecord):
            assert isinstance(a, InvalidRecord) and (a.code, str(a)) == (b.code, str(b))
            continue
        assert isinstance(a, ReadBatch)
        assert (a.earliest, a.latest, list(a.positions)) == (b.earliest, b.latest, list(b.positions))
        assert [(p, e.code, str(e), c) for p, e, _s, c in a.failed] == [
            (p, e.code, str(e), c) for p, e, _s, c in b.failed
        ]
        assert a.wires == b.wires
        assert [a.read(i) for i in range(len(a))] == [b.read(i) for i in range(len(b))]
        assert a.plates() == b.plates() and set(a.cameras()) == set(b.cameras())
        assert a.coordinates() == b.coordinates() and a.unplaced() == b.unplaced()


# -- the pipeline: the same outcome with the kernel and without --------------------------------------

FIXED = Camera("fixed-1", "a pole", "SJPD", "fixed", 37.3301, -121.8901, facing_deg=90.0)


def cameras_now() -> ActiveCameras:
    active = ActiveCameras()
    for camera in (
        Camera("cam-00001", "test site", "SJPD", "mobile", 37.33, -121.89),
        Camera("BXH9904 SPD2020627MDC", "test site", "SJPD", "mobile", 37.33, -121.89),
        Camera("a", "test site", "SJPD", "mobile", 37.33, -121.89, status="retired", retired_on=NOW.date()),
        FIXED,
    ):
        active.apply(camera.id.encode(), encode_camera(camera))
    return active


def pipelines(sites: SiteWatch | None) -> Pipeline:
    return make_pipeline(
        *(make_entry(plate=plate) for plate in LISTED),
        *(local_entry(plate=pattern) for pattern in PARTIALS),
        cameras=cameras_now(),
        sites=sites,
    )


def comparable(out: Outcome) -> dict[str, Any]:
    """An outcome's fields, its rejected records as objects: a read refused after the kernel took
    its record is kept as sent (its own bytes), one of a batch of structs as its struct encodes it
    (optional fields left out when null), which say the same."""
    fields = {name: getattr(out, name) for name in Outcome.__dataclass_fields__}
    rejected = []
    for key, value, codes in out.rejected:
        record = orjson.loads(value)
        for item in record["refused"]:
            if item["payload_encoding"] == "json":
                sent = orjson.loads(item["payload"])
                if isinstance(sent, dict):
                    sent = {k: v for k, v in sent.items() if v is not None or k in schema("read")["required"]}
                item["payload"] = sent
        rejected.append((key, record, codes))
    fields["rejected"] = rejected
    fields["alerts"] = [(k, v) for k, v, _a in out.alerts]
    return fields


def sites_file(tmp_path: Any) -> SiteWatch:
    path = tmp_path / "sites.geojson"
    feature = point_feature("s1", "Clinic", "reproductive_health_care", 37.3301, -121.8901)
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    return SiteWatch(path, 150.0)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(records(), min_size=1, max_size=5), st.booleans(), st.booleans())
def test_the_pipeline_gives_the_same_outcomes_with_the_kernel_and_without(
    tmp_path: Any, payloads: list[bytes | None], with_sites: bool, late: bool
) -> None:
    sites = sites_file(tmp_path) if with_sites else None
    sources = [Source(p, ("alpr.reads", 0, n), 1000 + n, None, late) for n, p in enumerate(payloads)]
    with kernel(True):
        fast = pipelines(sites).screen_records(sources)
    with kernel(False):
        slow = pipelines(sites).screen_records(sources)
    assert [comparable(o) for o in fast] == [comparable(o) for o in slow]


def test_a_read_kept_as_sent_after_the_kernel_took_its_record_is_its_own_bytes() -> None:
    """A read refused after the check (here a retired camera) keeps the bytes the camera sent."""
    read = b'{"read_id":"r1","camera_id":"a","captured_at":"2026-11-23T11:59:00.50Z","plate":"7ABC123",' \
           b'"plate_state":"CA","confidence":0.90,"lat":37.33,"lon":-121.89,"image_ref":null}'  # fmt: skip
    payload = b'{"reads":[' + read + b"]}"
    [batch] = decode_read_batches([payload])
    assert isinstance(batch, ReadBatch) and batch.payload is payload  # the kernel took it
    assert bytes(batch.as_sent(0)) == read and isinstance(batch.as_sent(0), msgspec.Raw)
    [out] = pipelines(None).screen_records([Source(payload, ("alpr.reads", 0, 1), 1000)])
    [(_key, value, codes)] = out.rejected
    assert codes == ["retired_camera"]
    assert orjson.loads(value)["refused"][0]["payload"] == read.decode()


def test_a_fixed_camera_s_read_without_position_is_placed_with_the_kernel_too() -> None:
    read = {"read_id": "r1", "camera_id": "fixed-1", "captured_at": "2026-11-23T11:59:00Z",
            "plate": "7ABC123", "plate_state": "CA", "confidence": 0.9}  # fmt: skip
    [out] = pipelines(None).screen_records(
        [Source(orjson.dumps({"reads": [read]}), ("alpr.reads", 0, 1), 1000)]
    )
    [(_key, _partition, value)] = out.candidates
    assert orjson.loads(value)["read"]["position_source"] == "camera"


NUMBER_TEXTS = [
    "0", "-0", "0.0", "-0.0", "90", "-90", "90.0", "90.00000000000000001", "89.99999999999999999",
    "9007199254740993e-15", "9.007199254740992", "9.007199254740993",
    "37.35623141234567", "-21.85623141234567", "1e1", "1E-7", "-1e-400", "0.1e2", "12.5E+0",
    "1234567890123456789e-18", "0.000000000000000000000001", "45.1234567890123456789012345",
]  # fmt: skip


def test_numbers_are_the_doubles_msgspec_makes_of_them() -> None:
    """Every form of a JSON number, at the edges of the exact fast path and past it."""
    decode = codec._wire_decoders()[1].decode
    for text in NUMBER_TEXTS:
        read = (
            '{"read_id":"r","camera_id":"c","captured_at":"2026-11-23T11:59:00Z","plate":"A",'
            f'"plate_state":null,"confidence":1,"lat":{text},"lon":{text}}}'
        ).encode()
        [answer] = alpr_native.check_read_batches([b'{"reads":[' + read + b"]}"], MAX_RECORD_BYTES, 10)
        expected = decode(read).lat
        assert answer is not None, text
        assert repr(memoryview(answer[3]).cast("d")[0]) == repr(expected), text


def test_a_panic_in_the_kernel_leaves_the_records_to_the_python_path() -> None:
    """A record that made the kernel panic (a bug) must not stop the worker, which would meet it
    again after every restart: the Python path checks the records and says what it finds."""
    PanicException = type("PanicException", (BaseException,), {})  # noqa: N806 - pyo3's is one

    def panics(*_args: Any) -> list[Any]:
        raise PanicException("index out of bounds")

    good = {"read_id": "r1", "camera_id": "cam-1", "captured_at": "2026-12-05T10:00:00Z", "plate": "7ABC123",
            "plate_state": "CA", "confidence": 0.9}  # fmt: skip
    payloads = [orjson.dumps({"reads": [good]}), b'{"reads":[{"plate":1}]}']
    expected = python_batches(payloads)
    saved = codec._native
    codec._native = panics
    try:
        got = decode_read_batches(payloads)
    finally:
        codec._native = saved
    assert isinstance(got[0], ReadBatch) and got[0].plates() == ["7ABC123"]
    assert isinstance(expected[1], ReadBatch) and isinstance(got[1], ReadBatch)
    assert [str(e) for _, e, _, _ in got[1].failed] == [str(e) for _, e, _, _ in expected[1].failed] != []


# -- the kernel's screen: normalized plates, canonical keys, the Bloom probe -------------------------


def refused(plate: str) -> bool:
    try:
        normalize_plate(plate)
    except InvalidRecord:
        return True
    return False


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records(), min_size=1, max_size=4))
def test_the_kernel_screens_a_record_exactly_as_the_python_screen_does(payloads: list[bytes | None]) -> None:
    """Where the kernel screens a record, its keys are the Python path's canonical keys and its
    candidates the Bloom's positives and the keys a partial pattern fits; it leaves a record to
    the Python screen exactly when a plate of it is refused (the refusal is worded there)."""
    index: HotlistIndex = pipelines(None).index
    screen = index.native_screen()
    assert screen is not None
    found = alpr_native.check_read_batches(
        [p if isinstance(p, bytes) else b"" for p in payloads], MAX_RECORD_BYTES, MAX_BATCH_READS, screen
    )
    for payload, answer in zip(payloads, found, strict=True):
        if answer is None:
            continue
        [alone] = python_batches([payload])
        assert isinstance(alone, ReadBatch)
        plates = [w.plate for w in alone.wires]
        if any(map(refused, plates)):
            assert answer[0] == plates
            continue
        count, keys, candidates = answer[0]
        canonical = [index.rules.ocr.canonical(normalize_plate(p)) for p in plates]
        assert count == len(plates) and keys == "\n".join(canonical)
        patterns = [pattern_key(e.plate, index.rules.ocr) for e in index.partial_entries]
        fits = [n for n, key in enumerate(canonical) if any(glob_fits(p, key) for p in patterns)]
        expected = sorted(set(index.bloom_positives(canonical)).union(fits))
        assert memoryview(candidates).cast("I").tolist() == expected


def test_the_kernel_s_screen_finds_listed_plates_misread_and_partial_fits() -> None:
    """Hits through the kernel's screen: exact, OCR-equivalent misreads written in lower case with
    separators, and a partial pattern's fit, made candidates with their normalized and canonical
    plates as the Python screen makes them."""
    plates = ["7abc-123", "8D0G.512", "s5z 2ib0", "q1", "7GHK25X", "NOTLISTED", "12B0B"]
    reads = [
        {
            "read_id": f"r{n}",
            "camera_id": "cam-00001",
            "captured_at": "2026-11-23T11:59:00Z",
            "plate": plate,
            "plate_state": "CA",
            "confidence": 0.9,
        }  # fmt: skip
        for n, plate in enumerate(plates)
    ]
    payload = orjson.dumps({"reads": reads})
    pipeline = pipelines(None)
    [batch] = decode_read_batches([payload], pipeline.index.native_screen())
    assert isinstance(batch, ReadBatch) and batch._screen is not None  # screened by the kernel
    candidates = []
    for on in (True, False):
        with kernel(on):
            [out] = pipelines(None).screen_records([Source(payload, ("alpr.reads", 0, 1), 1000)])
        candidates.append(out.candidates)
    assert candidates[0] == candidates[1]
    found = [orjson.loads(value) for _key, _partition, value in candidates[0]]
    assert [(f["normalized"], f["canonical"]) for f in found] == [
        ("7ABC123", index_key("7ABC123")),
        ("8D0G512", index_key("8D0G512")),
        ("S5Z2IB0", index_key("S5Z2IB0")),
        ("Q1", index_key("Q1")),
        ("7GHK25X", index_key("7GHK25X")),
        ("12B0B", index_key("12B0B")),
    ]


def index_key(normalized: str) -> str:
    return pipelines(None).index.rules.ocr.canonical(normalized)


def test_a_table_the_kernel_cannot_hold_leaves_the_screen_to_python() -> None:
    assert HotlistIndex(MatchRules(OcrClasses.of(["\u00d80O"]))).native_screen() is None
    assert HotlistIndex(MatchRules(OcrClasses.of(["0O"]))).native_screen() is not None
