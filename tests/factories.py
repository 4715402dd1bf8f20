"""Factories for test data: each returns a fresh object, overridable by keyword."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.codec import entry_to_dict, read_to_dict, rejected_reads
from streams.hotlists.model import HotlistEntry, Person
from streams.matching.matcher import HotlistIndex, MatchRules
from streams.matching.normalize import OcrClasses
from streams.matching.pipeline import Outcome, Pipeline
from streams.reads.model import Read
from streams.settings import DEFAULT_OCR_CLASSES

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
_ids = itertools.count(1)


def make_read(**overrides: Any) -> Read:
    fields: dict[str, Any] = {
        "read_id": f"r-{next(_ids)}",
        "camera_id": "cam-00001",
        "captured_at": NOW,
        "plate": "7ABC123",
        "plate_state": "CA",
        "confidence": 0.9,
        "lat": 37.33,
        "lon": -121.89,
    }
    fields.update(overrides)
    return Read(**fields)


def read_dict(**overrides: Any) -> dict[str, Any]:
    """A read as it travels on the wire."""
    return {**read_to_dict(make_read()), **overrides}


def make_entry(**overrides: Any) -> HotlistEntry:
    fields: dict[str, Any] = {
        "source": "ncic",
        "entry_id": f"V{next(_ids):09d}",
        "plate": "7ABC123",
        "plate_state": "CA",
        "list_type": "stolen_vehicle",
        "reason": "Stolen vehicle",
        "case_number": "SJ-26-000001",
        "synced_at": NOW - timedelta(hours=1),
    }
    fields.update(overrides)
    return HotlistEntry(**fields)


def local_entry(**overrides: Any) -> HotlistEntry:
    fields: dict[str, Any] = {
        "source": "local",
        "list_type": "bolo",
        "reason": "PC 211 robbery suspect vehicle",
        "case_number": "SJ-26-005120",
        "synced_at": None,
        "entered_by": Person("Officer Dana Reyes", "4417", "Southern Division patrol"),
        "approved_by": Person("Lt. Marcus Hale", "2210", rank="lieutenant"),
    }
    fields.update(overrides)
    return make_entry(**fields)


def entry_dict(**overrides: Any) -> dict[str, Any]:
    """A shared-source entry as a feed file holds it (not yet stamped with synced_at)."""
    return {**entry_to_dict(make_entry(synced_at=None)), **overrides}


def make_index(*entries: HotlistEntry, max_substitutions: int = 2) -> HotlistIndex:
    index = HotlistIndex(MatchRules(OcrClasses.of(DEFAULT_OCR_CLASSES), max_substitutions))
    for entry in entries:
        index.upsert(entry)
    return index


def make_pipeline(*entries: HotlistEntry, now: datetime = NOW, **options: Any) -> Pipeline:
    """The worker's pipeline over these entries, at ``now``: 12 partitions, 30 days' retention,
    5 minutes' clock skew; ``options`` (cameras, sites, bounds ...) as Pipeline takes them."""
    return Pipeline(
        make_index(*entries),
        partitions=12,
        retention=timedelta(days=30),
        max_skew=timedelta(minutes=5),
        clock=lambda: now,
        **options,
    )


def refusals(out: Outcome) -> list[tuple[str, dict[str, Any]]]:
    """(reason code, refusal) of every read an outcome's rejected record refused, each refusal with
    where its record was and when (codec.rejected_reads); the record's codes checked against them."""
    found = []
    for _key, value, codes in out.rejected:
        items = rejected_reads(value)
        assert [item["reason_code"] for item in items] == codes  # noqa: S101 - a test helper
        found += [(item["reason_code"], item) for item in items]
    return found
