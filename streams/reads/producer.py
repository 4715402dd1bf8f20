"""The read producer: batches reads per partition so cameras' reads reach Kafka in batches.

Every read of a camera goes to one partition (chosen by camera id), so
per-camera order holds. A partition's batch is sent when it has been open for
the window (50 ms by default) or is full, whichever comes first, and on close.
``send`` returns a future that completes when Kafka has acknowledged the batch
holding the read, so an ingest service can acknowledge only what Kafka has.

Each read goes by its lateness (arrival - capture) to ``reads`` or ``reads-late`` (kept shorter),
each with batches of its own. A ``reads`` record's Kafka timestamp is the capture time of its
earliest read (CreateTime), so the broker's retention counts from capture (P11); a ``reads-late``
record is stamped when sent (see streams/reads/lateness.py); a read too late for either is not
sent: its future fails with :class:`InvalidRecord` ``too_late`` and ``reads_too_late`` counts it
(see streams/reads/lateness.py). The producer is idempotent (acks=all): a retried batch is not
stored twice.

P24: a read captured inside a sensitive site's exclusion zone (``sites``, streams/cameras/sites.py)
is not sent either: its future fails with :class:`InvalidRecord` ``sensitive_site`` and
``reads_excluded`` counts it by the site's category; nothing of it is logged but the camera.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from streams.cameras.sites import SiteWatch
from streams.codec import read_to_dict
from streams.errors import BrokerError, InvalidRecord
from streams.kafka.connection import Connection
from streams.kafka.topics import existing_partitions
from streams.matching.normalize import partition_for
from streams.reads.lateness import (
    LATE,
    ON_TIME,
    SENT_HEADER,
    Lateness,
    capture_ms,
    record_timestamp_ms,
    too_late,
)
from streams.reads.model import Read
from streams.retention.policy import Timing
from streams.settings import Settings

__all__ = ["ReadProducer"]

log = logging.getLogger(__name__)


class _Batch:
    __slots__ = ("earliest_ms", "opened", "payloads", "waiters")

    def __init__(self) -> None:
        self.opened = time.monotonic()
        self.payloads: list[bytes] = []
        self.waiters: list[asyncio.Future[None]] = []
        self.earliest_ms: int | None = None  # None: no read with a usable capture time yet

    def add(self, payload: bytes, waiter: asyncio.Future[None], captured: int | None) -> None:
        self.payloads.append(payload)
        self.waiters.append(waiter)
        if captured is not None and (self.earliest_ms is None or captured < self.earliest_ms):
            self.earliest_ms = captured


def _now_ms() -> int:
    return int(time.time() * 1000)


def _refused(error: InvalidRecord) -> asyncio.Future[None]:
    """The answer to a read refused at once (a zone, P24; too late, P11), which the producer has
    counted: it fails with ``error`` for the caller who awaits it, and is marked as seen, so a
    caller that does not await it (the simulator, a loader) leaves nothing for asyncio to log as
    an error nobody retrieved."""
    answer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    answer.set_exception(error)
    answer.exception()  # marks it retrieved; the awaiting caller still gets the error
    return answer


class ReadProducer:
    """Batching producer of reads. Use as ``async with ReadProducer(...) as producer:``.

    ``topic`` is the reads topic, ``late_topic`` the reads-late one (default ``<topic>-late``);
    ``timing`` the profile's (default: the default profile's, as :class:`Settings` has it);
    ``clock`` gives epoch milliseconds (tests pass a fake one); ``sites`` the sensitive sites whose
    exclusion zones drop reads (P24), None: none configured.
    """

    def __init__(
        self,
        kafka: Connection,
        topic: str,
        *,
        late_topic: str | None = None,
        timing: Timing | None = None,
        window_ms: int = 50,
        max_reads: int = 500,
        clock: Callable[[], int] = _now_ms,
        sites: SiteWatch | None = None,
        **producer_options: Any,
    ) -> None:
        self.topic = topic
        self.late_topic = late_topic or f"{topic}-late"
        self.lateness = Lateness.of(timing if timing is not None else Settings().profile.broker)
        self.window_s = window_ms / 1000.0
        self.max_reads = max_reads
        self.clock = clock
        self.sites = sites
        self._producer = AIOKafkaProducer(
            **kafka.options(),
            acks="all",  # a read counts as sent once every in-sync replica has it
            enable_idempotence=True,  # a batch retried after a lost answer is stored once
            linger_ms=0,
            max_request_size=8 * 1024 * 1024,
            **producer_options,
        )
        self._topics = {ON_TIME: topic, LATE: self.late_topic}
        self._partitions: dict[str, int] = {ON_TIME: 0, LATE: 0}
        self._batches: dict[tuple[str, int], _Batch] = {}
        self._in_flight: set[asyncio.Future[Any]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self.reads_sent = 0
        self.batches_sent = 0
        self.reads_late = 0  # sent to the reads-late topic
        self.reads_too_late = 0  # not sent: too late to be kept within the retention (P11)
        self.reads_excluded: dict[str, int] = {}  # site category -> reads not sent (P24)

    @classmethod
    def for_settings(cls, settings: Settings, **producer_options: Any) -> ReadProducer:
        """To the reads and reads-late topics with the profile's timing, batching as the settings
        say (ALPR_BATCH_WINDOW_MS, ALPR_BATCH_MAX_READS), dropping reads inside the exclusion zones
        of ALPR_SENSITIVE_SITES (P24)."""
        sites = (
            SiteWatch(settings.sensitive_sites, settings.sensitive_site_distance_m)
            if settings.sensitive_sites is not None
            else None
        )
        return cls(
            settings.kafka,
            settings.topic(ON_TIME),
            late_topic=settings.topic(LATE),
            timing=settings.profile.broker,
            window_ms=settings.batch_window_ms,
            max_reads=settings.batch_max_reads,
            sites=sites,
            **producer_options,
        )

    async def start(self) -> None:
        try:
            await self._producer.start()
            for route, topic in self._topics.items():
                self._partitions[route] = len(await existing_partitions(self._producer.client, topic))
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
        """Queue a read; the returned future completes once Kafka has it, or fails at once with
        :class:`InvalidRecord` ``too_late`` when the read cannot be stored within the retention."""
        data = read_to_dict(read) if isinstance(read, Read) else read
        site = self._excluded(data)
        if site is not None:
            self.reads_excluded[site] = self.reads_excluded.get(site, 0) + 1
            log.debug(
                "a read of camera %s inside a sensitive site's zone not sent (P24)", data.get("camera_id")
            )
            return _refused(
                InvalidRecord("sensitive_site", f"captured inside the exclusion zone of a {site} site (P24)")
            )
        captured = capture_ms(data)
        now = self.clock()
        route = self.lateness.route(captured, now)
        if route is None:
            assert captured is not None  # noqa: S101 - a read without a capture time goes to reads
            self.reads_too_late += 1
            log.debug(  # counted; the ingest logs one line per request (a backlog is many reads)
                "read %s of camera %s captured %d s ago not sent: too late to be kept (P11)",
                data.get("read_id"),
                data.get("camera_id"),
                (now - captured) // 1000,
            )
            return _refused(too_late(captured, now, self.lateness.too_late_ms))
        if captured is not None and captured > now:
            captured = None  # from the future: stamped when sent (the worker judges the clock)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        partition = partition_for(str(data["camera_id"]), self._partitions[route])
        batch = self._batches.get((route, partition))
        if batch is None:
            batch = self._batches[route, partition] = _Batch()
        batch.add(orjson.dumps(data), waiter, captured)
        if route == LATE:
            self.reads_late += 1
        if len(batch.payloads) >= self.max_reads:
            await self._send_batch((route, partition))
        return waiter

    def _excluded(self, data: Mapping[str, Any]) -> str | None:
        """The category of the site in whose exclusion zone the read was captured, if any (P24)."""
        if self.sites is None:
            return None
        lat, lon = data.get("lat"), data.get("lon")
        if not isinstance(lat, int | float) or not isinstance(lon, int | float):
            # No position (a mobile camera's read may carry none): it cannot be placed in a zone and
            # is sent (P24, README); half a position is refused by the worker's schema check.
            return None
        site = self.sites.zones().excluded(float(lat), float(lon))
        return None if site is None else site.category

    async def flush(self) -> None:
        """Send every open batch and wait until Kafka has acknowledged all of them."""
        for key in list(self._batches):
            await self._send_batch(key)
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
            for key, batch in list(self._batches.items()):
                if now - batch.opened >= self.window_s:
                    try:
                        await self._send_batch(key)
                    except Exception as exc:  # noqa: BLE001 - its waiters have the error; keep the window going
                        log.error("batch to %s[%d] not sent: %r", self._topics[key[0]], key[1], exc)

    async def _send_batch(self, key: tuple[str, int]) -> None:
        batch = self._batches.pop(key, None)
        if batch is None or not batch.payloads:
            return
        route, partition = key
        topic = self._topics[route]
        value = b'{"reads":[' + b",".join(batch.payloads) + b"]}"
        now = self.clock()
        # On time: the capture time (the broker refuses it past the lateness bound); late: the send
        # time, since reads-late keeps a record a day after it arrives (streams/kafka/topics.py).
        stamp = (
            record_timestamp_ms(batch.earliest_ms, now, self.lateness.late_from_ms)
            if route == ON_TIME
            else now
        )
        headers = [(SENT_HEADER, str(now).encode())]
        try:
            delivery = await self._producer.send(
                topic, value, partition=partition, timestamp_ms=stamp, headers=headers
            )
        except Exception as exc:
            for waiter in batch.waiters:
                waiter.set_exception(BrokerError(f"batch to {topic}[{partition}] failed: {exc}"))
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
                log.error("batch of %d reads to %s[%d] failed: %r", count, topic, partition, error)
            for waiter in batch.waiters:
                if waiter.done():
                    continue
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(BrokerError(f"batch to {topic}[{partition}] failed: {error!r}"))

        delivery.add_done_callback(done)
