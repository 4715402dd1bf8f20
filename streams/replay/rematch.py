"""Rematch: what would have alerted, against the hot list as it was when each read was captured.

The hot list of any moment is rebuilt from the hot-list changes history (kept longer than the
reads): entries added, updated, approved and removed, and each feed's refreshes (for the P4
staleness rule), applied in time order up to each read's capture time. The matching itself is
the stream's own (:func:`streams.matching.matcher.match`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from streams.codec import entry_from_dict
from streams.errors import EntryRefused, InvalidRecord
from streams.kafka.log import read_topic
from streams.matching.matcher import HotlistIndex, match
from streams.reads.model import Read
from streams.settings import Settings

__all__ = ["HistoricalMatch", "load_history", "rematch"]

_ENTRY_EVENTS = frozenset({"HotlistEntryAdded", "HotlistEntryUpdated", "HotlistEntryApproved"})


@dataclass(frozen=True, slots=True)
class HistoricalMatch:
    read: Read
    entry_key: str
    list_type: str
    match_kind: str
    state_mismatch: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "read_id": self.read.read_id,
            "captured_at": self.read.captured_at.isoformat(),
            "camera_id": self.read.camera_id,
            "plate": self.read.plate,
            "entry_key": self.entry_key,
            "list_type": self.list_type,
            "match_kind": self.match_kind,
            "state_mismatch": self.state_mismatch,
        }


async def load_history(settings: Settings) -> list[tuple[datetime, int, dict[str, Any]]]:
    """Every hot-list change event, ordered by time (ties: topic order)."""
    events: list[tuple[datetime, int, dict[str, Any]]] = []

    def keep(_tp: Any, record: Any) -> None:
        if record.value is None:
            return
        data = orjson.loads(record.value)
        events.append((datetime.fromisoformat(data["at"]), len(events), data))

    await read_topic(settings.kafka, settings.topic("hotlist-changes"), keep)
    events.sort(key=lambda e: (e[0], e[1]))
    return events


def _apply(index: HotlistIndex, event: dict[str, Any]) -> None:
    kind = event.get("event")
    if kind in _ENTRY_EVENTS and event.get("entry"):
        try:
            index.upsert(entry_from_dict(event["entry"]))
        except (InvalidRecord, EntryRefused):
            pass  # the stream refused it too
    elif kind == "HotlistEntryRemoved" and event.get("entry_key"):
        index.remove(str(event["entry_key"]))
    elif kind == "HotlistSourceSynced" and event.get("fresh_as_of"):
        index.mark_fresh(str(event["source"]), datetime.fromisoformat(event["fresh_as_of"]))


def rematch(
    index: HotlistIndex, reads: Iterable[Read], history: list[tuple[datetime, int, dict[str, Any]]]
) -> list[HistoricalMatch]:
    """Match each read against the hot list as of its capture time; ``index`` starts empty."""
    out: list[HistoricalMatch] = []
    position = 0
    for read in sorted(reads, key=lambda r: r.captured_at):
        while position < len(history) and history[position][0] <= read.captured_at:
            _apply(index, history[position][2])
            position += 1
        for found in match(index, read):
            out.append(
                HistoricalMatch(
                    read, found.entry.key, found.entry.list_type, found.kind, found.state_mismatch
                )
            )
    return out
