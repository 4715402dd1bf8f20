"""Benchmark of signing in (issue 15): answer time for unknown and known names, and how fast a
revocation reaches another process.

On a fresh embedded broker, with one real user in the directory:
- N refused sign-ins with an unknown name and N with the known name and a wrong password (each
  from its own source, so no lockout interferes): median and p95 answer times. They must be alike
  (argon2 runs against a decoy hash for unknown names), so the time says nothing about who exists;
- the event loop's longest stall while sign-ins run (argon2 runs on a thread: /healthz stays fast);
- R rounds of: sign in through one Authenticator, disable the user through the directory, and
  time until a second Authenticator (another process's view) refuses the session.
Prints the numbers and stores loadtest/results/bench_signin.summary.json.

    python -m loadtest.bench_signin --attempts 40 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streams.access.authn import Authenticator
from streams.access.directory import Agency, DirectoryStore
from streams.access.principal import Principal
from streams.access.totp import code_at
from streams.errors import AccessDenied, NotSignedIn
from streams.kafka.broker import KAFKA_VERSION, EmbeddedBroker, free_port
from streams.kafka.topics import create_topics
from streams.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"
ADMIN = Principal("bench-admin", "Bench Admin", "SJPD", "administrator", badge="B-0")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def stall_watch(stalls: list[float], stop: asyncio.Event) -> None:
    """The longest gap between 10 ms ticks of the event loop."""
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(0.01)
        now = time.perf_counter()
        stalls.append(now - last - 0.01)
        last = now


async def refused_times(auth: Authenticator, name: str, attempts: int, tag: str) -> list[float]:
    times = []
    for i in range(attempts):
        start = time.perf_counter()
        try:
            await auth.sign_in(
                name,
                "wrong-password-123",
                "000000",
                source=f"{tag}-{i}",
                channel="api",
                now=datetime.now(UTC),
            )
        except AccessDenied:
            pass
        times.append(time.perf_counter() - start)
    return times


async def bench(settings: Settings, attempts: int, rounds: int) -> dict[str, Any]:
    await create_topics(settings)
    store = DirectoryStore(settings)
    now = datetime.now(UTC)
    await store.add_agency(
        Agency("SJPD", "San José Police Department", "municipal_police", "CA", "home"), ADMIN, now
    )
    users = []
    for n in range(rounds + 1):
        name = f"kim{n}"
        _, secret = await store.add_user(
            name, "correct-horse-battery", display=name, badge=f"K-{n}", agency="SJPD", role="analyst",
            by=ADMIN, now=now,
        )  # fmt: skip
        await store.record_training(name, "ALPR user training", "2026-10-01", ADMIN, now)
        users.append((name, secret))
    async with Authenticator(settings) as console, Authenticator(settings) as other:
        await console.caught_up()
        stalls: list[float] = []
        stop = asyncio.Event()
        watcher = asyncio.create_task(stall_watch(stalls, stop))
        unknown = await refused_times(console, "nobody-here", attempts, "u")
        known = await refused_times(console, users[0][0], attempts, "k")
        stop.set()
        await watcher
        revocations = []
        for name, secret in users[1:]:
            signed = await console.sign_in(
                name, "correct-horse-battery", code_at(secret, datetime.now(UTC)), source="desk",
                channel="console", now=datetime.now(UTC),
            )  # fmt: skip
            await other.caught_up()
            other.principal(signed.token, datetime.now(UTC))
            start = time.perf_counter()
            await store.set_active(name, False, ADMIN, datetime.now(UTC))
            while True:
                try:
                    other.principal(signed.token, datetime.now(UTC))
                except NotSignedIn:
                    break
                await asyncio.sleep(0.005)
            revocations.append(time.perf_counter() - start)
    return {
        "kafka": KAFKA_VERSION,
        "attempts": attempts,
        "unknown_name_ms": {
            "median": statistics.median(unknown) * 1e3,
            "p95": percentile(unknown, 0.95) * 1e3,
        },
        "known_name_ms": {"median": statistics.median(known) * 1e3, "p95": percentile(known, 0.95) * 1e3},
        "event_loop_longest_stall_ms": max(stalls) * 1e3,
        "revocation_to_other_process_ms": {
            "median": statistics.median(revocations) * 1e3,
            "max": max(revocations) * 1e3,
            "rounds": rounds,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench_signin")
    parser.add_argument("--attempts", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="alpr-bench-signin-") as tmp:
        broker = EmbeddedBroker(Path(tmp) / "broker", free_port())
        broker.start()
        try:
            settings = Settings.from_env(
                {"ALPR_BROKER_URL": f"kafka://{broker.bootstrap}", "ALPR_STATE_DIR": str(Path(tmp) / "state")}
            )
            summary = asyncio.run(bench(settings, args.attempts, args.rounds))
        finally:
            broker.stop()
    print(json.dumps(summary, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_signin.summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
