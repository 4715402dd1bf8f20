"""Shared fixtures: one embedded Kafka broker per test session (per xdist worker), fresh topics
per test (made a test ahead and deleted after it: :class:`TopicSets`)."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from streams.kafka.broker import EmbeddedBroker, free_port
from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("tests")


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """Apache Kafka (KRaft, one node) on a free port, its data in a temporary folder."""
    embedded = EmbeddedBroker(tmp_path_factory.mktemp("broker"), free_port())
    embedded.start()
    yield embedded
    TopicSets.of(embedded.bootstrap).close()
    embedded.stop()


#: The variables that differ between the environments :func:`make_env` makes on one broker: topic
#: sets (and a cast of users, tests/integration/test_hotlists.py) made under other values of these
#: serve every environment whose other variables are the same.
PER_TEST_VARS = (
    "ALPR_TOPIC_PREFIX",
    "ALPR_APP_ID",
    "ALPR_STATE_DIR",
    "ALPR_METRICS_PORT",
    "ALPR_CONSOLE_PORT",
)


def env_kind(env: dict[str, str]) -> frozenset[tuple[str, str]]:
    """What an environment's topics and directory depend on: its settings (the ALPR_ variables)
    but :data:`PER_TEST_VARS` (the others, such as PYTEST_CURRENT_TEST, change every test)."""
    return frozenset((k, v) for k, v in env.items() if k.startswith("ALPR_") and k not in PER_TEST_VARS)


class TopicSets:
    """Fresh topic sets for the tests of one process on one broker, each made a test ahead, and
    deleted when their test ends.

    Kafka answers CreateTopics at once, but a new topic serves only once its partitions' leaders
    have made their logs, about 2 s later on one node, and every test waited for that. Each set is
    made (in a background thread, with ``create_topics``, which waits for the leaders) while the
    test before runs; a set is never given out twice. Deleting a test's topics when it ends keeps
    the broker's metadata, which every client fetches whole, many times per command, as small
    as at the start of the run (with ~75 sets left behind a fetch took 15 times as long)."""

    _BY_BROKER: dict[str, TopicSets] = {}

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="topic-sets")
        self._ahead: dict[frozenset[tuple[str, str]], tuple[str, Future[list[str]]]] = {}
        self._asked: set[frozenset[tuple[str, str]]] = set()

    @classmethod
    def of(cls, bootstrap: str) -> TopicSets:
        if bootstrap not in cls._BY_BROKER:
            cls._BY_BROKER[bootstrap] = cls()
        return cls._BY_BROKER[bootstrap]

    def fresh(self, env: dict[str, str]) -> dict[str, str]:
        """``env`` on a prefix whose topics all exist with their declared configs and serve, and
        on which nothing was written; makes the next set of this kind of environment."""
        from streams.kafka.topics import create_topics

        kind = env_kind(env)
        ahead = self._ahead.pop(kind, None)
        failed = ahead[1].exception(timeout=120) if ahead is not None else None  # done by now, mostly
        if ahead is not None and failed is None:
            env = {**env, "ALPR_TOPIC_PREFIX": ahead[0]}
        else:
            if failed is not None:
                log.warning("topics made ahead on %s failed (%s): making them now", ahead, failed)
            asyncio.run(create_topics(settings_of(env)))
        if kind in self._asked:  # a kind asked for once only gets no set it would not use
            prefix = f"t{uuid.uuid4().hex[:10]}."
            settings = settings_of({**env, "ALPR_TOPIC_PREFIX": prefix})
            self._ahead[kind] = (prefix, self._pool.submit(lambda: asyncio.run(create_topics(settings))))
        self._asked.add(kind)
        return env

    def delete(self, env: dict[str, str]) -> None:
        """Delete the topics of ``env``'s prefix, in the background (the next set waits for it). A
        deletion that fails leaves topics no test uses: a warning in the log, not a failure."""
        settings = settings_of(env)
        done = self._pool.submit(lambda: asyncio.run(delete_topics(settings)))

        def report(future: Future[list[str]]) -> None:
            if not future.cancelled() and future.exception() is not None:
                log.warning("could not delete the topics %s*: %s", settings.topic_prefix, future.exception())

        done.add_done_callback(report)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._BY_BROKER.pop(next(k for k, v in self._BY_BROKER.items() if v is self), None)


async def delete_topics(settings: Settings) -> list[str]:
    """Delete every topic of the prefix of ``settings``; returns their names."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**settings.kafka.options(), request_timeout_ms=15000)
    await admin.start()
    try:
        names = [n for n in await admin.list_topics() if n.startswith(settings.topic_prefix)]
        if names:
            await admin.delete_topics(names)
        return names
    finally:
        await admin.close()


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
def env_factory(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[Callable[..., dict[str, str]]]:
    """Environments on fresh prefixes; whatever topics the test made on them are deleted after it."""
    made: list[dict[str, str]] = []

    def make(**extra: str) -> dict[str, str]:
        env = make_env(broker, tmp_path, **extra)
        made.append(env)
        return env

    yield make
    for env in made:
        if env.get("ALPR_BROKER_URL") == f"kafka://{broker.bootstrap}":  # not a broker the test ran
            TopicSets.of(broker.bootstrap).delete(env)


@pytest.fixture()
def topics_env(
    broker: EmbeddedBroker, env_factory: Callable[..., dict[str, str]]
) -> Iterator[dict[str, str]]:
    """An environment whose (fresh) topics exist with their declared configs; deleted after the test."""
    sets = TopicSets.of(broker.bootstrap)
    env = sets.fresh(env_factory())
    yield env
    sets.delete(env)


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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files that run on the broker (integration, e2e: seconds to minutes each) first, the unit tests
    (many short files) last: with ``--dist loadfile --no-loadscope-reorder`` (make test) the two
    workers end on short files and finish together, instead of one of them starting a minutes-long
    broker file while the other has nothing left (xdist's default order, by number of tests per
    file, puts the few-test broker files last)."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/unit/"))  # stable: file order kept
