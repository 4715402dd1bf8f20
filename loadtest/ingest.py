"""A load test of the camera ingest: real broker, real ``alpr ingest`` process, generated reads.

    python -m loadtest ingest --duration 30 --cameras 200 --batch 50 [--concurrency 50]

It starts an embedded broker of its own (or uses ``--broker``), registers ``--cameras`` cameras
with a key each (camera and key records written straight to their topics, as ``alpr camera add``
writes them, without 200 sign-ins), starts ``alpr ingest``, and posts the load generator's reads
(loadtest/generator.py: camera weights, plate recurrence, misreads) in batches of ``--batch`` reads
of one camera, each with that camera's key and the capture time set when the batch is made.
``--concurrency`` connections post at once, each sending the next full batch as soon as its previous
one is answered (a closed loop: the endpoint's ceiling on this machine, not a paced rate).

It reports accepted reads/s and requests/s, request latency (post to 202, which comes only after
Kafka has acknowledged every read) p50/p95/p99/max, answers other than 202 (must be 0), the CPU of
the ingest and the broker, and then reads the reads topic back: every acknowledged read must be
there (``lost_reads`` must be 0). Results: ``loadtest/results/<time>/ingest.summary.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from loadtest.generator import HotlistFixture, Traffic, TrafficShape
from loadtest.run import ROOT, Stack, percentile, process_cpu_s
from streams.cameras.keys import encode_key, new_key
from streams.cameras.registry import Camera, encode_camera
from streams.codec import stored_reads
from streams.dev import stop_process
from streams.kafka.broker import KAFKA_VERSION, free_port
from streams.kafka.log import TopicWriter, read_topic
from streams.kafka.topics import create_topics
from streams.matching.normalize import OcrClasses
from streams.settings import Settings

__all__ = ["main", "run"]


async def register(settings: Settings, cameras: int) -> dict[str, str]:
    """camera id -> key, for the generator's cameras (each a mobile camera where it reads)."""
    width = max(5, len(str(cameras)))
    now = datetime.now(UTC)
    keys: dict[str, str] = {}
    writer = TopicWriter(settings.kafka)
    await writer.start()
    try:
        for i in range(cameras):
            camera_id = f"cam-{i + 1:0{width}d}"  # the generator's names (checked on the first read)
            camera = Camera(camera_id, f"load camera {i + 1}", "LOAD", "mobile", 37.3382, -121.8863)
            issued = new_key(camera_id, "loadtest", now)
            await writer.write(settings.topic("cameras"), camera_id.encode(), encode_camera(camera))
            await writer.write(settings.topic("camera-keys"), camera_id.encode(), encode_key(issued.record))
            keys[camera_id] = issued.key
        await writer.flush()
    finally:
        await writer.stop()
    return keys


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:  # noqa: S310
            return bool(answer.status == 200)
    except OSError:
        return False


class Batches:
    """Full batches of one camera's reads, in the order the generator fills them."""

    def __init__(self, traffic: Traffic, batch: int, keys: dict[str, str]) -> None:
        self.reads = traffic.reads(datetime.now(UTC), 10 * 24 * 3600.0)
        self.batch = batch
        self.keys = keys
        self.open: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)

    def next(self) -> tuple[str, bytes, int]:
        """(camera key, body, reads) of the next full batch; capture times are now."""
        for _offset, read in self.reads:
            camera_id = read["camera_id"]
            reads = self.open[camera_id]
            reads.append(read)
            if len(reads) == self.batch:
                del self.open[camera_id]
                captured = datetime.now(UTC).isoformat()
                for each in reads:
                    each["captured_at"] = captured
                    del each["camera_id"]  # the key says which camera
                return self.keys[camera_id], orjson.dumps(reads), len(reads)
        raise RuntimeError("the generator ran dry")


async def post_for(
    url: str, duration: float, batches: Batches, concurrency: int
) -> tuple[list[float], Counter[int], int, float]:
    """Post for ``duration`` seconds; (latencies in ms, answers by status, reads accepted, seconds)."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    accepted = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    started = time.monotonic()
    stop_at = started + duration

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal accepted
        while time.monotonic() < stop_at:
            key, body, count = batches.next()
            sent = time.perf_counter()
            async with session.post(
                url, data=body, headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            ) as answer:
                await answer.read()
                statuses[answer.status] += 1
                if answer.status == 202:
                    accepted += count
                    latencies.append((time.perf_counter() - sent) * 1000)

    async def progress() -> None:
        while True:
            await asyncio.sleep(1.0)
            elapsed = time.monotonic() - started
            print(
                f"\r{elapsed:6.1f} s  accepted {accepted:>10,} reads ({accepted / elapsed:>8,.0f}/s)  "
                f"requests {sum(statuses.values()):>8,}",
                end="",
                file=sys.stderr,
                flush=True,
            )

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        reporter = asyncio.create_task(progress())
        try:
            await asyncio.gather(*(client(session) for _ in range(concurrency)))
        finally:
            reporter.cancel()
    print(file=sys.stderr)
    return latencies, statuses, accepted, time.monotonic() - started


async def reads_on_topic(settings: Settings) -> int:
    """Reads stored on the reads and reads-late topics (where the ingest's producer puts a read
    by how late it arrives)."""
    count = 0

    def on_record(_tp: Any, record: Any) -> None:
        nonlocal count
        count += len(stored_reads(record.value))

    for name in ("reads", "reads-late"):
        await read_topic(settings.kafka, settings.topic(name), on_record)
    return count


async def run(args: argparse.Namespace) -> dict[str, Any]:
    stack = Stack.start(args, datetime.now(UTC).strftime("li%H%M%S"))
    folder, broker, url = stack.folder, stack.broker, stack.url
    port = free_port()
    env = {
        **stack.env,
        "ALPR_INGEST_PORT": str(port),
        "ALPR_BATCH_WINDOW_MS": str(args.window_ms),
    }
    settings = Settings.from_env(env)
    ingest = None
    summary: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(),
        "machine": f"{os.cpu_count()} cores, "
        f"{f'embedded Apache Kafka {KAFKA_VERSION}' if broker else url}, the client on it too",
        "cameras": args.cameras,
        "batch_reads": args.batch,
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "producer_window_ms": args.window_ms,
    }
    try:
        await create_topics(settings)
        fixture = HotlistFixture(exact_entries=1000, partial_entries=10, seed=args.seed)
        shape = TrafficShape(cameras=args.cameras, rate=5000.0, seed=args.seed)
        traffic = Traffic(shape, fixture, OcrClasses.of(settings.ocr_classes), settings.ocr_max_substitutions)
        keys = await register(settings, args.cameras)
        log = (folder / "ingest.log").open("wb")
        ingest = subprocess.Popen(  # noqa: S603 - our own entry point
            [sys.executable, "-m", "streams.cli", "ingest"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while not healthy(port):
            if ingest.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the ingest did not start; see {folder / 'ingest.log'}")
            await asyncio.sleep(0.2)
        batches = Batches(traffic, args.batch, keys)
        pids = {"ingest": ingest.pid, "broker": broker.pid() if broker is not None else None}
        cpu_before = {name: process_cpu_s(pid) for name, pid in pids.items()}
        client_before = time.process_time()
        summary["load_average_before"] = round(os.getloadavg()[0], 2)  # a shared VM: others' work shows
        latencies, statuses, accepted, elapsed = await post_for(
            f"http://127.0.0.1:{port}/v1/reads", args.duration, batches, args.concurrency
        )
        cpu = {name: (process_cpu_s(pid) - cpu_before[name]) / elapsed for name, pid in pids.items()}
        cpu["client"] = (time.process_time() - client_before) / elapsed
        on_topic = await reads_on_topic(settings)
        requests = sum(statuses.values())
        summary.update(
            {
                "requests": requests,
                "answers": {str(status): n for status, n in sorted(statuses.items())},
                "not_accepted": requests - statuses[202],
                "reads_accepted": accepted,
                "reads_on_topic": on_topic,
                "lost_reads": accepted - on_topic,
                "reads_per_s": round(accepted / elapsed),
                "requests_per_s": round(requests / elapsed, 1),
                "latency_ms_p50": round(percentile(latencies, 0.50), 1),
                "latency_ms_p95": round(percentile(latencies, 0.95), 1),
                "latency_ms_p99": round(percentile(latencies, 0.99), 1),
                "latency_ms_max": round(max(latencies, default=float("nan")), 1),
                **{f"cpu_{name}_cores": round(value, 2) for name, value in cpu.items()},
            }
        )
        (folder / "ingest.summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return summary
    finally:
        if ingest is not None:
            stop_process(ingest, 20)
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest ingest")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of posting")
    parser.add_argument("--cameras", type=int, default=200)
    parser.add_argument("--batch", type=int, default=50, help="reads per request (one camera's)")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight at once")
    parser.add_argument("--window-ms", type=int, default=50, help="the ingest's read producer window")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--broker", help="kafka://host:port (default: an embedded broker of its own)")
    parser.add_argument("--out", help="results folder (default loadtest/results/<time>)")
    args = parser.parse_args(argv)
    summary = asyncio.run(run(args))
    print(json.dumps(summary, indent=2))
    return 0 if summary["lost_reads"] == 0 and summary["not_accepted"] == 0 else 1
