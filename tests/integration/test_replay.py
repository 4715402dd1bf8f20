"""Replay, rematch, evidence holds and the retro-hunt, through the `alpr` command on Apache Kafka
(P11, P12, P15)."""

from __future__ import annotations

import asyncio
import csv
import json
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import InvalidTimestampError

from streams.codec import dumps, entry_to_dict
from streams.kafka.connection import Connection
from tests.conftest import ROOT, AlprProcess, alpr, settings_of, wait_for
from tests.factories import make_entry, read_dict
from tests.integration.kafka_helpers import (
    SignInUser,
    add_user,
    alpr_as,
    audit_records,
    login,
    read_topic,
    send_reads,
)
from tests.integration.test_hotlists import ncic_extract

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


def at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


async def produce_at(
    kafka: Connection, topic: str, items: list[tuple[datetime, bytes, bytes]], partition: int = 0
) -> None:
    """Records with explicit timestamps (as if sent then), all on one partition, in this order."""
    producer = AIOKafkaProducer(**kafka.options())
    await producer.start()
    try:
        for when, key, value in items:
            delivery = await producer.send(
                topic, value, key=key, partition=partition, timestamp_ms=int(when.timestamp() * 1000)
            )
            await delivery  # a refused record (the broker's timestamp bounds) raises here
    finally:
        await producer.stop()


@pytest.fixture()
def env(topics_env):
    return topics_env


@pytest.fixture()
def kim(env) -> SignInUser:
    """An analyst (may replay and hold), trained, of the home agency."""
    return asyncio.run(add_user(settings_of(env), "kim", "analyst", display="Det. Kim Tran", badge="A-7"))


def reads_at(env, items: list[tuple[str, str, datetime]], partition: int = 0) -> None:
    """Batches of one read each, sent at their capture times: (read_id, plate, captured_at)."""
    settings = settings_of(env)
    records = [
        (when, b"cam", dumps({"reads": [read_dict(read_id=rid, plate=plate, captured_at=when.isoformat())]}))
        for rid, plate, when in items
    ]
    asyncio.run(produce_at(settings.kafka, settings.topic("reads"), records, partition))


def replay(env, user, tmp_path, *args: str):
    out = tmp_path / f"replay-out-{len(list(tmp_path.glob('replay-out*')))}"
    result = alpr_as(
        env,
        user,
        "replay",
        *args,
        "--case",
        "SJ-26-0099",
        "--purpose",
        "homicide investigation",
        "--crime-type",
        "PC 187 homicide",
        "--out",
        str(out),
    )
    return result, out


def test_replay_returns_exactly_the_reads_of_the_window(env, kim, tmp_path) -> None:
    """Reads sent hours apart (their Kafka timestamps are their capture times) found by Kafka's own
    offsets_for_times. A read older than the topic's lateness bound is refused by the broker itself,
    so it can never be replayed past its retention (P11)."""
    reads_at(
        env,
        [
            ("r-9h", "7ABC123", at(-9)),
            ("r-7h", "7ABC123", at(-7)),
            ("r-6h-other", "6XYZ999", at(-6)),
            ("r-5h-ocr", "7A8C123", at(-5)),
            ("r-3h", "7ABC123", at(-3)),
            ("r-1h", "7ABC123", at(-1)),
        ],
    )
    with pytest.raises(InvalidTimestampError):
        reads_at(env, [("old", "7ABC123", NOW - timedelta(days=40))])
    settings = settings_of(env)

    result, out = replay(
        env, kim, tmp_path, "--from", at(-8).isoformat(), "--to", at(-2).isoformat(), "--plate", "7ABC123"
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (out / "timeline.ndjson").read_text().splitlines()]
    assert [r["read_id"] for r in rows] == ["r-7h", "r-5h-ocr", "r-3h"]
    assert [r["match_kind"] for r in rows] == ["exact", "ocr_equivalent", "exact"]
    with (out / "timeline.csv").open() as handle:
        assert [r["read_id"] for r in csv.DictReader(handle)] == ["r-7h", "r-5h-ocr", "r-3h"]
    assert (out / "sightings.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "3 sightings" in result.stdout

    # every camera over a day (the most a replay naming no plate or camera may cover, P25)
    everything, out2 = replay(
        env, kim, tmp_path, "--from", (NOW - timedelta(hours=24)).isoformat(), "--to", NOW.isoformat()
    )
    assert everything.returncode == 0, everything.stderr
    ids = [json.loads(line)["read_id"] for line in (out2 / "timeline.ndjson").read_text().splitlines()]
    assert "old" not in ids and len(ids) == 6

    audit = audit_records(settings)
    replays = [a for a in audit if a["action"] == "replay"]
    assert replays[0]["case_number"] == "SJ-26-0099" and replays[0]["purpose"] == "homicide investigation"
    assert replays[0]["query"]["plate"] == "7ABC123" and replays[0]["result_count"] == 3


def test_a_replay_without_case_or_purpose_is_refused(env, kim) -> None:
    result = alpr_as(
        env,
        kim,
        "replay",
        "--from",
        "now-2h",
        "--to",
        "now",
        "--case",
        " ",
        "--purpose",
        "x",
        "--crime-type",
        "y",
    )
    assert result.returncode == 2 and "refused: P15/P16" in result.stderr and "case number" in result.stderr
    immigration = alpr_as(
        env,
        kim,
        "replay",
        "--from",
        "now-2h",
        "--to",
        "now",
        "--case",
        "SJ-26-0001",
        "--purpose",
        "ICE detainer follow-up",
        "--crime-type",
        "none",
    )
    assert immigration.returncode == 2 and "refused: P22" in immigration.stderr
    settings = settings_of(env)
    audit = audit_records(settings)
    refused = [a for a in audit if a["action"] == "replay"]
    assert [a["decision"] for a in refused] == ["refused", "refused"]
    assert "P22" in refused[1]["reason"] and refused[1]["user"] == "kim"


def test_p25_a_replay_of_every_camera_over_a_week_is_refused_as_bulk_export(env, kim, tmp_path) -> None:
    """No bulk export: naming no plate and no camera, a replay covers at most a day; the refusal is
    audited and writes no output."""
    out = tmp_path / "bulk"
    bulk = alpr_as(
        env, kim, "replay", "--from", "now-7d", "--to", "now", "--case", "SJ-26-0099",
        "--purpose", "homicide investigation", "--crime-type", "PC 187 homicide", "--out", str(out),
    )  # fmt: skip
    assert bulk.returncode == 2 and "P25: ALPR data is not exported in bulk" in bulk.stderr, bulk.stderr
    assert not out.exists()
    [refused] = [a for a in audit_records(settings_of(env)) if a["action"] == "replay"]
    assert refused["decision"] == "refused" and "P25" in refused["reason"]


def _holds_state(settings) -> list[tuple[bytes, bytes | None]]:
    return [
        (r.key, r.value) for r in asyncio.run(read_topic(settings.kafka, settings.topic("evidence-holds")))
    ]


def test_replay_and_holds_refuse_nobody_and_the_wrong_role_and_change_nothing(env, kim, tmp_path) -> None:
    """P18, P21: without a session, or as a dispatcher, replay, hold add/release/list and the
    retro-hunt are refused; no hold is placed or released, no replay output is written."""
    settings = settings_of(env)
    now = datetime.now(UTC)
    asyncio.run(
        send_reads(settings, [read_dict(read_id="x-1", plate="5SAFE55", captured_at=now.isoformat())])
    )
    placed = alpr_as(
        env, kim, "hold", "add", "--read-id", "x-1", "--case", "SJ-26-0400", "--reason", "evidence",
        "--crime-type", "PC 211 robbery",
    )  # fmt: skip
    assert placed.returncode == 0, placed.stderr
    lee = asyncio.run(add_user(settings, "lee", "dispatcher", badge="D-4"))
    holds_before, audit_before = _holds_state(settings), audit_records(settings)
    why = ("--case", "SJ-26-0400", "--crime-type", "PC 211 robbery")
    out = tmp_path / "refused-replay"
    commands = [
        ("replay", "--from", "now-2h", "--to", "now", "--plate", "5SAFE55", "--purpose", "robbery", *why,
         "--out", str(out)),
        ("hold", "add", "--read-id", "x-1", "--reason", "evidence", "--case", "SJ-26-0401",
         "--crime-type", "PC 211 robbery"),
        ("hold", "release", "--read-id", "x-1", "--case", "SJ-26-0400", "--reason", "closed"),
        ("hold", "list"),
        ("retro-hunt",),
    ]  # fmt: skip
    for command in commands:
        nobody = alpr(env, *command)
        assert nobody.returncode == 2 and "sign in first" in nobody.stderr, (command, nobody.stderr)
        assert "5SAFE55" not in nobody.stdout
        dispatcher = alpr_as(env, lee, *command)
        assert dispatcher.returncode == 2 and "dispatcher role may not" in dispatcher.stderr, command
        assert "5SAFE55" not in dispatcher.stdout
    assert _holds_state(settings) == holds_before  # nothing placed, nothing released
    assert not out.exists()
    seen = {a["hash"] for a in audit_before}
    new = [a for a in audit_records(settings) if a["hash"] not in seen and a["action"] != "sign_in"]
    assert all(a["decision"] == "refused" for a in new), new  # nothing was done or shown


def change(
    event: str, when: datetime, entry=None, key: str | None = None, **extra
) -> tuple[datetime, bytes, bytes]:
    body = {"event": event, "at": when.isoformat(), "source": "ncic", **extra}
    if entry is not None:
        body.update(entry_key=entry.key, plate=entry.plate, entry=entry_to_dict(entry))
    elif key is not None:
        body.update(entry_key=key, plate="?", entry=None)
    return when, b"k", dumps(body)


def test_rematch_uses_the_hot_list_of_each_reads_time(env, kim, tmp_path) -> None:
    gone = make_entry(entry_id="GONE", plate="5GONE55", synced_at=at(-10))
    late = make_entry(entry_id="LATE", plate="6LATE66", synced_at=at(-10))
    settings = settings_of(env)
    history = [
        change("HotlistSourceSynced", at(-10), fresh_as_of=at(-10).isoformat()),
        change("HotlistEntryAdded", at(-10), gone),
        change("HotlistEntryRemoved", at(-4), key=gone.key),
        change("HotlistSourceSynced", at(-2), fresh_as_of=at(-2).isoformat()),
        change("HotlistEntryAdded", at(-2), late),
    ]
    asyncio.run(produce_at(settings.kafka, settings.topic("hotlist-changes"), history))
    reads_at(
        env,
        [
            ("gone-while-listed", "5GONE55", at(-6)),
            ("gone-after-removal", "5GONE55", at(-3)),
            ("late-before-listing", "6LATE66", at(-2.5)),
            ("late-after-listing", "6LATE66", at(-1)),
        ],
    )
    result, out = replay(
        env, kim, tmp_path, "--from", at(-7).isoformat(), "--to", NOW.isoformat(), "--rematch"
    )
    assert result.returncode == 0, result.stderr
    matches = [json.loads(line) for line in (out / "rematch.ndjson").read_text().splitlines()]
    assert sorted((m["read_id"], m["entry_key"]) for m in matches) == [
        ("gone-while-listed", "ncic:GONE"),
        ("late-after-listing", "ncic:LATE"),
    ]
    assert "rematch: 2 would have alerted" in result.stdout


def test_rematch_judges_p4_as_of_each_read_not_on_later_refreshes(env, kim, tmp_path) -> None:
    """P4 as of the read (issue 16 item 6): the ncic list was refreshed 40 h before a read and
    next an hour after it. For that read the entry was stale: the later refresh never counts for
    it. A read after that refresh matches, and an older extract synced later (its data 45 h old)
    does not make the source look older or newer for anyone."""
    stale = make_entry(entry_id="STALE", plate="7STAL77", synced_at=None)
    settings = settings_of(env)
    history = [
        change("HotlistSourceSynced", at(-40), fresh_as_of=at(-40).isoformat()),
        change("HotlistEntryAdded", at(-40), stale),
        change("HotlistSourceSynced", at(-2), fresh_as_of=at(-2).isoformat()),  # after the first read
        change("HotlistSourceSynced", at(-0.8), fresh_as_of=at(-45).isoformat()),  # an older extract
    ]
    asyncio.run(produce_at(settings.kafka, settings.topic("hotlist-changes"), history))
    reads_at(env, [("stale-then", "7STAL77", at(-3)), ("fresh-after-refresh", "7STAL77", at(-0.5))])
    result, out = replay(
        env, kim, tmp_path, "--from", at(-4).isoformat(), "--to", NOW.isoformat(), "--rematch"
    )
    assert result.returncode == 0, result.stderr
    matches = [json.loads(line) for line in (out / "rematch.ndjson").read_text().splitlines()]
    assert [(m["read_id"], m["entry_key"]) for m in matches] == [("fresh-after-refresh", "ncic:STALE")]


def test_holds_are_placed_listed_and_released_with_an_audit_trail(env, kim) -> None:
    settings = settings_of(env)
    now = datetime.now(UTC)
    reads = [
        read_dict(
            read_id="h-1",
            plate="4HOLD01",
            camera_id="curtner-malone",
            captured_at=(now - timedelta(hours=3)).isoformat(),
        ),
        read_dict(read_id="h-2", plate="4HOLD01", captured_at=(now - timedelta(hours=2)).isoformat()),
        read_dict(read_id="h-3", plate="4H0LD01", captured_at=(now - timedelta(hours=1)).isoformat()),
        read_dict(read_id="h-other", plate="9NOPE99", captured_at=(now - timedelta(hours=2)).isoformat()),
    ]
    asyncio.run(send_reads(settings, reads))
    who = ("--reason", "211 suspect vehicle")
    why = ("--crime-type", "PC 211 robbery")

    one = alpr_as(env, kim, "hold", "add", "--read-id", "h-1", "--case", "SJ-26-0100", *who, *why)
    assert one.returncode == 0, one.stderr
    assert "held 1 reads for case SJ-26-0100: h-1" in one.stdout
    again = alpr_as(env, kim, "hold", "add", "--read-id", "h-1", "--case", "SJ-26-0100", *who, *why)
    assert "held 0 reads" in again.stdout  # already held for the case: nothing changes
    by_plate = alpr_as(
        env,
        kim,
        "hold",
        "add",
        "--plate",
        "4HOLD01",
        "--from",
        "now-4h",
        "--to",
        "now",
        "--case",
        "SJ-26-0200",
        *who,
        *why,
    )
    assert by_plate.returncode == 0, by_plate.stderr
    assert "held 3 reads for case SJ-26-0200" in by_plate.stdout  # the OCR-equivalent read too

    listing = alpr_as(env, kim, "hold", "list").stdout
    assert "3 held reads" in listing and "h-other" not in listing
    assert "SJ-26-0100" in listing and "SJ-26-0200" in listing

    missing = alpr_as(
        env, kim, "hold", "add", "--read-id", "no-such-read", "--case", "SJ-26-0100", *who, *why
    )
    assert missing.returncode == 2 and "no read no-such-read" in missing.stderr

    first = alpr_as(env, kim, "hold", "release", "--read-id", "h-1", "--case", "SJ-26-0100", *who)
    assert first.returncode == 0 and "no case holds it" not in first.stdout  # SJ-26-0200 still holds it
    last = alpr_as(env, kim, "hold", "release", "--read-id", "h-1", "--case", "SJ-26-0200", *who)
    assert last.returncode == 0 and "no case holds it now" in last.stdout
    assert "2 held reads" in alpr_as(env, kim, "hold", "list").stdout
    lists = [
        a for a in audit_records(settings) if a["action"] == "hold_list"
    ]  # P15: the listing shows plates
    assert [(a["user"], a["badge"], a["result_count"]) for a in lists] == [
        ("kim", "A-7", 3),
        ("kim", "A-7", 2),
    ]
    records = asyncio.run(read_topic(settings.kafka, settings.topic("evidence-holds")))
    assert any(r.key == b"h-1" and r.value is None for r in records)  # the tombstone
    audit = audit_records(settings)
    assert [a["action"] for a in audit].count("hold_add") == 3  # one per command: 1 + 0 (already held) + 3
    assert [a["action"] for a in audit].count("hold_release") == 2
    holds = [a for a in audit if a["action"] in ("hold_add", "hold_release")]
    assert all(a["user"] == "kim" and a["case_number"] for a in holds)
    signins = [a for a in audit if a["action"] == "sign_in"]
    assert [(a["user"], a["decision"]) for a in signins] == [("kim", "allowed")]  # P18: one alpr login


def test_a_held_read_is_replayed_after_the_read_retention(env, kim) -> None:
    """P12: the hold outlives the retention. Forty days on, replay leaves out the reads topic's copy
    (past the retention, P11) and returns the held copy, marked with its case."""
    from streams.replay.replay import ReplayQuery
    from streams.replay.replay import replay as run_replay

    settings = settings_of(env)
    now = datetime.now(UTC)
    captured = now - timedelta(hours=1)
    asyncio.run(
        send_reads(
            settings,
            [
                read_dict(read_id="kept", plate="3KEEP33", captured_at=captured.isoformat()),
                read_dict(
                    read_id="not-kept",
                    plate="3KEEP33",
                    captured_at=(captured + timedelta(minutes=1)).isoformat(),
                ),
            ],
        )
    )
    held = alpr_as(
        env,
        kim,
        "hold",
        "add",
        "--read-id",
        "kept",
        "--case",
        "SJ-26-0300",
        "--reason",
        "evidence",
        "--crime-type",
        "PC 211 robbery",
    )
    assert held.returncode == 0, held.stderr
    query = ReplayQuery(
        captured - timedelta(hours=1), captured + timedelta(hours=1), "SJ-26-0300", "trial", plate="3KEEP33"
    )
    today = asyncio.run(run_replay(settings, query, now))
    assert [(s.read.read_id, s.held) for s in today.sightings] == [("kept", True), ("not-kept", False)]
    later = asyncio.run(run_replay(settings, query, now + timedelta(days=40)))
    assert [(s.read.read_id, s.held, s.cases) for s in later.sightings] == [("kept", True, ("SJ-26-0300",))]
    assert later.expired_skipped == 1


def test_the_retro_hunt_raises_historical_hits_for_a_newly_listed_plate(env, tmp_path) -> None:
    settings = settings_of(env)
    now = datetime.now(UTC)
    asyncio.run(
        send_reads(
            settings,
            [
                read_dict(
                    read_id="rh-2h", plate="8RETRO8", captured_at=(now - timedelta(hours=2)).isoformat()
                ),
                read_dict(
                    read_id="rh-30m", plate="8RETR08", captured_at=(now - timedelta(minutes=30)).isoformat()
                ),
                read_dict(
                    read_id="rh-30h", plate="8RETRO8", captured_at=(now - timedelta(hours=30)).isoformat()
                ),
                read_dict(
                    read_id="rh-other", plate="1OTHER1", captured_at=(now - timedelta(hours=1)).isoformat()
                ),
            ],
        )
    )
    kim = asyncio.run(add_user(settings, "kim", "analyst", badge="A-7"))  # P21: analysts retro-hunt
    ada = asyncio.run(add_user(settings, "ada", "administrator", badge="ADM-2"))  # may sync a feed
    hunter = AlprProcess(login(env, kim), tmp_path / "retro-hunt.log", "retro-hunt")
    try:
        wait_for(lambda: "retro-hunt: following" in hunter.log(), 60, "the retro-hunt to follow the changes")
        # an NCIC extract generated now (a person syncs feeds, never NDJSON into a shared source, P2)
        feed = ncic_extract(
            tmp_path / "ncic.txt", ["L|L900000001|CA0431000|8RETRO8|CA|2027|PC|||||||SJ-26-004512|"]
        )
        synced = alpr_as(env, ada, "hotlist", "sync", "--format", "ncic", "--from", str(feed))
        assert synced.returncode == 0, synced.stderr

        def historical() -> list[dict]:
            values = [
                json.loads(r.value) for r in asyncio.run(read_topic(settings.kafka, settings.topic("alerts")))
            ]
            return [v for v in values if v.get("historical")]

        wait_for(lambda: len(historical()) >= 2, 60, "historical hits")
        found = historical()
        wait_for(lambda: "historical hits" in hunter.log(), 30, "the pass to be recorded")
    finally:
        hunter.stop()
    assert sorted(a["read_id"] for a in found) == ["rh-2h", "rh-30m"]  # 30 h ago is past the 24 h look-back
    assert {a["match_kind"] for a in found} == {"exact", "ocr_equivalent"}
    assert all("HISTORICAL HIT" in a["advisory"] and a["status"] == "unverified" for a in found)
    assert "1 new entries, 2 historical hits" in hunter.log()
    audit = audit_records(settings)
    [hunt] = [a for a in audit if a["action"] == "retro_hunt"]
    assert (hunt["user"], hunt["agency"], hunt["result_count"]) == ("kim", "SJPD", 2)  # P15


def test_the_retro_hunt_never_hunts_with_a_stale_extract_p4(env, tmp_path) -> None:
    """An SFR extract generated 30 h ago is synced now: its data is 30 h old whatever the time of
    the sync, so its newly listed plate is not hunted (P4), and the read of that plate 2 h ago
    raises nothing. (Taking the sync as the data's age, the hunt found it: issue 16.)"""
    settings = settings_of(env)
    now = datetime.now(UTC)
    read = read_dict(read_id="rh-sfr", plate="3STAL30", captured_at=(now - timedelta(hours=2)).isoformat())
    asyncio.run(send_reads(settings, [read]))
    kim = asyncio.run(add_user(settings, "kim", "analyst", badge="A-7"))
    ada = asyncio.run(add_user(settings, "ada", "administrator", badge="ADM-2"))
    hunter = AlprProcess(login(env, kim), tmp_path / "retro-hunt.log", "retro-hunt")
    try:
        wait_for(lambda: "retro-hunt: following" in hunter.log(), 60, "the retro-hunt to follow the changes")
        sample = (ROOT / "samples" / "feeds" / "svs_sfr.csv").read_text().splitlines()
        generated = (now - timedelta(hours=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        row = sample[2].replace("3XYZ208", "3STAL30")
        feed = tmp_path / "sfr.csv"
        feed.write_text("\n".join([f"# CA-SVS-EXTRACT,SFR,{generated}", sample[1], row, "# END,1"]) + "\n")
        synced = alpr_as(env, ada, "hotlist", "sync", "--format", "svs", "--from", str(feed))
        assert synced.returncode == 0, synced.stderr
        wait_for(lambda: "historical hits" in hunter.log(), 60, "the pass to be recorded")
    finally:
        hunter.stop()
    assert "retro-hunt skips sfr:" in hunter.log() and "is stale, P4" in hunter.log()
    assert "1 new entries, 0 historical hits" in hunter.log()
    alerts = [json.loads(r.value) for r in asyncio.run(read_topic(settings.kafka, settings.topic("alerts")))]
    assert [a for a in alerts if a.get("read_id") == "rh-sfr"] == []


def test_a_scan_reads_every_record_of_batched_writes_to_the_end(env) -> None:
    """Records written in batches of 10, 5 and 7: a scan reads all 22, up to Kafka's end offset."""
    from streams.kafka.log import log_ends, reader
    from streams.kafka.timeseek import scan_by_time

    settings = settings_of(env)
    topic = settings.topic("reads")

    async def run() -> tuple[int, int]:
        producer = AIOKafkaProducer(**settings.kafka.options())
        await producer.start()
        try:
            for size in (10, 5, 7):
                batch = producer.create_batch()
                for _ in range(size):
                    batch.append(key=None, value=b"{}", timestamp=None)
                batch.close()
                await (await producer.send_batch(batch, topic, partition=3))
        finally:
            await producer.stop()
        consumer = reader(settings.kafka)
        await consumer.start()
        try:
            tp = TopicPartition(topic, 3)
            consumer.assign([tp])
            _begin, end = (await log_ends(consumer, [tp]))[tp]
        finally:
            await consumer.stop()
        seen = [r async for _tp, r in scan_by_time(settings.kafka, topic, 0, 2**62)]
        return end, len(seen)

    assert asyncio.run(run()) == (22, 22)


def test_p11_replay_finds_reads_by_capture_time_whatever_their_lateness(env, kim, tmp_path) -> None:
    """Reads uploaded long after capture, through the project's producer: one 3 days late (on
    reads-late, stamped when sent), one 20 h late batched with an older read of its camera (its
    record stamped 23 h ago) and sent after a live read of that camera. A replay of their capture
    window finds both, with no lateness to guess; a window reaching past the read retention says
    so (P11)."""
    settings = settings_of(env)
    cam = "cam-late-1"
    asyncio.run(send_reads(settings, [read_dict(read_id="live", plate="2LIVE22", camera_id=cam)]))
    asyncio.run(
        send_reads(
            settings,
            [
                read_dict(read_id="older", plate="1OLDR11", camera_id=cam, captured_at=at(-23).isoformat()),
                read_dict(
                    read_id="late-20h", plate="7LATE77", camera_id=cam, captured_at=at(-20).isoformat()
                ),
                read_dict(read_id="late-3d", plate="7LATE77", camera_id=cam, captured_at=at(-72).isoformat()),
            ],
        )
    )
    late_topic = asyncio.run(read_topic(settings.kafka, settings.topic("reads-late")))
    assert any(b'"late-3d"' in r.value for r in late_topic)  # the setup: routed as a late read

    def found(result, out) -> list[str]:
        assert result.returncode == 0, result.stderr
        return [json.loads(line)["read_id"] for line in (out / "timeline.ndjson").read_text().splitlines()]

    narrow, out = replay(
        env, kim, tmp_path, "--from", at(-21).isoformat(), "--to", at(-19).isoformat(), "--plate", "7LATE77"
    )
    assert found(narrow, out) == ["late-20h"]
    assert "note:" not in narrow.stderr

    days, out2 = replay(
        env, kim, tmp_path, "--from", at(-74).isoformat(), "--to", at(-70).isoformat(), "--plate", "7LATE77"
    )
    assert found(days, out2) == ["late-3d"]
    assert "1 sightings" in days.stdout and "whatever its lateness" in days.stdout

    retention = settings.profile.read_retention_days
    wide, out3 = replay(
        env,
        kim,
        tmp_path,
        "--from",
        (NOW - timedelta(days=retention + 5)).isoformat(),
        "--to",
        NOW.isoformat(),
        "--plate",
        "7LATE77",
    )
    assert found(wide, out3) == ["late-3d", "late-20h"]
    assert "note: the window begins before the read retention" in wide.stderr
    assert "--late" not in alpr(env, "replay", "--help").stdout  # nothing left to guess
