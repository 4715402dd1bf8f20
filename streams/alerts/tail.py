"""Reading the alerts topic: for the console line of ``alpr alerts`` and ``alpr run``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from streams.alerts.model import format_age
from streams.codec import loads
from streams.errors import InvalidRecord
from streams.kafka.connection import Connection
from streams.kafka.log import assign_all, reader

__all__ = ["alert_line", "follow_topic"]


async def follow_topic(
    kafka: Connection,
    topic: str,
    *,
    from_beginning: bool = True,
    idle_timeout: float | None = None,
) -> AsyncIterator[tuple[bytes | None, Any]]:
    """Yield ``(key, decoded value)`` of every record of a topic, all partitions, no consumer group.

    Stops after ``idle_timeout`` seconds without a record (None: follows forever).
    """
    consumer = reader(kafka)
    await consumer.start()
    try:
        await assign_all(consumer, topic, from_beginning=from_beginning)
        last = time.monotonic()
        while idle_timeout is None or time.monotonic() - last < idle_timeout:
            batch = await consumer.getmany(timeout_ms=200, max_records=1000)
            for records in batch.values():
                for record in records:
                    last = time.monotonic()
                    try:
                        value = loads(record.value) if record.value is not None else None
                    except InvalidRecord:
                        value = None
                    yield record.key, value
            await asyncio.sleep(0)
    finally:
        await consumer.stop()


def alert_line(alert: dict[str, Any]) -> str:
    """One console line per record of the alerts topic; a new alert says it is unverified (P7)."""
    event = alert.get("event")
    if event == "AlertSighted":
        return (
            f"  SIGHTED again: {alert.get('plate')} at {alert.get('camera_id')} {alert.get('captured_at')} "
            f"| alert {alert.get('alert_id')}"
        )
    if event != "AlertRaised":
        by = alert.get("by") or {}
        detail = alert.get("reason") or alert.get("priority") or alert.get("disposition") or ""
        if event == "AlertImageShown":
            detail = f"{alert.get('kind')} image of read {alert.get('read_id')}"
        elif event == "AlertClaimed" and alert.get("taken_from"):
            detail = f"taken over from {(alert.get('taken_from') or {}).get('user')}"
        return (
            f"  {str(event).removeprefix('Alert')} by {by.get('user')} ({by.get('badge')}) {detail} "
            f"| alert {alert.get('alert_id')}"
        )
    flags = []
    if alert.get("state_mismatch"):
        flags.append("STATE DIFFERS")
    if alert.get("occupant_check_required"):
        flags.append("CHECK OCCUPANT")
    if alert.get("historical"):
        flags.append("HISTORICAL: captured before the entry was listed")
    if alert.get("captured_age_s") is not None:
        flags.append(
            f"HISTORICAL READ: captured {format_age(float(alert['captured_age_s']))} before it arrived"
        )
    extra = f" [{', '.join(flags)}]" if flags else ""
    return (
        f"ALERT ({str(alert.get('status', '?')).upper()}) "
        f"{alert.get('list_type')} {alert.get('match_kind')}: "
        f"read {alert.get('plate_read')} ({alert.get('plate_state_read') or '--'}) ~ listed "
        f"{alert.get('plate_listed')} ({alert.get('plate_state_listed') or '--'}) "
        f"at {alert.get('camera_id')} {alert.get('captured_at')} | "
        f"{alert.get('source')} entry {alert.get('entry_id')} case "
        f"{alert.get('case_number') or '-'}{extra} | id {alert.get('alert_id')}"
    )
