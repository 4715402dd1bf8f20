"""Faults on the input side, with real processes on the embedded broker (issue 8, item 4).

What this file proves:

- A hot-list sync killed with SIGKILL in the middle of writing a large extract leaves every entry
  either in its old or in its new version (never a mixture, never a garbled record the worker's
  fold refuses), does not advance the source's status, and a re-run finishes exactly the rest.
- An extract whose download was cut off (mid-row, at a row, inside the trailer, empty, or only
  its first 1% of rows) is refused with its reason and changes no entry: the truncation check
  and the ``max_removal_share`` guard keep the stored list as it was.
- A worker fed oversized, garbage, non-UTF-8, non-object and schema-violating records, and reads
  from the future or older than the read retention, puts each on the reads-rejected topic with
  its reason code (an expired read keeping only its id, camera and time, P11), still screens the
  good reads of a mixed batch, and goes on processing: a listed read after all of them alerts.

- A directory extract missing one of its numbered part files is refused as truncated and changes
  nothing (schemas/feeds/ncic_lpr_extract.md), although one part in ten is under the removal guard.

Two bugs these tests found are fixed: a killed sync could leave entries on the list without their
history event, and a read with bytes that are not UTF-8 inside a JSON string crashed the screen
agent and was dropped.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition

from streams.codec import MAX_RECORD_BYTES, dumps, entry_to_dict
from streams.hotlists.adapters import adapter
from streams.hotlists.records import apply_hotlist_record
from streams.hotlists.service import HotlistStore
from streams.kafka.log import started_reader
from streams.kafka.topics import create_topics
from streams.readiness import wait_worker_drained
from streams.settings import Settings
from tests.conftest import ROOT, alpr, make_env, settings_of, wait_for
from tests.factories import make_index, read_dict
from tests.integration.kafka_helpers import (
    alerts_for,
    feed_env,
    metric,
    produce,
    read_topic,
    refused_reads,
    running_worker,
    wait_for_records,
)
from tests.integration.test_hotlists import ncic_extract
from tests.unit.test_schemas import validator

pytestmark = pytest.mark.integration

_ENTRY_EVENTS = ("HotlistEntryAdded", "HotlistEntryUpdated", "HotlistEntryApproved")
_SUMMARY = re.compile(r"(\d+) added, (\d+) updated, (\d+) removed, (\d+) unchanged")


# -- helpers --------------------------------------------------------------------------------------


def _plate(n: int) -> str:
    """A distinct 7-character plate per number."""
    digits = "0123456789ABCDEFGHJKLMNPRSTUVWXY"
    out = ""
    for _ in range(5):
        n, r = divmod(n, len(digits))
        out = digits[r] + out
    return "9Z" + out


def ncic_row(n: int, note: str = "") -> str:
    file = "VFLW"[n % 4]
    return f"{file}|{file}{n:09d}|CA0431000|{_plate(n)}|CA|2027|PC||2019|TOYT|CAM|4D|BLK|SJ-26-{n:06d}|{note}"


def sync_args(path: Path, *extra: str) -> list[str]:
    return ["hotlist", "sync", "--format", "ncic", "--from", str(path), *extra]


def summary(stdout: str) -> dict[str, int]:
    found = _SUMMARY.search(stdout)
    assert found, stdout
    return dict(zip(("added", "updated", "removed", "unchanged"), map(int, found.groups()), strict=True))


def records_of(env: dict[str, str], name: str) -> list[Any]:
    settings = settings_of(env)
    return asyncio.run(read_topic(settings.kafka, settings.topic(name)))


def fold(records: list[Any]) -> dict[str, bytes]:
    """A compacted topic's current state: the latest value per key; a tombstone deletes."""
    state: dict[str, bytes] = {}
    for record in records:
        key = record.key.decode()
        if record.value is None:
            state.pop(key, None)
        else:
            state[key] = record.value
    return state


def history_fold(env: dict[str, str]) -> dict[str, Any]:
    """The hot list as the hot-list changes history says it is (what replay and retro-hunt use)."""
    state: dict[str, Any] = {}
    for record in records_of(env, "hotlist-changes"):
        event = orjson.loads(record.value)
        key = event.get("entry_key")
        if key is None:
            continue
        if event["event"] in _ENTRY_EVENTS:
            state[key] = event["entry"]
        elif event["event"] == "HotlistEntryRemoved":
            state.pop(key, None)
    return state


def expected_state(path: Path) -> dict[str, bytes]:
    """Each entry of an extract encoded as the sync writes it to the hot-list topic."""
    extract = adapter("ncic").open(path, None)
    return {r.entry.key: dumps(entry_to_dict(r.entry)) for r in extract.records if r.entry is not None}


def source_status(env: dict[str, str]) -> dict[str, Any]:
    return orjson.loads(fold(records_of(env, "hotlist-sources"))["ncic"])


async def _sync_killed_mid_apply(
    env: dict[str, str], path: Path, log_path: Path, threshold: int, timeout: float = 120
) -> tuple[int | None, int]:
    """Run ``alpr hotlist sync`` and SIGKILL it once ``threshold`` records of its changes are on the
    hot-list topic (summed end offsets). Returns the exit code and the records seen at the kill."""
    settings = settings_of(env)
    topic = settings.topic("hotlist")
    tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
    consumer = await started_reader(settings.kafka)
    try:
        base = sum((await consumer.end_offsets(tps)).values())
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", *sync_args(path)],
                env=feed_env(env),
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        written = 0
        deadline = time.monotonic() + timeout
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                written = sum((await consumer.end_offsets(tps)).values()) - base
                if written >= threshold:
                    proc.send_signal(signal.SIGKILL)
                    break
                await asyncio.sleep(0.01)
        finally:
            if proc.poll() is None and written < threshold:
                proc.terminate()  # timed out or failed: the caller's check on the exit code reports it
    finally:
        await consumer.stop()
    return proc.wait(30), written


# -- a sync killed mid-apply --------------------------------------------------------------------------

N_OLD = 100_000  # the extract already loaded
N_NEW = 10_000  # entries the new extract adds


@dataclass
class InterruptedSync:
    old: dict[str, bytes]  # the hot list before (the loaded extract)
    new: dict[str, bytes]  # the new extract, as the sync encodes it
    status_before: dict[str, Any]
    after_kill: dict[str, bytes]
    worker_fold: Counter[str]  # apply_hotlist_record outcomes over the topic after the kill
    worker_view: dict[str, bytes]  # the worker's index after the kill, each entry encoded again
    status_after_kill: dict[str, Any]
    written_at_kill: int
    rerun: subprocess.CompletedProcess[str]
    final: dict[str, bytes]
    status_final: dict[str, Any]
    history: dict[str, Any]


@pytest.fixture(scope="module")
def interrupted_sync(broker, tmp_path_factory) -> InterruptedSync:
    """Load a 100 k-entry NCIC extract, start syncing one that removes 10%, updates 20% and adds
    10% (40 k changes, adds and updates interleaved), SIGKILL the sync once a fifth of them is on
    the hot-list topic, then run the same sync again to completion."""
    root = tmp_path_factory.mktemp("interrupted-sync")
    env = make_env(broker, root)
    asyncio.run(create_topics(settings_of(env)))
    now = datetime.now(UTC).replace(microsecond=0)

    first = ncic_extract(root / "old.txt", [ncic_row(n) for n in range(N_OLD)], now - timedelta(hours=2))
    loaded = alpr(feed_env(env), *sync_args(first))
    assert loaded.returncode == 0 and summary(loaded.stdout)["added"] == N_OLD, loaded.stderr
    old = fold(records_of(env, "hotlist"))
    assert len(old) == N_OLD
    status_before = source_status(env)

    rows = []
    for n in range(N_OLD + N_NEW):
        if n < N_OLD and n % 10 == 0:
            continue  # removed
        rows.append(ncic_row(n, "record updated" if n < N_OLD and n % 10 in (1, 2) else ""))
    rows.sort(key=lambda row: row.split("|")[1][::-1])  # adds and updates interleaved
    second = ncic_extract(root / "new.txt", rows, now - timedelta(hours=1))
    new = expected_state(second)
    changes = sum(1 for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    assert changes == N_OLD // 10 + N_OLD // 5 + N_NEW

    code, written = asyncio.run(_sync_killed_mid_apply(env, second, root / "killed.log", changes // 5))
    log = (root / "killed.log").read_text(errors="replace")
    assert code == -signal.SIGKILL, (
        f"the sync was not killed mid-apply (exit {code}, {written} written): {log}"
    )

    records = records_of(env, "hotlist")
    after_kill = fold(records)
    index = make_index()
    outcomes = Counter(apply_hotlist_record(index, r.key, r.value).outcome for r in records)
    worker_view = {e.key: dumps(entry_to_dict(e)) for e in index.entries()}
    status_after_kill = source_status(env)

    rerun = alpr(feed_env(env), *sync_args(second))
    return InterruptedSync(
        old=old,
        new=new,
        status_before=status_before,
        after_kill=after_kill,
        worker_fold=outcomes,
        worker_view=worker_view,
        status_after_kill=status_after_kill,
        written_at_kill=written,
        rerun=rerun,
        final=fold(records_of(env, "hotlist")),
        status_final=source_status(env),
        history=history_fold(env),
    )


def test_killed_sync_leaves_each_entry_old_or_new(interrupted_sync: InterruptedSync) -> None:
    """After SIGKILL mid-apply, every entry of the hot-list topic is byte for byte its old or its new
    version (a removed one is either still there as it was, or gone), part of the change was applied
    and part was not (the kill really fell in the middle), and the worker's own fold of the topic
    accepts every record (nothing garbled) and holds exactly those entries, field for field."""
    s = interrupted_sync
    mixed = {
        key: s.after_kill.get(key)
        for key in s.old.keys() | s.new.keys() | s.after_kill.keys()
        if s.after_kill.get(key) not in (s.old.get(key), s.new.get(key))
    }
    assert mixed == {}, f"{len(mixed)} entries neither old nor new, e.g. {list(mixed.items())[:2]}"
    applied = sum(
        1 for k in s.old.keys() | s.new.keys() if s.old.get(k) != s.new.get(k) == s.after_kill.get(k)
    )
    changes = sum(1 for k in s.old.keys() | s.new.keys() if s.old.get(k) != s.new.get(k))
    assert 0 < applied < changes, (applied, changes, s.written_at_kill)
    assert s.worker_fold["refused"] == 0
    assert s.worker_view == s.after_kill


def test_killed_sync_does_not_advance_the_source_status(interrupted_sync: InterruptedSync) -> None:
    """The source status (what P3/P4 freshness and ``alpr hotlist sources`` read) is written only
    after the last change: a killed sync leaves it naming the old extract (same fresh_as_of,
    checksum, sync id and entry count), so the half-synced list is never reported as the new one."""
    s = interrupted_sync
    assert s.status_after_kill == s.status_before
    assert s.status_final["fresh_as_of"] != s.status_before["fresh_as_of"]  # the re-run advanced it


def test_rerun_after_the_kill_completes_the_extract_exactly(interrupted_sync: InterruptedSync) -> None:
    """Running the same sync again plans exactly the changes the killed run did not apply (the
    applied ones count as unchanged), after which the hot list equals the new extract byte for
    byte and the status names it."""
    s = interrupted_sync
    assert s.rerun.returncode == 0, s.rerun.stderr
    left = {k for k in s.after_kill.keys() | s.new.keys() if s.after_kill.get(k) != s.new.get(k)}
    assert summary(s.rerun.stdout) == {
        "added": sum(1 for k in left if k not in s.after_kill),
        "updated": sum(1 for k in left if k in s.after_kill and k in s.new),
        "removed": sum(1 for k in left if k not in s.new),
        "unchanged": sum(1 for k in s.new if k not in left),
    }
    assert s.final == s.new
    assert s.status_final["entry_count"] == len(s.new) and s.status_final["last_error"] is None


def test_history_agrees_with_the_list_after_an_interrupted_sync(interrupted_sync: InterruptedSync) -> None:
    """After the killed sync and its re-run, the hot-list changes history (which replay and the
    retro-hunt rebuild the list from) ends in the same state as the hot-list topic: no entry is
    on the list without the event that put it there."""
    s = interrupted_sync
    expected = {k: orjson.loads(v) for k, v in s.final.items()}
    missing = {k for k in expected if s.history.get(k) != expected[k]}
    assert missing == set(), f"{len(missing)} entries differ from their last history event"
    assert set(s.history) == set(expected)


# -- truncated extracts ---------------------------------------------------------------------------------

N_SMALL = 2_000


def test_truncated_extracts_are_refused_and_change_no_entry(topics_env, tmp_path) -> None:
    """Each way a download can be cut off is refused with its reason code and leaves the stored
    entries byte for byte as they were, and the source status's data as it was: cut mid-row or at a
    row boundary at 90% (the 10% removals would pass the 20% removal guard: only the missing trailer
    protects), cut inside the trailer, an empty file, only the first 1% of rows without a trailer,
    and the first 1% with a trailer that matches (a short but complete file: the removal guard).
    The same rows complete are then accepted, so each cut file would have changed every entry."""
    env = topics_env
    now = datetime.now(UTC).replace(microsecond=0)
    v1 = ncic_extract(tmp_path / "v1.txt", [ncic_row(n) for n in range(N_SMALL)], now - timedelta(hours=1))
    loaded = alpr(feed_env(env), *sync_args(v1))
    assert loaded.returncode == 0, loaded.stderr
    before = fold(records_of(env, "hotlist"))
    status_before = source_status(env)
    assert len(before) == N_SMALL

    rows = [ncic_row(n, "record updated") for n in range(N_SMALL)]
    full = ncic_extract(tmp_path / "v2.txt", rows, now).read_text()
    head = "\n".join(full.splitlines()[:2]) + "\n"
    mid_row = int(len(full) * 0.9)
    while "\n" in full[mid_row - 1 : mid_row + 1]:
        mid_row += 1
    at_row = full.rfind("\n", 0, int(len(full) * 0.9)) + 1
    assert full.endswith(f"TRL|{N_SMALL}\n")
    cases = [
        ("mid-row", full[:mid_row], "truncated"),
        ("at-row", full[:at_row], "truncated"),
        ("in-trailer", full[:-3], "truncated"),  # "TRL|20": the trailer itself was cut
        ("empty", "", "empty"),
        ("first-1pct", head + "\n".join(rows[: N_SMALL // 100]) + "\n", "truncated"),
        (
            "first-1pct-trailer",
            head + "\n".join([*rows[: N_SMALL // 100], f"TRL|{N_SMALL // 100}"]) + "\n",
            None,
        ),
    ]
    for name, text, code in cases:
        path = tmp_path / f"{name}.txt"
        path.write_text(text)
        result = alpr(feed_env(env), *sync_args(path))
        assert result.returncode == 2, (name, result.stdout, result.stderr)
        if code is None:
            assert f"would remove {N_SMALL - N_SMALL // 100} of {N_SMALL} ncic entries" in result.stderr

    assert fold(records_of(env, "hotlist")) == before
    history = [orjson.loads(r.value) for r in records_of(env, "hotlist-changes")]
    assert sum(1 for e in history if e["event"] in _ENTRY_EVENTS + ("HotlistEntryRemoved",)) == N_SMALL
    refused = [e["reason_code"] for e in history if e["event"] == "HotlistSyncRefused"]
    assert refused == [code or "too_many_removals" for _, _, code in cases]
    status = source_status(env)
    kept = ("fresh_as_of", "checksum", "sync_id", "entry_count", "last_success")
    assert {k: status[k] for k in kept} == {k: status_before[k] for k in kept}
    assert status["last_error"].startswith("too_many_removals:")

    complete = alpr(feed_env(env), *sync_args(tmp_path / "v2.txt"))
    assert complete.returncode == 0, complete.stderr
    assert summary(complete.stdout) == {"added": 0, "updated": N_SMALL, "removed": 0, "unchanged": 0}


def test_directory_extract_missing_a_part_is_refused(topics_env, tmp_path) -> None:
    """A directory extract of ten numbered part files whose last part never arrived (the download
    stopped between files) is refused as truncated and removes nothing, like a file cut off
    mid-way, although one part in ten is under the 20% removal guard; the complete ten parts are
    then applied."""
    env = topics_env
    now = datetime.now(UTC).replace(microsecond=0)
    parts, size = 10, N_SMALL // 10
    for version, generated, count in (("v1", now - timedelta(hours=1), parts), ("v2", now, parts - 1)):
        (tmp_path / version).mkdir()
        for part in range(count):
            rows = [ncic_row(n, version) for n in range(part * size, (part + 1) * size)]
            ncic_extract(tmp_path / version / f"part-{part:02d}.txt", rows, generated, (part + 1, parts))
    assert alpr(feed_env(env), *sync_args(tmp_path / "v1")).returncode == 0
    before = fold(records_of(env, "hotlist"))
    assert len(before) == N_SMALL

    result = alpr(feed_env(env), *sync_args(tmp_path / "v2"))
    assert result.returncode == 2, result.stdout
    assert "part 10 of 10 missing (9 of 10 parts arrived)" in result.stderr
    assert fold(records_of(env, "hotlist")) == before
    history = [orjson.loads(r.value) for r in records_of(env, "hotlist-changes")]
    assert [e["reason_code"] for e in history if e["event"] == "HotlistSyncRefused"] == ["truncated"]

    rows = [ncic_row(n, "v2") for n in range(9 * size, 10 * size)]
    ncic_extract(tmp_path / "v2" / "part-09.txt", rows, now, (10, parts))
    complete = alpr(feed_env(env), *sync_args(tmp_path / "v2"))
    assert complete.returncode == 0, complete.stderr
    assert summary(complete.stdout) == {"added": 0, "updated": N_SMALL, "removed": 0, "unchanged": 0}


# -- bad input on the reads topic ---------------------------------------------------------------------

LISTED = {
    "7MIX001": "V900000001",  # the good listed read of the mixed batch
    "7TIM001": "V900000002",  # the good listed read of the batch with bad capture times
    "7SKW001": "V900000003",  # captured 1 min ahead: within the allowed clock skew
    "7FIN001": "V900000004",  # the last record, after all the bad ones
    "7BAD001": "V900000005",  # the plate of every read that must be rejected: it must never alert
}


def _listed_extract(path: Path, generated: datetime) -> Path:
    rows = [
        f"V|{nic}|CA0431000|{plate}|CA|2027|PC||2019|TOYT|CAM|4D|BLK|SJ-26-000001|"
        for plate, nic in LISTED.items()
    ]
    return ncic_extract(path, rows, generated)


def test_bad_input_is_rejected_with_reasons_and_processing_continues(broker, tmp_path) -> None:
    """Records produced straight to one partition of the reads topic (bypassing the producer's own
    checks), in order, through a real worker: each bad record or read lands on reads-rejected with
    its reason code, topic, partition, offset and index, and nothing else does; the good reads of
    the mixed batches are screened (the listed ones alert, the bad ones never do, although they
    carry a listed plate); an expired read keeps only read_id, camera_id and captured_at (P11);
    the per-reason rejection metrics agree; and a listed read after all of them still alerts."""
    with running_worker(broker, tmp_path) as (env, settings, _root):
        now = datetime.now(UTC)

        async def load() -> None:
            async with HotlistStore(settings) as store:
                await store.sync("ncic", _listed_extract(tmp_path / "listed.txt", now), None, now)

        asyncio.run(load())
        wait_for(
            lambda: (
                metric(env, "alpr_active_entries") == len(LISTED)
                and metric(env, "alpr_hotlist_source_age_seconds", '{source="ncic"}') is not None
            ),
            30,
            "the hot list and its freshness in the worker",
        )

        at = now.isoformat()
        bad = "7BAD001"
        retention = settings.profile.read_retention_days

        def read(read_id: str, plate: str = bad, **fields: Any) -> dict[str, Any]:
            base = {"read_id": read_id, "plate": plate, "captured_at": at, "camera_id": f"cam-{read_id}"}
            return read_dict(**{**base, **fields})

        big = orjson.dumps({"reads": [read("big")]}) + b" " * MAX_RECORD_BYTES  # valid JSON, too big
        many = orjson.dumps({"reads": [read(f"many-{i}", "6NOT001") for i in range(10_001)]})
        garbage = b"camera 17 says hello, not JSON {"
        missing = read("no-lon")
        del missing["lon"]
        mixed = [
            read("mix-unlisted", "6NOT002"),
            missing,
            read("wrong-type", lat="37.33"),
            read("symbols", "@#$%&!"),
            read("bad-date", captured_at="2026-02-30T00:00:00Z"),
            read("mix-listed", "7MIX001"),
        ]
        timed = [
            read("future", captured_at=(now + timedelta(days=1)).isoformat()),
            read("expired", captured_at=(now - timedelta(days=retention + 1)).isoformat()),
            read("skew-ok", "7SKW001", captured_at=(now + timedelta(minutes=1)).isoformat()),
            read("time-listed", "7TIM001"),
        ]
        records = [
            big,
            many,
            garbage,
            b"[1, 2, 3]",
            orjson.dumps({"reads": mixed}),
            orjson.dumps({"reads": timed}),
            orjson.dumps(read("final-listed", "7FIN001")),  # a bare read, after all the bad input
        ]
        assert MAX_RECORD_BYTES < len(big) < 8 * 1024 * 1024  # under every producer's max request size
        asyncio.run(produce(settings.kafka, settings.topic("reads"), [(None, r, 0) for r in records]))

        good = {"mix-listed", "time-listed", "skew-ok", "final-listed"}
        alerts = asyncio.run(
            wait_for_records(
                settings.kafka,
                settings.topic("alerts"),
                lambda v: {a.get("read_id") for a in v} >= good,
            )
        )
        expected = [  # (record, index in its batch, reason code)
            (0, None, "oversized"),
            (1, None, "oversized"),
            (2, None, "undecodable"),
            (3, None, "schema"),
            (4, 1, "schema"),
            (4, 2, "schema"),
            (4, 3, "bad_plate"),
            (4, 4, "schema"),
            (5, 0, "future_timestamp"),
            (5, 1, "expired"),
        ]
        # one rejected record per source record, however many of its reads were refused, sent
        # grouped when the worker commits their offsets
        rejected_raw = asyncio.run(_wait_for_count(settings, settings.topic("reads-rejected"), 6))
        messages = [orjson.loads(r.value) for r in rejected_raw]
        for message in messages:
            validator("rejected_read").validate(message)
        records = [record for message in messages for record in message["records"]]
        assert len({r["offset"] for r in records}) == 6
        assert {(r["topic"], r["partition"]) for r in records} == {(settings.topic("reads"), 0)}
        rejected = refused_reads(messages)
        first = min(r["offset"] for r in rejected)
        assert Counter((r["offset"] - first, r["index"], r["reason_code"]) for r in rejected) == Counter(
            expected
        )
        by = {(r["offset"] - first, r["index"]): r for r in rejected}

        assert f"the limit is {MAX_RECORD_BYTES}" in by[0, None]["reason"]
        assert by[0, None]["payload"].encode() == big  # kept as received
        assert "10001 reads" in by[1, None]["reason"]
        assert (by[2, None]["payload_encoding"], by[2, None]["payload"]) == ("utf-8", garbage.decode())
        assert "got list" in by[3, None]["reason"]
        assert "lat without lon" in by[4, 1]["reason"]
        assert "lat must be number" in by[4, 2]["reason"]
        assert "A-Z and 0-9" in by[4, 3]["reason"]
        assert "captured_at must be date-time" in by[4, 4]["reason"]
        payloads = [json.loads(by[4, i]["payload"])["read_id"] for i in (1, 2, 3, 4)]
        assert payloads == ["no-lon", "wrong-type", "symbols", "bad-date"]
        assert by[4, 1]["camera_id"] == "cam-no-lon"  # keyed by camera when the read names one
        assert json.loads(by[5, 0]["payload"])["read_id"] == "future" and "clock" in by[5, 0]["reason"]
        expired = by[5, 1]
        assert json.loads(expired["payload"]) == {
            "read_id": "expired",
            "camera_id": "cam-expired",
            "captured_at": timed[1]["captured_at"],
        }  # P11: not the plate, place or image of a read past its retention
        assert bad.encode() not in orjson.dumps(expired)  # its refusal, as stored

        assert Counter(a["read_id"] for a in alerts_for(alerts, good)) == dict.fromkeys(good, 1)
        rejected_ids = {"big", "no-lon", "wrong-type", "bad-date", "future", "expired"}
        assert [a for a in alerts if a.get("read_id") in rejected_ids or a.get("plate_read") == bad] == []
        reasons = Counter(code for _, _, code in expected)
        for reason, count in reasons.items():
            wait_for(
                lambda reason=reason, count=count: (
                    metric(env, "alpr_rejected_total", f'{{reason="{reason}"}}') == count
                ),
                10,
                f"alpr_rejected_total{{reason={reason!r}}} == {count}",
            )


async def _wait_for_count(settings: Settings, topic: str, count: int, timeout: float = 60) -> list[Any]:
    """The topic's messages once the worker's group has committed everything it holds, holding
    ``count`` rejected records: a record's outputs are acknowledged by Kafka before its offset is
    committed, so nothing more can come."""
    await wait_worker_drained(settings, timeout)
    messages = await read_topic(settings.kafka, topic)
    values = [orjson.loads(m.value) for m in messages]
    if sum(len(v["records"]) for v in values) != count:
        seen = [(v["offset"], v["index"], v["reason_code"]) for v in refused_reads(values)]
        raise AssertionError(
            f"{topic}: {len(messages)} messages once drained, expected {count} records: {seen}"
        )
    return messages


def test_invalid_utf8_inside_a_read_is_rejected_not_dropped(broker, tmp_path) -> None:
    """A read whose JSON is well formed but holds bytes that are not UTF-8 inside a string (a camera
    gateway's bad encoding) lands on reads-rejected as undecodable, kept whole (base64), and the
    worker's screen loop does not crash on it. (Bytes that are not JSON at all are covered by
    tests/integration/test_stream.py; there the JSON parser fails before any string is decoded.)"""
    with running_worker(broker, tmp_path) as (env, settings, root):
        not_utf8 = orjson.dumps(read_dict(read_id="utf8", camera_id="cam-utf8")).replace(
            b'"cam-utf8"', b'"cam-\xff\xfe"'
        )
        garbage = b"not JSON, but UTF-8 text"
        records = [(None, not_utf8, 0), (None, garbage, 0)]
        asyncio.run(produce(settings.kafka, settings.topic("reads"), records))
        rejected = asyncio.run(
            wait_for_records(
                settings.kafka,
                settings.topic("reads-rejected"),
                lambda v: any(r["payload"] == garbage.decode() for r in refused_reads(v)),  # after not_utf8
            )
        )
        rejected = refused_reads(rejected)
        crashed = "Crashed reason=" in (root / "worker.log").read_text(errors="replace")
        [record] = [r for r in rejected if r["payload_encoding"] == "base64"] or [None]
        assert record is not None and not crashed
        assert record["reason_code"] == "undecodable" and base64.b64decode(record["payload"]) == not_utf8
