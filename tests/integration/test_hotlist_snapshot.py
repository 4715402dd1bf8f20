"""A worker restarted on its hot-list snapshot: it screens as before, and it takes the entries
added and removed while it was down off the topic (the delta from the snapshot's offsets)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from streams.matching.snapshot import SNAPSHOT_NAME
from streams.readiness import wait_worker_ready
from tests.conftest import AlprProcess, TopicSets, make_env, settings_of, wait_for
from tests.factories import read_dict
from tests.integration.kafka_helpers import alerts_for, metric, send_reads, wait_for_records
from tests.integration.probes import assert_no_alert, probe_plate_for, same_path_plate, worker_follows
from tests.integration.test_hotlists import NCIC_ROWS, ncic_extract
from tests.integration.test_propagation import sync

pytestmark = pytest.mark.integration

GONE, NEW = "6PRP700", "5NEW123"


def row(n: int, plate: str) -> str:
    return f"L|L80000000{n:02d}|CA0431000|{plate}|CA|2027|PC|||||||SJ-26-81{n}|"


def start(env: dict[str, str], log: Path) -> AlprProcess:
    process = AlprProcess(env, log)
    wait_for(lambda: metric(env, "alpr_active_entries") is not None, 60, "the worker's metrics")
    asyncio.run(wait_worker_ready(settings_of(env), 60))
    return process


def test_a_worker_restarted_on_its_snapshot_screens_the_same_and_takes_the_delta(broker, tmp_path) -> None:
    sets = TopicSets.of(broker.bootstrap)
    env = sets.fresh(make_env(broker, tmp_path, ALPR_HOTLIST_SNAPSHOT_S="0.2"))
    settings = settings_of(env)
    snapshot = Path(env["ALPR_STATE_DIR"]) / "hotlist" / SNAPSHOT_NAME
    kept = [*NCIC_ROWS[:4], row(1, probe_plate_for(settings, GONE)), row(2, "8KPT456")]
    process = start(env, tmp_path / "worker-1.log")
    try:
        asyncio.run(synced(settings, ncic_extract(tmp_path / "n1.txt", [*kept, row(3, GONE)])))
        wait_for(lambda: "hot-list snapshot written: 7 entries" in process.log(), 30, "the snapshot")
        assert snapshot.exists()
    finally:
        process.stop()
    try:
        # while the worker is down: GONE removed, NEW added (a tombstone and a new value on the topic)
        asyncio.run(sync(settings, "ncic", ncic_extract(tmp_path / "n2.txt", [*kept, row(4, NEW)])))
        process = start(env, tmp_path / "worker-2.log")
        assert "hot list restored from" in process.log()
        asyncio.run(screens(settings, kept, "warm"))
        process.stop()
        # a snapshot that does not fit (here: corrupt) is refused: the topics are read from the start
        data = bytearray(snapshot.read_bytes())
        data[-40] ^= 0xFF
        snapshot.write_bytes(bytes(data))
        process = start(env, tmp_path / "worker-3.log")
        assert "not used (corrupt" in process.log()
        assert "hot list restored from" not in process.log()
        asyncio.run(screens(settings, kept, "rebuilt"))
    finally:
        process.stop()
        sets.delete(env)


async def synced(settings, path: Path) -> None:
    await sync(settings, "ncic", path)
    await worker_follows(settings, ["hotlist", "hotlist-sources"])


async def screens(settings, kept: list[str], run: str) -> None:
    """The entries from before alert, the one added while down too, the one removed does not."""
    await worker_follows(settings, ["hotlist", "hotlist-sources"])
    now = datetime.now(UTC).isoformat()
    listed = kept[0].split("|")[3]
    await send_reads(
        settings,
        [
            read_dict(read_id=f"{run}-old", plate=listed, captured_at=now),
            read_dict(read_id=f"{run}-new", plate=NEW, captured_at=now),
        ],
    )
    values = await wait_for_records(
        settings.kafka,
        settings.topic("alerts"),
        lambda v: len(alerts_for(v, {f"{run}-old", f"{run}-new"})) == 2,
    )
    assert {a["read_id"] for a in alerts_for(values, {f"{run}-old", f"{run}-new"})} == {
        f"{run}-old",
        f"{run}-new",
    }
    probe = same_path_plate(settings, GONE, [r.split("|")[3] for r in kept])
    await assert_no_alert(settings, (f"{run}-gone", GONE), (f"{run}-probe", probe))
