"""Benchmark of the matching path without Kafka: what one worker's CPU does per read.

Builds a hot list (default 1,000,000 exact entries and 200 partial patterns),
then runs read batches (decode, validate, normalize, Bloom screen, partials,
exact check of the positives) through the same Pipeline the stream uses.
Prints the numbers and stores a summary in loadtest/results/.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import string
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from streams.app import new_index
from streams.codec import dumps
from streams.hotlists.model import HotlistEntry, Person
from streams.matching.pipeline import Pipeline
from streams.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"


def plate(rng: random.Random) -> str:
    return (
        str(rng.randint(1, 9))
        + "".join(rng.choices(string.ascii_uppercase, k=3))
        + "".join(rng.choices(string.digits, k=3))
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--partials", type=int, default=200)
    parser.add_argument("--reads", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--hit-rate", type=float, default=0.001)
    args = parser.parse_args()

    rng = random.Random(1)
    now = datetime.now(UTC)
    settings = Settings.from_env({})
    index = new_index(settings)
    started = time.perf_counter()
    listed = []
    for i in range(args.entries):
        p = plate(rng)
        listed.append(p)
        index.upsert(
            HotlistEntry("ncic", f"V{i}", p, "CA", "stolen_vehicle", "Stolen vehicle", None, synced_at=now)
        )
    officer = Person("Det. A", "1", "Robbery")
    lieutenant = Person("Lt. B", "2", rank="lieutenant")
    for i in range(args.partials):
        pattern = plate(rng)[:4] + "?" + "*"
        index.upsert(
            HotlistEntry(
                "local",
                f"P{i}",
                pattern,
                None,
                "bolo",
                "PC 211 robbery",
                "C1",
                entered_by=officer,
                approved_by=lieutenant,
            )
        )
    load_s = time.perf_counter() - started

    pipeline = Pipeline(
        index, partitions=12, retention=timedelta(days=30), max_skew=timedelta(minutes=5), clock=lambda: now
    )
    captured = (now - timedelta(seconds=1)).isoformat()
    batches = []
    for b in range(args.reads // args.batch):
        reads = []
        for k in range(args.batch):
            p = rng.choice(listed) if rng.random() < args.hit_rate else plate(rng)
            reads.append(
                {
                    "read_id": f"b{b}-{k}",
                    "camera_id": f"cam-{k:05d}",
                    "captured_at": captured,
                    "plate": p,
                    "plate_state": "CA",
                    "confidence": 0.9,
                    "lat": 37.3,
                    "lon": -121.9,
                }
            )
        batches.append(dumps({"reads": reads}))

    latencies = []
    candidates = alerts = 0
    started = time.perf_counter()
    for n, payload in enumerate(batches):
        t0 = time.perf_counter()
        out = pipeline.screen_record(payload, ("reads", 0, n))
        for _key, _partition, value in out.candidates:
            alerts += len(pipeline.confirm_record(value, ("candidates", 0, n)).alerts)
        candidates += len(out.candidates)
        alerts += len(out.alerts)
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    latencies.sort()
    total = len(batches) * args.batch
    summary = {
        "measured_at": now.isoformat(),
        "entries": args.entries,
        "partials": args.partials,
        "hotlist_load_s": round(load_s, 2),
        "reads": total,
        "batch_size": args.batch,
        "reads_per_s": round(total / elapsed),
        "batch_ms_p50": round(latencies[len(latencies) // 2] * 1000, 3),
        "batch_ms_p99": round(latencies[int(len(latencies) * 0.99)] * 1000, 3),
        "bloom_positives": candidates,
        "alerts": alerts,
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(summary, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_pipeline.summary.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
