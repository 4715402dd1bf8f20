"""Migration from the incumbent vendor: a Flock custom hot-list export or change log.

Two layouts (schemas/feeds/flock_hotlist.md), told apart by the content, never by the file's name:
the documented CSV (columns Hotlist Name, License, State, Reason, Case, Expiry; a change log adds
Date and Action), and the change log as Flock really exports it, one ``key: value`` block per event.
Every event becomes a department (local) entry that waits for completion and a lieutenant's
approval: never silently activated (P2). A change log is applied in the order of its events' times,
whatever the file's order (the real log is newest-first: a removed plate must not come back).
What the vendor's values cannot be (a state that is no state, a case that is no case number, an
expiry already past or never) is judged here, with the agency's profile.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from streams.access.justification import GENERIC, check_case_number
from streams.access.purpose import IMMIGRATION, classify
from streams.access.vendor import column_key, parse_time
from streams.errors import AlprError, EntryRefused, JustificationRefused
from streams.hotlists.adapters.base import Extract, ExtractRefused, Parsed, build, files_of, plate_state
from streams.hotlists.model import LOCAL_SOURCE, HotlistEntry, Person
from streams.matching.normalize import normalize_plate
from streams.retention.policy import Profile

__all__ = ["ADAPTER", "EXPORT_COLUMNS", "FIELDS", "FlockAdapter"]

EXPORT_COLUMNS = ["Hotlist Name", "License", "State", "Reason", "Case", "Expiry"]
#: Each field and the names Flock gives it (CSV columns or block keys), compared by their letters
#: and digits only (vendor.column_key, as the search-audit export's columns). The first name is the
#: documented CSV column.
FIELDS: dict[str, tuple[str, ...]] = {
    "time": ("Date", "Timestamp", "Time", "Date/Time", "Date Time", "Event Time", "Changed At"),
    "action": ("Action", "Event", "Change", "Change Type", "Operation"),
    "hotlist": ("Hotlist Name", "Hotlist", "Hot List", "Hot List Name", "List", "List Name"),
    "plate": ("License", "Plate", "License Plate", "Plate Number", "LPN"),
    "state": ("State", "Plate State", "License State"),
    "reason": ("Reason", "Description"),
    "case": ("Case", "Case Number", "Case #", "Case No", "Case No."),
    "expiry": ("Expiry", "Expiration", "Expiration Date", "Expires", "Expires At", "Expiry Date"),
    "user": ("User", "Created By", "Changed By", "Modified By", "Author"),
}
_EXPORT_FIELDS = ("hotlist", "plate", "state", "reason", "case", "expiry")
_ADDS = frozenset({"added", "add", "created", "create", "new", "updated", "update", "modified", "edited"})
_REMOVES = frozenset({"removed", "remove", "deleted", "delete"})
_NEVER = frozenset({"", "never", "none", "no expiration", "n/a"})
_LIST_TYPES = [
    ("amber", "amber_alert"),
    ("missing", "missing_person"),
    ("wanted", "wanted_person"),
    ("warrant", "wanted_person"),
    ("stolen plate", "stolen_plate"),
    ("stolen", "stolen_vehicle"),
    ("felony", "felony_vehicle"),
]
#: A block's line: a key (letters first, no comma) then a colon. Times hold colons too: the first
#: colon splits.
_KEY_LINE = re.compile(r"\s*([A-Za-z][A-Za-z0-9 _/#.()-]{0,40}?)\s*:\s?(.*)")
_SEPARATOR = re.compile(r"\s*(?:[-=*_#~]{3,}\s*)?")


_FIELD_OF = {column_key(name): field for field, names in FIELDS.items() for name in names}


def _list_type(name: str) -> str:
    lowered = name.lower()
    return next((t for word, t in _LIST_TYPES if word in lowered), "bolo")


def _expiry(value: str, where: str) -> datetime | None:
    """The end of an entry's life as written; None for ``never`` (or blank)."""
    value = value.strip()
    if value.lower() in _NEVER:
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


@dataclass(frozen=True, slots=True)
class _Event:
    """One event (CSV row or block) as read: where it is, its fields by name, its place in the file."""

    where: str
    values: dict[str, str]
    seq: int


def _is_blocks(text: str) -> bool:
    """The block layout: one of the first lines that say anything is ``Known Key: value``."""
    lines = [line for line in text.splitlines() if not _SEPARATOR.fullmatch(line)][:10]
    return any((m := _KEY_LINE.fullmatch(line)) and column_key(m.group(1)) in _FIELD_OF for line in lines)


def _blocks(text: str, name: str) -> Iterator[_Event]:
    """The events of the block layout. A blank line or a separator (``----``) ends a block; so does
    a key the block already has (an export that forgot the blank line). A line that is no
    ``key: value`` continues the previous value (a wrapped Reason). A block that names no list,
    plate or action (a title, the export's own header) is no event."""
    values: dict[str, str] = {}
    start = count = 0
    last: str | None = None

    def event() -> Iterator[_Event]:
        nonlocal count
        if values.keys() & {"hotlist", "plate", "action"}:
            count += 1
            yield _Event(f"{name}:{start} (block {count})", dict(values), count)
        values.clear()

    for number, line in enumerate(text.splitlines(), 1):
        if _SEPARATOR.fullmatch(line):
            yield from event()
            last = None
            continue
        match = _KEY_LINE.fullmatch(line)
        if match is None and last is not None:
            values[last] = f"{values[last]} {line.strip()}".strip()  # a wrapped value
            continue
        if match is None:
            field = f"text:{number}"  # a title line
        else:  # a key we do not use (Status, ID...) is kept apart, unused
            field = _FIELD_OF.get(column_key(match.group(1)), f"other:{column_key(match.group(1))}")
        if field in values:
            yield from event()
        if not values:
            start = number
        values[field] = match.group(2).strip() if match else line.strip()
        last = field if match else None
    yield from event()


def _rows(text: str, name: str) -> Iterator[_Event]:
    """The events of the CSV layout: the documented columns (or Flock's other names for them)."""
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, [])
    fields = [_FIELD_OF.get(column_key(column)) for column in header]
    missing = [FIELDS[f][0] for f in _EXPORT_FIELDS if f not in fields]
    if missing:
        raise ExtractRefused(
            "unparseable",
            f"{name}:1: neither Flock layout: the CSV lacks the columns {missing} "
            f"(expected {', '.join(EXPORT_COLUMNS)}, plus Date and Action for a change log), and no "
            "'Key: value' block starts the file (schemas/feeds/flock_hotlist.md)",
        )
    for seq, row in enumerate(rows, 1):
        if not any(cell.strip() for cell in row):
            continue
        values = {f: cell for f, cell in zip(fields, row, strict=False) if f is not None}
        yield _Event(f"{name}:{rows.line_num}", values, seq)


class FlockAdapter:
    """Reads Flock hot lists for import. ``for_import`` gives the importer's view: the entering
    member, the agency's profile (case-number formats, the longest entry life) and the import time
    (what has already expired)."""

    name = "flock"
    sources = frozenset({LOCAL_SOURCE})
    pending = True

    def __init__(
        self, entered_by: Person | None = None, profile: Profile = GENERIC, now: datetime | None = None
    ) -> None:
        self.entered_by = entered_by
        self.profile = profile
        self.now = now

    def for_import(self, entered_by: Person | None, profile: Profile, now: datetime) -> FlockAdapter:
        return FlockAdapter(entered_by, profile, now)

    def open(self, path: Path, source: str | None) -> Extract:
        if source not in (None, LOCAL_SOURCE):
            raise ExtractRefused("usage", "Flock imports become department (local) entries")
        files = files_of(path, "*.csv", "*.txt")
        return Extract(self.name, self.sources, None, self._records(files), files)

    def _records(self, files: list[Path]) -> Iterator[Parsed]:
        now = self.now or datetime.now(UTC)
        timed: list[tuple[datetime, int, int, Parsed]] = []
        untimed: list[Parsed] = []
        for index, path in enumerate(files):
            text = path.read_text(encoding="utf-8-sig", errors="replace")
            events = list((_blocks if _is_blocks(text) else _rows)(text, str(path)))
            parsed = [self._timed(event, now) for event in events]
            times = [when for when, _ in parsed if when is not None]
            # Equal times keep the vendor's order of writing: file order for an oldest-first file,
            # bottom-up for a newest-first one (its first time is after its last).
            newest_first = len(times) > 1 and times[0] > times[-1]
            for event, (when, record) in zip(events, parsed, strict=True):
                if when is None:
                    untimed.append(record)
                else:
                    timed.append((when, index, -event.seq if newest_first else event.seq, record))
        if not timed and not untimed:
            raise ExtractRefused("empty", "the Flock file holds no events")
        if timed:
            # A change log: applied in time order. An event without its time cannot be placed.
            for record in untimed:
                yield record if record.error else _no_time(record)
        else:
            yield from untimed  # an export (no Date): every row is the current state
        for _, _, _, record in sorted(timed, key=lambda item: item[:3]):
            yield record

    def _timed(self, event: _Event, now: datetime) -> tuple[datetime | None, Parsed]:
        raw = event.values.get("time", "").strip()
        if not raw:
            return None, self._record(event, None, now)
        when, problem = parse_time(raw)
        if when is None:
            error = f"{event.where}: Date {raw!r} is not a time ({problem}); the event cannot be put in order"
            return None, Parsed(event.where, error=error)
        return when, self._record(event, when, now)

    def _record(self, event: _Event, when: datetime | None, now: datetime) -> Parsed:
        where, values = event.where, event.values
        hotlist = values.get("hotlist", "").strip()
        try:
            plate = normalize_plate(values.get("plate", ""))
        except AlprError as exc:
            return Parsed(where, error=f"{where}: {exc}")
        key = f"{LOCAL_SOURCE}:flock-{_slug(hotlist)}-{plate}"
        action = column_key(values.get("action", "added"))
        if action in _REMOVES:
            return Parsed(where, key=key, remove=True)
        if action not in _ADDS:
            return Parsed(where, key=key, error=f"{where}: unknown Action {values.get('action')!r}")
        tallies: list[str] = []
        notes: list[str] = []

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
            reason = values.get("reason", "").strip()
            user = values.get("user", "").strip()
            origin = f"Flock hot list {hotlist!r}" + (f", entered in Flock by {user}" if user else "")
            return HotlistEntry(
                source=LOCAL_SOURCE,
                entry_id=key.split(":", 1)[1],
                plate=plate,
                plate_state=plate_state(values.get("state", ""), where),
                list_type=_list_type(hotlist),
                reason=f"{reason} ({origin})" if reason else "",
                case_number=self._case(values.get("case", ""), where, notes),
                expires_at=self._expires(values.get("expiry", ""), where, when or now, tallies),
                entered_by=self.entered_by,
            )

        parsed = build(where, key, make, check=False)
        entry = parsed.entry
        if entry is not None and entry.expires_at is not None and entry.expires_at <= now:
            return Parsed(
                where,
                key=key,
                skipped=f"{where}: {key} expired {entry.expires_at.isoformat()}, before the import",
            )
        return parsed._replace(tallies=tuple(tallies), notes=tuple(notes))

    def _case(self, value: str, where: str, notes: list[str]) -> str | None:
        """The case number in one of the agency's formats (P2). "TBD", "none", "," or "p" are no
        case numbers: the entry is imported without one and waits, incomplete, for a member to
        give it (it can never be approved as it is). A case naming immigration or reproductive
        care is kept as written, for the entry's own check to refuse (P5, P22)."""
        if not value.strip():
            return None
        try:
            return check_case_number(value, self.profile, field="Case", rule="P2")
        except JustificationRefused as exc:
            if exc.rule != "P2":
                return value.strip()
            notes.append(f"{where}: {exc}; the entry waits for a case number")
            return None

    def _expires(self, value: str, where: str, start: datetime, tallies: list[str]) -> datetime:
        """The entry's expiry, capped by the profile's longest entry life from the event's time:
        "never" (or none) becomes that cap, a later date is brought back to it."""
        cap = start + timedelta(days=self.profile.max_entry_days)
        written = _expiry(value, where)
        if written is not None and written <= cap:
            return written
        tallies.append("expiry_capped")
        return cap


def _no_time(record: Parsed) -> Parsed:
    where = record.line
    return Parsed(
        where,
        key=record.key,
        error=f"{where}: no Date: in a change log every event needs its time to be applied in order",
    )


ADAPTER = FlockAdapter()
