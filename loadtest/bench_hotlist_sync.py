"""Benchmark of hot-list sync at NCIC scale, on the embedded broker (issue: hot-list sync, item 7).

For each size: writes an NCIC LPR extract, then measures
- full sync (empty list -> N entries), a 1% delta sync, and a no-op re-sync;
- a worker's load of the hot list (HotlistView into HotlistIndex): time, RSS, Bloom size;
- the Bloom filter's measured false-positive rate on plates that are not listed;
- propagation: time from a hot-list record's write to its visibility in the worker's index.
Prints the numbers and stores loadtest/results/bench_hotlist_sync.summary.json.

    python -m loadtest.bench_hotlist_sync --sizes 1000000 5000000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import resource
import string
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from streams.app import new_index
from streams.codec import entry_to_dict
from streams.hotlists.adapters.ncic import COLUMNS
from streams.hotlists.model import HotlistEntry
from streams.hotlists.records import entry_partition
from streams.hotlists.service import HotlistStore
from streams.hotlists.view import HotlistView
from streams.kafka.broker import KAFKA_VERSION, EmbeddedBroker, free_port
from streams.kafka.log import TopicWriter
from streams.kafka.topics import create_topics
from streams.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def plate(rng: random.Random) -> str:
    return (
        str(rng.randint(1, 9))
        + "".join(rng.choices(string.ascii_uppercase, k=3))
        + "".join(rng.choices(string.digits, k=3))
    )


def write_extract(path: Path, rows: dict[str, str], generated: datetime) -> None:
    with path.open("w") as out:
        out.write(f"HDR|NCIC-LPR|1|{generated.strftime('%Y-%m-%dT%H:%M:%SZ')}\n")
        out.write("|".join(COLUMNS) + "\n")
        for nic, lic in rows.items():
            out.write(f"V|{nic}|CA0431000|{lic}|CA|2027|PC||2019|HOND|CIV|4D|GRY|SJ-{nic}|\n")
        out.write(f"TRL|{len(rows)}\n")


async def timed_sync(settings: Settings, path: Path) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    async with HotlistStore(settings) as store:
        report = await store.sync("ncic", path, None, datetime.now(UTC))
    return time.perf_counter() - started, dict(report.plan.counts)


async def load_view(settings: Settings) -> tuple[HotlistView, asyncio.Task[None], float]:
    index = new_index(settings)
    view = HotlistView(settings.kafka, settings.topic("hotlist"), settings.topic("hotlist-sources"), index)
    started = time.perf_counter()
    task = asyncio.create_task(view.run())
    ready = asyncio.create_task(view.wait_ready())
    await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # the view died: say why
    return view, task, time.perf_counter() - started


async def propagation(settings: Settings, view: HotlistView, samples: int) -> list[float]:
    writer = TopicWriter(settings.kafka)
    await writer.start()
    latencies = []
    try:
        partitions = await writer.partition_count(settings.topic("hotlist"))
        for i in range(samples):
            entry = HotlistEntry("ncic", f"PROP{i}", f"9PRP{i:03d}", "CA", "stolen_vehicle", "bench", None)
            started = time.perf_counter()
            await writer.write(
                settings.topic("hotlist"),
                entry.key.encode(),
                orjson.dumps(entry_to_dict(entry)),
                entry_partition(entry, partitions),
            )
            await writer.flush()
            while entry.key not in view.index:
                await asyncio.sleep(0.0005)
            latencies.append(time.perf_counter() - started)
    finally:
        await writer.stop()
    return sorted(latencies)


async def bench(size: int, settings: Settings, folder: Path) -> dict[str, Any]:
    rng = random.Random(size)
    rows = {f"V{i:09d}": plate(rng) for i in range(size)}
    generated = datetime.now(UTC).replace(microsecond=0)
    full = folder / f"full-{size}.txt"
    write_extract(full, rows, generated)
    result: dict[str, Any] = {"entries": size, "extract_mb": round(full.stat().st_size / 2**20, 1)}

    gc.collect()
    before = rss_mb()
    seconds, counts = await timed_sync(settings, full)
    result["full_sync_s"] = round(seconds, 1)
    result["full_sync_entries_per_s"] = round(size / seconds)
    result["full_sync_counts"] = counts
    result["sync_peak_rss_mb"] = round(peak_mb())
    result["sync_rss_growth_mb"] = round(rss_mb() - before)
    print(f"  full sync of {size}: {result['full_sync_s']} s", flush=True)

    keys = list(rows)
    changed = dict(rows)
    for nic in rng.sample(keys, size // 200):  # 0.5% updated
        changed[nic] = plate(rng)
    for nic in rng.sample(keys, size // 400):  # 0.25% removed
        changed.pop(nic, None)
    for i in range(size // 400):  # 0.25% added
        changed[f"N{i:09d}"] = plate(rng)
    delta = folder / f"delta-{size}.txt"
    write_extract(delta, changed, generated.replace(second=min(59, generated.second + 1)))
    seconds, counts = await timed_sync(settings, delta)
    result["delta_1pct_sync_s"] = round(seconds, 1)
    result["delta_counts"] = counts
    print(f"  delta sync: {result['delta_1pct_sync_s']} s {counts}", flush=True)
    seconds, counts = await timed_sync(settings, delta)
    result["noop_resync_s"] = round(seconds, 1)
    print(f"  no-op re-sync: {result['noop_resync_s']} s {counts}", flush=True)
    result["noop_counts"] = counts

    gc.collect()
    before = rss_mb()
    view, task, seconds = await load_view(settings)
    index = view.index
    result["worker_load_s"] = round(seconds, 1)
    print(f"  worker load: {result['worker_load_s']} s", flush=True)
    result["worker_index_entries"] = len(index)
    result["worker_index_rss_mb"] = round(rss_mb() - before)
    result["bloom_bytes_mb"] = round(index.bloom_bits / 8 / 2**20, 1)
    listed = {index.rules.ocr.canonical(p) for p in changed.values()}
    probes = positives = 0
    while probes < 200_000:
        candidate = index.rules.ocr.canonical(plate(rng))
        if candidate in listed:
            continue
        probes += 1
        positives += index.bloom_contains(candidate)
    result["bloom_fp_rate_measured"] = round(positives / probes, 5)
    result["bloom_fp_rate_configured"] = settings.bloom_error_rate
    latencies = await propagation(settings, view, 200)
    result["propagation_ms_p50"] = round(latencies[len(latencies) // 2] * 1000, 1)
    result["propagation_ms_p99"] = round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1)
    result["propagation_ms_max"] = round(latencies[-1] * 1000, 1)
    task.cancel()
    return result


async def main_async(sizes: list[int]) -> list[dict[str, Any]]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            broker = EmbeddedBroker(Path(tmp) / f"broker-{size}", free_port())
            broker.start()
            try:
                settings = Settings.from_env(
                    {"ALPR_BROKER_URL": broker.bootstrap, "ALPR_TOPIC_PREFIX": f"bench{size}."}
                )
                await create_topics(settings)
                result = await bench(size, settings, Path(tmp))
                print(json.dumps(result), flush=True)
                out.append(result)
            finally:
                broker.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    args = parser.parse_args()
    results = asyncio.run(main_async(args.sizes))
    summary = {
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": f"{os.cpu_count()} cores, embedded Apache Kafka {KAFKA_VERSION}",
        "runs": results,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_hotlist_sync.summary.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
