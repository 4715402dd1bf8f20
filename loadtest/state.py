"""A state-scale run (issue 19, item 4): offered load rising in steps up to 50,000 reads/s, to show
where one machine saturates and how many workers a state would need.

    python -m loadtest state                                  # 5 k, 10 k, 20 k, 35 k, 50 k reads/s
    python -m loadtest state --steps 5000 50000 --step-s 30 --workers 2 --entries 100000

Everything runs on this machine, as in the city-scale run (loadtest/run.py, whose parts it uses):
the embedded broker, ``--workers`` ``alpr worker`` processes in one consumer group, and the load
generator in this process, sending through the project's batching read producer. Each step offers
its rate for ``--step-s`` seconds, then waits until the workers have screened everything sent
(the drain) before the next step, so each step's figures are its own:

* offered and achieved send rate (the generator shares the cores: when it cannot offer a rate,
  the step says so instead of calling the workers slow);
* screened rate during the step, the backlog (reads sent, not yet screened) at its end and the
  seconds it took to drain;
* read-to-alert latency (capture to the alert on the alerts topic) of the alerts that arrived in
  the step and its drain: p50, p99, max;
* CPU of the workers, the broker and the generator (share of one core), and what that makes in
  reads screened per worker core-second.

A step is *sustained* when the generator offered at least 95% of its rate, the workers kept up
(backlog at the step's end under one second of traffic) and p99 stayed within 250 ms; the first
step that is not names its limit (generator, workers, latency). At the end every read must be
screened, no alert id raised twice, every expected alert raised (recall 1.0): the same ground truth
as the city-scale run. From the measured per-worker-core rate the summary works out, on paper, how
many workers (at 70% of a core each, room for bursts and rebalances) the offered peak needs.

Writes ``loadtest/results/<time>/state-summary.json`` and ``report.md``, and
``loadtest/results/state_scale.summary.json`` (kept in git).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtest.generator import HotlistFixture, Traffic, TrafficShape
from loadtest.run import (
    RESULTS,
    ROOT,
    Observed,
    Stack,
    follow_alerts,
    load_hotlist,
    percentile,
    process_rss_mb,
    register_cameras,
    screened_count,
    stream,
    wait_loaded,
)
from streams.dev import stop_process
from streams.kafka.broker import KAFKA_VERSION, free_port
from streams.kafka.topics import create_topics
from streams.matching.normalize import OcrClasses
from streams.settings import Settings

__all__ = ["main", "run", "step_verdict", "workers_needed"]

#: A step is sustained when the generator offered this share of its rate at least ...
OFFERED_SHARE = 0.95
#: ... the backlog at its end was under this many seconds of its traffic ...
BACKLOG_S = 1.0
#: ... and the alerts' p99 stayed within the issue's target.
P99_TARGET_MS = 250.0
#: A worker planned at this share of a core: room for bursts, rebalances and a lost worker's share.
PLANNED_UTILISATION = 0.7


def step_verdict(step: dict[str, Any]) -> str:
    """``sustained``, or what limited the step: ``generator`` (this machine could not offer the
    rate), ``workers`` (the backlog grew), ``latency`` (p99 above the target)."""
    if step["send_rate_per_s"] < OFFERED_SHARE * step["offered_per_s"]:
        return "generator"
    if step["backlog_at_end"] > BACKLOG_S * step["offered_per_s"] or not step["drained"]:
        return "workers"
    p99 = step["latency_ms_p99"]
    if p99 == p99 and p99 > P99_TARGET_MS:  # NaN: no alert in the step
        return "latency"
    return "sustained"


def workers_needed(rate: float, per_worker_core: float, utilisation: float = PLANNED_UTILISATION) -> int:
    """Workers for ``rate`` reads/s when one worker screens ``per_worker_core`` reads per CPU
    second and is planned at ``utilisation`` of a core."""
    if per_worker_core <= 0:
        raise ValueError(f"per_worker_core={per_worker_core}: must be more than 0")
    return max(1, math.ceil(rate / (per_worker_core * utilisation)))


def cpu_between(timeline: list[dict[str, float]], key: str) -> float:
    """A process's average CPU use (share of one core) over a step's timeline."""
    points = [p for p in timeline if p.get(key, float("nan")) == p.get(key, float("nan"))]
    if len(points) < 2 or points[-1]["t"] <= points[0]["t"]:
        return float("nan")
    return (points[-1][key] - points[0][key]) / (points[-1]["t"] - points[0]["t"])


async def drain(ports: list[int], sent: int, timeout_s: float) -> tuple[bool, float]:
    """Wait until the workers have screened every read sent; (drained, seconds waited)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if screened_count(ports) >= sent:
            return True, time.monotonic() - started
        await asyncio.sleep(0.2)
    return False, time.monotonic() - started


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tag = datetime.now(UTC).strftime("st%H%M%S")
    stack = Stack.start(args, tag)
    folder, broker = stack.folder, stack.broker
    ports = [free_port() for _ in range(args.workers)]
    base = {
        **stack.env,
        "ALPR_APP_ID": f"alpr-state-{tag}",
        "ALPR_BATCH_WINDOW_MS": str(args.window_ms),
        "ALPR_BATCH_MAX_READS": str(args.batch),
    }
    settings = Settings.from_env(base)
    workers: list[subprocess.Popen[bytes]] = []
    summary: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(),
        "machine": f"{os.cpu_count()} cores, "
        + (f"embedded Apache Kafka {KAFKA_VERSION}" if broker else stack.url),
        "load_average_at_start": Path("/proc/loadavg").read_text().split()[:3],
        "workers": args.workers,
        "partitions": settings.partitions,
        "cameras": args.cameras,
        "entries": args.entries,
        "hit_rate": args.hit_rate,
        "step_s": args.step_s,
        "batch_window_ms": args.window_ms,
        "batch_max_reads": args.batch,
    }
    try:
        await create_topics(settings)
        fixture = HotlistFixture(exact_entries=args.entries, partial_entries=args.partials, seed=args.seed)
        summary["hotlist_write_s"] = round(await load_hotlist(settings, fixture), 1)
        shape = TrafficShape(cameras=args.cameras, rate=args.steps[0], hit_rate=args.hit_rate, seed=args.seed)
        traffic = Traffic(shape, fixture, OcrClasses.of(settings.ocr_classes), settings.ocr_max_substitutions)
        await register_cameras(settings, traffic)
        for n, port in enumerate(ports):
            log = (folder / f"worker-{n}.log").open("wb")
            workers.append(
                subprocess.Popen(  # noqa: S603 - our own entry point
                    [sys.executable, "-m", "streams.cli", "worker"],
                    env={**base, "ALPR_METRICS_PORT": str(port)},
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        started = time.perf_counter()
        for n, (worker, port) in enumerate(zip(workers, ports, strict=True)):
            await wait_loaded(port, len(fixture.entries), worker, folder / f"worker-{n}.log")
        summary["workers_ready_s"] = round(time.perf_counter() - started, 1)
        print(f"{args.workers} worker(s) ready in {summary['workers_ready_s']} s", file=sys.stderr)
        await asyncio.sleep(2)  # the consumer group settles

        observed = Observed()
        stop = asyncio.Event()
        follower = asyncio.create_task(follow_alerts(settings, observed, stop))
        pids: dict[str, int | None] = {f"worker{n}": w.pid for n, w in enumerate(workers)}
        pids["broker"] = broker.pid() if broker is not None else None
        pids["generator"] = os.getpid()
        steps: list[dict[str, Any]] = []
        sent_total = 0
        for rate in args.steps:
            traffic.shape = replace(shape, rate=rate)  # read ids and the ground truth carry on
            alerts_before = len(observed.latencies_ms)
            timeline: list[dict[str, float]] = []
            t0 = time.monotonic()
            sent = await stream(settings, traffic, args.step_s, False, timeline, ports, pids, sent_total)
            send_s = time.monotonic() - t0
            sent_total += sent
            screened_end = screened_count(ports)
            drained, drain_s = await drain(ports, sent_total, args.drain_s)
            await asyncio.sleep(0.5)  # the last alerts of the step reach the follower
            latencies = observed.latencies_ms[alerts_before:]
            worker_cpu = sum(cpu_between(timeline, f"cpu_worker{n}") for n in range(args.workers))
            screened_in_step = sent - max(0.0, sent_total - screened_end)
            step: dict[str, Any] = {
                "offered_per_s": rate,
                "reads_sent": sent,
                "send_rate_per_s": round(sent / send_s),
                "screened_rate_per_s": round(screened_in_step / send_s),
                "backlog_at_end": int(max(0.0, sent_total - screened_end)),
                "backlog_max": int(max((p["sent"] - p["screened"] for p in timeline), default=0)),
                "drained": drained,
                "drain_s": round(drain_s, 1),
                "alerts": len(latencies),
                "latency_ms_p50": round(percentile(latencies, 0.50), 1),
                "latency_ms_p99": round(percentile(latencies, 0.99), 1),
                "latency_ms_max": round(max(latencies, default=float("nan")), 1),
                "cpu_workers": round(worker_cpu, 2),
                "cpu_broker": round(cpu_between(timeline, "cpu_broker"), 2),
                "cpu_generator": round(cpu_between(timeline, "cpu_generator"), 2),
                "load_average": Path("/proc/loadavg").read_text().split()[0],
            }
            step["reads_per_worker_core_s"] = (
                round(step["screened_rate_per_s"] / worker_cpu) if worker_cpu > 0.05 else None
            )
            step["verdict"] = step_verdict(step)
            steps.append(step)
            print(
                f"step {rate:>8,.0f}/s: sent {step['send_rate_per_s']:>8,}/s, screened "
                f"{step['screened_rate_per_s']:>8,}/s, backlog {step['backlog_at_end']:>8,}, p99 "
                f"{step['latency_ms_p99']} ms, CPU workers {step['cpu_workers']} broker "
                f"{step['cpu_broker']} generator {step['cpu_generator']}: {step['verdict']}",
                file=sys.stderr,
            )
            if not drained:
                print("the backlog did not drain: no further step", file=sys.stderr)
                break
        await asyncio.sleep(1.0)  # a late duplicate would arrive now
        stop.set()
        await follower
        expected = {(e.read_id, e.entry_key) for e in traffic.expected()}
        seen = observed.pairs()
        screened = screened_count(ports)
        sustained = [s for s in steps if s["verdict"] == "sustained"]
        per_core = [s["reads_per_worker_core_s"] for s in steps if s["reads_per_worker_core_s"]]
        best_per_core = max(per_core, default=0)
        peak = max(args.steps)
        summary.update(
            {
                "steps": steps,
                "reads_sent": sent_total,
                "reads_screened": int(screened),
                "lost_reads": int(sent_total - screened),
                "duplicate_alert_ids": sum(1 for n in observed.raised_count.values() if n > 1),
                "expected_alerts": len(expected),
                "recall": round(len(seen & expected) / len(expected), 6) if expected else 1.0,
                "precision": round(len(seen & expected) / len(seen), 6) if seen else 1.0,
                "highest_sustained_per_s": max((s["offered_per_s"] for s in sustained), default=0),
                "first_limit": next((s["verdict"] for s in steps if s["verdict"] != "sustained"), None),
                "reads_per_worker_core_s": best_per_core,
                "workers_rss_mb_end": [round(process_rss_mb(w.pid)) for w in workers],
                "planned_utilisation": PLANNED_UTILISATION,
                "peak_offered_per_s": peak,
                "workers_for_peak": workers_needed(peak, best_per_core) if best_per_core else None,
            }
        )
        write_report(folder, summary)
        return summary
    finally:
        for worker in workers:
            stop_process(worker, 20)
        stack.stop()


def write_report(folder: Path, summary: dict[str, Any]) -> None:
    (folder / "state-summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [
        f"# State-scale run {summary['started_at']}",
        "",
        f"{summary['workers']} worker(s), {summary['partitions']} partitions, "
        f"{summary['cameras']:,} cameras, hot list {summary['entries']:,} entries; "
        f"{summary['machine']}; steps of {summary['step_s']} s.",
        "",
        "| offered/s | sent/s | screened/s | backlog at end | drain s | p50 ms | p99 ms | CPU workers | "
        "CPU broker | CPU generator | reads per worker core-s | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *[
            f"| {s['offered_per_s']:,.0f} | {s['send_rate_per_s']:,} | {s['screened_rate_per_s']:,} | "
            f"{s['backlog_at_end']:,} | {s['drain_s']} | {s['latency_ms_p50']} | {s['latency_ms_p99']} | "
            f"{s['cpu_workers']} | {s['cpu_broker']} | {s['cpu_generator']} | "
            f"{s['reads_per_worker_core_s']} | {s['verdict']} |"
            for s in summary["steps"]
        ],
        "",
        f"Highest sustained offered rate: {summary['highest_sustained_per_s']:,} reads/s; first limit: "
        f"{summary['first_limit'] or 'none within the steps'}.",
        f"Per worker: {summary['reads_per_worker_core_s']:,} reads per CPU second; at "
        f"{summary['planned_utilisation']:.0%} of a core each, {summary['peak_offered_per_s']:,.0f} "
        f"reads/s need {summary['workers_for_peak']} worker(s).",
        f"Lost reads {summary['lost_reads']}, duplicate alert ids {summary['duplicate_alert_ids']}, recall "
        f"{summary['recall']}, precision {summary['precision']}.",
    ]
    (folder / "report.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest state")
    parser.add_argument(
        "--steps", type=float, nargs="+", default=[5000.0, 10000.0, 20000.0, 35000.0, 50000.0], help="reads/s"
    )
    parser.add_argument("--step-s", type=float, default=60.0, help="seconds each step offers its rate")
    parser.add_argument("--drain-s", type=float, default=120.0, help="most seconds to wait for a backlog")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--cameras", type=int, default=20000)
    parser.add_argument("--entries", type=int, default=1_000_000, help="exact hot-list entries")
    parser.add_argument("--partials", type=int, default=100, help="partial-plate patterns")
    parser.add_argument("--hit-rate", type=float, default=0.001)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--window-ms", type=int, default=50, help="read producer batching window")
    parser.add_argument("--batch", type=int, default=500, help="most reads per batch")
    parser.add_argument("--broker", help="kafka://host:port (default: an embedded broker of its own)")
    parser.add_argument("--out", help="results folder (default loadtest/results/<time>)")
    parser.add_argument("--keep", action="store_true", help="store loadtest/results/state_scale.summary.json")
    args = parser.parse_args(argv)
    if args.workers < 1 or any(rate <= 0 for rate in args.steps):
        parser.error("--workers must be 1 or more and every step's rate more than 0")
    summary = asyncio.run(run(args))
    if args.keep:
        (RESULTS / "state_scale.summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "steps"}, indent=2))
    ok = summary["lost_reads"] == 0 and summary["duplicate_alert_ids"] == 0 and summary["recall"] == 1.0
    return 0 if ok and summary["precision"] == 1.0 else 1
