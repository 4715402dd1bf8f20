"""A city-scale load run: real broker, real worker process, generated camera traffic with a known
ground truth (issue: city-scale load test).

    python -m loadtest run --cameras 5000 --rate 5000 --duration 600 --entries 1000000
    python -m loadtest run --max --duration 60          # as fast as the producer can push

It loads the hot list (exact entries plus partial patterns) onto the hot-list topic, starts
``alpr worker`` and waits until it has the whole list, then streams the traffic through the
project's batching read producer with each read's capture time set when it is sent, and follows
the alerts topic. It measures sustained reads/s, lag (reads sent but not yet screened) over
time, read-to-alert latency (capture time to the alert's arrival on the alerts topic: batching
window, screen, candidates hop, confirm), lost reads (sent minus screened or rejected: must be 0),
duplicate alert ids (must be 0) and recall/precision of alerts and sightings against the ground
truth (must be 1.0/1.0). A progress line shows rate and lag. Each run writes
``loadtest/results/<time>/`` with summary.json, report.md and PNG plots.
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
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from loadtest.generator import HotlistFixture, Traffic, TrafficShape
from streams.cameras.registry import encode_camera
from streams.codec import dumps, entry_to_dict
from streams.dev import stop_process
from streams.hotlists.records import entry_partition
from streams.kafka.broker import KAFKA_VERSION, EmbeddedBroker, free_port
from streams.kafka.connection import Connection
from streams.kafka.log import TopicWriter, assign_all
from streams.kafka.topics import create_topics
from streams.matching.normalize import OcrClasses
from streams.reads.producer import ReadProducer
from streams.settings import Settings

__all__ = ["main", "run"]

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Observed:
    """What arrived on the alerts topic."""

    raised: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # alert id -> read, entry, kind
    raised_count: Counter[str] = field(default_factory=Counter)
    sightings: list[tuple[str, str]] = field(default_factory=list)  # (read id, alert id)
    latencies_ms: list[float] = field(default_factory=list)

    def pairs(self) -> set[tuple[str, str]]:
        """(read id, entry key) of every alert and sighting."""
        out = {(read, entry) for read, entry, _kind in self.raised.values()}
        for read, alert in self.sightings:
            if alert in self.raised:
                out.add((read, self.raised[alert][1]))
        return out


def metric(port: int, name: str) -> float:
    """Sum of a worker metric's samples (0 when absent)."""
    return metrics(port, name)[0]


def metrics(port: int, *names: str) -> list[float]:
    """Sums of several of a worker's metrics from one scrape (0 when absent): a scrape costs the
    worker CPU (the whole page is made), which a benchmark polling it should not add twice."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:  # noqa: S310
            text = resp.read().decode()
    except OSError:
        return [0.0] * len(names)
    sums = dict.fromkeys(names, 0.0)
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in sums:
            sums[name] += float(line.split()[-1])
    return [sums[name] for name in names]


def screened_count(ports: list[int]) -> float:
    """Reads the workers whose metrics are on ``ports`` have screened or rejected."""
    return sum(sum(metrics(port, "alpr_reads_total", "alpr_rejected_total")) for port in ports)


def process_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def process_cpu_s(pid: int | None) -> float:
    """CPU seconds a process has used (user + system), from /proc; NaN when it is not there."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (OSError, TypeError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load_hotlist(settings: Settings, fixture: HotlistFixture) -> float:
    started = time.perf_counter()
    writer = TopicWriter(settings.kafka)
    await writer.start()
    try:
        topic = settings.topic("hotlist")
        partitions = await writer.partition_count(topic)
        for entry in fixture.entries:
            await writer.write(
                topic, entry.key.encode(), dumps(entry_to_dict(entry)), entry_partition(entry, partitions)
            )
        now = datetime.now(UTC).isoformat()
        for source in sorted({e.source for e in fixture.entries}):
            status = {"source": source, "fresh_as_of": now, "last_success": now}
            await writer.write(settings.topic("hotlist-sources"), source.encode(), dumps(status))
        await writer.flush()
    finally:
        await writer.stop()
    return time.perf_counter() - started


async def register_cameras(settings: Settings, traffic: Traffic) -> None:
    """The traffic's cameras on the cameras topic, written straight like the hot list (the worker
    screens reads only from registered cameras; ``alpr camera add`` is one camera at a time)."""
    writer = TopicWriter(settings.kafka)
    await writer.start()
    try:
        for camera in traffic.cameras():
            await writer.write(settings.topic("cameras"), camera.id.encode(), encode_camera(camera))
        await writer.flush()
    finally:
        await writer.stop()


def committed_reader(kafka: Connection, fetch_max_wait_ms: int = 20) -> AIOKafkaConsumer:
    """A consumer of committed records only, as a dispatcher's should be: records of a transaction
    that was aborted (``python -m loadtest eos``) never show; without transactions it sees what
    any consumer sees, as soon."""
    return AIOKafkaConsumer(
        **kafka.options(),
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=fetch_max_wait_ms,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )


async def follow_alerts(
    settings: Settings, observed: Observed, stop: asyncio.Event, *, from_beginning: bool = True
) -> None:
    """Record every committed alert and sighting, and its latency from capture to arrival here,
    until ``stop`` is set; ``from_beginning`` False: only those written after the call."""
    consumer = committed_reader(settings.kafka)
    await consumer.start()
    try:
        await assign_all(consumer, settings.topic("alerts"), from_beginning=from_beginning)
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=10_000)
            arrived = time.time()
            for records in batch.values():
                for record in records:
                    data = orjson.loads(record.value)
                    if data.get("event") == "AlertRaised":
                        observed.raised_count[data["alert_id"]] += 1
                        observed.raised[data["alert_id"]] = (
                            data["read_id"],
                            data["entry_key"],
                            data["match_kind"],
                        )
                        captured = datetime.fromisoformat(data["captured_at"]).timestamp()
                        observed.latencies_ms.append((arrived - captured) * 1000)
                    elif data.get("event") == "AlertSighted":
                        observed.sightings.append((data["read_id"], data["alert_id"]))
                        captured = datetime.fromisoformat(data["captured_at"]).timestamp()
                        observed.latencies_ms.append((arrived - captured) * 1000)
    finally:
        await consumer.stop()


async def wait_loaded(
    port: int, entries: int, worker: subprocess.Popen[bytes], log: Path | None = None
) -> float:
    """Wait until a started worker has the whole hot list (its ``alpr_active_entries``); seconds taken."""
    started = time.perf_counter()
    while metric(port, "alpr_active_entries") < entries:
        if worker.poll() is not None:
            raise RuntimeError(
                f"the worker exited with {worker.returncode}" + (f"; see {log}" if log else "")
            )
        await asyncio.sleep(0.2)
    return time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def stream(
    settings: Settings,
    traffic: Traffic,
    duration: float,
    flat_out: bool,
    timeline: list[dict[str, float]],
    ports: list[int],
    pids: dict[str, int | None],
    already_sent: int = 0,
) -> int:
    """Send the traffic, paced by its offsets (or as fast as possible); returns reads sent. Each
    second the timeline gets the reads sent and screened and the CPU seconds used so far by each
    process in ``pids`` (the broker's own cost grows with what it stores: see the report); the
    reads screened are the sum over the workers whose metrics are on ``ports``. ``already_sent``:
    reads sent before this call (by earlier steps), counted in the timeline and the lag shown."""
    sent = 0
    start = datetime.now(UTC)
    started = time.monotonic()
    last_report = started
    async with ReadProducer.for_settings(settings) as producer:
        for offset, read in traffic.reads(start, duration):
            if not flat_out:
                wait = offset - (time.monotonic() - started)
                if wait > 0.002:
                    await asyncio.sleep(wait)
            else:
                read["captured_at"] = datetime.now(UTC).isoformat()
            await producer.send(read)
            sent += 1
            now = time.monotonic()
            if now - last_report >= 1.0:
                last_report = now
                screened = screened_count(ports)
                cpu = {f"cpu_{name}": process_cpu_s(pid) for name, pid in pids.items()}
                total = already_sent + sent
                timeline.append({"t": now - started, "sent": total, "screened": screened, **cpu})
                print(
                    f"\r{now - started:6.1f} s  sent {total:>11,} ({sent / (now - started):>9,.0f}/s)  "
                    f"screened {screened:>11,.0f}  lag {total - screened:>9,.0f}",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
            if flat_out and sent % 2000 == 0:
                await asyncio.sleep(0)
        await producer.flush()
    print(file=sys.stderr)
    return sent


def isolated_env(url: str, state_dir: Path, prefix: str, **settings: str) -> dict[str, str]:
    """The environment of a load tool's processes: the caller's without its ALPR_* settings, this
    broker, a fresh topic prefix and state directory, quiet logs, and ``settings`` (ALPR_* names)."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("ALPR_")},
        "ALPR_BROKER_URL": url,
        "ALPR_TOPIC_PREFIX": prefix,
        "ALPR_STATE_DIR": str(state_dir),
        "ALPR_LOG_LEVEL": "warn",
        **settings,
    }


@dataclass
class Stack:
    """Where a load run happens: its results folder, a scratch directory, the broker (the embedded
    one started here unless ``--broker`` or ALPR_BROKER_URL names one) and the processes' base
    environment (fresh topic prefix, no other ALPR_* settings of the caller's)."""

    folder: Path
    tmp: tempfile.TemporaryDirectory[str]
    broker: EmbeddedBroker | None
    url: str
    env: dict[str, str]

    @classmethod
    def start(cls, args: argparse.Namespace, tag: str) -> Stack:
        folder = Path(args.out) if args.out else RESULTS / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        folder.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.TemporaryDirectory()
        broker = None
        url = args.broker or os.environ.get("ALPR_BROKER_URL")
        if not url:
            broker = EmbeddedBroker(Path(tmp.name), free_port())
            broker.start()
            url = f"kafka://{broker.bootstrap}"
        return cls(folder, tmp, broker, url, isolated_env(url, Path(tmp.name) / "state", f"{tag}."))

    def stop(self) -> None:
        if self.broker is not None:
            self.broker.stop()
        self.tmp.cleanup()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tag = datetime.now(UTC).strftime("lt%H%M%S")
    stack = Stack.start(args, tag)
    folder, broker, url = stack.folder, stack.broker, stack.url
    port = free_port()
    env = {
        **stack.env,
        "ALPR_APP_ID": f"alpr-loadtest-{tag}",
        "ALPR_METRICS_PORT": str(port),
        "ALPR_BATCH_WINDOW_MS": str(args.window_ms),
        "ALPR_BATCH_MAX_READS": str(args.batch),
    }
    settings = Settings.from_env(env)
    worker = None
    summary: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(),
        "machine": f"{os.cpu_count()} cores, {f'embedded Apache Kafka {KAFKA_VERSION}' if broker else url}",
        "cameras": args.cameras,
        "target_rate": None if args.max else args.rate,
        "duration_s": args.duration,
        "entries": args.entries,
        "partials": args.partials,
        "hit_rate": args.hit_rate,
        "batch_window_ms": args.window_ms,
        "batch_max_reads": args.batch,
    }
    try:
        await create_topics(settings)
        t0 = time.perf_counter()
        fixture = HotlistFixture(exact_entries=args.entries, partial_entries=args.partials, seed=args.seed)
        summary["hotlist_build_s"] = round(time.perf_counter() - t0, 1)
        summary["hotlist_write_s"] = round(await load_hotlist(settings, fixture), 1)
        print(
            f"hot list: {len(fixture.entries):,} entries written in {summary['hotlist_write_s']} s",
            file=sys.stderr,
        )
        shape = TrafficShape(cameras=args.cameras, rate=args.rate, hit_rate=args.hit_rate, seed=args.seed)
        traffic = Traffic(shape, fixture, OcrClasses.of(settings.ocr_classes), settings.ocr_max_substitutions)
        await register_cameras(settings, traffic)
        log = (folder / "worker.log").open("wb")
        worker = subprocess.Popen(  # noqa: S603 - our own entry point
            [sys.executable, "-m", "streams.cli", "worker"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        summary["worker_load_s"] = round(
            await wait_loaded(port, len(fixture.entries), worker, folder / "worker.log"), 1
        )
        summary["worker_rss_mb_loaded"] = round(process_rss_mb(worker.pid))
        print(
            f"worker ready in {summary['worker_load_s']} s, RSS {summary['worker_rss_mb_loaded']} MB",
            file=sys.stderr,
        )
        await asyncio.sleep(2)  # the consumer group settles

        observed = Observed()
        stop = asyncio.Event()
        follower = asyncio.create_task(follow_alerts(settings, observed, stop))
        timeline: list[dict[str, float]] = []
        t0 = time.monotonic()
        pids = {"worker": worker.pid, "broker": broker.pid() if broker is not None else None}
        sent = await stream(settings, traffic, args.duration, args.max, timeline, [port], pids)
        send_s = time.monotonic() - t0
        expected = {(e.read_id, e.entry_key) for e in traffic.expected()}
        deadline = time.monotonic() + max(30.0, args.duration)
        while time.monotonic() < deadline:
            screened = screened_count([port])
            if screened >= sent and len(observed.pairs() & expected) >= len(expected):
                break
            await asyncio.sleep(0.2)
        all_done_s = time.monotonic() - t0
        await asyncio.sleep(1.0)  # a late duplicate would arrive now
        stop.set()
        await follower
        screened = screened_count([port])
        seen = observed.pairs()
        hits = seen & expected
        summary.update(
            {
                "reads_sent": sent,
                "reads_screened": int(screened),
                "lost_reads": int(sent - screened),
                "send_rate_per_s": round(sent / send_s),
                "sustained_rate_per_s": round(screened / all_done_s),
                "alerts_raised": len(observed.raised),
                "sightings": len(observed.sightings),
                "duplicate_alert_ids": sum(1 for n in observed.raised_count.values() if n > 1),
                "expected_alerts": len(expected),
                "recall": round(len(hits) / len(expected), 6) if expected else 1.0,
                "precision": round(len(hits) / len(seen), 6) if seen else 1.0,
                "latency_ms_p50": round(percentile(observed.latencies_ms, 0.50), 1),
                "latency_ms_p95": round(percentile(observed.latencies_ms, 0.95), 1),
                "latency_ms_p99": round(percentile(observed.latencies_ms, 0.99), 1),
                "latency_ms_max": round(max(observed.latencies_ms, default=float("nan")), 1),
                "max_lag_reads": int(max((p["sent"] - p["screened"] for p in timeline), default=0)),
                **cpu_shares(timeline),
                "worker_rss_mb_end": round(process_rss_mb(worker.pid)),
                "misreads_the_matcher_cannot_catch": len(traffic.missed()),
            }
        )
        write_report(folder, summary, timeline, observed.latencies_ms)
        return summary
    finally:
        if worker is not None:
            stop_process(worker, 20)
        stack.stop()


def cpu_use(timeline: list[dict[str, float]], name: str) -> list[float]:
    """A process's CPU use (share of one core) over each second of the timeline."""
    key = f"cpu_{name}"
    return [
        (b[key] - a[key]) / (b["t"] - a["t"])
        for a, b in zip(timeline, timeline[1:], strict=False)
        if key in a
    ]


def cpu_shares(timeline: list[dict[str, float]]) -> dict[str, float]:
    """Each process's CPU use over the first and the last minute of the run (share of one core)."""
    out: dict[str, float] = {}
    for name in ("worker", "broker"):
        use = [u for u in cpu_use(timeline, name) if u == u]  # NaN: no such process
        if len(use) >= 2:
            head, tail = use[: min(60, len(use) // 2)], use[-min(60, len(use) // 2) :]
            out[f"{name}_cpu_first_minute"] = round(sum(head) / len(head), 2)
            out[f"{name}_cpu_last_minute"] = round(sum(tail) / len(tail), 2)
    return out


def write_report(
    folder: Path, summary: dict[str, Any], timeline: list[dict[str, float]], latencies: list[float]
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    t = [p["t"] for p in timeline]
    if len(timeline) > 1:
        rates = [
            (b["sent"] - a["sent"]) / (b["t"] - a["t"]) for a, b in zip(timeline, timeline[1:], strict=False)
        ]
        screened = [
            (b["screened"] - a["screened"]) / (b["t"] - a["t"])
            for a, b in zip(timeline, timeline[1:], strict=False)
        ]
        fig, (top, middle, bottom) = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
        top.plot(t[1:], rates, label="sent")
        top.plot(t[1:], screened, label="screened")
        top.set_ylabel("reads/s")
        top.legend()
        middle.plot(t, [p["sent"] - p["screened"] for p in timeline])
        middle.set_ylabel("lag (reads)")
        for name in ("worker", "broker"):
            use = cpu_use(timeline, name)
            if use:
                bottom.plot(t[1 : len(use) + 1], [100 * u for u in use], label=name)
        bottom.set_ylabel("CPU (% of a core)")
        bottom.legend()
        bottom.set_xlabel("seconds")
        fig.tight_layout()
        fig.savefig(folder / "throughput_lag.png", dpi=100)
        plt.close(fig)
    if latencies:
        fig, ax = plt.subplots(figsize=(10, 4))
        ax.hist(latencies, bins=60)
        ax.set_xlabel("read-to-alert latency (ms)")
        ax.set_ylabel("alerts")
        fig.tight_layout()
        fig.savefig(folder / "latency.png", dpi=100)
        plt.close(fig)
    ok = summary["lost_reads"] == 0 and summary["duplicate_alert_ids"] == 0 and summary["recall"] == 1.0
    pace = (
        "as fast as possible" if summary["target_rate"] is None else f"target {summary['target_rate']:,.0f}/s"
    )
    lines = [
        f"# Load run {summary['started_at']}",
        "",
        f"{summary['cameras']:,} cameras, {summary['reads_sent']:,} reads in {summary['duration_s']} s",
        f"({pace}), hot list {summary['entries']:,} entries + {summary['partials']} partial patterns;",
        f"{summary['machine']}.",
        "",
        "| measure | value |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in summary.items() if k not in ("started_at", "machine")],
        "",
        "Verdict: "
        + ("no lost reads, no duplicate alerts, full recall" if ok else "FAILED: see the numbers above"),
    ]
    (folder / "report.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest run")
    parser.add_argument("--cameras", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=5000.0, help="reads/s over the network")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of traffic")
    parser.add_argument("--entries", type=int, default=1_000_000, help="exact hot-list entries")
    parser.add_argument("--partials", type=int, default=100, help="partial-plate patterns")
    parser.add_argument("--hit-rate", type=float, default=0.001)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--window-ms", type=int, default=50, help="read producer batching window")
    parser.add_argument("--batch", type=int, default=500, help="most reads per batch")
    parser.add_argument("--max", action="store_true", help="push as fast as possible to find the ceiling")
    parser.add_argument("--broker", help="kafka://host:port (default: an embedded broker of its own)")
    parser.add_argument("--out", help="results folder (default loadtest/results/<time>)")
    args = parser.parse_args(argv)
    summary = asyncio.run(run(args))
    print(json.dumps(summary, indent=2))
    ok = summary["lost_reads"] == 0 and summary["duplicate_alert_ids"] == 0 and summary["recall"] == 1.0
    return 0 if ok and summary["precision"] == 1.0 else 1
