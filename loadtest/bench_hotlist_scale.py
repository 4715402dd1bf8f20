"""Benchmark of a worker's hot list at NCIC scale (issue 19, item 3: the worker's side).

For each size (default 1 M and 5 M synthetic entries) on an embedded Apache Kafka broker:
fills the compacted hot-list topic (bulk writes, like ``loadtest.run.load_hotlist``), then starts
``alpr worker`` as a process

- cold: no snapshot, the index is built from the whole topic;
- warm: on the snapshot the cold worker wrote, the topic read only from its offsets;

and measures the time from the process's start to its readiness (``streams.readiness``: it says
it screens and its group holds the partitions), its RSS then (VmRSS) and its peak (VmHWM). Then, in
this process, the per-read cost of the screen (normalize, Bloom, partial patterns) plus the exact
check of the candidates, on records of 200 reads with 0.1 % listed plates, against the index
loaded from the snapshot; and the cost per entry of applying hot-list records to an index, one by
one and in the worker's batches (:func:`~streams.hotlists.records.apply_hotlist_records`), side by
side on the same records. Warm starts: best of ``--repeat``; cold starts: best of
``--cold-repeat``. Prints each figure with the load average and stores
loadtest/results/bench_hotlist_scale.summary.json.

    python -m loadtest.bench_hotlist_scale --sizes 1000000 5000000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import string
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition

from streams.app import new_index
from streams.codec import dumps, entry_to_dict
from streams.hotlists.model import HotlistEntry
from streams.hotlists.records import apply_hotlist_record, apply_hotlist_records, entry_partition
from streams.hotlists.view import HotlistView, cluster_id
from streams.kafka.broker import KAFKA_VERSION, EmbeddedBroker, free_port
from streams.kafka.log import TopicWriter, log_ends, started_reader
from streams.kafka.topics import create_topics, existing_partitions
from streams.matching.matcher import screen
from streams.matching.snapshot import SnapshotScope, load_snapshot, rules_digest
from streams.readiness import wait_worker_ready
from streams.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
ALNUM = string.ascii_uppercase + string.digits
RECORD_READS = 200


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def plates(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(ALNUM, k=7)) for _ in range(count)]


def ncic_entry(i: int, plate: str, now: datetime) -> HotlistEntry:
    return HotlistEntry(
        "ncic",
        f"B{i:09d}",
        plate,
        "CA",
        "stolen_vehicle",
        "Stolen vehicle",
        synced_at=now,
        ori="CA0431000",
        vehicle=(("make", "HOND"), ("color", "BLK")),
    )


async def fill(settings: Settings, size: int) -> tuple[float, list[str]]:
    """``size`` NCIC-like entries on the hot-list topic and a fresh status of their source."""
    listed = plates(size, seed=size)
    now = datetime.now(UTC)
    started = time.perf_counter()
    writer = TopicWriter(settings.kafka)
    await writer.start()
    try:
        topic = settings.topic("hotlist")
        partitions = await writer.partition_count(topic)
        for i, plate in enumerate(listed):
            entry = ncic_entry(i, plate, now)
            await writer.write(
                topic, entry.key.encode(), dumps(entry_to_dict(entry)), entry_partition(entry, partitions)
            )
        status = {"source": "ncic", "fresh_as_of": now.isoformat(), "last_success": now.isoformat()}
        await writer.write(settings.topic("hotlist-sources"), b"ncic", dumps(status))
        await writer.flush()
    finally:
        await writer.stop()
    return time.perf_counter() - started, listed


def start_worker(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], float]:
    handle = log.open("ab")
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "worker"],
        env=env,
        cwd=ROOT,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    return process, started


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def worker_run(
    env: dict[str, str], settings: Settings, log: Path, wait_snapshot: bool
) -> dict[str, Any]:
    """One worker from process start to ready; its memory then; with ``wait_snapshot``, until it
    has written its snapshot."""
    mark = log.stat().st_size if log.exists() else 0
    process, started = start_worker(env, log)
    try:
        await wait_worker_ready(settings, 3600)
        ready_s = time.perf_counter() - started
        result = {
            "ready_s": round(ready_s, 2),
            "rss_mb": status_mb(process.pid, "VmRSS"),
            "peak_rss_mb": status_mb(process.pid, "VmHWM"),
        }
        text = ""
        while wait_snapshot and "hot-list snapshot written" not in text:
            await asyncio.sleep(0.5)
            text = log.read_bytes()[mark:].decode(errors="replace")
            if process.poll() is not None:
                raise RuntimeError(f"the worker stopped; see {log}")
        result["restored"] = "hot list restored from" in log.read_bytes()[mark:].decode(errors="replace")
        result["rss_after_snapshot_mb"] = status_mb(process.pid, "VmRSS")
        return result
    finally:
        stop_worker(process)


async def screen_cost(settings: Settings, listed: list[str]) -> dict[str, Any]:
    """Per read, in this process, against the index loaded from the worker's snapshot."""
    index = new_index(settings)
    consumer = await started_reader(settings.kafka)
    try:
        names = (settings.topic("hotlist"), settings.topic("hotlist-sources"))
        tps = [TopicPartition(n, p) for n in names for p in await existing_partitions(consumer._client, n)]  # noqa: SLF001
        logs = {(tp.topic, tp.partition): ends for tp, ends in (await log_ends(consumer, tps)).items()}
        scope = SnapshotScope(
            settings.state_dir / "hotlist",
            rules_digest(index.rules),
            await cluster_id(consumer),
            names,
            settings.profile.broker.tombstone_retention_ms / 2000,
        )
    finally:
        await consumer.stop()
    started = time.perf_counter()
    if load_snapshot(index, scope, logs) is None:
        raise RuntimeError("the worker's snapshot did not load")
    load_s = time.perf_counter() - started
    rng = random.Random(7)
    reads = plates(400_000, seed=99)
    for i in range(0, len(reads), 1000):  # 0.1 % listed
        reads[i] = listed[rng.randrange(len(listed))]
    batches = [reads[i : i + RECORD_READS] for i in range(0, len(reads), RECORD_READS)]
    best = float("inf")
    for _ in range(3):
        candidates = confirmed = 0
        started = time.perf_counter()
        for batch in batches:
            found = screen(index, batch)
            for position in found.candidates:
                held = index.exact_candidates(found.canonical[position])
                candidates += 1
                confirmed += bool(held)
        best = min(best, time.perf_counter() - started)
    return {
        "in_process_snapshot_load_s": round(load_s, 2),
        "screen_us_per_read": round(best / len(reads) * 1e6, 3),
        "screen_reads": len(reads),
        "screen_candidates": candidates,
        "screen_confirmed": confirmed,
    }


def apply_cost(settings: Settings, size: int) -> dict[str, Any]:
    """Per entry, in this process: the records of ``size`` entries applied to a fresh index one by
    one (the worker's way before issue 19's bulk load) and in the worker's batches; best of 3,
    the two interleaved so that both see the same machine."""
    now = datetime.now(UTC)
    records = [
        (entry.key.encode(), dumps(entry_to_dict(entry)))
        for entry in (ncic_entry(i, plate, now) for i, plate in enumerate(plates(size, seed=3)))
    ]
    step = HotlistView.APPLY_BATCH
    best = {"one_by_one": float("inf"), "batched": float("inf")}
    for _ in range(3):
        for way in best:
            index = new_index(settings)
            index.reserve(size)
            started = time.perf_counter()
            if way == "batched":
                for i in range(0, size, step):
                    apply_hotlist_records(index, records[i : i + step])
            else:
                for key, value in records:
                    apply_hotlist_record(index, key, value)
            best[way] = min(best[way], time.perf_counter() - started)
            if len(index) != size:
                raise RuntimeError(f"{way}: {len(index)} entries of {size}")
    return {
        "apply_entries": size,
        "apply_us_per_entry_one_by_one": round(best["one_by_one"] / size * 1e6, 1),
        "apply_us_per_entry_batched": round(best["batched"] / size * 1e6, 1),
        "apply_loadavg": loadavg(),
    }


async def bench(
    size: int, broker: EmbeddedBroker, folder: Path, repeat: int, cold_repeat: int
) -> dict[str, Any]:
    tag = f"scale{size}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALPR_")}
    env.update(
        ALPR_BROKER_URL=f"kafka://{broker.bootstrap}",
        ALPR_TOPIC_PREFIX=f"{tag}.",
        ALPR_APP_ID=f"alpr-{tag}",
        ALPR_STATE_DIR=str(folder / f"state-{size}"),
        ALPR_METRICS_PORT=str(free_port()),
        ALPR_CONSOLE_PORT=str(free_port()),
        ALPR_LOG_LEVEL="info",
        ALPR_REQUIRE_REGISTERED_CAMERA="false",
    )
    settings = Settings.from_env(env)
    await create_topics(settings)
    fill_s, listed = await fill(settings, size)
    print(f"  {size}: filled in {fill_s:.1f} s; load {loadavg()}", flush=True)
    log = folder / f"worker-{size}.log"
    snapshots = settings.state_dir / "hotlist"
    cold = []
    for _ in range(cold_repeat):
        shutil.rmtree(snapshots, ignore_errors=True)
        cold.append(await worker_run(env, settings, log, wait_snapshot=True))
        print(f"  {size} cold: {cold[-1]}; load {loadavg()}", flush=True)
    warm = []
    for _ in range(repeat):
        warm.append(await worker_run(env, settings, log, wait_snapshot=False))
        print(f"  {size} warm: {warm[-1]}; load {loadavg()}", flush=True)
    if not all(w["restored"] for w in warm) or any(c["restored"] for c in cold):
        raise RuntimeError(f"a warm start did not use the snapshot, or a cold one did; see {log}")
    result: dict[str, Any] = {"entries": size, "fill_s": round(fill_s, 1), "loadavg": loadavg()}
    for name, runs in (("cold", cold), ("warm", warm)):
        best = min(runs, key=lambda r: r["ready_s"])
        result[f"{name}_ready_s"] = best["ready_s"]
        result[f"{name}_ready_s_runs"] = [r["ready_s"] for r in runs]
        result[f"{name}_rss_mb"] = max(r["rss_mb"] for r in runs)
        result[f"{name}_peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    result["snapshot_mb"] = round(sum(p.stat().st_size for p in snapshots.iterdir()) / 2**20)
    result |= await screen_cost(settings, listed)
    result |= apply_cost(settings, min(size, 200_000))
    print(json.dumps(result), flush=True)
    return result


async def main_async(sizes: list[int], repeat: int, cold_repeat: int) -> list[dict[str, Any]]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        broker = EmbeddedBroker(Path(tmp) / "broker", free_port())
        broker.start()
        try:
            for size in sizes:
                out.append(await bench(size, broker, Path(tmp), repeat, cold_repeat))
        finally:
            broker.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="warm starts; the best is kept")
    parser.add_argument("--cold-repeat", type=int, default=1, help="cold starts; the best is kept")
    parser.add_argument("--no-store", action="store_true", help="print only, keep the stored summary")
    args = parser.parse_args()
    results = asyncio.run(main_async(args.sizes, args.repeat, args.cold_repeat))
    summary = {
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": f"{os.cpu_count()} cores, embedded Apache Kafka {KAFKA_VERSION}",
        "targets": {"entries": 5_000_000, "worker_rss_mb": 1024, "warm_ready_s": 20},
        "runs": results,
    }
    if not args.no_store:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "bench_hotlist_scale.summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
