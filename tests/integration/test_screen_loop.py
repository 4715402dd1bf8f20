"""The worker's own screen loop (streams/screening.py) through a real broker: what happens when it
dies between Kafka's acknowledgement of a batch's outputs and the commit of its offsets, and when
its partitions are taken away while it holds a batch.

The loops run in this process (so the test decides when they stop or hold), each with the
pipeline, hot-list view and alerts memory ``streams.app.create_worker`` builds, on generated
traffic whose ground truth is known; the checks are test_faults_worker's (Load.check): every
expected alert on the topic exactly once, nothing else, every refused read on the rejected topic,
and the group's commits at the ends of the reads and candidates topics.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry, Counter

from streams.app import create_worker, utcnow
from streams.kafka.log import TopicFollower
from streams.screening import ScreenLoop
from tests.integration import test_faults_worker
from tests.integration.kafka_helpers import read_topic
from tests.integration.test_faults_worker import Load

pytestmark = pytest.mark.integration

load = test_faults_worker.load  # the fault tests' fixture: a Load per call, each stopped after


class Crash(Exception):
    """The process dying at this point (nothing after it runs)."""


class CrashBeforeCommit(ScreenLoop):
    """Dies at the commit of the first batch that raised alerts: they are on Kafka by then (sent
    and acknowledged), the batch's offsets not committed."""

    async def _send(self, produced: list[tuple[Any, TopicPartition, int]]) -> None:
        await super()._send(produced)
        if any(out.alerts for out, _tp, _offset in produced):
            assert self.consumer is not None

            async def crash(_offsets: Any) -> None:
                raise Crash("killed between Kafka's acknowledgement and the commit")

            self.consumer.commit = crash  # type: ignore[method-assign]


class CrashWhileSending(ScreenLoop):
    """Dies in the middle of sending the first batch that raises alerts: some of its outputs may be
    on Kafka, none acknowledged as a whole, its offsets must not be committed."""

    async def _send(self, produced: list[tuple[Any, TopicPartition, int]]) -> None:
        if any(out.alerts for out, _tp, _offset in produced):
            raise Crash("killed while sending a batch's outputs")
        await super()._send(produced)


class HoldsABatch(ScreenLoop):
    """Holds the first batch it fetches until released, and says when a revoke of its partitions
    has begun; remembers the offsets of the held batch."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.holding = asyncio.Event()
        self.release = asyncio.Event()
        self.revoking = asyncio.Event()
        self.held: dict[TopicPartition, int] = {}
        self.committed_held: dict[TopicPartition, int] = {}

    async def process(self, batch: dict[TopicPartition, list[Any]]) -> None:
        if self.release.is_set():
            await super().process(batch)
            return
        self.held = {tp: records[-1].offset + 1 for tp, records in batch.items()}
        self.holding.set()
        await self.release.wait()
        assert self.consumer is not None
        commit = self.consumer.commit

        async def recorded(offsets: dict[TopicPartition, int]) -> None:
            await commit(offsets)  # a refusal (the group moved on) raises and is not recorded
            self.committed_held = dict(offsets)

        self.consumer.commit = recorded  # type: ignore[method-assign]
        try:
            await super().process(batch)
        finally:
            self.consumer.commit = commit  # type: ignore[method-assign]

    async def on_partitions_revoked(self, revoked: Any) -> None:
        if revoked:
            self.revoking.set()
        await super().on_partitions_revoked(revoked)


@asynccontextmanager
async def screen_loop(
    run: Load, kind: Callable[..., ScreenLoop] = ScreenLoop
) -> AsyncIterator[tuple[ScreenLoop, asyncio.Task[None]]]:
    """A worker's screen loop in this process: its hot list loaded and its alerts memory read back
    and followed, as ``alpr worker`` has them before it screens."""
    built = create_worker(run.settings)
    pipeline = built.pipeline
    memory = TopicFollower(
        run.settings.kafka, [run.alerts], lambda _tp, record: pipeline.remember(record.value)
    )
    view = asyncio.create_task(built.view.run())
    since = utcnow() - pipeline.memory_span - timedelta(minutes=1)
    await memory.start(int(since.timestamp() * 1000))
    following = asyncio.create_task(memory.run())
    await asyncio.wait_for(built.view.wait_ready(), 60)

    async def no_registry(_ms: float) -> bool:
        return False  # make_env: cameras need no registration here

    not_stored = Counter("alpr_not_stored", "test", ["record"], registry=CollectorRegistry())
    stage = kind(
        run.settings,
        pipeline,
        built.metrics,
        not_stored,
        registry_as_of=no_registry,
        catch_up_memory=memory.caught_up,
    )
    task = asyncio.create_task(stage.run())
    try:
        yield stage, task
    finally:
        for one in (task, following, view):
            one.cancel()
        await asyncio.gather(task, following, view, return_exceptions=True)
        await memory.stop()


async def crash(run: Load, kind: Callable[..., ScreenLoop]) -> None:
    """Send the load's reads to a loop of ``kind`` and wait for it to die of its :class:`Crash`."""
    await run.prepare()
    async with screen_loop(run, kind) as (_stage, task):
        await run.send(0, len(run.reads))
        with pytest.raises(Crash):
            await asyncio.wait_for(task, 120)


async def test_a_crash_between_the_acknowledgement_and_the_commit_screens_again_and_raises_nothing_twice(
    load,
) -> None:
    run = load(reads=2_000, seed=41)
    await crash(run, CrashBeforeCommit)
    alerts_before = len(await read_topic(run.settings.kafka, run.alerts))
    assert alerts_before > 0, "the crashed batch's alerts were acknowledged before the commit"
    async with screen_loop(run):
        run.check(*await run.settled(timeout=120))


async def test_a_crash_while_sending_commits_nothing_of_the_batch_and_its_alerts_come_after_the_restart(
    load,
) -> None:
    """Never ahead: the offsets of a batch whose outputs were not all acknowledged stay uncommitted,
    so the restarted loop screens it again and every alert comes, once."""
    run = load(reads=2_000, seed=41)
    await crash(run, CrashWhileSending)
    async with screen_loop(run):
        run.check(*await run.settled(timeout=120))


async def test_a_revoke_while_a_batch_is_in_hand_commits_it_first_and_loses_nothing(load) -> None:
    run = load(reads=4_000, seed=42)
    await run.prepare()
    async with screen_loop(run, HoldsABatch) as (first, _task):
        assert isinstance(first, HoldsABatch)
        await run.send(0, 2_000)
        await asyncio.wait_for(first.holding.wait(), 60)
        async with screen_loop(run) as (second, _):
            await asyncio.wait_for(first.revoking.wait(), 60)  # the second joined: a rebalance
            first.release.set()
            await run.send(2_000, 4_000)
            run.check(*await run.settled(timeout=120))
            # the batch in hand was committed by its loop before the partitions were given up
            assert first.committed_held == first.held
            assert second.metrics.reads._value.get() > 0, "the second loop took partitions over"  # noqa: SLF001
