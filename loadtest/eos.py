"""Exactly-once or at-least-once, by numbers (issue 14, item 7).

    python -m loadtest eos [--modes at-least-once transactions] [--rate 2000] ...

The same input, on the same machine, in one run, for each way of processing:

* ``at-least-once``: the production worker (``alpr worker``): outputs acknowledged before faust
  commits, deterministic alert ids, alerts read back at start (streams/app.py);
* ``transactions``: reads -> candidates -> alerts with outputs and offsets in Kafka
  transactions, read committed (loadtest/eos_worker.py, around the same Pipeline);
* (until issue 19) ``faust-exactly-once``: the worker with faust-streaming's
  ``processing_guarantee="exactly_once"``, measured on 2026-12-04 (README); the worker no longer
  consumes through faust (streams/screening.py), so the mode is gone.

Each mode gets a fresh embedded broker, the same hot list, cameras and traffic (the same seed), and
three phases: the ceiling (a backlog of reads in records of 200 screened as fast as the worker
goes), latency at a fixed rate (capture to a committed alert on the alerts topic, p50/p99) and
SIGKILLs of the worker mid-stream (``--kills``, each followed by an immediate restart: alerts lost,
alert ids raised twice, candidates committed twice; several kills, because a kill must land between
a transaction's writes and its commit to tell the guarantees apart). A mode whose worker fails is
reported with why, and the others go on. Prints a table and stores
``loadtest/results/eos.summary.json``.
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
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import TopicPartition

from loadtest.ceiling import fill, time_backlog
from loadtest.generator import HotlistFixture, Traffic, TrafficShape
from loadtest.run import (
    RESULTS,
    ROOT,
    Observed,
    committed_reader,
    follow_alerts,
    isolated_env,
    load_hotlist,
    metric,
    percentile,
    process_cpu_s,
    register_cameras,
    stream,
    wait_loaded,
)
from streams.dev import stop_process
from streams.kafka.broker import KAFKA_VERSION, EmbeddedBroker, free_port
from streams.kafka.topics import create_topics, existing_partitions
from streams.matching.normalize import OcrClasses
from streams.settings import Settings

__all__ = ["MODES", "main"]

MODES = {
    "at-least-once": ["-m", "streams.cli", "worker"],
    "transactions": ["-m", "loadtest.eos_worker"],
}


@dataclass
class Bench:
    """One mode's broker, settings and worker process, and a second worker while one joins."""

    mode: str
    env: dict[str, str]
    settings: Settings
    port: int
    log: Path
    broker: EmbeddedBroker
    worker: subprocess.Popen[bytes] | None = None
    second: subprocess.Popen[bytes] | None = None

    def start_worker(self, instance: int = 0) -> subprocess.Popen[bytes]:
        """Start the worker (``instance`` 0) or a second one in the same group (1: metrics on
        another port, a transactional id of its own)."""
        env = self.env if instance == 0 else {**self.env, "ALPR_METRICS_PORT": str(free_port())}
        log_file = self.log if instance == 0 else self.log.with_name(f"{self.mode}-{instance}.log")
        with log_file.open("ab") as log:
            proc = subprocess.Popen(  # noqa: S603 - our own entry points
                [sys.executable, *MODES[self.mode]],
                env={**env, "ALPR_EOS_INSTANCE": str(instance)},
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if instance == 0:
            self.worker = proc
        else:
            self.second = proc
        return proc

    async def act(self, action: str) -> None:
        """``kill``: SIGKILL the worker and start it again at once; ``join``: start a second
        worker; ``leave``: stop the second one (SIGTERM: it commits and leaves the group)."""
        if action == "kill":
            assert self.worker is not None  # noqa: S101
            self.worker.kill()
            self.worker.wait()
            self.start_worker()
        elif action == "join":
            self.start_worker(1)
        elif action == "leave" and self.second is not None:
            await asyncio.to_thread(stop_process, self.second, 20)
            self.second = None

    def cpu(self) -> dict[str, float]:
        return {
            "worker": process_cpu_s(self.worker.pid if self.worker else None),
            "broker": process_cpu_s(self.broker.pid()),
        }

    def log_tail(self, lines: int = 6) -> list[str]:
        """The last lines of the worker's log that say something went wrong."""
        text = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return [
            line[:300] for line in text if any(w in line for w in ("ERROR", "CRITICAL", "Error", "Traceback"))
        ][-lines:]


def cores(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    return {f"{name}_cpu_cores": round((after[name] - before[name]) / seconds, 2) for name in before}


async def until(condition: Any, limit_s: float, still_s: float = 0.0, bench: Bench | None = None) -> bool:
    """Poll ``condition()`` every 0.2 s until it holds (and, with ``bench``, its worker's counters
    have stood still for ``still_s``: a duplicate would come from what it is still doing); False
    at ``limit_s``."""
    deadline = time.monotonic() + limit_s
    last, still_since = -1.0, time.monotonic()
    while time.monotonic() < deadline:
        if bench is not None:
            done = sum(metric(bench.port, f"alpr_{n}_total") for n in ("reads", "rejected", "candidates"))
            if done != last:
                last, still_since = done, time.monotonic()
        if condition() and time.monotonic() - still_since >= still_s:
            return True
        await asyncio.sleep(0.2)
    return False


def kill_times(args: argparse.Namespace) -> tuple[float, ...]:
    """When the kill phase kills the worker (seconds of its traffic sent)."""
    return tuple(args.kill_after + i * args.kill_every for i in range(args.kills))


def confirmed(port: int) -> bool:
    """Every candidate the worker has forwarded has been checked (its alert, if any, written)."""
    return metric(port, "alpr_candidates_total") >= metric(port, "alpr_bloom_positives_total")


def arrived(port: int, observed: Observed) -> bool:
    """Every alert and sighting the worker counts has reached the follower."""
    raised, sighted = metric(port, "alpr_hits_total"), metric(port, "alpr_sightings_total")
    return len(observed.raised) >= raised and len(observed.sightings) >= sighted


def phase_pairs(observed: Observed, raised_before: int, sightings_before: int) -> set[tuple[str, str]]:
    """(read id, entry key) of the alerts and sightings that arrived since the marks."""
    out = {(read, entry) for read, entry, _kind in list(observed.raised.values())[raised_before:]}
    for read, alert in observed.sightings[sightings_before:]:
        if alert in observed.raised:  # a sighting of an alert raised in any phase
            out.add((read, observed.raised[alert][1]))
    return out


async def paced(
    bench: Bench,
    traffic: Traffic,
    observed: Observed,
    seconds: float,
    limit_s: float,
    events: tuple[tuple[float, str], ...] = (),
) -> dict[str, Any]:
    """Send ``seconds`` of traffic at its rate and wait for the alerts it must raise; at each
    (time, action) of ``events`` (seconds of traffic sent), :meth:`Bench.act`. ``observed`` is
    the mode's follower's (a sighting may be of an earlier phase's alert)."""
    before = len(traffic.expected())
    raised_mark, sightings_mark = len(observed.raised), len(observed.sightings)
    latency_mark = len(observed.latencies_ms)
    repeated_before = sum(1 for n in observed.raised_count.values() if n > 1)
    timeline: list[dict[str, float]] = []
    done: list[tuple[float, str]] = []
    events = tuple((at, action) for at, action in events if at < seconds)

    async def actor() -> None:
        for at, action in events:
            while not timeline or timeline[-1]["t"] < at:
                await asyncio.sleep(0.05)
            await bench.act(action)
            done.append((round(timeline[-1]["t"], 1), action))

    cpu0, t0 = bench.cpu(), time.monotonic()
    kill = asyncio.create_task(actor()) if events else None
    sent = await stream(bench.settings, traffic, seconds, False, timeline, [bench.port], {})
    if kill is not None:
        await kill
    expected = {(e.read_id, e.entry_key) for e in traffic.expected()[before:]}
    settled = await until(lambda: expected <= observed.pairs(), limit_s, 2.0, bench)
    cpu = cores(cpu0, bench.cpu(), time.monotonic() - t0) if kill is None else {}
    seen = phase_pairs(observed, raised_mark, sightings_mark)
    latencies = observed.latencies_ms[latency_mark:]
    sightings = observed.sightings[sightings_mark:]
    result: dict[str, Any] = {
        "reads_sent": sent,
        "expected_alerts": len(expected),
        "alerts_raised": len(observed.raised) - raised_mark,
        "sightings": len(sightings),
        "lost_alerts": len(expected - observed.pairs()),
        "false_alerts": len(seen - expected),
        "duplicate_alert_ids": sum(1 for n in observed.raised_count.values() if n > 1) - repeated_before,
        "duplicate_sightings": len(sightings) - len(set(sightings)),
        "latency_ms_p50": round(percentile(latencies, 0.50), 1),
        "latency_ms_p99": round(percentile(latencies, 0.99), 1),
        "latency_ms_max": round(max(latencies, default=float("nan")), 1),
        **cpu,
    }
    if kill is not None:
        result["events_at_s"] = done
    if not settled:
        result["unsettled"] = f"not every expected alert arrived within {limit_s:.0f} s after the last read"
    return result


async def duplicate_candidates(settings: Settings) -> tuple[int, int]:
    """(candidate records, records repeating a (read id, canonical key) already written): the
    committed records of the candidates topic; at-least-once re-sends what a killed worker had
    sent but not committed."""
    consumer = committed_reader(settings.kafka)
    await consumer.start()
    try:
        topic = settings.topic("candidates")
        tps = [TopicPartition(topic, p) for p in await existing_partitions(consumer._client, topic)]  # noqa: SLF001
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        seen: Counter[tuple[str, str]] = Counter()
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).values():
                for record in records:
                    data = orjson.loads(record.value)
                    seen[(data["read"]["read_id"], data["canonical"])] += 1
        return sum(seen.values()), sum(n - 1 for n in seen.values())
    finally:
        await consumer.stop()


async def one_mode(
    mode: str, args: argparse.Namespace, fixture: HotlistFixture, folder: Path
) -> dict[str, Any]:
    """The three phases for one mode, on a broker of its own."""
    with tempfile.TemporaryDirectory() as tmp:
        broker = EmbeddedBroker(Path(tmp), free_port())
        broker.start()
        port = free_port()
        env = isolated_env(
            f"kafka://{broker.bootstrap}",
            Path(tmp) / "state",
            "eos.",
            ALPR_APP_ID="alpr-eos",
            ALPR_METRICS_PORT=str(port),
        )
        bench = Bench(mode, env, Settings.from_env(env), port, folder / f"{mode}.log", broker)
        result: dict[str, Any] = {}
        try:
            settings = bench.settings
            await create_topics(settings)
            await load_hotlist(settings, fixture)
            shape = TrafficShape(cameras=args.cameras, rate=args.rate, hit_rate=args.hit_rate, seed=args.seed)
            traffic = Traffic(
                shape, fixture, OcrClasses.of(settings.ocr_classes), settings.ocr_max_substitutions
            )
            await register_cameras(settings, traffic)
            backlog = Traffic(
                TrafficShape(cameras=args.cameras, hit_rate=args.backlog_hit_rate, seed=args.seed + 1),
                fixture,
                OcrClasses.of(settings.ocr_classes),
                settings.ocr_max_substitutions,
            )
            written = await fill(settings, backlog, args.backlog, 200, read_prefix="backlog-")
            worker = bench.start_worker()
            result["worker_load_s"] = round(
                await wait_loaded(port, len(fixture.entries), worker, bench.log), 1
            )
            print(f"{mode}: worker ready; the backlog of {written:,} reads", file=sys.stderr)
            cpu0, t0 = bench.cpu(), time.monotonic()
            result["ceiling"] = {
                **await time_backlog(port, written, worker, args.limit),
                **cores(cpu0, bench.cpu(), time.monotonic() - t0),
            }
            print(
                f"{mode}: {result['ceiling']['reads_per_s']:,} reads/s; "
                f"{args.duration:.0f} s at {args.rate:,.0f}/s",
                file=sys.stderr,
            )
            # every candidate of the backlog confirmed, every alert of it read: then the paced phases
            await until(lambda: confirmed(port), args.limit, 1.0, bench)
            observed, stop = Observed(), asyncio.Event()
            follower = asyncio.create_task(follow_alerts(settings, observed, stop))
            try:
                await until(lambda: arrived(port, observed), args.limit)
                result["latency"] = await paced(bench, traffic, observed, args.duration, args.limit)
                print(f"{mode}: {args.kill_duration:.0f} s, SIGKILL at {kill_times(args)} s", file=sys.stderr)
                kills = tuple((at, "kill") for at in kill_times(args))
                result["kill"] = await paced(bench, traffic, observed, args.kill_duration, args.limit, kills)
                if args.rebalance_duration > 0:
                    print(
                        f"{mode}: {args.rebalance_duration:.0f} s, a second worker joins and leaves",
                        file=sys.stderr,
                    )
                    third = args.rebalance_duration / 3
                    moves = ((third, "join"), (2 * third, "leave"))
                    result["rebalance"] = await paced(
                        bench, traffic, observed, args.rebalance_duration, args.limit, moves
                    )
            finally:
                stop.set()
                await follower
            result["candidates"], result["duplicate_candidates"] = await duplicate_candidates(settings)
        except Exception as exc:  # noqa: BLE001 - a mode that fails is a result; the others go on
            result["failed"] = f"{type(exc).__name__}: {exc}"
            result["worker_log"] = bench.log_tail()
            print(f"{mode}: FAILED {result['failed']}", file=sys.stderr)
        finally:
            for proc in (bench.second, bench.worker):
                if proc is not None:
                    stop_process(proc, 20)
            broker.stop()
        return result


def table(modes: dict[str, dict[str, Any]]) -> str:
    rows = [
        ("ceiling reads/s", "ceiling", "reads_per_s"),
        ("latency p50 ms", "latency", "latency_ms_p50"),
        ("latency p99 ms", "latency", "latency_ms_p99"),
        ("worker CPU at rate", "latency", "worker_cpu_cores"),
        ("broker CPU at rate", "latency", "broker_cpu_cores"),
        ("kill: expected alerts", "kill", "expected_alerts"),
        ("kill: lost alerts", "kill", "lost_alerts"),
        ("kill: duplicate alert ids", "kill", "duplicate_alert_ids"),
        ("kill: latency max ms", "kill", "latency_ms_max"),
        ("rebalance: lost alerts", "rebalance", "lost_alerts"),
        ("rebalance: duplicate alert ids", "rebalance", "duplicate_alert_ids"),
        ("rebalance: latency max ms", "rebalance", "latency_ms_max"),
        ("candidates committed twice", "", "duplicate_candidates"),
    ]
    names = list(modes)
    lines = ["| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for label, phase, key in rows:
        missing = {n: "failed" if "failed" in modes[n] else "-" for n in names}
        cells = [str((modes[n].get(phase, {}) if phase else modes[n]).get(key, missing[n])) for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest eos")
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument("--entries", type=int, default=100_000, help="exact hot-list entries")
    parser.add_argument("--cameras", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=2000.0, help="reads/s of the paced phases")
    parser.add_argument("--hit-rate", type=float, default=0.005, help="share of reads that raise an alert")
    parser.add_argument("--backlog", type=int, default=1_000_000, help="reads of the ceiling phase")
    parser.add_argument("--backlog-hit-rate", type=float, default=0.001, help="its share of hits")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of the latency phase")
    parser.add_argument("--kill-duration", type=float, default=45.0, help="seconds of the kill phase")
    parser.add_argument(
        "--kill-after", type=float, default=10.0, help="the first SIGKILL after this many seconds"
    )
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs in the kill phase")
    parser.add_argument("--kill-every", type=float, default=10.0, help="seconds between SIGKILLs")
    parser.add_argument(
        "--rebalance-duration", type=float, default=45.0, help="seconds of the rebalance phase (0: none)"
    )
    parser.add_argument("--limit", type=float, default=180.0, help="seconds a phase may wait for its outcome")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS / "eos.summary.json")
    parser.add_argument("--logs", type=Path, help="the workers' logs (default loadtest/results/eos-<time>/)")
    args = parser.parse_args(argv)
    folder = args.logs or RESULTS / datetime.now(UTC).strftime("eos-%Y%m%dT%H%M%SZ")  # not kept in git
    folder.mkdir(parents=True, exist_ok=True)
    fixture = HotlistFixture(exact_entries=args.entries, partial_entries=100, seed=args.seed)
    summary: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": f"{os.cpu_count()} cores, embedded Apache Kafka {KAFKA_VERSION} (one node per mode)",
        "load_average_before": round(os.getloadavg()[0], 2),
        "settings": {k: v for k, v in vars(args).items() if k not in ("modes", "output", "logs")},
        "modes": {},
    }
    for mode in args.modes:
        summary["modes"][mode] = asyncio.run(one_mode(mode, args, fixture, folder))
        print(f"{mode}: {json.dumps(summary['modes'][mode])}", file=sys.stderr)
    print(table(summary["modes"]))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"summary: {args.output}; worker logs: {folder}", file=sys.stderr)
    return 0
