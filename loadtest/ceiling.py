"""The ceiling: how many reads/s one worker process screens, matching included (issue: city-scale
load test, targets).

The reads topic is filled first (N reads in records of 1, 50 or 200 reads, written in bulk so the
producer is not what is measured), then ``alpr worker`` starts with a 1 M-entry hot list and the
run times from the first read screened to the last (the worker's own counters). Prints the
numbers and stores loadtest/results/ceiling.summary.json.

    python -m loadtest.ceiling --reads 1000000 --batches 1 50 200
    python -m loadtest.ceiling --batches 200 --profile   # and where the worker's time goes (py-spy)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from loadtest.bench_reject import BAD_KINDS
from loadtest.generator import HotlistFixture, Traffic, TrafficShape
from loadtest.run import (
    RESULTS,
    ROOT,
    isolated_env,
    load_hotlist,
    metrics,
    process_cpu_s,
    process_rss_mb,
    register_cameras,
    wait_loaded,
)
from streams.dev import stop_process
from streams.kafka.broker import KAFKA_VERSION, EmbeddedBroker, free_port
from streams.kafka.topics import create_topics
from streams.matching.normalize import OcrClasses
from streams.settings import Settings


async def fill(
    settings: Settings,
    traffic: Traffic,
    reads: int,
    per_record: int,
    read_prefix: str = "",
    bad_share: float = 0.0,
) -> int:
    """Write the reads as records of ``per_record`` reads, round-robin over the partitions;
    ``read_prefix`` keeps their ids apart from another Traffic's (each numbers its reads from 1).
    ``bad_share`` of them are spoilt, of every kind of loadtest/bench_reject.py in turn (each
    refused by the worker, issue 17)."""
    kinds = list(BAD_KINDS.values())
    every = round(1 / bad_share) if bad_share else 0
    producer = AIOKafkaProducer(
        **settings.kafka.options(),
        enable_idempotence=True,  # a retried batch is not written twice (acks=all with it)
        max_batch_size=512 * 1024,
        max_request_size=8 * 1024 * 1024,
    )
    await producer.start()
    try:
        topic = settings.topic("reads")
        partitions = settings.partitions
        seconds = 1.05 * reads / traffic.shape.rate  # enough traffic for ``reads`` (the rate is a mean)
        start = datetime.now(UTC) - timedelta(seconds=seconds)
        batches: dict[int, Any] = {}
        pending = []
        chunk: list[bytes] = []
        written = record = written_or_queued = 0
        for _offset, read in traffic.reads(start, seconds):
            read["read_id"] = read_prefix + read["read_id"]
            if every and written_or_queued % every == 0:
                read = kinds[(written_or_queued // every) % len(kinds)](read)
            written_or_queued += 1
            chunk.append(orjson.dumps(read))
            if len(chunk) < per_record:
                continue
            value = chunk[0] if per_record == 1 else b'{"reads":[' + b",".join(chunk) + b"]}"
            written += len(chunk)
            chunk = []
            partition = record % partitions
            record += 1
            batch = batches.get(partition) or producer.create_batch()
            if batch.append(key=None, value=value, timestamp=None) is None:
                batch.close()
                pending.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                batch.append(key=None, value=value, timestamp=None)
            batches[partition] = batch
            if written >= reads:
                break
        for partition, batch in batches.items():
            batch.close()
            pending.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*pending)
        return written
    finally:
        await producer.stop()


async def time_backlog(
    port: int, written: int, worker: subprocess.Popen[bytes], limit_s: float = 1800
) -> dict[str, Any]:
    """Time a started worker through a backlog of ``written`` reads, from the first read screened
    to the last (its own counters, polled every 0.1 s); the rate leaves out its start-up."""
    first = None
    done = 0.0
    called = time.monotonic()
    deadline = called + limit_s
    while time.monotonic() < deadline and worker.poll() is None:
        done = sum(metrics(port, "alpr_reads_total", "alpr_rejected_total"))  # one scrape
        if first is None and done > 0:
            # all done at the first look: from the call, a lower bound
            first = (time.monotonic(), done) if done < written else (called, 0.0)
        if done >= written:
            break
        await asyncio.sleep(0.1)
    if first is None or done < written:
        raise RuntimeError(
            f"the worker screened {done:,.0f} of {written:,} reads"
            + (
                f" and exited with {worker.returncode}"
                if worker.poll() is not None
                else f" in {limit_s:.0f} s"
            )
        )
    seconds = time.monotonic() - first[0]
    return {
        "reads": written,
        "screened": int(done),
        "seconds": round(seconds, 1),
        "reads_per_s": round((done - first[1]) / seconds),
    }


def profile_summary(raw: Path, top: int = 25) -> dict[str, list[str]]:
    """The functions where a py-spy raw profile spent its samples: by own time, and by time spent
    inside them (with what they call)."""
    own: Counter[str] = Counter()
    inside: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        total += samples
        # "function (path/file.py:line)" -> "function (path/file.py)": a function's lines together
        frames = [frame.rpartition(":")[0] + ")" if ":" in frame else frame for frame in stack.split(";")]
        own[frames[-1]] += samples
        for frame in set(frames):
            inside[frame] += samples

    def shares(counter: Counter[str]) -> list[str]:
        return [f"{100 * n / total:.1f}% {frame}" for frame, n in counter.most_common(top)]

    return {"self": shares(own), "inclusive": shares(inside), "samples": [str(total)]}


async def one(
    per_record: int, reads: int, entries: int, output: Path, profile: bool = False, bad_share: float = 0.0
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        broker = EmbeddedBroker(Path(tmp), free_port())
        broker.start()
        port = free_port()
        env = isolated_env(
            f"kafka://{broker.bootstrap}",
            Path(tmp) / "state",
            f"ceil{per_record}.",
            ALPR_APP_ID=f"alpr-ceiling-{per_record}",
            ALPR_METRICS_PORT=str(port),
        )
        settings = Settings.from_env(env)
        worker = None
        try:
            await create_topics(settings)
            # dated an hour back: the filled reads were captured before the list was built, and
            # staleness is judged as of each read (P4); a list dated now would alert on few of them
            fixture = HotlistFixture(
                exact_entries=entries, partial_entries=100, now=datetime.now(UTC) - timedelta(hours=1)
            )
            await load_hotlist(settings, fixture)
            shape = TrafficShape(cameras=5000, rate=5000, hit_rate=0.001)
            traffic = Traffic(
                shape, fixture, OcrClasses.of(settings.ocr_classes), settings.ocr_max_substitutions
            )
            await register_cameras(settings, traffic)
            written = await fill(settings, traffic, reads, per_record, bad_share=bad_share)
            worker = subprocess.Popen(  # noqa: S603 - our own entry point
                [sys.executable, "-m", "streams.cli", "worker"],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            await wait_loaded(port, len(fixture.entries), worker)
            spy = raw = None
            if profile:
                raw = output.with_name(f"{output.stem}-{per_record}.raw")  # ignored by git
                spy = subprocess.Popen(  # noqa: S603 - py-spy from the dev extra
                    [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(worker.pid)]
                    + ["--nonblocking", "--rate", "100", "--format", "raw", "--output", str(raw)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            cpu_s = process_cpu_s(worker.pid)
            timed = await time_backlog(port, written, worker)
            cpu_s = process_cpu_s(worker.pid) - cpu_s
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its profile and exits
                spy.wait(60)
            result = {
                "reads_per_record": per_record,
                "bad_share": bad_share,
                **timed,
                # CPU time tells the worker's own cost on a shared machine, where the wall time
                # depends on what else runs (its threads together, the backlog only)
                "worker_cpu_s": round(cpu_s, 1),
                "reads_per_cpu_s": round(timed["screened"] / cpu_s) if cpu_s > 0 else None,
                "worker_rss_mb": round(process_rss_mb(worker.pid)),
                "load_average": list(os.getloadavg()),
            }
            if raw is not None and raw.exists():
                result["profile"] = profile_summary(raw)
            print(json.dumps(result, indent=2), flush=True)
            return result
        finally:
            if worker is not None:
                stop_process(worker, 30)
            broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reads", type=int, default=1_000_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 50, 200])
    parser.add_argument(
        "--profile", action="store_true", help="sample the worker with py-spy while it screens"
    )
    parser.add_argument(
        "--bad",
        type=float,
        nargs="+",
        default=[0.0],
        help="shares of refused reads, a run each (issue 17: a refused read costs at most 2x a good one)",
    )
    parser.add_argument(
        "--output", type=Path, default=RESULTS / "ceiling.summary.json", help="where the summary goes"
    )
    args = parser.parse_args()
    runs = [
        asyncio.run(
            one(
                n,
                args.reads if n > 1 else args.reads // 10,
                args.entries,
                args.output,
                args.profile,
                bad,
            )
        )
        for n in args.batches
        for bad in args.bad
    ]
    summary = {
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": f"{os.cpu_count()} cores, embedded Apache Kafka {KAFKA_VERSION}",
        "runs": runs,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
