"""The peer benchmark (issue 19): the same input through the project's worker and through two plain
stream matchers a user would compare it with, in one run, on one embedded Apache Kafka broker.

For each record size the reads topic is filled once (loadtest.ceiling.fill: generated traffic,
records of ``--per-record`` reads) and read by three matchers in turn, each its own process in its
own consumer group, the others stopped meanwhile:

1. ``alpr worker`` with every check on, as loadtest/ceiling.py runs it (1 process, 100 partial
   patterns beside the exact entries); timed from its own counters, first read screened to last;
2. ``loadtest/peers_quix.py``, a plain Quix Streams matcher: JSON decode, a set lookup of each
   plate's canonical key (upper case, no spaces or dashes), an alert to an output topic per hit;
3. ``loadtest/peers_aiokafka.py``, a raw aiokafka loop doing the same.

The peers time themselves from the first record consumed to the last and report their read and
hit counts on exit. The traffic has no misreads and no partial-pattern hits, so every hit is a
listed plate read as listed and all three must find the same reads: each is checked against the
generator's ground truth (the worker's alerts and sightings on the alerts topic, each peer's hit
read ids) and the run fails if any differs: a matcher that drops data is not fast.

    python -m loadtest.peers                                  # the issue's input, records of 200
    python -m loadtest.peers --per-record 200 20 --repeat 3   # both sizes, best of three each

Prints reads/s of each and the ratios worker/quix and worker/aiokafka per record size, and stores
loadtest/results/peers.summary.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from loadtest.ceiling import fill, time_backlog
from loadtest.generator import HotlistFixture, Traffic, TrafficShape
from loadtest.run import (
    RESULTS,
    ROOT,
    Observed,
    follow_alerts,
    isolated_env,
    load_hotlist,
    metric,
    register_cameras,
    wait_loaded,
)
from streams.dev import stop_process
from streams.kafka.broker import KAFKA_VERSION, EmbeddedBroker, free_port
from streams.kafka.log import assign_all
from streams.kafka.topics import create_topics
from streams.matching.normalize import OcrClasses
from streams.settings import Settings

PEERS = ("quix", "aiokafka")
#: the worker's own counts, kept in the summary: where a read went if an alert is missing
WORKER_COUNTERS = ("reads", "rejected", "bloom_positives", "candidates", "hits", "alert_sightings")
WORKER_COUNTERS += ("alerts_suppressed", "not_stored", "reads_excluded")
_STRIP = str.maketrans("", "", " -")


# -- what both peer programs share ---------------------------------------------------------------


@dataclass
class Tally:
    """What a peer matcher did, printed as one JSON line on exit for the benchmark to check."""

    records: int = 0
    reads: int = 0
    hit_read_ids: list[str] = field(default_factory=list)
    first: float | None = None
    last: float = 0.0

    def started(self) -> None:
        """A record is about to be processed: the clock starts at the first."""
        if self.first is None:
            self.first = time.perf_counter()

    def finished(self) -> None:
        self.last = time.perf_counter()

    def report(self, matcher: str) -> None:
        seconds = self.last - self.first if self.first is not None else 0.0
        print(
            json.dumps(
                {
                    "matcher": matcher,
                    "records": self.records,
                    "reads": self.reads,
                    "hits": len(self.hit_read_ids),
                    "seconds": round(seconds, 3),
                    "reads_per_s": round(self.reads / seconds) if seconds > 0 else 0,
                    "hit_read_ids": self.hit_read_ids,
                }
            ),
            flush=True,
        )


def alerts_of(value: Any, keys: set[str], tally: Tally) -> list[dict[str, Any]]:
    """The alerts of one decoded record (a read, or ``{"reads": [...]}``): one per read whose
    plate's canonical key is listed."""
    reads = value["reads"] if "reads" in value else [value]
    tally.records += 1
    tally.reads += len(reads)
    alerts = []
    for read in reads:
        if read["plate"].upper().translate(_STRIP) in keys:
            tally.hit_read_ids.append(read["read_id"])
            alerts.append(
                {
                    "read_id": read["read_id"],
                    "plate": read["plate"],
                    "camera_id": read["camera_id"],
                    "captured_at": read["captured_at"],
                }
            )
    return alerts


def load_keys(path: Path) -> set[str]:
    """The hot list's canonical keys, one a line."""
    return set(path.read_text().split())


def peer_arguments(doc: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True, help="the filled reads topic")
    parser.add_argument("--output", required=True, help="the topic the alerts go to")
    parser.add_argument("--group", required=True, help="a consumer group of its own")
    parser.add_argument("--keys", type=Path, required=True, help="the hot list's canonical keys")
    parser.add_argument("--reads", type=int, required=True, help="stop after this many reads")
    parser.add_argument(
        "--idle-timeout", type=int, default=60, help="give up when nothing came for this many seconds"
    )
    return parser


# -- the benchmark -------------------------------------------------------------------------------


def loadavg_now() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


@dataclass(frozen=True)
class Input:
    """One filled reads topic and what every matcher must find in it."""

    bootstrap: str
    settings: Settings
    env: dict[str, str]
    port: int  # the worker's metrics
    log: Path  # the worker's output (warnings and errors), shown when the run fails
    written: int
    entries: int  # hot-list entries the worker must hold before it is timed
    pairs: frozenset[tuple[str, str]]  # (read id, entry key) the worker must alert or sight
    hit_reads: frozenset[str]  # read ids every matcher must find


async def prepare(
    broker: EmbeddedBroker, tmp: Path, tag: str, fixture: HotlistFixture, reads: int, per_record: int
) -> Input:
    port = free_port()
    env = isolated_env(
        f"kafka://{broker.bootstrap}",
        tmp / f"state-{tag}",
        f"{tag}.",
        ALPR_APP_ID=f"alpr-{tag}",
        ALPR_METRICS_PORT=str(port),
    )
    settings = Settings.from_env(env)
    await create_topics(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(f"{tag}.hits-{peer}", 1, 1) for peer in PEERS])
    finally:
        await admin.close()
    await load_hotlist(settings, fixture)
    # no misreads, no partial-pattern hits: every hit is a listed plate as listed, which the
    # peers' plain set lookup finds too (the worker still runs its OCR and partial checks on all)
    shape = TrafficShape(cameras=5000, rate=5000, hit_rate=0.001, ocr_error_rate=0.0, partial_share=0.0)
    traffic = Traffic(shape, fixture, OcrClasses.of(settings.ocr_classes), settings.ocr_max_substitutions)
    await register_cameras(settings, traffic)
    written = await fill(settings, traffic, reads, per_record)
    pairs = frozenset((e.read_id, e.entry_key) for e in traffic.expected())
    return Input(
        broker.bootstrap,
        settings,
        env,
        port,
        tmp / f"worker-{tag}.log",
        written,
        len(fixture.entries),
        pairs,
        frozenset(r for r, _ in pairs),
    )


async def run_worker(given: Input) -> dict[str, Any]:
    """``alpr worker`` through the backlog, then its alerts and sightings off the alerts topic."""
    with given.log.open("wb") as log:
        worker = subprocess.Popen(  # noqa: S603 - our own entry point
            [sys.executable, "-m", "streams.cli", "worker"],
            env=given.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        await wait_loaded(given.port, given.entries, worker)
        load = loadavg_now()
        timed = await time_backlog(given.port, given.written, worker)
        observed = Observed()
        stop = asyncio.Event()
        follower = asyncio.create_task(follow_alerts(given.settings, observed, stop))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not given.pairs <= observed.pairs():
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # a late duplicate or a false alert would arrive now
        stop.set()
        await follower
        counters = {name: int(metric(given.port, f"alpr_{name}_total")) for name in WORKER_COUNTERS}
    finally:
        stop_process(worker, 30)
    pairs = observed.pairs()
    return {
        "reads": timed["screened"],
        "seconds": timed["seconds"],
        "reads_per_s": timed["reads_per_s"],
        "hits": len({read for read, _ in pairs}),
        "alerts_and_sightings": len(pairs),
        "duplicate_alert_ids": sum(1 for n in observed.raised_count.values() if n > 1),
        "counters": counters,
        "loadavg": load,
        "_pairs": pairs,
    }


def run_peer(peer: str, given: Input, tag: str, tmp: Path, keys: Path) -> dict[str, Any]:
    load = loadavg_now()
    proc = subprocess.run(  # noqa: S603 - our own peer program
        [sys.executable, "-m", f"loadtest.peers_{peer}"]
        + ["--bootstrap", given.bootstrap]
        + ["--topic", given.settings.topic("reads"), "--output", f"{tag}.hits-{peer}"]
        + ["--group", f"{tag}-{peer}", "--keys", str(keys), "--reads", str(given.written)]
        + (["--state-dir", str(tmp / f"quix-{tag}")] if peer == "quix" else []),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"the {peer} peer exited with {proc.returncode}: {proc.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(lines[-1])
    report["loadavg"] = load
    report["exit"] = proc.returncode
    return report


def check(matcher: str, result: dict[str, Any], given: Input) -> list[str]:
    """What a matcher got wrong (nothing: an empty list); takes its hit lists out of ``result``."""
    problems = []
    if result["reads"] != given.written:
        problems.append(f"{matcher} read {result['reads']:,} of {given.written:,} reads")
    if matcher == "worker":
        pairs = result.pop("_pairs")
        if pairs != given.pairs:
            missing, false = len(given.pairs - pairs), len(pairs - given.pairs)
            problems.append(f"worker: {missing} expected alerts missing, {false} false")
        if result["duplicate_alert_ids"]:
            problems.append(f"worker: {result['duplicate_alert_ids']} alert ids raised twice")
        return problems
    ids = result.pop("hit_read_ids")
    if len(ids) != len(set(ids)):
        problems.append(f"{matcher}: {len(ids) - len(set(ids))} reads hit twice")
    if set(ids) != given.hit_reads:
        missing, false = len(given.hit_reads - set(ids)), len(set(ids) - given.hit_reads)
        problems.append(f"{matcher}: {missing} hits missing, {false} false")
    if result["alerts_on_topic"] != len(ids):
        problems.append(f"{matcher}: {result['alerts_on_topic']} alerts on its topic for {len(ids)} hits")
    if result["exit"] != 0:
        problems.append(f"{matcher} exited with {result['exit']}")
    return problems


async def topic_size(bootstrap: str, topic: str) -> int:
    """Records on a topic (its partitions' end offsets: nothing is deleted here)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        await assign_all(consumer, topic)
        return sum((await consumer.end_offsets(list(consumer.assignment()))).values())
    finally:
        await consumer.stop()


async def drop_topics(bootstrap: str, tag: str) -> None:
    """A finished run's topics go: the next run's broker does not carry a million reads more."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([t for t in await admin.list_topics() if t.startswith(f"{tag}.")])
    finally:
        await admin.close()


async def one(
    broker: EmbeddedBroker,
    tmp: Path,
    fixture: HotlistFixture,
    keys: Path,
    per_record: int,
    reads: int,
    run: int,
) -> dict[str, Any]:
    """One record size through the three matchers in turn; raises if any found other hits."""
    tag = f"peers{per_record}r{run}"
    given = await prepare(broker, tmp, tag, fixture, reads, per_record)
    results = {"worker": await run_worker(given)}
    for peer in PEERS:
        results[peer] = run_peer(peer, given, tag, tmp, keys)
        results[peer]["alerts_on_topic"] = await topic_size(broker.bootstrap, f"{tag}.hits-{peer}")
    await drop_topics(broker.bootstrap, tag)
    problems = [problem for name, result in results.items() for problem in check(name, result, given)]
    if problems:
        print(json.dumps(results, indent=2), file=sys.stderr)
        print(
            "the worker's last lines:", *given.log.read_text().splitlines()[-30:], sep="\n", file=sys.stderr
        )
        raise SystemExit(f"records of {per_record}, run {run}: " + "; ".join(problems))
    print(
        f"records of {per_record:>3} reads, run {run}: "
        + ", ".join(f"{name} {r['reads_per_s']:>9,} reads/s" for name, r in results.items())
        + f"; {len(given.hit_reads)} hits each",
        file=sys.stderr,
        flush=True,
    )
    return {
        "reads_per_record": per_record,
        "run": run,
        "reads": given.written,
        "hits": len(given.hit_reads),
        **results,
    }


def figures(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Best reads/s of each matcher per record size and the worker's ratios to the peers from
    them; also each run's own ratios (its three matchers ran minutes apart, under the same load)."""
    out: dict[str, dict[str, Any]] = {}
    for size in sorted({r["reads_per_record"] for r in runs}, reverse=True):
        sized = [r for r in runs if r["reads_per_record"] == size]
        best = {name: max(r[name]["reads_per_s"] for r in sized) for name in ("worker", *PEERS)}
        out[str(size)] = {
            **{f"{name}_reads_per_s": rate for name, rate in best.items()},
            **{f"worker_per_{peer}": round(best["worker"] / best[peer], 3) for peer in PEERS},
            **{
                f"worker_per_{peer}_each_run": [
                    round(r["worker"]["reads_per_s"] / r[peer]["reads_per_s"], 3) for r in sized
                ]
                for peer in PEERS
            },
        }
    return out


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    from importlib.metadata import version

    started = loadavg_now()
    # Listed (synced) an hour ago: shared data is judged as of the read (P4), and the backlog's
    # reads are captured up to minutes before the topic is filled, after the list is built.
    listed = datetime.now(UTC) - timedelta(hours=1)
    fixture = HotlistFixture(exact_entries=args.entries, partial_entries=100, now=listed)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        keys = tmp / "keys.txt"
        keys.write_text("\n".join(e.plate.upper().translate(_STRIP) for e in fixture.exact) + "\n")
        broker = EmbeddedBroker(tmp, free_port())
        broker.start()
        try:
            runs = [
                await one(broker, tmp, fixture, keys, size, args.reads, run)
                for run in range(1, args.repeat + 1)
                for size in args.per_record
            ]
        finally:
            broker.stop()
    return {
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": f"{os.cpu_count()} cores, embedded Apache Kafka {KAFKA_VERSION}, one broker for all",
        "versions": {name: version(name) for name in ("quixstreams", "aiokafka", "faust-streaming")},
        "loadavg": {"start": started, "end": loadavg_now()},
        "input": {
            "reads": args.reads,
            "entries": args.entries,
            "partial_patterns": 100,
            "hit_rate": 0.001,
            "cameras": 5000,
        },
        "best_of": args.repeat,
        "figures": figures(runs),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reads", type=int, default=1_000_000)
    parser.add_argument("--entries", type=int, default=100_000, help="exact hot-list entries")
    parser.add_argument("--per-record", type=int, nargs="+", default=[200], help="reads per record")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each size; the best is kept")
    parser.add_argument("--output", type=Path, default=RESULTS / "peers.summary.json")
    args = parser.parse_args()
    if any(args.reads % n for n in args.per_record):
        parser.error("--reads must be a multiple of every --per-record")
    summary = asyncio.run(bench(args))
    for size, row in summary["figures"].items():
        print(
            f"records of {size:>3}: worker {row['worker_reads_per_s']:>9,}"
            f"  quix {row['quix_reads_per_s']:>9,}  aiokafka {row['aiokafka_reads_per_s']:>9,} reads/s;"
            f"  worker/quix {row['worker_per_quix']:.2f}"
            f"  worker/aiokafka {row['worker_per_aiokafka']:.2f}  (best of {args.repeat})"
        )
    print(f"load average {summary['loadavg']['start']} -> {summary['loadavg']['end']}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
