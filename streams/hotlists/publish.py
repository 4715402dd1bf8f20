"""Publishing entries to the compacted hot-list topic (the department list and sample loads)."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka import AIOKafkaProducer

from streams.errors import BrokerError
from streams.hotlists.model import HotlistEntry
from streams.hotlists.records import entry_partition, hotlist_record
from streams.kafka.topics import existing_partitions
from streams.matching.normalize import OcrClasses
from streams.settings import Settings

__all__ = ["publish_entries"]


async def publish_entries(settings: Settings, entries: Iterable[HotlistEntry]) -> int:
    """Write entries (already checked) to the hot-list topic, co-partitioned with candidates."""
    ocr = OcrClasses.of(settings.ocr_classes)
    topic = settings.topic("hotlist")
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=20, acks="all")
    try:
        await producer.start()
    except Exception as exc:
        await producer.stop()
        raise BrokerError(f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}") from exc
    count = 0
    try:
        partitions = await existing_partitions(producer.client, topic)
        for entry in entries:
            key, value = hotlist_record(entry)
            await producer.send(topic, value, key=key, partition=entry_partition(entry, ocr, len(partitions)))
            count += 1
        await producer.flush()
    finally:
        await producer.stop()
    return count
