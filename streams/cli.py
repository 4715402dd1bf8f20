"""``alpr``: the one command-line entry point."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from streams.errors import AlprError
from streams.settings import Settings

__all__ = ["main"]

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def _broker(settings: Settings, args: argparse.Namespace) -> int:
    from streams.kafka.broker import EmbeddedBroker

    if settings.broker_url is not None and args.action == "start":
        print(f"ALPR_BROKER_URL={settings.broker_url} is set: using that Kafka, no embedded broker started")
        return 0
    broker = EmbeddedBroker(settings.state_dir, args.port or settings.embedded_port)
    if args.action == "start":
        pid = broker.start()
        print(f"embedded broker running on {broker.bootstrap} (pid {pid}); log {broker.log_file}")
    elif args.action == "stop":
        print("stopped" if broker.stop() else "not running")
    else:
        print(broker.status())
        return 0 if broker.pid() is not None else 3
    return 0


def _topics(settings: Settings, args: argparse.Namespace) -> int:
    from streams.kafka.topics import create_topics, describe_topics, topic_specs

    if args.create:
        created = asyncio.run(create_topics(settings))
        print(f"created {len(created)} topics" + (f": {', '.join(created)}" if created else ""))
    described = asyncio.run(describe_topics(settings))
    specs = {settings.topic(s.name): s for s in topic_specs(settings)}
    print(f"{'topic':<28} {'parts':>5} {'cleanup':<8} {'retention.ms':>14} {'segment.ms':>11}  holds")
    for name, spec in specs.items():
        cfg = described.get(name, {})
        if not cfg:
            print(
                f"{name:<28} {'-':>5} MISSING (declared: {spec.cleanup_policy}); run 'alpr topics --create'"
            )
            continue
        print(
            f"{name:<28} {cfg.get('partitions', '?'):>5} {cfg.get('cleanup.policy', '?'):<8} "
            f"{cfg.get('retention.ms', '-'):>14} {cfg.get('segment.ms', '-'):>11}  {spec.holds}"
        )
    if settings.broker_url is None:
        print("note: the embedded broker stores these configs but does not enforce retention or compaction")
    return 0


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from streams.app import run_worker

    run_worker(settings)
    return 0


def _hotlist(settings: Settings, args: argparse.Namespace) -> int:
    from streams.hotlists.publish import publish_entries
    from streams.hotlists.records import load_entries_file

    entries = []
    refused = 0
    now = datetime.now(UTC)
    for path in args.files:
        loaded, problems = load_entries_file(Path(path), loaded_at=now)
        entries += loaded
        refused += len(problems)
        for problem in problems:
            print(problem, file=sys.stderr)
    published = asyncio.run(publish_entries(settings, entries))
    print(f"loaded {published} entries into {settings.topic('hotlist')}; refused {refused}")
    return 0


def _simulate(settings: Settings, args: argparse.Namespace) -> int:
    from streams.dev import simulate

    sent = asyncio.run(
        simulate(settings, args.cameras, args.rate, args.duration, args.hit_rate, Path(args.hotlist))
    )
    print(f"sent {sent} reads")
    return 0


def _alerts(settings: Settings, args: argparse.Namespace) -> int:
    from streams.alerts.tail import alert_line, follow_topic

    async def run() -> int:
        count = 0
        async for _key, alert in follow_topic(
            settings.bootstrap_servers,
            settings.topic("alerts"),
            from_beginning=not args.new,
            idle_timeout=args.timeout,
        ):
            if alert is None:
                continue
            print(alert_line(alert), flush=True)
            count += 1
            if args.max and count >= args.max:
                break
        return count

    asyncio.run(run())
    return 0


def _match(settings: Settings, args: argparse.Namespace) -> int:
    from streams.app import new_index
    from streams.matching.offline import match_files

    index = new_index(settings)
    now = datetime.now(UTC)
    hotlists = [Path(p) for p in args.hotlist]
    if args.out:
        with open(args.out, "wb") as out:
            report = match_files(index, hotlists, Path(args.reads), out, sys.stderr, now)
    else:
        report = match_files(index, hotlists, Path(args.reads), sys.stdout.buffer, sys.stderr, now)
        sys.stdout.flush()
    print(
        f"{report.entries} entries ({report.refused} refused), {report.reads} reads "
        f"({report.rejected} rejected), {report.alerts} alerts",
        file=sys.stderr,
    )
    return 0


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from streams.dev import run_all

    return run_all(settings, duration=args.duration, rate=args.rate, cameras=args.cameras)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alpr", description="ALPR streaming hot-list matcher")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "run", help="everything for a demo: broker, topics, worker, sample hot list, camera feed"
    )
    p.add_argument("--duration", type=float, default=None, help="seconds, then stop (default: until Ctrl-C)")
    p.add_argument("--rate", type=float, default=200.0, help="reads per second of the simulated feed")
    p.add_argument("--cameras", type=int, default=490)
    p.set_defaults(func=_run)

    p = sub.add_parser("broker", help="the embedded broker (Tansu) on 127.0.0.1")
    p.add_argument("action", choices=["start", "stop", "status"])
    p.add_argument("--port", type=int, default=None, help="default: ALPR_EMBEDDED_PORT or 19092")
    p.set_defaults(func=_broker)

    p = sub.add_parser("topics", help="print the topics as the broker reports them")
    p.add_argument("--create", action="store_true", help="create missing topics with their configs first")
    p.set_defaults(func=_topics)

    p = sub.add_parser("worker", help="run the stream worker")
    p.set_defaults(func=_worker)

    p = sub.add_parser("hotlist", help="hot lists")
    hot = p.add_subparsers(dest="action", required=True)
    h = hot.add_parser("load", help="load NDJSON hot-list entries into the hot-list topic")
    h.add_argument("files", nargs="+")
    h.set_defaults(func=_hotlist)

    p = sub.add_parser("simulate", help="a simulated feed of cameras")
    p.add_argument("--cameras", type=int, default=490)
    p.add_argument("--rate", type=float, default=200.0, help="reads per second")
    p.add_argument("--duration", type=float, default=None, help="seconds (default: until Ctrl-C)")
    p.add_argument("--hit-rate", type=float, default=0.01, help="share of reads of listed plates")
    p.add_argument("--hotlist", default=str(SAMPLES / "hotlist.ndjson"))
    p.set_defaults(func=_simulate)

    p = sub.add_parser("alerts", help="print alerts from the alerts topic")
    p.add_argument("--new", action="store_true", help="only alerts raised from now on")
    p.add_argument("--max", type=int, default=0, help="stop after this many")
    p.add_argument("--timeout", type=float, default=None, help="stop after this many idle seconds")
    p.set_defaults(func=_alerts)

    p = sub.add_parser("match", help="match reads against hot lists offline (no broker)")
    p.add_argument("--hotlist", action="append", required=True, help="NDJSON hot-list entries (repeatable)")
    p.add_argument("--reads", required=True, help="NDJSON reads or read batches")
    p.add_argument("--out", help="write alerts here (NDJSON) instead of standard output")
    p.set_defaults(func=_match)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    try:
        settings = Settings.from_env()
        return int(args.func(settings, args))
    except AlprError as exc:
        print(f"alpr: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
