"""Benchmark of a Flock hot-list change-log import, on the embedded broker (issue 17, item 5).

A real California agency's log held 1,177 additions and 515 removals; the removals took 2 min 39 s
against under a second for the additions, because each removal read the pending topic and the
entry's hot-list partition and waited for its own write. Removals are now batched (one read of the
pending topic, one of the partitions holding active entries, one flush). This measures, in Flock's
block layout and newest-first as Flock writes it:
- an import of N additions (additions/s);
- an import of M removals of those entries, some approved (active) and the rest pending (removals/s);
- the one-by-one path the import used before (still that of ``alpr hotlist remove``) on a sample of
  removals, for comparison;
optionally with a shared list of B NCIC entries already on the hot-list topic (``--background``).
Prints the numbers and stores loadtest/results/bench_flock_changelog.summary.json.

    python -m loadtest.bench_flock_changelog --additions 1177 --removals 515 --background 0 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import string
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from loadtest.bench_hotlist_sync import write_extract
from streams.hotlists.model import Person
from streams.hotlists.service import HotlistStore
from streams.kafka.broker import KAFKA_VERSION, EmbeddedBroker, free_port
from streams.kafka.topics import create_topics
from streams.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"
OFFICER = Person("Officer Dana Reyes", "4417", "Southern Division patrol", None)
LIEUTENANT = Person("Lt. Sam Hale", "2210", "Southern Division", "lieutenant")
LISTS = ["Stolen Vehicles - local", "Robbery suspects", "Felony vehicles"]


def plates(count: int, rng: random.Random) -> list[str]:
    out: set[str] = set()
    while len(out) < count:
        out.add(
            str(rng.randint(1, 9))
            + "".join(rng.choices(string.ascii_uppercase, k=3))
            + f"{rng.randint(0, 999):03d}"
        )
    return sorted(out)


def block_log(path: Path, events: list[tuple[datetime, str, str, str]]) -> None:
    """A change log in Flock's block layout, newest-first: (time, action, list, plate) each."""
    lines = ["Flock Safety - Custom Hot List Change Log", ""]
    for when, action, hotlist, plate in sorted(events, reverse=True):
        lines += [
            f"Date: {when:%m/%d/%Y, %I:%M:%S %p} UTC",
            f"Action: {action}",
            f"Hotlist Name: {hotlist}",
            f"License: {plate}",
            "State: california",
            "Reason: 10851 VC stolen vehicle",
            "Case: SJ-26-004512" if plate[-1] in "02468" else "Case: TBD",
            "Expiry: Never",
            "User: jdoe@sjpd",
            "",
        ]
    path.write_text("\n".join(lines))


def key(hotlist: str, plate: str) -> str:
    return f"local:flock-{hotlist.lower().replace(' - ', '-').replace(' ', '-')}-{plate}"


async def timed_import(settings: Settings, path: Path) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    async with HotlistStore(settings) as store:
        report = await store.import_pending(
            "flock", path, OFFICER, datetime.now(UTC), entered_by_user="reyes"
        )
    return time.perf_counter() - started, dict(report.counts)


async def one_by_one(settings: Settings, keys: list[str]) -> float:
    """The removal path the import used before: locate the entry (read), write, wait, each."""
    started = time.perf_counter()
    async with HotlistStore(settings) as store:
        for entry_key in keys:
            entry, partition = await store._locate(entry_key)  # noqa: SLF001 - the old path, measured
            await store._write_removal(entry.key, entry.plate, partition, datetime.now(UTC), by=None)  # noqa: SLF001
            await store.writer.flush()
    return time.perf_counter() - started


async def bench(
    settings: Settings, folder: Path, additions: int, removals: int, background: int, sample: int
) -> dict[str, Any]:
    rng = random.Random(additions * 7 + removals)
    result: dict[str, Any] = {
        "additions": additions,
        "removals": removals,
        "background_ncic_entries": background,
    }
    if background:
        extract = folder / "ncic.txt"
        write_extract(
            extract, {f"V{i:09d}": p for i, p in enumerate(plates(background, rng))}, datetime.now(UTC)
        )
        async with HotlistStore(settings) as store:
            await store.sync("ncic", extract, None, datetime.now(UTC))
    start = datetime.now(UTC) - timedelta(days=30)
    added = [(rng.choice(LISTS), p) for p in plates(additions + sample, rng)]
    log = folder / "additions.txt"
    block_log(log, [(start + timedelta(minutes=i), "Added", h, p) for i, (h, p) in enumerate(added)])
    seconds, counts = await timed_import(settings, log)
    result |= {
        "additions_s": round(seconds, 2),
        "additions_per_s": round((additions + sample) / seconds),
        "additions_counts": counts,
    }
    print(f"  {additions + sample} additions: {seconds:.2f} s {counts}", flush=True)

    complete = [k for k in (key(h, p) for h, p in added[:removals]) if k[-1] in "02468"]
    active = complete[: len(complete) // 2]
    async with HotlistStore(settings) as store:
        for entry_key in active:  # approved, so that the removals reach active entries too
            await store.approve(entry_key, LIEUTENANT, datetime.now(UTC), approver_user="hale")
    result["removed_active"] = len(active)
    later = start + timedelta(days=1)
    log = folder / "removals.txt"
    block_log(
        log, [(later + timedelta(minutes=i), "Removed", h, p) for i, (h, p) in enumerate(added[:removals])]
    )
    seconds, counts = await timed_import(settings, log)
    result |= {
        "removals_s": round(seconds, 2),
        "removals_per_s": round(removals / seconds),
        "removals_counts": counts,
    }
    print(f"  {removals} removals: {seconds:.2f} s {counts}", flush=True)

    if sample:
        seconds = await one_by_one(settings, [key(h, p) for h, p in added[additions:]])
        result |= {"one_by_one_sample": sample, "one_by_one_removals_per_s": round(sample / seconds, 1)}
        result["one_by_one_projected_s"] = round(removals * seconds / sample, 1)
        print(f"  one-by-one (before): {sample / seconds:.1f} removals/s", flush=True)
    return result


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for background in args.background:
            broker = EmbeddedBroker(Path(tmp) / f"broker-{background}", free_port())
            broker.start()
            try:
                settings = Settings.from_env(
                    {"ALPR_BROKER_URL": broker.bootstrap, "ALPR_TOPIC_PREFIX": f"flock{background}."}
                )
                await create_topics(settings)
                result = await bench(
                    settings, Path(tmp), args.additions, args.removals, background, args.one_by_one
                )
                print(json.dumps(result), flush=True)
                out.append(result)
            finally:
                broker.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--additions", type=int, default=1177)
    parser.add_argument("--removals", type=int, default=515)
    parser.add_argument("--background", type=int, nargs="+", default=[0], help="NCIC entries already listed")
    parser.add_argument("--one-by-one", type=int, default=30, help="removals timed on the old path (0: none)")
    args = parser.parse_args()
    runs = asyncio.run(main_async(args))
    summary = {
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": f"{os.cpu_count()} cores, embedded Apache Kafka {KAFKA_VERSION}",
        "before": "the issue's measurement of the same sizes: "
        "515 removals in 159 s, 1,177 additions under 1 s",
        "runs": runs,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_flock_changelog.summary.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
