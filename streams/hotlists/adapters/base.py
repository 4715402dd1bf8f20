"""What every feed adapter shares: the parsed record, the extract, and the refusal of a bad extract."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import alpr_native

from streams.errors import AlprError, EntryRefused
from streams.hotlists.model import HotlistEntry, check_entry
from streams.jurisdictions import PLATE_JURISDICTIONS
from streams.matching.normalize import normalize_plate

__all__ = [
    "Adapter",
    "Extract",
    "ExtractRefused",
    "Parsed",
    "Ready",
    "Same",
    "build",
    "check_count",
    "feed_entry",
    "files_of",
    "parse_time",
    "plate_state",
    "record_digest",
    "vehicle_fields",
]


class ExtractRefused(AlprError):
    """The extract as a whole cannot be used; the current list stays as it is (nothing is wiped)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Parsed(NamedTuple):
    """One record of an extract: an entry, or why the line could not become one. (A tuple: a feed
    sync makes one per record, a million, and a tuple is made in half a frozen dataclass's time.)"""

    line: str  # "file:line"
    entry: HotlistEntry | None = None
    key: str | None = None  # known even for a failed record when its id parsed
    error: str | None = None
    dropped: str | None = None  # P5: never loaded, counted
    remove: bool = False  # a change log's removal
    skipped: str | None = None  # already expired when imported: never queued, counted
    tallies: tuple[str, ...] = ()  # what was adjusted on the way in, counted by name ("expiry_capped")
    notes: tuple[str, ...] = ()  # what the importing member should know about the record
    digest: bytes | None = None  # the raw record's digest (see Extract.digested)


@dataclass(frozen=True, slots=True)
class Same:
    """A record whose raw text has a digest the caller already knows: not parsed nor checked again."""

    digest: bytes
    line: str  # "file:line"


class Ready(NamedTuple):
    """A record whose entry the native kernel made and encoded (``alpr_native.NcicLines``): an entry
    the adapter's Python path would make from the same text, checked by the same rules (the P5/P22
    classifier run on it in Python), known only as what the hot-list topic stores. A full sync
    needs no more of it, so a million are made without an entry or a dict each."""

    line: str  # "file:line"
    key: str
    plate: str
    crc: int  # CRC-32 of the key: its partition of N is crc % N (partition_for)
    value: bytes  # dumps(entry_to_dict(entry))
    digest: bytes  # the raw record's digest


def record_digest(text: str) -> bytes:
    """The digest of a record's raw text (stable across processes): BLAKE2b of its UTF-8, 12
    bytes, as ``hashlib.blake2b(text.encode(), digest_size=12)``."""
    return alpr_native.blake2b(text, 12)  # type: ignore[no-any-return]


@dataclass
class Extract:
    """An opened extract. ``records`` raises :class:`ExtractRefused` when the file proves unusable."""

    format: str
    sources: frozenset[str]
    generated_at: datetime | None
    records: Iterator[Parsed]
    files: list[Path] = field(default_factory=list)
    #: The records again, for a format whose entries are a function of one record's raw text alone:
    #: a record whose digest is in the set given comes as :class:`Same` (its entry is the one that
    #: text gave before), the others as ``records`` gives them, each with its ``digest``. The
    #: whole-file checks (trailer, count) still run. A record may also come as :class:`Ready`.
    #: None: the format cannot say.
    digested: Callable[[Container[bytes]], Iterator[Parsed | Same | Ready]] | None = None


class Adapter(Protocol):
    name: str
    sources: frozenset[str]  # the sources this format can feed
    pending: bool  # True: entries go to approval (imports); False: a full-extract sync

    def open(self, path: Path, source: str | None) -> Extract: ...


def files_of(path: Path, *patterns: str) -> list[Path]:
    """A file, or the files of a directory matching any of ``patterns``, in name order."""
    if path.is_dir():
        files = sorted({p for pattern in patterns for p in path.glob(pattern) if p.is_file()})
        if not files:
            raise ExtractRefused("empty", f"{path}: no files matching {' or '.join(patterns)}")
        return files
    if not path.exists():
        raise ExtractRefused("unreachable", f"{path}: no such file or directory")
    return [path]


def parse_time(value: str, where: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise ExtractRefused("unparseable", f"{where}: {value!r} is not an RFC 3339 time") from exc
    if parsed.tzinfo is None:
        raise ExtractRefused("unparseable", f"{where}: {value!r} has no UTC offset")
    return parsed


def build(
    where: str,
    key: str | None,
    make: Callable[..., HotlistEntry],
    *args: Any,
    check: bool = True,
    digest: bytes | None = None,
) -> Parsed:
    """Build an entry, ``make(*args)``; P5 refusals are drops, every other problem a per-record error."""
    try:
        entry = make(*args)
        if check:
            check_entry(entry)
    except EntryRefused as exc:
        if exc.rule == "P5":
            return Parsed(where, key=key, dropped=_at(where, exc))
        return Parsed(where, key=key, error=_at(where, exc))
    except (AlprError, ValueError, KeyError, IndexError) as exc:
        return Parsed(where, key=key, error=_at(where, exc))
    return Parsed(where, entry, entry.key, digest=digest)


def _at(where: str, exc: Exception) -> str:
    message = str(exc)
    return message if message.startswith(where) else f"{where}: {message}"


def check_count(path: Path, count: int, trailer: int | None, form: str) -> None:
    """The whole-file checks of a feed with a trailer: present, equal to the count, not empty."""
    if trailer is None:
        raise ExtractRefused("truncated", f"{path}: no trailer ({form}): the file is truncated")
    if trailer != count:
        raise ExtractRefused("truncated", f"{path}: trailer says {trailer} records, the file holds {count}")
    if count == 0:
        raise ExtractRefused("empty", f"{path}: the extract holds no records")


def feed_entry(
    where: str,
    source: str,
    entry_id: str,
    plate: str,
    state: str,
    state_field: str,
    list_type: str,
    description: str,
    note: str,
    case: str,
    ori: str,
    vehicle: tuple[tuple[str, str], ...],
) -> HotlistEntry:
    """An entry of a shared feed from its fields (empty strings mean absent; ``vehicle``: the
    description's fields given, by name in name order, as :func:`vehicle_fields` makes them)."""
    if not plate:
        raise ValueError(f"{where}: no plate")
    if state and (len(state) != 2 or not state.isalpha()):
        raise ValueError(f"{where}: {state_field} {state!r} is not a two-letter state")
    return HotlistEntry(
        source,
        entry_id,
        normalize_plate(plate),
        state or None,
        list_type,
        f"{description}: {note}" if note else description,
        case or None,
        ori=ori or None,
        vehicle=vehicle,
    )


def vehicle_fields(fields: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """A vehicle description as an entry holds it: the fields given, by name in name order."""
    return tuple(sorted(filter(itemgetter(1), fields.items())))


#: Abbreviations seen in vendor exports (GPO and AP style), after dots are dropped.
_ABBREVIATIONS = {
    "ala": "AL", "ariz": "AZ", "ark": "AR", "cal": "CA", "cali": "CA", "calif": "CA", "colo": "CO",
    "conn": "CT", "del": "DE", "fla": "FL", "ill": "IL", "ind": "IN", "kan": "KS", "kans": "KS",
    "mass": "MA", "mich": "MI", "minn": "MN", "miss": "MS", "mont": "MT", "neb": "NE", "nebr": "NE",
    "nev": "NV", "okla": "OK", "ore": "OR", "oreg": "OR", "pa": "PA", "penn": "PA", "penna": "PA",
    "tenn": "TN", "tex": "TX", "wash": "WA", "wis": "WI", "wisc": "WI", "wyo": "WY",
    "washington dc": "DC", "washington d c": "DC", "newfoundland": "NL", "nf": "NL", "pq": "QC",
}  # fmt: skip
_STATE_NAMES = {
    **{code.lower(): code for code in PLATE_JURISDICTIONS},
    **{name.lower(): code for code, name in PLATE_JURISDICTIONS.items()},
    **_ABBREVIATIONS,
}


def plate_state(value: str, where: str, field: str = "State") -> str | None:
    """The two-letter code of a plate's state as a vendor writes it ("california", "Calif.", "CA",
    "Nevada"), None when blank. Raises ValueError naming the record when it names no jurisdiction,
    so that one bad record is refused and the others go on."""
    text = " ".join(value.replace(".", " ").replace("_", " ").lower().split())
    if not text:
        return None
    code = _STATE_NAMES.get(text) or _STATE_NAMES.get(text.removeprefix("state of ").strip())
    if code is None:
        raise ValueError(
            f"{where}: {field} {value.strip()!r} is not a US state, territory or Canadian province; "
            "give its two-letter code (CA) or its name (California)"
        )
    return code
