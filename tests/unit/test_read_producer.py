"""The read producer with a fake Kafka client and a fake clock: the batching window, the routing of
a read by its lateness and the Kafka timestamp of each record (P11). The real path is
tests/integration/test_producer.py, test_late_reads.py and the ingest tests."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from streams.errors import BrokerError, InvalidRecord
from streams.kafka.connection import Connection
from streams.reads.lateness import (
    LATE,
    ON_TIME,
    SENT_HEADER,
    Lateness,
    margin_ms,
    record_timestamp_ms,
    storable,
)
from streams.reads.producer import ReadProducer
from streams.retention import load_profile
from tests.factories import read_dict

#: The retention_test profile: reads up to 20 s late to `reads`, up to 60 s to `reads-late`.
TIMING = load_profile("retention_test").broker
START_MS = 1_795_000_000_000


@dataclass
class Sent:
    topic: str
    partition: int
    timestamp_ms: int
    reads: list[dict[str, Any]]
    headers: list[tuple[str, bytes]]


@dataclass
class FakeKafka:
    """Acknowledges every send; with ``refuse_first``, refuses the first (a broker that just went away)."""

    refuse_first: bool = False
    sent: list[Sent] = field(default_factory=list)

    async def send(self, topic: str, value: bytes, partition: int, **kwargs: Any) -> asyncio.Future[Any]:
        if self.refuse_first:
            self.refuse_first = False
            raise ConnectionError("broker went away")
        self.sent.append(
            Sent(topic, partition, kwargs["timestamp_ms"], orjson.loads(value)["reads"], kwargs["headers"])
        )
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def stop(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.ms = START_MS

    def __call__(self) -> int:
        return self.ms

    def ago(self, seconds: float) -> str:
        return datetime.fromtimestamp(self.ms / 1000 - seconds, UTC).isoformat(timespec="milliseconds")


@asynccontextmanager
async def producer_on(fake: FakeKafka, clock: Clock, window_ms: int = 10_000) -> AsyncIterator[ReadProducer]:
    """A producer whose Kafka client is ``fake`` (one partition per topic); a long window by default,
    so that only flush() sends."""
    producer = ReadProducer(
        Connection("127.0.0.1:9"), "t.reads", timing=TIMING, window_ms=window_ms, clock=clock
    )
    await producer._producer.stop()  # noqa: SLF001 - never started; replaced by the fake
    producer._producer = fake  # type: ignore[assignment]  # noqa: SLF001
    producer._partitions = {ON_TIME: 1, LATE: 1}  # noqa: SLF001
    producer._ticker = asyncio.create_task(producer._tick())  # noqa: SLF001
    try:
        yield producer
    finally:
        await producer.close()


async def test_a_batch_that_fails_does_not_stop_the_window_from_sending_the_next() -> None:
    """The reads of the failed batch get the error (the caller, e.g. the ingest, answers 503);
    reads sent afterwards still leave within the window instead of waiting forever."""
    fake, clock = FakeKafka(refuse_first=True), Clock()
    async with producer_on(fake, clock, window_ms=20) as producer:
        first = await producer.send(read_dict(read_id="r-1", captured_at=clock.ago(1)))
        with pytest.raises(BrokerError, match="broker went away"):
            await asyncio.wait_for(first, 2)
        second = await producer.send(read_dict(read_id="r-2", captured_at=clock.ago(1)))
        await asyncio.wait_for(second, 2)
        assert [[r["read_id"] for r in s.reads] for s in fake.sent] == [["r-2"]]


async def test_each_read_goes_by_its_lateness_and_each_record_is_stamped_with_its_earliest_capture(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """P11: up to read_lateness_ms (20 s) late -> reads, up to too_late_ms (60 s) -> reads-late, in
    batches of their own; later: refused at once, counted, never sent, and no plate logged."""
    fake, clock = FakeKafka(), Clock()
    caplog.set_level(logging.DEBUG)
    async with producer_on(fake, clock) as producer:
        on_time = [
            await producer.send(read_dict(read_id=f"a-{s}", captured_at=clock.ago(s))) for s in (3, 10)
        ]
        late = await producer.send(read_dict(read_id="late", captured_at=clock.ago(40)))
        gone = await producer.send(read_dict(read_id="gone", plate="7GONE77", captured_at=clock.ago(80)))
        assert gone.done()
        with pytest.raises(InvalidRecord) as refused:
            gone.result()
        await producer.flush()
        assert all(w.done() and w.exception() is None for w in [*on_time, late])
    assert refused.value.code == "too_late"
    reason = str(refused.value)
    assert clock.ago(80) in reason and "60 s" in reason and "not stored (P11)" in reason
    assert (producer.reads_too_late, producer.reads_late, producer.reads_sent) == (1, 1, 3)
    by_topic = {s.topic: s for s in fake.sent}
    assert sorted(by_topic) == ["t.reads", "t.reads-late"] and len(fake.sent) == 2
    assert [r["read_id"] for r in by_topic["t.reads"].reads] == ["a-3", "a-10"]
    assert by_topic["t.reads"].timestamp_ms == clock.ms - 10_000  # the earliest capture of the batch
    assert [r["read_id"] for r in by_topic["t.reads-late"].reads] == ["late"]
    # late: stamped when sent, as reads-late keeps a record for a day after it arrives (P11)
    assert by_topic["t.reads-late"].timestamp_ms == clock.ms
    assert by_topic["t.reads"].headers == [(SENT_HEADER, str(clock.ms).encode())]
    assert "gone" in caplog.text and "7GONE77" not in caplog.text


async def test_reads_without_a_usable_capture_time_or_from_the_future_go_to_reads_stamped_now() -> None:
    """The worker rejects them with their reason, as before; Kafka must accept the record meanwhile."""
    fake, clock = FakeKafka(), Clock()
    missing = {k: v for k, v in read_dict(read_id="missing").items() if k != "captured_at"}
    async with producer_on(fake, clock) as producer:
        for read in (
            missing,
            read_dict(read_id="text", captured_at="yesterday"),
            read_dict(read_id="naive", captured_at="2026-11-23T12:00:00"),
            read_dict(read_id="ahead", captured_at=clock.ago(-30)),
        ):
            await producer.send(read)
    [sent] = fake.sent
    assert sent.topic == "t.reads" and len(sent.reads) == 4
    assert sent.timestamp_ms == clock.ms


async def test_a_record_is_never_stamped_older_than_the_topic_accepts_by_the_time_it_is_sent() -> None:
    """A read 17 s late is routed to reads (bound 20 s, margin 2 s); if its batch leaves 3 s later,
    the record is stamped now - 18 s rather than have the broker refuse the whole batch."""
    fake, clock = FakeKafka(), Clock()
    async with producer_on(fake, clock) as producer:
        await producer.send(read_dict(read_id="edge", captured_at=clock.ago(17)))
        clock.ms += 3_000
        await producer.flush()
    [sent] = fake.sent
    assert sent.topic == "t.reads" and sent.timestamp_ms == clock.ms - 18_000


def test_routing_edges_keep_a_margin_under_each_topics_bound() -> None:
    lateness = Lateness.of(TIMING)
    assert (lateness.late_from_ms, lateness.too_late_ms) == (20_000, 60_000)
    now = START_MS
    assert lateness.route(now - 18_000, now) == ON_TIME
    assert lateness.route(now - 18_001, now) == LATE
    assert lateness.route(now - 54_000, now) == LATE
    assert lateness.route(now - 54_001, now) is None
    assert lateness.route(None, now) == ON_TIME
    assert lateness.route(now + 5_000, now) == ON_TIME
    real = Lateness.of(load_profile("san_jose").broker)
    assert real.route(now - 86_400_000 + 61_000, now) == ON_TIME  # a day's bound, a minute's margin
    assert real.route(now - 86_400_000 + 59_000, now) == LATE


@pytest.mark.parametrize(
    ("earliest", "expected"),
    [
        (START_MS - 5_000, START_MS - 5_000),  # the capture time
        (START_MS + 5_000, START_MS),  # never after now
        (None, START_MS),  # no capture time: now
        (START_MS - 30_000, START_MS - 18_000),  # never older than the bound less the margin
    ],
)
def test_record_timestamp(earliest: int | None, expected: int) -> None:
    assert record_timestamp_ms(earliest, START_MS, 20_000) == expected


def test_margins_and_what_the_worker_may_still_store() -> None:
    assert (margin_ms(20_000), margin_ms(60_000), margin_ms(86_400_000)) == (2_000, 6_000, 60_000)
    # the worker keeps half the margin: a record stamped at the producer's edge may wait 1 s more
    assert storable(START_MS - 18_000, START_MS + 1_000, 20_000)
    assert not storable(START_MS - 18_000, START_MS + 1_001, 20_000)
    assert storable(START_MS - 10**9, START_MS - 10**9 + 5, 20_000)


def test_the_default_timing_is_the_default_profiles() -> None:
    """A producer built without timing (tests, tools) routes as topics created with defaults say."""

    async def build() -> Lateness:
        producer = ReadProducer(Connection("127.0.0.1:9"), "x.reads")
        await producer._producer.stop()  # noqa: SLF001 - never started
        assert producer.late_topic == "x.reads-late"
        return producer.lateness

    assert asyncio.run(build()) == Lateness(86_400_000, (30 - 1) * 86_400_000)


async def test_a_read_refused_at_once_leaves_no_error_for_asyncio_to_log() -> None:
    """A read too late to be kept (P11; a zone, P24, answers the same way) fails its future at once.
    The caller who awaits it gets the error; one who drops it (the demo's feed, the load tools) leaves
    nothing logged as "Future exception was never retrieved" (`make run` printed it per read)."""
    import gc

    loop = asyncio.get_running_loop()
    unretrieved: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: unretrieved.append(context))
    try:
        fake, clock = FakeKafka(), Clock()
        async with producer_on(fake, clock) as producer:
            awaited = await producer.send(read_dict(read_id="late-1", captured_at=clock.ago(120)))
            with pytest.raises(InvalidRecord) as refused:
                await awaited
            assert refused.value.code == "too_late"
            await producer.send(read_dict(read_id="late-2", captured_at=clock.ago(120)))  # dropped
            assert producer.reads_too_late == 2
        gc.collect()
    finally:
        loop.set_exception_handler(previous)
    assert not [c for c in unretrieved if "never retrieved" in str(c.get("message"))], unretrieved[:2]
