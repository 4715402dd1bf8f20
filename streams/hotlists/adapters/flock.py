"""Migration from the incumbent vendor: a Flock custom hot-list export or change log.

Layout (schemas/feeds/flock_hotlist.md): CSV with the columns Hotlist Name,
License, State, Reason, Case, Expiry; a change log adds Date and Action
(Added, Updated, Removed). These become department (local) entries that wait
for completion and a lieutenant's approval: never silently activated (P2).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from streams.access.purpose import IMMIGRATION, classify
from streams.errors import AlprError, EntryRefused
from streams.hotlists.adapters.base import Extract, ExtractRefused, Parsed, build, files_of
from streams.hotlists.model import LOCAL_SOURCE, HotlistEntry, Person
from streams.matching.normalize import normalize_plate

__all__ = ["ADAPTER", "EXPORT_COLUMNS"]

EXPORT_COLUMNS = ["Hotlist Name", "License", "State", "Reason", "Case", "Expiry"]
CHANGE_COLUMNS = ["Date", "Action"]
_LIST_TYPES = [
    ("amber", "amber_alert"),
    ("missing", "missing_person"),
    ("wanted", "wanted_person"),
    ("warrant", "wanted_person"),
    ("stolen plate", "stolen_plate"),
    ("stolen", "stolen_vehicle"),
    ("felony", "felony_vehicle"),
]


def _list_type(name: str) -> str:
    lowered = name.lower()
    return next((t for word, t in _LIST_TYPES if word in lowered), "bolo")


def _expiry(value: str, where: str) -> datetime | None:
    value = value.strip()
    if not value or value.lower() == "never":
        return None
    for fmt in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            day = datetime.strptime(value, fmt).date()  # noqa: DTZ007 - a date, made aware below
        except ValueError:
            continue
        return datetime.combine(day + timedelta(days=1), time(0), UTC)  # through the end of that day (UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{where}: Expiry {value!r} is not a date, a time or 'never'") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "list"


class FlockAdapter:
    name = "flock"
    sources = frozenset({LOCAL_SOURCE})
    pending = True

    def __init__(self, entered_by: Person | None = None) -> None:
        self.entered_by = entered_by

    def with_member(self, entered_by: Person | None) -> FlockAdapter:
        return FlockAdapter(entered_by)

    def open(self, path: Path, source: str | None) -> Extract:
        if source not in (None, LOCAL_SOURCE):
            raise ExtractRefused("usage", "Flock imports become department (local) entries")
        files = files_of(path, "*.csv")
        return Extract(self.name, self.sources, None, self._records(files), files)

    def _records(self, files: list[Path]) -> Iterator[Parsed]:
        count = 0
        for path in files:
            with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
                rows = csv.DictReader(handle)
                columns = rows.fieldnames or []
                missing = [c for c in EXPORT_COLUMNS if c not in columns]
                if missing:
                    raise ExtractRefused("unparseable", f"{path}:1: missing columns {missing}")
                for row in rows:
                    count += 1
                    yield self._record(f"{path}:{rows.line_num}", row)
        if count == 0:
            raise ExtractRefused("empty", "the Flock file holds no rows")

    def _record(self, where: str, row: dict[str, str]) -> Parsed:
        hotlist = (row.get("Hotlist Name") or "").strip()
        try:
            plate = normalize_plate(row.get("License") or "")
        except AlprError as exc:
            return Parsed(where, error=f"{where}: {exc}")
        key = f"{LOCAL_SOURCE}:flock-{_slug(hotlist)}-{plate}"
        action = (row.get("Action") or "added").strip().lower()
        if action == "removed":
            return Parsed(where, key=key, remove=True)
        if action not in ("added", "updated", "created", "modified"):
            return Parsed(where, key=key, error=f"{where}: unknown Action {row.get('Action')!r}")

        def make() -> HotlistEntry:
            # P5: the list's name says what it serves ("ERO Removals", "CBP Border lookouts"): every
            # row of such a list is dropped, whatever its own reason says.
            found = classify(hotlist)
            if found is not None and found.topic == IMMIGRATION:
                raise EntryRefused(
                    "P5",
                    f"Flock hot list {hotlist!r} serves immigration enforcement (it names {found.term!r}); "
                    "its entries cannot be loaded or enabled",
                )
            state = (row.get("State") or "").strip().upper() or None
            if state is not None and (len(state) != 2 or not state.isalpha()):
                raise ValueError(f"{where}: State {state!r} is not a two-letter state")
            reason = (row.get("Reason") or "").strip()
            return HotlistEntry(
                source=LOCAL_SOURCE,
                entry_id=key.split(":", 1)[1],
                plate=plate,
                plate_state=state,
                list_type=_list_type(hotlist),
                reason=f"{reason} (Flock hot list {hotlist!r})" if reason else "",
                case_number=(row.get("Case") or "").strip() or None,
                expires_at=_expiry(row.get("Expiry") or "", where),
                entered_by=self.entered_by,
            )

        return build(where, key, make, check=False)


ADAPTER = FlockAdapter()
