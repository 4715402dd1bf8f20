"""faust's own path from a dropped fetch to the seek that must fetch it again, with the worker's
consumer (no broker: aiokafka's consumer is a stand-in that behaves as 0.14 does).

faust-streaming 0.15.3 ``Consumer.getmany`` throws away a batch it fetched while a rebalance had
stopped the flow and calls ``perform_seek`` instead; aiokafka's ``seek_to_committed`` leaves a
partition without a committed offset where the fetch left it, and the offsets acked after the
dropped records are then committed over them (faust-streaming issues 216, 221;
tests/integration/test_rebalance_commit.py shows aiokafka's side against a real broker).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition
from aiokafka.consumer.fetcher import OffsetResetStrategy

from streams.app import create_worker
from streams.settings import Settings

TP = TopicPartition("agents.candidates", 10)


class FakeFetcher:
    _default_reset_strategy = OffsetResetStrategy.EARLIEST

    def __init__(self, loop: Any) -> None:
        self.loop = loop
        self.resets: list[tuple[list[TopicPartition], int]] = []

    def request_offset_reset(self, tps: list[TopicPartition], strategy: int) -> Any:
        self.resets.append((list(tps), strategy))
        return self.loop.create_future()


class FakeAiokafka:
    """What aiokafka 0.14's consumer does here: no commit, so no seek."""

    def __init__(self, loop: Any) -> None:
        self._fetcher = FakeFetcher(loop)

    async def seek_to_committed(self) -> dict[TopicPartition, int | None]:
        return {TP: None}


def record(offset: int) -> Any:
    return SimpleNamespace(
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=b"v",
        headers=[],
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=1,
    )


async def test_a_batch_dropped_while_the_flow_is_stopped_is_fetched_again() -> None:
    settings = Settings.from_env({"ALPR_METRICS_PORT": "0", "ALPR_TOPIC_PREFIX": "agents."})
    app = create_worker(settings).app
    app.finalize()
    consumer = app.consumer
    thread = consumer._thread
    fake = FakeAiokafka(asyncio.get_running_loop())
    thread._consumer = fake

    async def in_thread(fun: Any, *args: Any, **kwargs: Any) -> Any:
        return await fun(*args, **kwargs)

    thread.call_thread = in_thread  # the consumer thread's loop is this one in this test

    async def next_records(timeout: float) -> Any:
        consumer.stop_flow()  # a rebalance begins while the fetch is under way
        return {TP: [record(offset) for offset in range(5)]}, {TP}

    consumer._wait_next_records = next_records
    delivered = [message async for _tp, message in consumer.getmany(timeout=1.0)]
    assert delivered == []  # faust dropped the batch aiokafka had handed over (its position: 5)
    assert fake._fetcher.resets == [([TP], OffsetResetStrategy.EARLIEST)]  # and it starts over


async def test_a_record_of_an_earlier_generation_is_never_acked() -> None:
    """faust's stream acks the records it skips after a rebalance (PR 223); the worker's consumer
    refuses those acks, so the commit cannot pass a record before its copy is processed."""
    settings = Settings.from_env({"ALPR_METRICS_PORT": "0", "ALPR_TOPIC_PREFIX": "agents."})
    app = create_worker(settings).app
    app.finalize()
    consumer = app.consumer
    app.topics.acks_enabled_for = lambda _topic: True
    app.consumer_generation_id = 3
    app.flow_control.resume()

    class Message(SimpleNamespace):  # weak-referenceable and hashable, as faust's messages are
        __slots__ = ("__weakref__",)
        __hash__ = object.__hash__

    def message(offset: int, generation: int) -> Any:
        return Message(acked=False, tp=TP, offset=offset, topic=TP.topic, generation_id=generation)

    old = message(1, 2)
    assert consumer.ack(old) is False and not old.acked and 1 not in consumer._acked_index[TP]
    app.flow_control.suspend()  # a rebalance has begun
    during = message(2, 3)
    assert consumer.ack(during) is False and not during.acked
    app.flow_control.resume()
    current = message(3, 3)
    assert consumer.ack(current) is True and current.acked and 3 in consumer._acked_index[TP]
