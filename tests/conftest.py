"""Shared fixtures: one embedded Kafka broker per test session (per xdist worker), random topic
names per test."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from streams.kafka.broker import EmbeddedBroker, free_port
from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """Apache Kafka (KRaft, one node) on a free port, its data in a temporary folder."""
    embedded = EmbeddedBroker(tmp_path_factory.mktemp("broker"), free_port())
    embedded.start()
    yield embedded
    embedded.stop()


def make_env(broker: EmbeddedBroker, state_root: Path, **extra: str) -> dict[str, str]:
    """Environment for a process of ours: the session broker, fresh topic names, group and ports."""
    tag = uuid.uuid4().hex[:10]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALPR_")}
    env.update(
        ALPR_BROKER_URL=f"kafka://{broker.bootstrap}",
        ALPR_TOPIC_PREFIX=f"t{tag}.",
        ALPR_APP_ID=f"alpr-test-{tag}",
        ALPR_STATE_DIR=str(state_root / f"state-{tag}"),
        ALPR_METRICS_PORT=str(free_port()),
        ALPR_CONSOLE_PORT=str(free_port()),
        ALPR_LOG_LEVEL="info",
        # Tests of other features send reads from cameras they do not register; the camera check
        # is tested with its default (on) in test_camera_reads.py and through `alpr run`.
        ALPR_REQUIRE_REGISTERED_CAMERA="false",
    )
    env.update(extra)
    return env


@pytest.fixture()
def env_factory(broker: EmbeddedBroker, tmp_path: Path) -> Callable[..., dict[str, str]]:
    def make(**extra: str) -> dict[str, str]:
        return make_env(broker, tmp_path, **extra)

    return make


@pytest.fixture()
def topics_env(env_factory: Callable[..., dict[str, str]]) -> dict[str, str]:
    """An environment whose (fresh) topics exist with their declared configs."""
    import asyncio

    from streams.kafka.topics import create_topics

    env = env_factory()
    asyncio.run(create_topics(settings_of(env)))
    return env


def settings_of(env: dict[str, str]) -> Settings:
    return Settings.from_env(env)


def alpr(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real ``alpr`` entry point in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class AlprProcess:
    """A long-running ``alpr`` command (the worker, the console) with its output in a log file."""

    def __init__(self, env: dict[str, str], log_path: Path, command: str = "worker") -> None:
        self.env = env
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", command],
            env=env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.2) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
