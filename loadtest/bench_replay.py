"""Benchmark of replay for incident reconstruction (issue: retention and replay, benchmark).

Writes N reads (default 1 M, batches of 20 as the read producer makes them) over 12 partitions,
sent over ten hours (explicit record timestamps), to a fresh embedded broker; then times
``streams.replay.replay.replay`` (the code behind ``alpr replay``) for
- the whole ten hours, one plate (reads scanned per second: the full-scan rate),
- one hour in the middle, one plate (the binary search skips the other nine hours),
- the whole ten hours, one camera (every read of a camera decoded into the timeline),
and checks each result against the generator's ground truth. Prints the numbers and stores
loadtest/results/bench_replay.summary.json.

    python -m loadtest.bench_replay --reads 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import string
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from streams.kafka.broker import KAFKA_VERSION, EmbeddedBroker, free_port
from streams.kafka.topics import create_topics
from streams.replay.replay import ReplayQuery, replay
from streams.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"
HOURS = 10
BATCH = 20
PARTITIONS = 12
TARGET = "7RPLAY7"


def random_plate(rng: random.Random) -> str:
    return (
        str(rng.randint(1, 9))
        + "".join(rng.choices(string.ascii_uppercase, k=3))
        + "".join(rng.choices(string.digits, k=3))
    )


async def write_reads(settings: Settings, total: int, end: datetime) -> dict[str, list[datetime]]:
    """The reads, in time order per partition; returns the capture times of the target plate and
    of camera cam-00042 (the ground truth)."""
    rng = random.Random(7)
    start = end - timedelta(hours=HOURS)
    truth: dict[str, list[datetime]] = {"plate": [], "camera": []}
    producer = AIOKafkaProducer(
        **settings.kafka.options(), enable_idempotence=True, max_batch_size=512 * 1024, linger_ms=5
    )
    await producer.start()
    try:
        batches = total // BATCH
        open_batches: dict[int, Any] = {}
        pending = []
        for n in range(batches):
            partition = n % PARTITIONS
            when = start + timedelta(seconds=HOURS * 3600 * n / batches)
            reads = []
            for i in range(BATCH):
                camera = f"cam-{rng.randrange(5000):05d}"
                plate = TARGET if rng.random() < 1 / 20_000 else random_plate(rng)
                captured = when - timedelta(milliseconds=rng.randrange(1000))
                if plate == TARGET:
                    truth["plate"].append(captured)
                if camera == "cam-00042":
                    truth["camera"].append(captured)
                reads.append(
                    {
                        "read_id": f"r{n}-{i}",
                        "camera_id": camera,
                        "captured_at": captured.isoformat(),
                        "plate": plate,
                        "plate_state": "CA",
                        "confidence": 0.9,
                        "lat": 37.3,
                        "lon": -121.9,
                    }
                )
            value = orjson.dumps({"reads": reads})
            batch = open_batches.get(partition) or producer.create_batch()
            if batch.append(key=None, value=value, timestamp=int(when.timestamp() * 1000)) is None:
                batch.close()
                pending.append(await producer.send_batch(batch, settings.topic("reads"), partition=partition))
                batch = producer.create_batch()
                batch.append(key=None, value=value, timestamp=int(when.timestamp() * 1000))
            open_batches[partition] = batch
        for partition, batch in open_batches.items():
            batch.close()
            pending.append(await producer.send_batch(batch, settings.topic("reads"), partition=partition))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return truth


async def timed(
    settings: Settings, query: ReplayQuery, now: datetime
) -> tuple[dict[str, Any], list[datetime]]:
    started = time.perf_counter()
    result = await replay(settings, query, now)
    seconds = time.perf_counter() - started
    return (
        {
            "seconds": round(seconds, 2),
            "records_scanned": result.records_scanned,
            "reads_scanned": result.reads_scanned,
            "reads_per_s": round(result.reads_scanned / seconds),
            "sightings": len(result.sightings),
        },
        [s.read.captured_at for s in result.sightings],
    )


async def main_async(total: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        broker = EmbeddedBroker(Path(tmp), free_port())
        broker.start()
        try:
            settings = Settings.from_env(
                {
                    "ALPR_BROKER_URL": broker.bootstrap,
                    "ALPR_TOPIC_PREFIX": "benchreplay.",
                    "ALPR_PARTITIONS": "12",
                }
            )
            await create_topics(settings)
            now = datetime.now(UTC)
            started = time.perf_counter()
            truth = await write_reads(settings, total, now)
            out: dict[str, Any] = {"reads": total, "write_s": round(time.perf_counter() - started, 1)}
            print(f"wrote {total:,} reads in {out['write_s']} s", flush=True)
            start = now - timedelta(hours=HOURS + 1)
            cases = {
                "whole_window_one_plate": ReplayQuery(start, now, "BENCH-1", "benchmark", plate=TARGET),
                "one_hour_one_plate": ReplayQuery(
                    now - timedelta(hours=6), now - timedelta(hours=5), "BENCH-1", "benchmark", plate=TARGET
                ),
                "whole_window_one_camera": ReplayQuery(
                    start, now, "BENCH-1", "benchmark", cameras=frozenset({"cam-00042"})
                ),
            }
            expected = {
                "whole_window_one_plate": sorted(truth["plate"]),
                "one_hour_one_plate": sorted(
                    t for t in truth["plate"] if now - timedelta(hours=6) <= t <= now - timedelta(hours=5)
                ),
                "whole_window_one_camera": sorted(truth["camera"]),
            }
            for name, query in cases.items():
                numbers, found = await timed(settings, query, now)
                numbers["exact"] = sorted(found) == expected[name]
                out[name] = numbers
                print(f"{name}: {numbers}", flush=True)
            out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            return out
        finally:
            broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reads", type=int, default=1_000_000)
    args = parser.parse_args()
    result = asyncio.run(main_async(args.reads))
    summary = {
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": f"{os.cpu_count()} cores, embedded Apache Kafka {KAFKA_VERSION}",
        **result,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_replay.summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
