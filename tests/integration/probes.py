"""Conditions on a running worker, for tests that must not wait a fixed time.

Two kinds:

- *Has the worker seen it?* :func:`worker_follows` waits until the worker's ``alpr_followed_offset``
  metric reaches the end of the logs it follows whole (hot list, sources, alerts, cameras) as they
  are now: a sync or an alert event written before the call is then known to it.
- *Has the worker processed a read that produced nothing?* :func:`assert_no_alert` sends a probe
  read behind it on the very same path (same camera: same reads partition and record; a plate
  whose canonical key owns the same candidates partition): the probe's alert proves the silent
  read went through both stages first, so its missing alert is a fact, not a timing.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import string
import time
import urllib.request
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from aiokafka import TopicPartition

from streams.kafka.log import assign_all, log_ends, started_reader
from streams.kafka.topics import existing_partitions
from streams.matching.normalize import OcrClasses, normalize_plate, partition_for

_ALPHABET = string.ascii_uppercase + string.digits
_FOLLOWED = re.compile(r"^alpr_followed_offset\{([^}]*)\} (\S+)$", re.M)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def candidates_partition(settings: Any, plate: str) -> int:
    """The candidates partition a read of ``plate`` is confirmed on: its canonical key's, as the
    worker computes it (Pipeline.screen_record)."""
    return partition_for(_canonical(settings, plate), settings.partitions)


def _canonical(settings: Any, plate: str) -> str:
    return OcrClasses.of(settings.ocr_classes).canonical(normalize_plate(plate))


def _fills(listed: str) -> Iterator[str]:
    """Plates a listed plate or partial pattern (``?`` one character, ``*`` any) stands for."""
    if "?" not in listed and "*" not in listed:
        yield listed
        return
    parts = re.split(r"([?*])", listed)
    holes = sum(1 for p in parts if p in ("?", "*"))
    for chars in itertools.product(_ALPHABET, repeat=holes):
        fill = iter(chars)
        yield "".join(next(fill) if p in ("?", "*") else p for p in parts)


def same_path_plate(settings: Any, silent_plate: str, listed: Iterable[str]) -> str:
    """A plate that alerts (it is one of ``listed``, or fits a listed partial pattern) and whose read
    is confirmed on the same candidates partition as a read of ``silent_plate``, under a different
    canonical key. Refuses (AssertionError) when ``listed`` offers none: list one, e.g.
    :func:`probe_plate_for`'s."""
    want = candidates_partition(settings, silent_plate)
    silent_key = _canonical(settings, silent_plate)
    for pattern in listed:
        for plate in _fills(pattern):
            if _canonical(settings, plate) != silent_key and candidates_partition(settings, plate) == want:
                return plate
    raise AssertionError(
        f"no listed plate is confirmed on candidates partition {want} with {silent_plate}: a probe "
        "elsewhere would not prove the silent read was processed; list probe_plate_for(...)"
    )


def probe_plate_for(settings: Any, silent_plate: str, prefix: str = "9PRB") -> str:
    """A made-up plate (``prefix`` + digits) on ``silent_plate``'s candidates partition, for a test
    to list so that :func:`assert_no_alert` has a probe."""
    return same_path_plate(settings, silent_plate, (f"{prefix}{n:03d}" for n in range(1000)))


async def assert_no_alert(
    settings: Any, silent: tuple[str, str], probe: tuple[str, str], camera_id: str = "cam-00001"
) -> None:
    """Send a read that must not alert, then (same camera, same producer batch) a probe that must;
    once the probe's alert is on the topic the silent read has been screened and confirmed, and it
    must have raised nothing. Each of ``silent`` and ``probe`` is ``(read_id, plate)``.

    Refuses a probe that would not follow the silent read: another candidates partition (it could
    be confirmed first), the same canonical key, or a topic whose partition count is not the one
    the worker routes by.
    """
    from tests.factories import read_dict
    from tests.integration.kafka_helpers import alerts_for, send_reads, wait_for_records

    (silent_id, silent_plate), (probe_id, probe_plate) = silent, probe
    if _canonical(settings, silent_plate) == _canonical(settings, probe_plate):
        raise AssertionError(f"probe {probe_plate} has the silent read's canonical key: choose another")
    where, want = candidates_partition(settings, probe_plate), candidates_partition(settings, silent_plate)
    if where != want:
        raise AssertionError(
            f"probe {probe_plate} is confirmed on candidates partition {where}, the silent read "
            f"{silent_plate} on {want}: its alert would not prove the silent read was processed; "
            "choose it with same_path_plate()"
        )
    consumer = await started_reader(settings.kafka)
    try:
        count = len(await existing_partitions(consumer._client, settings.topic("candidates")))  # noqa: SLF001
    finally:
        await consumer.stop()
    assert count == settings.partitions, (
        f"candidates has {count} partitions, the worker routes by {settings.partitions}"
    )
    now = datetime.now(UTC).isoformat()
    reads = [
        read_dict(read_id=read_id, plate=plate, camera_id=camera_id, captured_at=now)
        for read_id, plate in (silent, probe)
    ]
    await send_reads(settings, reads)  # one camera: one reads partition, silent first in the batch
    values = await wait_for_records(
        settings.kafka, settings.topic("alerts"), lambda v: bool(alerts_for(v, {probe_id}))
    )
    raised = alerts_for(values, {silent_id})
    assert raised == [], f"the silent read {silent_id} ({silent_plate}) alerted: {raised}"


def followed_offsets(settings: Any) -> dict[tuple[str, int], int] | None:
    """The worker's ``alpr_followed_offset`` samples, or None while its metrics do not answer."""
    url = f"http://127.0.0.1:{settings.metrics_port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - our own worker
            text = resp.read().decode()
    except OSError:
        return None
    return parse_followed(text)


def parse_followed(text: str) -> dict[tuple[str, int], int]:
    """``alpr_followed_offset`` samples of a /metrics page, by (topic, partition)."""
    out = {}
    for labels, value in _FOLLOWED.findall(text):
        named = dict(_LABEL.findall(labels))
        out[named["topic"], int(named["partition"])] = int(float(value))
    return out


async def worker_follows(settings: Any, names: Iterable[str], timeout: float = 30.0) -> float:
    """Wait until the worker has applied every record now on these topics (declared names, e.g.
    ``hotlist``); returns the seconds it took. An AssertionError names the partitions behind."""
    started = time.monotonic()
    consumer = await started_reader(settings.kafka)
    try:
        await assign_all(consumer, *(settings.topic(n) for n in names))
        tps: list[TopicPartition] = sorted(consumer.assignment())
        ends = {
            (tp.topic, tp.partition): (start, end)
            for tp, (start, end) in (await log_ends(consumer, tps)).items()
        }
    finally:
        await consumer.stop()
    behind: dict[tuple[str, int], tuple[int | None, int]] = {}
    while True:
        seen = await asyncio.to_thread(followed_offsets, settings) or {}
        behind = {
            k: (seen.get(k), end) for k, (start, end) in ends.items() if end > start and seen.get(k, 0) < end
        }
        if not behind:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(
                f"the worker had not applied these within {timeout:.0f} s (at, end): {behind}"
            )
        await asyncio.sleep(0.1)
