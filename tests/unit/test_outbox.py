"""The rejected records' outbox (streams/kafka/outbox.py, issue 17): a rejected record waits for
the commit of its source's offset, is then sent grouped with the others, and the commit goes on
only once Kafka has them all. Through a real broker: tests/integration/test_faults_input.py."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from streams.codec import rejected_item, rejected_reads, rejected_record
from streams.errors import InvalidRecord
from streams.kafka.outbox import GROUP_SPAN_MS, Outbox
from tests.factories import NOW, read_dict

NOW_MS = int(NOW.timestamp() * 1000)
TP0, TP1 = ("alpr.reads", 0), ("alpr.reads", 1)


def record(offset: int, camera: str = "cam-1") -> bytes:
    item = rejected_item(InvalidRecord("schema", "bad"), read_dict(camera_id=camera), 0, camera)
    return rejected_record([item], topic="alpr.reads", partition=0, offset=offset, now=NOW)


class Kafka:
    """What the producer was given; ``fail`` makes every delivery fail."""

    def __init__(self, fail: bool = False) -> None:
        self.messages: list[tuple[bytes | None, bytes, int | None]] = []
        self.fail = fail

    async def send(self, key: bytes | None, value: bytes, ms: int | None) -> Any:
        self.messages.append((key, value, ms))
        delivered = asyncio.get_running_loop().create_future()
        if self.fail:
            delivered.set_exception(RuntimeError("broker gone"))
        else:
            delivered.set_result(None)
        return delivered

    def offsets(self) -> list[int]:
        return [r["offset"] for _k, value, _ms in self.messages for r in rejected_reads(value)]


def outbox(kafka: Kafka, bound_ms: int | None = 86_400_000, dropped: list[int] | None = None) -> Outbox:
    return Outbox(
        send=kafka.send,
        bound_ms=bound_ms,
        clock_ms=lambda: NOW_MS,
        not_stored=(dropped if dropped is not None else []).append,
    )


async def test_only_records_below_the_committed_offset_are_sent_grouped_in_one_message() -> None:
    kafka = Kafka()
    box = outbox(kafka)
    for offset in (3, 4, 9):
        box.add(TP0, offset, b"cam-1", record(offset), NOW_MS - 60_000 + offset, 2)
    box.add(TP1, 7, b"cam-2", record(7, "cam-2"), NOW_MS - 60_000, 1)
    await box.publish({TP0: 5})  # offsets 3 and 4 are done; 9 is not; TP1 is not committed
    [(key, value, ms)] = kafka.messages
    assert key == b"cam-1" and ms == NOW_MS - 60_000 + 3  # the earliest: deleted with the oldest
    assert sorted(kafka.offsets()) == [3, 4] and len(box) == 2
    await box.publish({TP0: 10, TP1: 8})
    assert sorted(kafka.offsets()) == [3, 4, 7, 9] and len(box) == 0
    assert kafka.messages[-1][0] is None  # two cameras in one message: no one key


async def test_records_captured_far_apart_go_in_separate_messages_each_stamped_with_its_earliest() -> None:
    kafka = Kafka()
    box = outbox(kafka)
    stamps = [NOW_MS - 10_000, NOW_MS - 10_000 + GROUP_SPAN_MS, NOW_MS - 10_000 + GROUP_SPAN_MS + 1]
    for offset, ms in enumerate(stamps):
        box.add(TP0, offset, b"cam-1", record(offset), ms, 1)
    await box.publish({TP0: 3})
    assert [ms for _k, _v, ms in kafka.messages] == [stamps[0], stamps[2]]
    assert [len(orjson.loads(v)["records"]) for _k, v, _ms in kafka.messages] == [2, 1]


async def test_a_record_grown_too_old_while_it_waited_is_counted_not_stored_p11() -> None:
    kafka, dropped = Kafka(), []
    box = outbox(kafka, bound_ms=20_000, dropped=dropped)
    box.add(TP0, 0, b"cam-1", record(0), NOW_MS - 19_900, 3)  # past the bound less half its margin
    box.add(TP0, 1, b"cam-1", record(1), NOW_MS - 1_000, 1)
    await box.publish({TP0: 2})
    assert kafka.offsets() == [1] and dropped == [3]


async def test_a_failed_send_fails_the_publish_so_the_offset_is_not_committed() -> None:
    box = outbox(Kafka(fail=True))
    box.add(TP0, 0, None, record(0), NOW_MS, 1)
    with pytest.raises(RuntimeError, match="broker gone"):
        await box.publish({TP0: 1})


def test_what_waits_for_a_partition_taken_away_is_forgotten() -> None:
    box = outbox(Kafka())
    box.add(TP0, 0, None, record(0), NOW_MS, 1)
    box.add(TP1, 0, None, record(0), NOW_MS, 1)
    box.forget([TP0])
    assert list(box.waiting) == [TP1]
