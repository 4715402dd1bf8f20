"""Benchmark of hot-list sync at NCIC scale, on the embedded broker (issue 19, item 3).

For each size: writes an NCIC LPR extract, then measures, best of ``--repeat`` runs (each on fresh
topics and a fresh sync cache):
- full sync (empty list -> N entries); a 1% delta sync; a delta of ``--delta`` entries (k); a
  no-op re-sync; the 1% delta again without the local cache (it rebuilds from the topic);
- the floor of a delta: one pass over the extract with every record known (read, split into
  lines, digest each), and the plain read of the file;
- unless ``--sync-only``: a worker's load of the hot list (HotlistView into HotlistIndex): time,
  RSS, Bloom size; the Bloom filter's measured false-positive rate on plates that are not listed;
  propagation: time from a hot-list record's write to its visibility in the worker's index.
Each sync's CPU seconds on the sync's side are stored beside its wall time (``*_cpu_s``): on a
shared machine they vary less. Prints the numbers with the load average and stores
loadtest/results/bench_hotlist_sync.summary.json.

    python -m loadtest.bench_hotlist_sync --sizes 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import resource
import shutil
import string
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from streams.app import new_index
from streams.codec import entry_to_dict
from streams.hotlists.adapters.ncic import ADAPTER as NCIC
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


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def write_extract(path: Path, rows: dict[str, str], generated: datetime) -> None:
    with path.open("w") as out:
        out.write(f"HDR|NCIC-LPR|1|{generated.strftime('%Y-%m-%dT%H:%M:%SZ')}\n")
        out.write("|".join(COLUMNS) + "\n")
        for nic, lic in rows.items():
            out.write(f"V|{nic}|CA0431000|{lic}|CA|2027|PC||2019|HOND|CIV|4D|GRY|SJ-{nic}|\n")
        out.write(f"TRL|{len(rows)}\n")


#: CPU seconds of this process (the sync's side, not the broker's) per sync, by the result key of
#: its wall time: on a shared machine the CPU a sync needs is steadier than its wall time.
CPU: dict[str, float] = {}


async def timed_sync(settings: Settings, path: Path, name: str) -> tuple[float, dict[str, int]]:
    started, cpu = time.perf_counter(), time.process_time()
    async with HotlistStore(settings) as store:
        report = await store.sync("ncic", path, None, datetime.now(UTC))
    CPU[name] = time.process_time() - cpu
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


def changed_rows(
    rows: dict[str, str], rng: random.Random, updated: int, removed: int, added: int
) -> dict[str, str]:
    keys = list(rows)
    changed = dict(rows)
    for nic in rng.sample(keys, updated):
        changed[nic] = plate(rng)
    for nic in rng.sample(keys, removed):
        changed.pop(nic, None)
    for i in range(added):
        changed[f"N{i:09d}"] = plate(rng)
    return changed


def extract_floor(path: Path) -> tuple[float, float]:
    """(seconds to read the file, seconds for one pass over it with every record known): what a
    delta sync costs at the least, whatever changed."""
    started = time.perf_counter()
    with path.open("rb") as handle:
        while handle.read(1 << 20):
            pass
    read_s = time.perf_counter() - started

    class Everything:
        def __contains__(self, _digest: object) -> bool:
            return True

    extract = NCIC.open(path, None)
    assert extract.digested is not None  # noqa: S101
    started = time.perf_counter()
    for _record in extract.digested(Everything()):
        pass
    return read_s, time.perf_counter() - started


async def sync_run(size: int, settings: Settings, folder: Path, k: int) -> dict[str, Any]:
    """One run of the syncs on fresh topics and a fresh sync cache."""
    rng = random.Random(size)
    rows = {f"V{i:09d}": plate(rng) for i in range(size)}
    generated = datetime.now(UTC).replace(microsecond=0)
    full = folder / f"full-{size}.txt"
    write_extract(full, rows, generated)
    result: dict[str, Any] = {"extract_mb": round(full.stat().st_size / 2**20, 1)}

    gc.collect()
    before = rss_mb()
    seconds, counts = await timed_sync(settings, full, "full_sync_s")
    result["full_sync_s"] = seconds
    result["full_sync_counts"] = counts
    result["sync_peak_rss_mb"] = round(peak_mb())
    result["sync_rss_growth_mb"] = round(rss_mb() - before)
    print(f"  full sync of {size}: {seconds:.1f} s (load {loadavg()})", flush=True)

    small = folder / f"delta-k-{size}.txt"
    write_extract(small, changed_rows(rows, rng, k // 2, k // 4, k - k // 2 - k // 4), generated)
    seconds, counts = await timed_sync(settings, small, "delta_k_sync_s")
    result["delta_k_sync_s"], result["delta_k_counts"] = seconds, counts
    print(f"  delta sync of {k} changes: {seconds:.2f} s {counts} (load {loadavg()})", flush=True)

    changed = changed_rows(rows, rng, size // 200, size // 400, size // 400)  # 0.5% up, 0.25% rm/add
    delta = folder / f"delta-{size}.txt"
    write_extract(delta, changed, generated)
    seconds, counts = await timed_sync(settings, delta, "delta_1pct_sync_s")
    result["delta_1pct_sync_s"], result["delta_counts"] = seconds, counts
    print(f"  delta sync (1%): {seconds:.2f} s {counts} (load {loadavg()})", flush=True)
    seconds, counts = await timed_sync(settings, delta, "noop_resync_s")
    result["noop_resync_s"], result["noop_counts"] = seconds, counts
    print(f"  no-op re-sync: {seconds:.2f} s {counts} (load {loadavg()})", flush=True)

    shutil.rmtree(settings.state_dir / "hotlist-sync")  # the cache gone: read the topic, parse all
    seconds, counts = await timed_sync(settings, full, "delta_1pct_uncached_sync_s")
    result["delta_1pct_uncached_sync_s"], result["delta_uncached_counts"] = seconds, counts
    print(f"  delta sync (1%) without the cache: {seconds:.2f} s {counts} (load {loadavg()})", flush=True)

    read_s, pass_s = extract_floor(delta)
    result["extract_read_s"], result["extract_known_pass_s"] = read_s, pass_s
    print(f"  extract: read {read_s:.2f} s, pass with every record known {pass_s:.2f} s", flush=True)
    result |= {f"{name.removesuffix('_s')}_cpu_s": seconds for name, seconds in CPU.items()}
    result["listed"] = rows  # the list the runs leave
    return result


_TIMES = (
    "full_sync_s",
    "delta_k_sync_s",
    "delta_1pct_sync_s",
    "noop_resync_s",
    "delta_1pct_uncached_sync_s",
    "extract_read_s",
    "extract_known_pass_s",
    "full_sync_cpu_s",
    "delta_k_sync_cpu_s",
    "delta_1pct_sync_cpu_s",
    "noop_resync_cpu_s",
    "delta_1pct_uncached_sync_cpu_s",
)


async def bench(
    size: int, broker: EmbeddedBroker, folder: Path, repeat: int, k: int, sync_only: bool
) -> dict[str, Any]:
    runs = []
    for run in range(repeat):
        settings = Settings.from_env(
            {
                "ALPR_BROKER_URL": broker.bootstrap,
                "ALPR_TOPIC_PREFIX": f"bench{size}r{run}.",
                "ALPR_STATE_DIR": str(folder / f"state-{size}-{run}"),
            }
        )
        await create_topics(settings)
        runs.append((settings, await sync_run(size, settings, folder, k)))
    settings, last = runs[-1]
    listed = last.pop("listed")
    for _settings, other in runs[:-1]:
        other.pop("listed")
    result: dict[str, Any] = {"entries": size, "repeat": repeat, "delta_k": k, "loadavg": loadavg()}
    result |= {k_: v for k_, v in last.items() if k_ not in _TIMES}
    for name in _TIMES:
        values = [r[name] for _s, r in runs]
        result[name] = round(min(values), 2)  # best of the runs
        result[f"{name}_runs"] = [round(v, 2) for v in values]
    result["full_sync_entries_per_s"] = round(size / result["full_sync_s"])
    if sync_only:
        return result
    rng = random.Random(size + 1)
    gc.collect()
    before = rss_mb()
    view, task, seconds = await load_view(settings)
    index = view.index
    result["worker_load_s"] = round(seconds, 1)
    print(f"  worker load: {result['worker_load_s']} s", flush=True)
    result["worker_index_entries"] = len(index)
    result["worker_index_rss_mb"] = round(rss_mb() - before)
    result["bloom_bytes_mb"] = round(index.bloom_bits / 8 / 2**20, 1)
    canonical = {index.rules.ocr.canonical(p) for p in listed.values()}
    probes = positives = 0
    while probes < 200_000:
        candidate = index.rules.ocr.canonical(plate(rng))
        if candidate in canonical:
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


async def main_async(sizes: list[int], repeat: int, k: int, sync_only: bool) -> list[dict[str, Any]]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            broker = EmbeddedBroker(Path(tmp) / f"broker-{size}", free_port())
            broker.start()
            try:
                result = await bench(size, broker, Path(tmp), repeat, k, sync_only)
                print(json.dumps(result), flush=True)
                out.append(result)
            finally:
                broker.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs of the syncs; the best is kept")
    parser.add_argument("--delta", type=int, default=1000, help="k: entries of the small delta")
    parser.add_argument("--sync-only", action="store_true", help="skip the worker's load and Bloom")
    args = parser.parse_args()
    results = asyncio.run(main_async(args.sizes, args.repeat, args.delta, args.sync_only))
    summary = {
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": f"{os.cpu_count()} cores, embedded Apache Kafka {KAFKA_VERSION}",
        "runs": results,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_hotlist_sync.summary.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
