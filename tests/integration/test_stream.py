"""The stream app as a real worker process on the embedded broker.

One worker serves the module; each test uses its own read ids and plates.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import orjson
import pytest

from streams.codec import entry_to_dict
from streams.hotlists.adapters.base import ExtractRefused
from streams.hotlists.model import Person
from streams.hotlists.service import HotlistStore
from streams.kafka.topics import create_topics
from streams.readiness import wait_worker_drained
from tests.conftest import AlprProcess, alpr, make_env, settings_of, wait_for
from tests.factories import local_entry, make_entry, read_dict
from tests.integration.kafka_helpers import (
    alerts_for,
    assert_no_alert,
    metric,
    produce,
    read_topic,
    refused_reads,
    send_reads,
    wait_for_records,
)
from tests.integration.probes import same_path_plate, worker_follows

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
#: The feed's own as-of time (P4 is judged as of each read): an hour before the module's reads.
AS_OF = NOW - timedelta(hours=1)
ENTRIES = [
    make_entry(entry_id="V-STREAM-1", plate="7ABC123", synced_at=AS_OF),
    make_entry(entry_id="V-STREAM-2", plate="8DOG512", synced_at=AS_OF),
    make_entry(
        entry_id="V-STREAM-3", plate="4KMN733", plate_state="NV", list_type="missing_person", synced_at=AS_OF
    ),
    make_entry(entry_id="V-GONE", plate="9GONE99", synced_at=AS_OF),
    local_entry(entry_id="P-STREAM-1", plate="7GH?25X"),
]
LIEUTENANT = Person("Lt. Ana Ortiz", "1875", rank="lieutenant")


def write_feed(path: Path, entries) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(entry_to_dict(e)) for e in entries if e.source != "local"))
    return path


@pytest.fixture(scope="module")
def stream(broker, tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    env = make_env(broker, root)
    settings = settings_of(env)

    async def setup() -> None:
        """Through the real paths: a feed sync, and a department entry proposed then approved (P2)."""
        await create_topics(settings)
        async with HotlistStore(settings) as store:
            await store.sync("ndjson", write_feed(root / "feed.ndjson", ENTRIES), None, NOW)
            for entry in (e for e in ENTRIES if e.source == "local"):
                await store.propose(msgspec.structs.replace(entry, approved_by=None), "test", NOW)
                await store.approve(entry.key, LIEUTENANT, NOW)

    asyncio.run(setup())
    worker = AlprProcess(env, root / "worker.log")
    yield env, settings, worker, root
    worker.stop()


async def test_read_batches_become_alerts_matching_offline_match(stream, tmp_path: Path) -> None:
    """Produce read batches; the alerts on the topic equal what ``alpr match`` gives for the same input."""
    env, settings, worker, root = stream
    captured = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    reads = [
        read_dict(read_id="eq-1", plate="7ABC123", captured_at=captured),
        read_dict(read_id="eq-2", plate="8D0G5I2", captured_at=captured),
        read_dict(read_id="eq-3", plate="4KMN733", plate_state="CA", captured_at=captured),
        read_dict(read_id="eq-4", plate="7GHK25X", captured_at=captured),
        read_dict(read_id="eq-5", plate="6KTP118", captured_at=captured),
        read_dict(read_id="eq-6", plate="BD0G5I2", captured_at=captured),  # 3 substitutions: no alert
    ]
    await send_reads(settings, reads)
    ids = {r["read_id"] for r in reads}
    values = await wait_for_records(
        settings.kafka, settings.topic("alerts"), lambda v: len(alerts_for(v, ids)) >= 4
    )
    await wait_worker_drained(settings)  # every read screened, every candidate confirmed: all is here
    values = alerts_for(await _values(settings, "alerts"), ids)

    hotlist = tmp_path / "hotlist.ndjson"
    hotlist.write_bytes(b"\n".join(orjson.dumps(entry_to_dict(e)) for e in ENTRIES))
    reads_file = tmp_path / "reads.ndjson"
    reads_file.write_bytes(orjson.dumps({"reads": reads}))
    offline = alpr(env, "match", "--hotlist", str(hotlist), "--reads", str(reads_file))
    assert offline.returncode == 0, offline.stderr
    expected = [json.loads(line) for line in offline.stdout.splitlines()]

    def essence(alerts: list[dict]) -> set[tuple]:
        return {
            (a["alert_id"], a["read_id"], a["entry_key"], a["match_kind"], a["state_mismatch"])
            for a in alerts
        }

    assert essence(values) == essence(expected)
    assert {(a["read_id"], a["match_kind"]) for a in values} == {
        ("eq-1", "exact"),
        ("eq-2", "ocr_equivalent"),
        ("eq-3", "exact"),
        ("eq-4", "partial"),
    }
    assert all(a["status"] == "unverified" for a in values)  # P7
    assert [a["state_mismatch"] for a in values if a["read_id"] == "eq-3"] == [True]


async def _values(settings, name: str) -> list[dict]:
    return [orjson.loads(r.value) for r in await read_topic(settings.kafka, settings.topic(name))]


async def test_malformed_record_is_rejected_and_processing_continues(stream) -> None:
    env, settings, worker, root = stream
    good = read_dict(read_id="after-garbage", plate="7ABC123", captured_at=datetime.now(UTC).isoformat())
    await produce(
        settings.kafka,
        settings.topic("reads"),
        [
            (None, b"\x00garbage\xff", 0),
            (None, orjson.dumps({"reads": [read_dict(read_id="bad-conf", confidence=9)]}), 0),
            (None, orjson.dumps({"reads": [good]}), 0),
        ],
    )
    rejected = await wait_for_records(
        settings.kafka,
        settings.topic("reads-rejected"),
        lambda v: {"undecodable", "schema"} <= {r["reason_code"] for r in refused_reads(v)},
    )
    rejected = refused_reads(rejected)
    garbage = next(r for r in rejected if r["reason_code"] == "undecodable")
    assert garbage["topic"] == settings.topic("reads") and garbage["partition"] == 0
    assert isinstance(garbage["offset"], int) and garbage["payload_encoding"] == "base64"
    schema = next(r for r in rejected if r["reason_code"] == "schema")
    assert "confidence" in schema["reason"] and json.loads(schema["payload"])["read_id"] == "bad-conf"
    alerts = await wait_for_records(
        settings.kafka, settings.topic("alerts"), lambda v: bool(alerts_for(v, {"after-garbage"}))
    )
    assert len(alerts_for(alerts, {"after-garbage"})) == 1


async def test_same_read_delivered_twice_gives_one_alert(stream) -> None:
    env, settings, worker, root = stream
    read = read_dict(read_id="twice", plate="8DOG512", captured_at=datetime.now(UTC).isoformat())
    for _ in range(2):
        await send_reads(settings, [read])
    values = await wait_for_records(
        settings.kafka, settings.topic("alerts"), lambda v: bool(alerts_for(v, {"twice"}))
    )
    await wait_worker_drained(settings)  # both deliveries screened and confirmed
    values = alerts_for(await _values(settings, "alerts"), {"twice"})
    assert len({a["alert_id"] for a in values}) == 1
    assert len(values) == 1


async def test_removed_entry_stops_alerting(stream) -> None:
    env, settings, worker, root = stream
    remaining = [e for e in ENTRIES if e.entry_id != "V-GONE"]
    async with HotlistStore(settings) as store:  # 1 of 4 ncic entries: more than the 20% guard allows
        report = await store.sync(
            "ndjson", write_feed(root / "feed-2.ndjson", remaining), None, datetime.now(UTC), force=True
        )
    assert report.plan.counts["removed"] == 1

    def entries_loaded() -> bool:
        return metric(env, "alpr_active_entries") == len(ENTRIES) - 1

    wait_for(entries_loaded, 30, "the worker to apply the tombstone")
    probe = same_path_plate(settings, "9GONE99", [e.plate for e in remaining])  # its candidates partition
    await assert_no_alert(settings, ("gone-read", "9GONE99"), ("probe-after-removal", probe))


async def test_metrics_endpoint_counts_the_work(stream) -> None:
    env, settings, worker, root = stream
    await send_reads(
        settings, [read_dict(read_id="metrics-1", plate="7ABC123", captured_at=datetime.now(UTC).isoformat())]
    )
    await wait_for_records(
        settings.kafka, settings.topic("alerts"), lambda v: bool(alerts_for(v, {"metrics-1"}))
    )
    assert (metric(env, "alpr_reads_total") or 0) >= 1
    assert (metric(env, "alpr_read_batches_total") or 0) >= 1
    assert (metric(env, "alpr_hits_total", '{list_type="stolen_vehicle",match_kind="exact"}') or 0) >= 1
    assert metric(env, "alpr_batch_processing_seconds_count") is not None
    assert worker.proc.poll() is None, worker.log()[-3000:]


#: Late-read plates of source svs, each its own (a sighting window never merges them).
LATE_PLATES = {"late-10d": "5LAT101", "late-3h": "6LAT202", "live-2m": "7LAT303", "gap-5d": "8LAT404"}


def _late_feed(
    path: Path, as_of: datetime, source: str = "svs", plates: dict[str, str] = LATE_PLATES
) -> Path:
    """An extract (NDJSON) of ``source`` as of ``as_of``: its entries carry that synced_at."""
    entries = [
        make_entry(source=source, entry_id=f"S-{read_id}", plate=plate, synced_at=as_of)
        for read_id, plate in plates.items()
    ]
    return write_feed(path, entries)


async def test_late_reads_raise_historical_alerts_judged_as_of_capture_and_alpr_match_agrees(
    stream, tmp_path: Path
) -> None:
    """Issue 16 items 5 and 6 through the real worker. The svs feed was refreshed 10 days 2 h,
    4 h and 1 h ago (extracts synced in that order, each as of its own time, not the sync's).
    A read captured 10 days before it arrives and one 3 h before raise HISTORICAL READ alerts
    with their age and no "Follow"; one 2 min old raises a live alert; one 5 days old meets a list
    last refreshed 5 days earlier: stale then (P4 as of the read), no alert, though the list is
    fresh now. ``alpr match --as-of`` on the same files and reads gives the same alerts, the same
    live/historical split."""
    env, settings, worker, root = stream
    arrival = datetime.now(UTC)
    feeds = [
        _late_feed(tmp_path / f"svs-{n}.ndjson", arrival - age)
        for n, age in enumerate((timedelta(days=10, hours=2), timedelta(hours=4), timedelta(hours=1)))
    ]
    async with HotlistStore(settings) as store:
        for feed in feeds:
            await store.sync("ndjson", feed, "svs", datetime.now(UTC))
        status = (await store.source_status())["svs"]
    assert len(status["fresh_history"]) == 3  # the worker learns every refresh, not only the last
    await worker_follows(settings, ["hotlist", "hotlist-sources"])
    ages = {
        "late-10d": timedelta(days=10),
        "late-3h": timedelta(hours=3),
        "live-2m": timedelta(minutes=2),
        "gap-5d": timedelta(days=5),
    }
    reads = [
        read_dict(read_id=rid, plate=LATE_PLATES[rid], captured_at=(arrival - age).isoformat())
        for rid, age in ages.items()
    ]
    await send_reads(settings, reads)
    listed = {"late-10d", "late-3h", "live-2m"}
    await wait_for_records(
        settings.kafka,
        settings.topic("alerts"),
        lambda v: {a["read_id"] for a in alerts_for(v, listed)} == listed,
    )
    await wait_worker_drained(settings)  # the stale one screened and confirmed too: all is here
    streamed = {a["read_id"]: a for a in alerts_for(await _values(settings, "alerts"), set(ages))}
    assert set(streamed) == listed  # gap-5d: stale as of its capture (P4), no alert
    for rid in ("late-10d", "late-3h"):
        assert streamed[rid]["captured_age_s"] >= ages[rid].total_seconds()
        assert "Follow" not in streamed[rid]["advisory"]
        assert "not necessarily now" in streamed[rid]["advisory"]
    assert streamed["late-10d"]["advisory"].startswith("HISTORICAL READ: captured 10 days before it arrived")
    assert streamed["late-3h"]["advisory"].startswith("HISTORICAL READ: captured 3 h")
    assert "captured_age_s" not in streamed["live-2m"]
    assert "Follow the vehicle if needed" in streamed["live-2m"]["advisory"]

    reads_file = tmp_path / "late-reads.ndjson"
    reads_file.write_bytes(orjson.dumps({"reads": reads}))
    args = [arg for feed in feeds for arg in ("--hotlist", str(feed))]
    offline = alpr(env, "match", *args, "--reads", str(reads_file), "--as-of", arrival.isoformat())
    assert offline.returncode == 0, offline.stderr
    assert "2 historical" in offline.stderr
    matched = {a["read_id"]: a for a in map(json.loads, offline.stdout.splitlines())}

    def essence(alerts: dict[str, dict]) -> set[tuple]:
        return {
            (a["alert_id"], a["read_id"], a["match_kind"], "captured_age_s" in a) for a in alerts.values()
        }

    assert essence(matched) == essence(streamed)
    # A hot list "refreshed" after a read says nothing of it: the newest file alone, as of 1 h
    # ago, matches the live read only (offline, P4 as of the read).
    newest = alpr(
        env, "match", "--hotlist", str(feeds[-1]), "--reads", str(reads_file), "--as-of", arrival.isoformat()
    )
    assert newest.returncode == 0, newest.stderr
    assert [json.loads(line)["read_id"] for line in newest.stdout.splitlines()] == ["live-2m"]


SLR = {"slr-1": "4SLR001"}


async def test_an_older_extract_never_refreshes_a_source_p4(stream, tmp_path: Path) -> None:
    """Syncing an extract older than the one loaded is refused and changes nothing: the source's
    as-of time stays that of the newer extract (never the time of the sync)."""
    env, settings, worker, root = stream
    newer = datetime.now(UTC) - timedelta(hours=2)
    async with HotlistStore(settings) as store:
        await store.sync(
            "ndjson", _late_feed(tmp_path / "newer.ndjson", newer, "slr", SLR), "slr", datetime.now(UTC)
        )
        before = (await store.source_status())["slr"]
        with pytest.raises(ExtractRefused, match="older than the slr extract already loaded"):
            await store.sync(
                "ndjson",
                _late_feed(tmp_path / "older.ndjson", newer - timedelta(hours=30), "slr", SLR),
                "slr",
                datetime.now(UTC),
            )
        after = (await store.source_status())["slr"]
    assert datetime.fromisoformat(before["fresh_as_of"]) == newer
    assert (after["fresh_as_of"], after["fresh_history"], after["sync_id"]) == (
        before["fresh_as_of"],
        before["fresh_history"],
        before["sync_id"],
    )


def test_alpr_match_rejects_the_reads_the_stream_cannot_keep(stream, tmp_path: Path) -> None:
    """The old disagreement (issue 16): ``alpr match`` alerted on reads the stream never screens.
    Relative to ``--as-of`` it now refuses a read too late to be stored or past the retention
    (P11) and one from the future, as the producer and the worker do; the rest match."""
    as_of = datetime.now(UTC)
    hotlist = tmp_path / "undated.ndjson"  # no synced_at: the list in force at each read
    write_feed(hotlist, [make_entry(entry_id="V-OLD", plate="6OLD606", synced_at=None)])
    reads = [
        read_dict(read_id="old-31d", plate="6OLD606", captured_at=(as_of - timedelta(days=31)).isoformat()),
        read_dict(read_id="ahead-1h", plate="6OLD606", captured_at=(as_of + timedelta(hours=1)).isoformat()),
        read_dict(read_id="ok-20d", plate="6OLD606", captured_at=(as_of - timedelta(days=20)).isoformat()),
    ]
    reads_file = tmp_path / "reads.ndjson"
    reads_file.write_bytes(b"\n".join(orjson.dumps(r) for r in reads))
    env = stream[0]
    result = alpr(
        env, "match", "--hotlist", str(hotlist), "--reads", str(reads_file), "--as-of", as_of.isoformat()
    )
    assert result.returncode == 0, result.stderr
    assert "reads.ndjson:1[0]: rejected (too_late)" in result.stderr
    assert "reads.ndjson:2[0]: rejected (future_timestamp)" in result.stderr
    [alert] = [json.loads(line) for line in result.stdout.splitlines()]
    assert alert["read_id"] == "ok-20d" and alert["advisory"].startswith("HISTORICAL READ: captured 20 days")
    assert "1 reads (2 rejected), 1 alerts (1 historical" in result.stderr
