"""``alpr`` commands that run the system: the broker, topics and retention upkeep, the services
(worker, ingest, console), the demo and the offline matcher."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from streams.cli.common import SAMPLES, Subparsers, _needs, _now, _when, register_commands
from streams.settings import Settings


def _broker(settings: Settings, args: argparse.Namespace) -> int:
    from streams.kafka.broker import EmbeddedBroker

    if settings.broker_url is not None and args.action == "start":
        print(f"ALPR_BROKER_URL={settings.broker_url} is set: using that Kafka, no embedded broker started")
        return 0
    broker = EmbeddedBroker(settings.state_dir, args.port or settings.embedded_port, nodes=args.brokers)
    if args.action == "start":
        started = time.monotonic()
        pid = broker.start()
        print(
            f"embedded Kafka running on {broker.bootstrap} (pid {pid}, {args.brokers} node(s), ready in "
            f"{time.monotonic() - started:.1f} s); data and logs in {broker.folder}"
        )
        if args.brokers > 1:
            print(f"use ALPR_BROKER_URL=kafka://{broker.bootstrap} ALPR_REPLICATION_FACTOR=3 with it")
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
    return 0


def _topics_render(settings: Settings, args: argparse.Namespace) -> int:
    """The topic declaration as deployment files; no broker is contacted."""
    from streams.errors import ConfigError
    from streams.kafka.render import render
    from streams.retention.policy import load_profile

    if args.profile:
        try:
            settings = settings.with_(profile=load_profile(args.profile))
        except ConfigError as exc:
            raise ConfigError(str(exc).replace("ALPR_PROFILE=", "--profile ", 1)) from exc
    sys.stdout.write(render(settings, args.format, cluster=args.cluster))
    return 0


def _retention_check(settings: Settings, args: argparse.Namespace) -> int:
    from streams.retention.check import run_check

    return asyncio.run(run_check(settings))


def _retention_roll(settings: Settings, args: argparse.Namespace) -> int:
    from streams.hotlists.feeder import parse_duration
    from streams.retention.roll import roll_every, roll_once

    if args.every is None:
        written = asyncio.run(roll_once(settings))
        print(f"rolled: a tombstone of the roll key on {written} partitions of the compacted topics")
        return 0
    every = parse_duration(args.every)
    print(f"rolling the compacted topics' segments every {args.every} (Ctrl-C stops)", flush=True)

    def report(written: int) -> None:
        print(f"{datetime.now(UTC).isoformat(timespec='seconds')} rolled {written} partitions", flush=True)

    try:
        asyncio.run(roll_every(settings, every, report))
    except KeyboardInterrupt:
        pass
    return 0


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from streams.app import run_worker

    run_worker(settings)
    return 0


def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cameras.ingest import serve

    asyncio.run(serve(settings, _now))
    return 0


def _console(settings: Settings, args: argparse.Namespace) -> int:
    from streams.console.server import serve

    asyncio.run(serve(settings, _now))
    return 0


def _demo_code(settings: Settings, args: argparse.Namespace) -> int:
    from streams.dev import demo_code

    print(demo_code(settings, args.user))
    return 0


def _simulate(settings: Settings, args: argparse.Namespace) -> int:
    from streams.dev import simulate

    sent = asyncio.run(
        simulate(
            settings,
            args.cameras,
            args.rate,
            args.duration,
            args.hit_rate,
            Path(args.hotlist),
            args.signed_in,
        )
    )
    print(f"sent {sent} reads")
    return 0


def _match(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import timedelta

    from streams.app import new_index
    from streams.matching.offline import Arrival, match_files
    from streams.reads.lateness import Lateness

    index = new_index(settings)
    arrival = Arrival(
        as_of=_when(args.as_of, "--as-of"),
        retention=settings.profile.read_retention,
        max_skew=timedelta(seconds=settings.max_clock_skew_s),
        lateness=Lateness.of(settings.profile.broker),
    )
    hotlists = [Path(p) for p in args.hotlist]
    if args.out:
        with open(args.out, "wb") as out:
            report = match_files(index, hotlists, Path(args.reads), out, sys.stderr, arrival)
    else:
        report = match_files(index, hotlists, Path(args.reads), sys.stdout.buffer, sys.stderr, arrival)
        sys.stdout.flush()
    print(
        f"{report.entries} entries ({report.refused} refused), {report.reads} reads "
        f"({report.rejected} rejected), {report.alerts} alerts ({report.historical} historical: "
        f"captured more than {settings.profile.live_alert_max_age_minutes} min before "
        f"{arrival.as_of.isoformat()})",
        file=sys.stderr,
    )
    return 0


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from streams.dev import run_all

    return run_all(settings, duration=args.duration, rate=args.rate, cameras=args.cameras)


def _add_run(sub: Subparsers) -> None:
    p = sub.add_parser(
        "run", help="everything for a demo: broker, topics, worker, sample hot list, camera feed"
    )
    p.add_argument("--duration", type=float, default=None, help="seconds, then stop (default: until Ctrl-C)")
    p.add_argument("--rate", type=float, default=200.0, help="reads per second of the simulated feed")
    p.add_argument(
        "--cameras",
        type=int,
        default=490,
        help="simulated mobile units (default 490; the fixed cameras of samples/demo-cameras.toml come too)",
    )
    p.set_defaults(func=_run)


def _add_broker(sub: Subparsers) -> None:
    p = sub.add_parser("broker", help="the embedded Apache Kafka broker on 127.0.0.1 (KRaft)")
    p.add_argument("action", choices=["start", "stop", "status"], help="start, stop or report on the broker")
    p.add_argument("--port", type=int, default=None, help="default: ALPR_EMBEDDED_PORT or 19092")
    p.add_argument(
        "--brokers",
        type=int,
        choices=[1, 3],
        default=1,
        help="nodes: 1, or 3 (on ports PORT..PORT+2: replication factor 3, min.insync.replicas 2)",
    )
    p.set_defaults(func=_broker)


def _add_topics(sub: Subparsers) -> None:
    p = sub.add_parser(
        "topics", help="print the topics as the broker reports them; 'topics render' for deployment files"
    )
    p.add_argument("--create", action="store_true", help="create missing topics with their configs first")
    p.set_defaults(func=_topics)
    top = p.add_subparsers(dest="action", metavar="render")
    t = top.add_parser(
        "render",
        help="print the declared topics or Kafka users as deployment files (deploy/kafka/); needs no broker",
        description="Render the topic declaration (streams/kafka/topics.py) for ALPR_TOPIC_PREFIX, "
        "ALPR_PARTITIONS and the profile, with replication factor 3 and min.insync.replicas 2; or the "
        "services' Kafka principals and ACLs (streams/kafka/principals.py) for ALPR_TOPIC_PREFIX and "
        "ALPR_APP_ID.",
    )
    t.add_argument(
        "--format",
        required=True,
        choices=["strimzi", "kafka-configs", "strimzi-users", "kafka-acls"],
        help="strimzi: KafkaTopic resources (kafka.strimzi.io/v1); kafka-configs: a kafka-topics.sh "
        "script; strimzi-users: KafkaUser resources (SCRAM-SHA-512, ACLs); kafka-acls: a kafka-acls.sh "
        "script",
    )
    t.add_argument("--profile", help="agency profile to render for (default: ALPR_PROFILE, else san_jose)")
    t.add_argument("--cluster", default="alpr", help="Strimzi Kafka cluster name (default: alpr)")
    t.set_defaults(func=_topics_render)


def _add_retention(sub: Subparsers) -> None:
    p = sub.add_parser(
        "retention", help="retention: check the cluster's topics against the profile (P11, P14)"
    )
    ret = p.add_subparsers(dest="action", required=True)
    r = ret.add_parser(
        "check", help="exit non-zero naming every topic that can keep data longer than allowed"
    )
    r.set_defaults(func=_retention_check)
    r = ret.add_parser(
        "roll",
        help="append a no-op tombstone to every compacted topic's partitions so that quiet ones "
        "roll their segments and released holds, old credentials and keys get compacted away",
    )
    r.add_argument("--every", help="repeat at this interval (e.g. 1h; at most the compacted segment.ms)")
    r.set_defaults(func=_retention_roll)


def _add_worker(sub: Subparsers) -> None:
    p = sub.add_parser("worker", help="run the stream worker")
    p.set_defaults(func=_worker)


def _add_simulate(sub: Subparsers) -> None:
    p = sub.add_parser("simulate", help="a simulated feed of cameras")
    p.add_argument("--cameras", type=int, default=490, help="how many simulated cameras (default 490)")
    p.add_argument("--rate", type=float, default=200.0, help="reads per second")
    p.add_argument("--duration", type=float, default=None, help="seconds (default: until Ctrl-C)")
    p.add_argument(
        "--hit-rate",
        type=float,
        default=0.01,
        help="share of reads of a listed vehicle, when one is in view of a camera",
    )
    p.add_argument(
        "--hotlist",
        default=str(SAMPLES / "hotlist.ndjson"),
        help="hot list (NDJSON) whose plates the hits are drawn from (default: the sample list)",
    )
    _needs(p, "camera.admin")  # it registers its cameras (P21): a signed-in administrator
    p.set_defaults(func=_simulate)


def _add_console(sub: Subparsers) -> None:
    p = sub.add_parser("console", help="the dispatch console and CAD API (http://127.0.0.1:8080)")
    p.set_defaults(func=_console)


def _add_demo_code(sub: Subparsers) -> None:
    p = sub.add_parser("demo-code", help="an 'alpr run' demo user's current authenticator code")
    p.add_argument("--user", default="demo", help="demo (analyst), demo-lt (lieutenant) or demo-admin")
    p.set_defaults(func=_demo_code)


def _add_ingest(sub: Subparsers) -> None:
    p = sub.add_parser(
        "ingest",
        help="the HTTP endpoint cameras post reads to (POST /v1/reads on ALPR_INGEST_HOST:ALPR_INGEST_PORT)",
    )
    p.set_defaults(func=_ingest)


def _add_match(sub: Subparsers) -> None:
    p = sub.add_parser("match", help="match reads against hot lists offline (no broker)")
    p.add_argument(
        "--hotlist",
        action="append",
        required=True,
        help="NDJSON hot-list entries (repeatable, oldest first: each file is a refresh as of its oldest "
        "synced_at; P4 is judged as of each read; files without synced_at are taken as current at each read)",
    )
    p.add_argument("--reads", required=True, help="NDJSON reads or read batches")
    p.add_argument("--out", help="write alerts here (NDJSON) instead of standard output")
    p.add_argument(
        "--as-of",
        default="now",
        help="the time the reads are taken to arrive (RFC 3339, now, now-2h; default now): reads "
        "older than the profile's live-alert age then raise HISTORICAL READ alerts, reads past "
        "the retention are rejected, as in the stream",
    )
    p.set_defaults(func=_match)


_COMMANDS: dict[str, Callable[[Subparsers], None]] = {
    "run": _add_run,
    "broker": _add_broker,
    "topics": _add_topics,
    "retention": _add_retention,
    "worker": _add_worker,
    "simulate": _add_simulate,
    "console": _add_console,
    "demo-code": _add_demo_code,
    "ingest": _add_ingest,
    "match": _add_match,
}


def register(sub: Subparsers, *names: str) -> None:
    """Add the commands named (all of this module's by default), in the order given: `alpr --help`
    lists the commands in the order build_parser registers them."""
    register_commands(sub, _COMMANDS, names)
