"""The read producer's batching window, with a fake Kafka client (the real path is
tests/integration/test_producer.py and the ingest tests)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streams.errors import BrokerError
from streams.kafka.connection import Connection
from streams.reads.producer import ReadProducer
from tests.factories import read_dict


class FlakyKafka:
    """Refuses the first send (a broker that just went away), then acknowledges everything."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.refused = 0

    async def send(self, topic: str, value: bytes, partition: int) -> asyncio.Future[Any]:
        if not self.refused:
            self.refused += 1
            raise ConnectionError("broker went away")
        self.sent.append(value)
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def stop(self) -> None:
        pass


async def test_a_batch_that_fails_does_not_stop_the_window_from_sending_the_next() -> None:
    """The reads of the failed batch get the error (the caller, e.g. the ingest, answers 503);
    reads sent afterwards still leave within the window instead of waiting forever."""
    producer = ReadProducer(Connection("127.0.0.1:9"), "reads", window_ms=20, max_reads=1000)
    fake = FlakyKafka()
    producer._producer = fake  # type: ignore[assignment]  # noqa: SLF001
    producer._partitions = 1  # noqa: SLF001
    producer._ticker = asyncio.create_task(producer._tick())  # noqa: SLF001
    try:
        first = await producer.send(read_dict(read_id="r-1"))
        with pytest.raises(BrokerError, match="broker went away"):
            await asyncio.wait_for(first, 2)
        second = await producer.send(read_dict(read_id="r-2"))
        await asyncio.wait_for(second, 2)
        assert len(fake.sent) == 1 and b'"r-2"' in fake.sent[0]
    finally:
        await producer.close()
