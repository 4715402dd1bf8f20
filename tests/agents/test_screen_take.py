"""The screen agent takes records in batches and acks them after screening them (issue 19), so a
batch taken before a rebalance is often acked during it: the ack is refused (its records are
screened again, tests/agents/test_commit.py), and the rebalance must not wait for it forever."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition

from streams.app import create_worker
from streams.settings import Settings

TP = TopicPartition("agents.reads", 4)


class Message(SimpleNamespace):  # weak-referenceable and hashable, as faust's messages are
    __slots__ = ("__weakref__",)
    __hash__ = object.__hash__


async def test_a_refused_ack_does_not_hold_up_the_rebalance() -> None:
    settings = Settings.from_env({"ALPR_METRICS_PORT": "0", "ALPR_TOPIC_PREFIX": "agents."})
    app = create_worker(settings).app
    app.finalize()
    consumer = app.consumer
    app.topics.acks_enabled_for = lambda _topic: True
    app.consumer_generation_id = 3
    app.flow_control.resume()

    def taken(offset: int) -> Any:
        message = Message(acked=False, tp=TP, offset=offset, topic=TP.topic, generation_id=3)
        consumer._unacked_messages.add(message)  # what faust's stream does as it hands it on
        return message

    batch = [taken(offset) for offset in range(3)]
    app.flow_control.suspend()  # a rebalance begins while the batch is screened
    assert [consumer.ack(m) for m in batch] == [False, False, False]
    # still referred to (faust's stream iterator keeps its last one), yet nothing left to wait for
    assert not consumer._unacked_messages and not any(m.acked for m in batch)
    assert not any(offset in consumer._acked_index[TP] for offset in range(3))  # never committed
    await consumer.wait_empty()  # returns at once
