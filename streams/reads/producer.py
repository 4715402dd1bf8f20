"""The read producer: batches reads per partition so cameras' reads reach Kafka in batches.

Every read of a camera goes to one partition (chosen by camera id), so
per-camera order holds. A partition's batch is sent when it has been open for
the window (50 ms by default) or is full, whichever comes first, and on close.
``send`` returns a future that completes when Kafka has acknowledged the batch
holding the read, so an ingest service can acknowledge only what Kafka has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from streams.codec import read_to_dict
from streams.errors import BrokerError
from streams.kafka.connection import Connection
from streams.kafka.topics import existing_partitions
from streams.matching.normalize import partition_for
from streams.reads.model import Read
from streams.settings import Settings

__all__ = ["ReadProducer"]

log = logging.getLogger(__name__)


class _Batch:
    __slots__ = ("opened", "payloads", "waiters")

    def __init__(self) -> None:
        self.opened = time.monotonic()
        self.payloads: list[bytes] = []
        self.waiters: list[asyncio.Future[None]] = []


class ReadProducer:
    """Batching producer of reads. Use as ``async with ReadProducer(...) as producer:``."""

    def __init__(
        self,
        kafka: Connection,
        topic: str,
        *,
        window_ms: int = 50,
        max_reads: int = 500,
        **producer_options: Any,
    ) -> None:
        self.topic = topic
        self.window_s = window_ms / 1000.0
        self.max_reads = max_reads
        self._producer = AIOKafkaProducer(
            **kafka.options(),
            acks="all",  # a read counts as sent once every in-sync replica has it
            linger_ms=0,
            max_request_size=8 * 1024 * 1024,
            **producer_options,
        )
        self._partitions = 0
        self._batches: dict[int, _Batch] = {}
        self._in_flight: set[asyncio.Future[Any]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self.reads_sent = 0
        self.batches_sent = 0

    @classmethod
    def for_settings(cls, settings: Settings) -> ReadProducer:
        """To the reads topic, batching as the settings say (ALPR_BATCH_WINDOW_MS, ALPR_BATCH_MAX_READS)."""
        return cls(
            settings.kafka,
            settings.topic("reads"),
            window_ms=settings.batch_window_ms,
            max_reads=settings.batch_max_reads,
        )

    async def start(self) -> None:
        try:
            await self._producer.start()
            self._partitions = len(await existing_partitions(self._producer.client, self.topic))
        except BrokerError:
            await self._producer.stop()
            raise
        except Exception as exc:
            await self._producer.stop()
            raise BrokerError(f"cannot produce to {self.topic}: {exc}") from exc
        self._ticker = asyncio.create_task(self._tick(), name="read-producer-window")

    async def __aenter__(self) -> ReadProducer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def send(self, read: Read | Mapping[str, Any]) -> asyncio.Future[None]:
        """Queue a read; the returned future completes once Kafka has it."""
        data = read_to_dict(read) if isinstance(read, Read) else read
        partition = partition_for(str(data["camera_id"]), self._partitions)
        batch = self._batches.get(partition)
        if batch is None:
            batch = self._batches[partition] = _Batch()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        batch.payloads.append(orjson.dumps(data))
        batch.waiters.append(waiter)
        if len(batch.payloads) >= self.max_reads:
            await self._send_batch(partition)
        return waiter

    async def flush(self) -> None:
        """Send every open batch and wait until Kafka has acknowledged all of them."""
        for partition in list(self._batches):
            await self._send_batch(partition)
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        try:
            await self.flush()
        finally:
            await self._producer.stop()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.window_s / 2)
            now = time.monotonic()
            for partition, batch in list(self._batches.items()):
                if now - batch.opened >= self.window_s:
                    try:
                        await self._send_batch(partition)
                    except Exception as exc:  # noqa: BLE001 - its waiters have the error; keep the window going
                        log.error("batch to %s[%d] not sent: %r", self.topic, partition, exc)

    async def _send_batch(self, partition: int) -> None:
        batch = self._batches.pop(partition, None)
        if batch is None or not batch.payloads:
            return
        value = b'{"reads":[' + b",".join(batch.payloads) + b"]}"
        try:
            delivery = await self._producer.send(self.topic, value, partition=partition)
        except Exception as exc:
            for waiter in batch.waiters:
                waiter.set_exception(BrokerError(f"batch to {self.topic}[{partition}] failed: {exc}"))
            raise
        self._in_flight.add(delivery)
        count = len(batch.payloads)

        def done(fut: asyncio.Future[Any]) -> None:
            self._in_flight.discard(fut)
            error = fut.exception() if not fut.cancelled() else asyncio.CancelledError()
            if error is None:
                self.reads_sent += count
                self.batches_sent += 1
            else:
                log.error("batch of %d reads to %s[%d] failed: %r", count, self.topic, partition, error)
            for waiter in batch.waiters:
                if waiter.done():
                    continue
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(BrokerError(f"batch to {self.topic}[{partition}] failed: {error!r}"))

        delivery.add_done_callback(done)
