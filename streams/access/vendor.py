"""The quarterly audit of a vendor's search history (P16, P19, P22, P23): ``alpr audit vendor``.

San José audits its Flock Safety search history every quarter, its own searches and those of the
agencies it shares with, and follows up each search whose justification is thin (SJ memo Feb 2026).
The vendor's export is the only record of those searches, so this reads it as it comes (BOM, CRLF,
quoted commas, broken rows, AM/PM slips) and never stops on a bad row: a row it cannot use is
reported with its line number, because an auditor must see what was *not* checked.

Exports come in several layouts (the organization audit, the transparency portal, a bare
``Reason, DateTime``): any with a reason and a time is audited, columns found by name, and every
check whose column is absent is reported as not in this export, never as passed. Case numbers are
the home agency's formats (its profile), never a plate. Sharing partners are classed by name in
both directions and judged by the home state's law (``streams.retention.law``).

Reading (``parse_export``, ``parse_sharing``), judging (``audit``) and rendering (``format_report``)
are pure; only ``run_vendor_audit`` touches files. Purposes are judged by ``streams.access.purpose``,
the same rules that gate our own queries, so the two never disagree.
"""

from __future__ import annotations

import csv
import io
import math
import random
import re
import secrets
import sys
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote_plus

from streams.access.justification import GENERIC, describe_formats, looks_like_plate
from streams.access.purpose import forbidden_purpose, is_vague
from streams.errors import ConfigError
from streams.jurisdictions import US_STATES
from streams.retention.law import StateLaw, law_for
from streams.retention.policy import Profile

__all__ = [
    "column_key",
    "FINDINGS",
    "Export",
    "Finding",
    "PARTNER_CLASSES",
    "Partner",
    "PartnerClass",
    "RowError",
    "Sampled",
    "Search",
    "SharingExport",
    "VendorReport",
    "WideRule",
    "audit",
    "case_numbers_in",
    "classify_partner",
    "format_report",
    "parse_export",
    "parse_sharing",
    "judge_partners",
    "parse_time",
    "read_export",
    "read_sharing",
    "run_vendor_audit",
    "write_outputs",
]

#: Finding code -> (rule, what it means). The order is the order of the report.
FINDINGS: dict[str, tuple[str, str]] = {
    "no_case_number": ("P16", "reason holds no case or incident number"),
    "vague_reason": ("P23", "reason too vague to audit"),
    "forbidden_purpose": ("P22", "reason suggests immigration enforcement or reproductive care"),
    "wide_search": ("review", "unusually wide search: networks, devices or time window"),
    "bad_time": ("review", "time unreadable or with an AM/PM error (row still judged)"),
    "bad_count": ("review", "network or device count unreadable (row still judged)"),
    "malformed_row": ("review", "row could not be read at all: not judged"),
    "sharing_federal": ("P19", "we share with a partner that looks federal (heuristic: review)"),
    "sharing_out_of_state": ("P19", "we share with a partner that looks out of state (heuristic: review)"),
    "sharing_private": (
        "P19",
        "we share with a partner that looks commercial or private (heuristic: review)",
    ),
    "receives_only": ("review", "a flagged partner we only receive from: not sharing, listed apart"),
}
#: The finding of a partner we share with, per class (P19); "eligible" partners raise none.
_SHARING_CODES = {
    "federal": "sharing_federal",
    "out_of_state": "sharing_out_of_state",
    "commercial": "sharing_private",
}
#: The columns each check needs (any one group suffices); a check without them is "not in this export".
_CHECKS: tuple[tuple[str, str, tuple[tuple[str, ...], ...]], ...] = (
    ("case or incident number in the reason", "P16", (("reason",),)),
    ("vague reason", "P23", (("reason",),)),
    ("immigration or reproductive-care purpose", "P22", (("reason",),)),
    ("search time readable", "review", (("time",),)),
    ("networks searched (wide search)", "review", (("networks",),)),
    ("devices searched (wide search)", "review", (("devices",),)),
    ("search window in elapsed time (wide search)", "review", (("start", "end"),)),
    ("follow-up by organization or user", "P23", (("who",),)),
    ("search id in the random sample", "P23", (("id",),)),
)
#: The findings that need a column the export may lack: absent, they are "not in this export", not 0.
_FINDING_NEEDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "wide_search": (("networks",), ("devices",), ("start", "end")),
    "bad_count": (("networks",), ("devices",)),
}
SHOWN_PER_FINDING = 20


@dataclass(frozen=True)
class WideRule:
    """When a search is "unusually wide" (a judgment call, so every number is a setting).

    A count is wide when it is above the export's own 95th percentile (nearest rank) *and* above an
    absolute floor: the percentile adapts to the agency's normal, the floor keeps a quiet quarter of
    small searches from flagging its top 5 %. Under ``min_searches`` searches a percentile is just the
    largest value, so only the floor applies. A time window is wide when its elapsed time exceeds
    ``max_window`` by more than ``dst_slack``.
    """

    percentile: float = 95.0
    min_searches: int = 20
    networks_floor: int = 500
    devices_floor: int = 20_000
    max_window: timedelta = timedelta(days=30)
    #: A window is measured in elapsed time (aware datetimes): a "30 days" window picked in local time
    #: across a daylight-saving change lasts 30 days and 1 hour, and is not wide.
    dst_slack: timedelta = timedelta(hours=1)


# ----------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class RowError:
    """A record that could not be read at all (wrong field count, unclosed quote, CSV error)."""

    line: int
    message: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Search:
    """One search as the export states it; ``problems`` are (code, message) met while reading it."""

    line: int
    fields: dict[str, str]
    search_id: str
    who: str
    reason: str
    search_time: datetime | None
    networks: int | None = None
    devices: int | None = None
    frame_start: datetime | None = None
    frame_end: datetime | None = None
    problems: tuple[tuple[str, str], ...] = ()
    case: str = ""  # a separate case-number column, when the export has one


@dataclass(frozen=True)
class Export:
    """A search-history export: the searches read and the rows that could not be."""

    file: str
    shape: str
    header: tuple[str, ...]
    searches: tuple[Search, ...]
    errors: tuple[RowError, ...]
    blank_lines: int = 0
    ignored_columns: tuple[str, ...] = ()
    roles: Mapping[str, str] = field(default_factory=dict)  # role -> the column that plays it

    @property
    def total_rows(self) -> int:
        return len(self.searches) + len(self.errors)

    def has(self, *roles: str) -> bool:
        """Whether the export has a column for every role named."""
        return all(role in self.roles for role in roles)


@dataclass(frozen=True)
class Partner:
    """One organization on the sharing page and the networks shared each way."""

    line: int
    fields: dict[str, str]
    name: str
    they_share: str
    we_share: str


@dataclass(frozen=True)
class SharingExport:
    """The sharing page: who sees our networks and whose we see (P19)."""

    file: str
    header: tuple[str, ...]
    partners: tuple[Partner, ...]
    errors: tuple[RowError, ...]
    blank_lines: int = 0


def column_key(name: str) -> str:
    """Column (and key) names compared by their letters and digits only, case-insensitively ("Date/Time" is
    "datetime", "Search_Time" is "searchtime")."""
    return re.sub(r"[^a-z0-9]+", "", name.strip().lower())


#: The two Flock layouts seen so far, by their exact columns (only to name the layout in the report).
_SHAPES: dict[str, tuple[str, ...]] = {
    "Flock organization/network search audit": (
        "ID", "Org_Name", "Total_Networks_Searched", "Total_Devices_Searched", "Time_Frame_Start",
        "Time_Frame_End", "Reason", "Search_Time", "Search_Type", "Moderation",
    ),
    "Flock transparency portal": ("id", "userId", "searchDate", "cameraCount", "reason"),
}  # fmt: skip
#: Each role a column can play and the names it goes by (compared by ``column_key``: case, spaces,
#: underscores and punctuation ignored, so "Date/Time", "date_time" and "DateTime" are one name).
_ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "id": ("ID", "Search ID", "Search_Id"),
    "who": (
        "Org_Name", "Organization", "Organization Name", "Org", "Agency", "Agency Name", "userId", "User",
        "User Name", "Username", "Searcher", "Officer", "Name",
    ),
    "reason": (
        "Reason", "Search Reason", "Reason for Search", "Justification", "Search Justification",
        "Purpose", "Search Purpose",
    ),
    "case": ("Case Number", "Case", "Case #", "Case No", "Incident Number", "Case/Incident Number"),
    "time": (
        "Search_Time", "Search Time", "searchDate", "Search Date", "DateTime", "Date/Time", "Date Time",
        "Search DateTime", "Timestamp", "Search Timestamp", "Date", "Time", "Searched At", "Created At",
    ),
    "networks": ("Total_Networks_Searched", "Networks Searched", "Networks", "Network Count"),
    "devices": (
        "Total_Devices_Searched", "Devices Searched", "Devices", "cameraCount", "Cameras Searched",
        "Cameras", "Total Cameras Searched",
    ),
    "start": ("Time_Frame_Start", "Time Frame Start", "Start", "Start Time", "Start Date", "Search Start"),
    "end": ("Time_Frame_End", "Time Frame End", "End", "End Time", "End Date", "Search End"),
    "type": ("Search_Type", "Search Type", "Type"),
    "moderation": ("Moderation",),
}  # fmt: skip
_ROLE_KEYS = {column_key(name): role for role, names in _ROLE_NAMES.items() for name in names}
#: The least an export must hold to be audited: what was searched for (the reason) and when.
_REQUIRED = ("reason", "time")
_SHARING = {
    "organizationname": "name",
    "organization": "name",
    "agency": "name",
    "agencyname": "name",
    "networkssharedwithme": "they_share",
    "networksimsharing": "we_share",
}


def _roles(header: Sequence[str]) -> dict[str, str]:
    """role -> column, by the names in ``_ROLE_NAMES``; then any column whose name holds "reason" or
    "justification" (a reason) or "time"/"date" (a time) that no other role took. First column wins."""
    roles: dict[str, str] = {}
    for h in header:
        role = _ROLE_KEYS.get(column_key(h))
        if role is not None and role not in roles:
            roles[role] = h
    taken = set(roles.values())
    for role, words in (("reason", ("reason", "justification")), ("time", ("time", "date"))):
        hit = next((h for h in header if h not in taken and any(w in column_key(h) for w in words)), None)
        if role not in roles and hit is not None:
            roles[role] = hit
            taken.add(hit)
    return roles


def _records(text: str) -> Iterator[tuple[int, int, list[str] | None, str]]:
    """(first line, last line, fields or None, CSV error) per record, counting physical lines."""
    reader = csv.reader(io.StringIO(text, newline=""))
    before = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield before + 1, reader.line_num, None, str(exc)
        else:
            yield before + 1, reader.line_num, fields, ""
        if reader.line_num == before:  # no progress: never loop on a broken reader
            return
        before = reader.line_num


def _table(text: str, file: str) -> tuple[list[str], list[tuple[int, dict[str, str]]], list[RowError], int]:
    """Header, rows as {header: value}, row errors and blank lines of one CSV export."""
    header: list[str] | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    errors: list[RowError] = []
    blank = 0
    for line, last, fields, error in _records(text):
        if fields is None:
            errors.append(RowError(line, f"CSV error: {error}", ()))
            continue
        if not any(f.strip() for f in fields):
            blank += 1
            continue
        if header is None:
            header = [f.strip() for f in fields]
            while header and not header[-1]:  # trailing empty columns ("...,Moderation,")
                header.pop()
            continue
        width = len(header)
        extra = [f for f in fields[width:] if f.strip()]
        if len(fields) < width or extra:
            where = f"lines {line}-{last}" if last > line else f"line {line}"
            hint = " (a quote left open may have joined lines)" if last > line else ""
            errors.append(
                RowError(line, f"{len(fields)} fields on {where}, header has {width}{hint}", tuple(fields))
            )
            continue
        rows.append((line, {name: fields[i].strip() for i, name in enumerate(header) if name}))
    if header is None:
        raise ConfigError(f"{file}: no header row (the file is empty); export the search history again")
    return header, rows, errors, blank


def _decode(path: Path) -> str:
    """Exports come as UTF-8 (with or without BOM) or, after a trip through Excel, Windows-1252."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}; check the path") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


_TIME = re.compile(
    r"(?:(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2})|(?P<um>\d{1,2})/(?P<ud>\d{1,2})/(?P<uy>\d{4}|\d{2}))"
    r"(?:[ ,T]+(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.\d+)?)?\s*(?P<ampm>[ap]\.?m\.?)?)?"
    r"\s*(?P<tz>z|utc|gmt|pst|pdt|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE,
)
_ZONES = {"z": 0, "utc": 0, "gmt": 0, "pst": -8, "pdt": -7}


def parse_time(text: str) -> tuple[datetime | None, str | None]:
    """A vendor time (``11/14/2025, 09:53:36 AM UTC``, ISO 8601, a date) and what is wrong with it.

    A slip is reported but a time is still returned when the intent is clear (``13:05:00 PM`` is
    13:05); an ambiguous one (``09:10:00`` in a 12-hour export) gives None. No zone means UTC.
    """
    raw = text.strip()
    if not raw:
        return None, "blank"
    m = _TIME.fullmatch(raw)
    if m is None:
        return None, f"cannot read {raw!r}"
    g = m.groupdict()
    us = g["uy"] is not None
    year = int(g["uy"] or g["iy"])
    year += 2000 if year < 100 else 0
    hour, minute, second = int(g["h"] or 0), int(g["mi"] or 0), int(g["s"] or 0)
    problem: str | None = None
    ampm = (g["ampm"] or "").replace(".", "").lower()
    if ampm and (hour > 12 or hour == 0):
        problem = f"{raw!r}: hour {hour:02d} with {ampm.upper()}, read as a 24-hour time"
    elif ampm:
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    elif us and g["h"] is not None:
        if 0 < hour <= 12:
            return None, f"{raw!r}: no AM/PM, ambiguous"
        problem = f"{raw!r}: no AM/PM, read as a 24-hour time"
    tz = (g["tz"] or "utc").lower()
    if tz in _ZONES:
        zone = timezone(timedelta(hours=_ZONES[tz]))
    else:
        sign = -1 if tz[0] == "-" else 1
        zone = timezone(sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[-2:])))
    try:
        when = datetime(
            year, int(g["um"] or g["im"]), int(g["ud"] or g["id"]), hour, minute, second, tzinfo=zone
        )
    except ValueError as exc:
        return None, f"{raw!r}: {exc}"
    return when.astimezone(UTC), problem


def _count(text: str) -> tuple[int | None, str | None]:
    raw = text.strip()
    digits = raw.replace(",", "").replace(" ", "").replace("_", "")
    if not raw:
        return None, None
    if digits.isdigit():
        return int(digits), None
    return None, f"cannot read the count {raw!r}"


def parse_export(text: str, file: str = "<export>") -> Export:
    """A search-history export in any layout with a reason column and a time column.

    Columns are found by name (``_ROLE_NAMES``); every other check needs its own column and is
    reported as not in this export when that column is absent (``coverage``), never as passed.
    """
    header, rows, errors, blank = _table(text, file)
    roles = _roles(header)
    missing = [role for role in _REQUIRED if role not in roles]
    if missing:
        needed = "; ".join(f"a {role} column ({', '.join(_ROLE_NAMES[role][:4])}...)" for role in missing)
        raise ConfigError(
            f"{file}: not a search-audit export that can be audited: found columns "
            f"{', '.join(h for h in header if h)!r}; it also needs {needed}. A reason and a time are the "
            "least an audit needs (P16, P23): export the search history with them"
        )
    keys = {column_key(h) for h in header if h}
    shape = next(
        (name for name, cols in _SHAPES.items() if {column_key(c) for c in cols} <= keys),
        "search-audit export (columns matched by name)",
    )
    used = set(roles.values())
    ignored = tuple(h for h in header if h and h not in used)
    searches = [_search(line, values, roles) for line, values in rows]
    return Export(file, shape, tuple(header), tuple(searches), tuple(errors), blank, ignored, roles)


def _search(line: int, values: dict[str, str], roles: Mapping[str, str]) -> Search:
    def get(role: str) -> str:
        return values.get(roles.get(role, ""), "")

    problems: list[tuple[str, str]] = []
    times: dict[str, datetime | None] = {}
    for role in ("time", "start", "end"):
        if role not in roles or (role != "time" and not get(role)):
            times[role] = None
            continue
        times[role], problem = parse_time(get(role))
        if problem:
            problems.append(("bad_time", f"{roles[role]} {problem}"))
    start, end = times["start"], times["end"]
    if start and end and end < start:
        problems.append(("bad_time", f"{roles['end']} is before {roles['start']}"))
    counts: dict[str, int | None] = {}
    for role in ("networks", "devices"):
        counts[role], problem = _count(get(role))
        if problem:
            problems.append(("bad_count", f"{roles[role]}: {problem}"))
    return Search(
        line,
        values,
        get("id"),
        get("who"),
        get("reason"),
        times["time"],
        counts["networks"],
        counts["devices"],
        start,
        end,
        tuple(problems),
        get("case"),
    )


def parse_sharing(text: str, file: str = "<sharing>") -> SharingExport:
    """The sharing-agencies page: ``Page, Organization Name, Networks Shared With Me, ...I'm Sharing``."""
    header, rows, errors, blank = _table(text, file)
    roles = {_SHARING[column_key(h)]: h for h in header if column_key(h) in _SHARING}
    if "name" not in roles:
        raise ConfigError(
            f"{file}: unknown columns {', '.join(header)!r}: not a Flock sharing export "
            "(expected Page, Organization Name, Networks Shared With Me, Networks I'm Sharing)"
        )
    partners = [
        Partner(
            line,
            v,
            v[roles["name"]],
            v.get(roles.get("they_share", ""), ""),
            v.get(roles.get("we_share", ""), ""),
        )
        for line, v in rows
    ]
    return SharingExport(file, tuple(header), tuple(partners), tuple(errors), blank)


def read_export(path: Path) -> Export:
    """The export at ``path``; an unreadable file is a ``ConfigError`` (the CLI's exit 2)."""
    return parse_export(_decode(path), str(path))


def read_sharing(path: Path) -> SharingExport:
    """The sharing page at ``path``, read like the search export."""
    return parse_sharing(_decode(path), str(path))


# ----------------------------------------------------------------------------- sharing heuristics

#: Codes that are also English words or California abbreviations (LA County, "Marin CO SO" = county
#: sheriff, SC = Santa Clara, SD = San Diego or Sheriff's Department, MT = Mount): such a code counts
#: only where Flock's naming marks it as a state (see ``_state_marker``).
_AMBIGUOUS = frozenset(
    {"AL", "CA", "CO", "DE", "HI", "ID", "IN", "LA", "MA", "ME", "MT", "OK", "OR", "PA", "SC", "SD"}
)
_ANY_CODE = "|".join(US_STATES)
#: Agency words that follow the state code in Flock's names: "Houston TX PD", "Mobile AL SO".
_AGENCY_WORD = (
    r"(?:PD|SO|PB|SD|DPS|DA|HP|SP|Police|Sheriff(?:'s|s)?|Metro(?:politan)?|Constable|Marshal|State)"
)
_PREFIX = re.compile(rf"^\s*({_ANY_CODE})\s*[-–—:|]\s+")  # "AL - Mobile PD"
_MARKED = re.compile(
    rf"\(({_ANY_CODE})\)"  # "Washoe County Sheriff's Office (NV)"
    rf"|,\s*({_ANY_CODE})\s*$"  # "Reno, NV"
    rf"|(?<=\w\s)({_ANY_CODE})\s+{_AGENCY_WORD}\b"  # "Mobile AL PD", "Lake County IN SO"
    rf"|\bCounty\s+({_ANY_CODE})\b"  # "Boulder County CO SO"
)
_BARE = re.compile(rf"\b({'|'.join(c for c in US_STATES if c not in _AMBIGUOUS)})\b")
_STATE_NAME = re.compile(r"(?i:\b(" + "|".join(sorted(US_STATES.values(), key=len, reverse=True)) + r")\b)")
_NAME_CODE = {name.lower(): code for code, name in US_STATES.items()}
#: Places named like another state inside the home state, per home state: Nevada County and Nevada
#: City are Californian; a university named after its state is the state's (handled as a name).
_NAMESAKES = {"CA": re.compile(r"(?i:\bnevada (?:county|city)\b)")}
#: "Jefferson Parish SO": Louisiana's counties are parishes.
_PARISH = re.compile(r"(?i:\bparish\b)")
#: Counties of the home states whose counties are listed, for names without a state ("Maricopa County
#: SO"): a county not on the home state's list is out of state. Lower case, "county" left out.
_COUNTIES: dict[str, frozenset[str]] = {
    "CA": frozenset({
        "alameda", "alpine", "amador", "butte", "calaveras", "colusa", "contra costa", "del norte",
        "el dorado", "fresno", "glenn", "humboldt", "imperial", "inyo", "kern", "kings", "lake", "lassen",
        "los angeles", "la", "madera", "marin", "mariposa", "mendocino", "merced", "modoc", "mono",
        "monterey", "napa", "nevada", "orange", "placer", "plumas", "riverside", "sacramento",
        "san benito", "san bernardino", "san diego", "san francisco", "san joaquin", "san luis obispo",
        "san mateo", "santa barbara", "santa clara", "santa cruz", "shasta", "sierra", "siskiyou",
        "solano", "sonoma", "stanislaus", "sutter", "tehama", "trinity", "tulare", "tuolumne", "ventura",
        "yolo", "yuba",
    }),
    "WA": frozenset({
        "adams", "asotin", "benton", "chelan", "clallam", "clark", "columbia", "cowlitz", "douglas",
        "ferry", "franklin", "garfield", "grant", "grays harbor", "island", "jefferson", "king", "kitsap",
        "kittitas", "klickitat", "lewis", "lincoln", "mason", "okanogan", "pacific", "pend oreille",
        "pierce", "san juan", "skagit", "skamania", "snohomish", "spokane", "stevens", "thurston",
        "wahkiakum", "walla walla", "whatcom", "whitman", "yakima",
    }),
}  # fmt: skip
_COUNTY = re.compile(r"(?i:((?:[a-z.'-]+\s+){1,3})county\b|\bcounty\s+of\s+((?:[a-z.'-]+\s*){1,3}))")

#: Federal markers (P19: never share with federal agencies). Acronyms count only as whole upper-case
#: words (so "ICE" is not found in "Police"). A state's "Bureau of Investigation" (GBI, KBI, TBI) and
#: a state "Drug Enforcement Task Force" are state agencies: only the Federal Bureau of Investigation
#: and the Drug Enforcement Administration are federal. HIDTA task forces are classed federal: the
#: program is federal (ONDCP), each HIDTA's board and task forces include federal agencies (DEA, HSI,
#: FBI), and data given to a HIDTA is open to them. "VA" is federal only as Veterans Affairs ("VA
#: Palo Alto Health Care System Police"); elsewhere it is Virginia.
_FEDERAL = re.compile(
    r"\b(?:FBI|DEA|ATF|ICE|HSI|DHS|CBP|USMS|NCIS|AFOSI|IRS|USPIS|USSS|FPS|TSA|DOD|USAF|USN|USMC|USCG"
    r"|TVA|HIDTA|BIA|BLM|USDA|USFS|NPS|NASA|AFB|USPP|ERO)\b"
    r"|\bU\.\s?S\.|\bUS\b|\bUSA\b|\bVA\s+(?=(?:[A-Z][a-z]+\s+)*(?:Police|Medical|Health|Hospital))"
    r"|(?i:\bfederal\b|homeland security investigations|department of homeland security|immigration"
    r"|customs and border|border patrol|u\.?s\.? marshals?|marshals service|drug enforcement administration"
    r"|alcohol,? tobacco|federal bureau of investigation|secret service|postal inspect|united states"
    r"|department of defense|\barmy\b|\bnavy\b|\bnaval\b|air force|marine corps|coast guard|military"
    r"|national guard|veterans affairs|national park service|park police|forest service"
    r"|fish and wildlife service|bureau of land management|bureau of indian affairs|bureau of prisons"
    r"|bureau of reclamation|tennessee valley authority|pentagon|federal reserve|high intensity drug)"
)
#: Federal only when no state is named: a state's Department of Justice or homeland-security office
#: is a state agency (California DOJ, Kentucky Office of Homeland Security).
_FEDERAL_UNLESS_STATE = re.compile(r"\bDOJ\b|(?i:department of justice|homeland security)")

#: Commercial and private partners (P19: never share with them; SB 34 lets a public agency share only
#: with public agencies). Railroad police (BNSF, Union Pacific, CSX, Norfolk Southern) are commissioned
#: by states but employed by private railroads; a private university's campus police serve a private
#: institution, not a public agency.
_PRIVATE = re.compile(
    r"\b(?:LLC|L\.L\.C\.|LLP|LP|Inc|INC|Corp|CORP|Ltd|LTD|HOA|BNSF|CSX|USC)\b"
    r"|(?i:\binc\.|\bcorporation\b|\bcompany\b|\bapartments?\b|property management|\bproperties\b"
    r"|property group|\brealty\b|home\s?owners'? association|owners association|community association"
    r"|country club|\brailway\b|\brailroad\b|union pacific|norfolk southern|canadian pacific"
    r"|canadian national|kansas city southern|lowe'?s\b|home depot|wal-?mart|target corp|\bkroger\b"
    r"|\bcostco\b|\bmacy'?s\b|best buy|walgreens|\bcvs\b|\bsafeway\b|\bwestfield\b|\bmall\b"
    r"|shopping cent|\boutlets\b|asset protection|loss prevention|(?<!homeland )\bsecurity\b"
    r"|securitas|allied universal|\bg4s\b|kaiser|\bfoundation\b|\bcasino\b|\bresort\b|\bhotel\b)"
)
#: Private universities (their police or campus safety serve a private institution).
_PRIVATE_UNIVERSITY = re.compile(
    r"(?i:stanford|university of southern california|santa clara university|caltech"
    r"|california institute of technology|pepperdine|loyola marymount|university of san francisco"
    r"|university of san diego|university of the pacific|chapman university|azusa pacific|\bbiola\b"
    r"|claremont|occidental college|saint mary'?s college|st\.? mary'?s college|mills college"
    r"|point loma nazarene|harvey mudd|pomona college|harvard|\byale\b|princeton"
    r"|massachusetts institute of technology|\bduke university|vanderbilt|\bemory\b|\btulane\b"
    r"|rice university|\bbaylor\b|texas christian|southern methodist|northwestern university"
    r"|university of chicago|johns hopkins|georgetown|notre dame|brigham young|liberty university"
    r"|columbia university|cornell|university of pennsylvania|carnegie mellon|case western|wake forest"
    r"|boston university|new york university|\bnyu\b|university of miami|washington university"
    r"|saint louis university)"
)

#: Partner classes, in the order they are decided (a name with two markers gets the first).
PARTNER_CLASSES = ("federal", "commercial", "out_of_state", "eligible")
CLASS_LABELS = {
    "federal": "federal",
    "commercial": "commercial/private",
    "out_of_state": "out-of-state",
    "eligible": "eligible",
}


@dataclass(frozen=True)
class PartnerClass:
    """What a sharing partner is by its name, and the part of the name that says so (P19)."""

    kind: str  # one of PARTNER_CLASSES
    reason: str
    state: str = ""  # the state the name places it in, when it names one


def _state_marker(name: str, home: str) -> tuple[str, str] | None:
    """(two-letter state, why) that the name places the partner in, or None when it names none.

    In order: an "AL - " prefix, a marked code ("(NV)", ", NV", "Mobile AL PD", "County CO"), a
    parish (Louisiana), a state's name ("Texas DPS", "LOUISIANA STATE POLICE"), a bare code that is
    not also a word (TX, NV, AZ: in all-caps names too), then a county that is not one of the home
    state's (when the home state's counties are listed).
    """
    text = " ".join(name.split())
    prefix = _PREFIX.search(text)
    if prefix:
        return prefix.group(1), f'"{prefix.group(1)} -" prefix'
    marked = _MARKED.search(text)
    if marked:
        code = next(g for g in marked.groups() if g)
        if not (code == "CO" and re.search(r"(?i:\bCO\s+SO\b)", text) and "County" not in text):
            return code, f"state code {code}"
    if _PARISH.search(text):
        return "LA", "a parish (Louisiana's counties are parishes)"
    namesake = _NAMESAKES.get(home)
    named = _STATE_NAME.search(namesake.sub("", text) if namesake else text)
    if named:
        return _NAME_CODE[named.group(1).lower()], f"names {named.group(1).title()}"
    bare = _BARE.search(text)
    if bare:
        return bare.group(1), f"state code {bare.group(1)}"
    counties = _COUNTIES.get(home)
    county = _COUNTY.search(text) if counties else None
    if counties and county:
        before = (county.group(1) or "").split()  # "... Santa Clara County": the words before
        after = (county.group(2) or "").split()  # "County of Santa Clara ...": the words after
        names = [before[i:] for i in range(len(before))] + [after[:i] for i in range(len(after), 0, -1)]
        for words in names:
            if " ".join(words).lower() in counties:
                return home, f"{' '.join(words)} County is in {US_STATES[home]}"
        shown = " ".join(before[-1:] or after[:1])
        return "", f"{shown} County is not a county of {US_STATES[home]}"
    return None


def classify_partner(name: str, home: str = "CA") -> PartnerClass:
    """A sharing partner's class by its name: federal, commercial/private, out-of-state or eligible.

    A heuristic on names as Flock writes them ("Houston TX PD", "AL - Mobile PD", "Jefferson Parish
    SO", "BNSF Railway Police"): it flags for review and proves nothing, so the reason is always
    shown. "Eligible" means no marker was found: the agreement on file still has to be checked (P19).
    """
    text = " ".join(name.split())
    federal = _FEDERAL.search(text)
    if federal:
        return PartnerClass("federal", f'names "{federal.group(0).strip()}"')
    private = _PRIVATE_UNIVERSITY.search(text)
    if private:
        return PartnerClass("commercial", f'private university "{private.group(0)}", not a public agency')
    private = _PRIVATE.search(text)
    if private:
        return PartnerClass("commercial", f'names "{private.group(0)}", not a public agency')
    state = _state_marker(text, home)
    doj = _FEDERAL_UNLESS_STATE.search(text)
    if doj and state is None:
        return PartnerClass("federal", f'names "{doj.group(0)}" and no state')
    if state is not None and state[0] != home:
        where = f"{US_STATES[state[0]]}: " if state[0] else ""
        return PartnerClass("out_of_state", f"{where}{state[1]}", state[0])
    if state is not None:
        return PartnerClass("eligible", f"{US_STATES[home]}: {state[1]}", home)
    return PartnerClass(
        "eligible", f"no federal, private or other-state marker: taken for a {US_STATES[home]} public agency"
    )


# ------------------------------------------------------------------------------------------ judging


@dataclass(frozen=True)
class Finding:
    """One offending row: which export, which line, what is wrong, and the row as written."""

    code: str
    file: str
    line: int
    who: str
    text: str
    detail: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Sampled:
    """A search drawn for the P23 random audit and whether it lacks a case number."""

    search: Search
    case_numbers: tuple[str, ...]

    @property
    def lacks_case_number(self) -> bool:
        return not self.case_numbers


@dataclass(frozen=True)
class VendorReport:
    """Everything judged, kept with its inputs so the report can always say what it was based on."""

    export: Export
    sharing: SharingExport | None
    findings: tuple[Finding, ...]
    sample: tuple[Sampled, ...]
    seed: int | None
    rule: WideRule
    limits: dict[str, tuple[int | None, int]]  # networks/devices -> (percentile value, limit)
    period: tuple[datetime, datetime] | None
    profile: Profile = GENERIC

    def checked(self, code: str) -> bool:
        """Whether the export has the columns a finding needs (one group of ``_FINDING_NEEDS``)."""
        if code in _SHARING_CODES.values() or code == "receives_only":
            return self.sharing is not None
        needs = _FINDING_NEEDS.get(code)
        return needs is None or any(self.export.has(*group) for group in needs)

    def of(self, code: str) -> list[Finding]:
        """The findings of one code, in line order."""
        return [f for f in self.findings if f.code == code]

    def counts(self) -> dict[str, int]:
        """Every code, even those with nothing found: a zero is a result an auditor reports too."""
        seen = Counter(f.code for f in self.findings)
        return {code: seen[code] for code in FINDINGS}


def _nearest_rank(values: Sequence[int], pct: float, at_least: int) -> int | None:
    """The nearest-rank percentile, or None when there are too few values for it to mean anything."""
    if len(values) < max(at_least, 1):
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def _malformed(file: str, header: Sequence[str], errors: Sequence[RowError]) -> list[Finding]:
    """Unreadable rows, their fields laid under the header by position (extras in one column)."""
    out = []
    for err in errors:
        fields = {name: err.fields[i] for i, name in enumerate(header) if i < len(err.fields) and name}
        if len(err.fields) > len(header):
            fields["extra fields"] = " | ".join(err.fields[len(header) :])
        out.append(Finding("malformed_row", file, err.line, "", "", err.message, fields))
    return out


_Verdict = tuple[tuple[str, ...], bool, str | None]  # case numbers, vague, forbidden


def _span(elapsed: timedelta) -> str:
    """Elapsed time as "90 days" or "31 days 2 h"."""
    hours = elapsed.seconds // 3600
    return f"{elapsed.days} days" + (f" {hours} h" if hours else "")


_CASE_TOKEN = re.compile(r"[A-Z0-9]+(?:-[A-Z0-9]+)*")
#: Another agency's case number, written with a dash after a year ("26-123456", "MIL26-04411",
#: "SJ-26-004512"): partners search our network under their own case numbers (P16).
_DASHED_CASE = re.compile(r"(?:[A-Z]{1,6}-?)?(?:\d{2}|\d{4})-\d{3,8}")


def case_numbers_in(text: str, profile: Profile) -> tuple[str, ...]:
    """The case or incident numbers in a reason (P16): tokens in one of ``profile.case_number_formats``
    (San José: also bare 7- and 9-digit incident numbers) or dashed year-serial numbers, and never a
    plate-shaped token ("Stolen Vehicle E287021": E287021 is a plate, not a case number)."""
    found = []
    for token in _CASE_TOKEN.findall(unquote_plus(text).upper()):
        if looks_like_plate(token) == token:
            continue
        if _DASHED_CASE.fullmatch(token) or any(re.fullmatch(f, token) for f in profile.case_number_formats):
            found.append(token)
    return tuple(found)


def _judge(
    s: Search, verdict: _Verdict, limits: Mapping[str, tuple[int | None, int]], rule: WideRule
) -> list[tuple[str, str]]:
    """(code, detail) of everything wrong with one search."""
    cases, vague, forbidden = verdict
    flagged: list[tuple[str, str]] = []
    if not cases:
        flagged.append(("no_case_number", "no case or incident number in the reason"))
    if vague:
        flagged.append(
            ("vague_reason", "reason says nothing checkable" if s.reason.strip() else "blank reason")
        )
    if forbidden:
        flagged.append(("forbidden_purpose", forbidden))
    wide = [
        f"{n:,} {role} > {limits[role][1]:,}"
        for role in ("networks", "devices")
        if (n := getattr(s, role)) is not None and n > limits[role][1]
    ]
    if s.frame_start and s.frame_end and s.frame_end - s.frame_start > rule.max_window + rule.dst_slack:
        wide.append(f"window {_span(s.frame_end - s.frame_start)} > {rule.max_window.days} days")
    if wide:
        flagged.append(("wide_search", "; ".join(wide)))
    for code in ("bad_time", "bad_count"):
        problems = [msg for c, msg in s.problems if c == code]
        if problems:
            flagged.append((code, "; ".join(problems)))
    return flagged


def audit(
    export: Export,
    sharing: SharingExport | None = None,
    sample: int = 10,
    seed: int | None = None,
    *,
    rule: WideRule | None = None,
    profile: Profile = GENERIC,
) -> VendorReport:
    """Judge every row of the export (and the sharing page); draw the P23 sample.

    Case numbers are the home agency's (``profile``, the deployment's settings.profile) and its
    state is the home state of the sharing rule (P19). Each distinct reason is judged once: real
    exports repeat a few reasons thousands of times.
    """
    if sample < 0:
        raise ConfigError(f"--sample must be 0 or more, not {sample}")
    rule = rule or WideRule()
    found: dict[str, list[Finding]] = {code: [] for code in FINDINGS}
    found["malformed_row"] += _malformed(export.file, export.header, export.errors)
    limits: dict[str, tuple[int | None, int]] = {}
    for role, floor in (("networks", rule.networks_floor), ("devices", rule.devices_floor)):
        pct = _nearest_rank(
            [v for s in export.searches if (v := getattr(s, role)) is not None],
            rule.percentile,
            rule.min_searches,
        )
        limits[role] = (pct, max(floor, pct or 0))
    verdicts: dict[str, _Verdict] = {}
    for s in export.searches:
        verdict = verdicts.get(s.reason)
        if verdict is None:
            verdict = (case_numbers_in(s.reason, profile), is_vague(s.reason), forbidden_purpose(s.reason))
            verdicts[s.reason] = verdict
        if s.case:
            verdict = (verdict[0] + case_numbers_in(s.case, profile), *verdict[1:])
        for code, detail in _judge(s, verdict, limits, rule):
            found[code].append(Finding(code, export.file, s.line, s.who, s.reason, detail, s.fields))
    if sharing is not None:
        found["malformed_row"] += _malformed(sharing.file, sharing.header, sharing.errors)
        for code, finding in _judge_sharing(sharing, profile.state):
            found[code].append(finding)
    times = [s.search_time for s in export.searches if s.search_time is not None]
    k = min(sample, len(export.searches))
    drawn = random.Random(seed).sample(export.searches, k)  # noqa: S311 (an audit draw, not a secret)
    return VendorReport(
        export,
        sharing,
        tuple(f for code in FINDINGS for f in found[code]),
        tuple(
            Sampled(s, verdicts[s.reason][0] + case_numbers_in(s.case, profile))
            for s in sorted(drawn, key=lambda s: s.line)
        ),
        seed,
        rule,
        limits,
        (min(times), max(times)) if times else None,
        profile,
    )


def _shares(value: str) -> bool:
    """A "Networks ... Sharing" cell that means some sharing: a count above 0, or yes/true/x."""
    raw = value.strip().lower().replace(",", "")
    return (raw.isdigit() and int(raw) > 0) or raw in ("yes", "y", "true", "x")


@dataclass(frozen=True)
class PartnerVerdict:
    """One organization of the sharing page (merged over pages) and both directions (P19)."""

    partner: Partner
    verdict: PartnerClass
    we_share: bool  # "Networks I'm Sharing": our data goes to them
    they_share: bool  # "Networks Shared With Me": theirs comes to us

    @property
    def direction(self) -> str:
        if self.we_share:
            return "we share with them" + (" and receive from them" if self.they_share else "")
        return "we only receive from them" if self.they_share else "no networks either way"


def judge_partners(sharing: SharingExport, home: str) -> tuple[PartnerVerdict, ...]:
    """Each organization once (a name listed on two pages or twice is merged, both directions kept)."""
    merged: dict[str, PartnerVerdict] = {}
    for p in sharing.partners:
        key = " ".join(p.name.lower().split())
        seen = merged.get(key)
        we, they = _shares(p.we_share), _shares(p.they_share)
        if seen is None:
            merged[key] = PartnerVerdict(p, classify_partner(p.name, home), we, they)
        else:
            merged[key] = PartnerVerdict(
                seen.partner, seen.verdict, seen.we_share or we, seen.they_share or they
            )
    return tuple(merged.values())


def _law_forbids(law: StateLaw, pv: PartnerVerdict) -> bool:
    """Whether the home state's law forbids sharing with this partner (P19). The law decides
    (``StateLaw.sharing_refusal``); this only maps a class to an agency type and a state."""
    kind, state = pv.verdict.kind, pv.verdict.state
    if kind == "eligible":
        return False
    if kind == "out_of_state" and not state:  # a county of no listed state: not the home state
        return law.in_state_only
    agency_type = {"federal": "federal", "commercial": "commercial"}.get(kind, "municipal_police")
    return law.sharing_refusal(pv.partner.name, agency_type, state or law.state) is not None


def _judge_sharing(sharing: SharingExport, home: str) -> Iterator[tuple[str, Finding]]:
    """P19: a partner we share with whom the home state's law bars is a finding of its class; a
    flagged partner we only receive from is listed apart (receiving is not sharing, but the auditor
    should know of it)."""
    law = law_for(home)
    for pv in judge_partners(sharing, home):
        if not (pv.we_share or pv.they_share) or not _law_forbids(law, pv):
            continue
        p = pv.partner
        label = f"{CLASS_LABELS[pv.verdict.kind]}: {pv.verdict.reason}; {pv.direction}"
        if pv.we_share:
            code, detail = _SHARING_CODES[pv.verdict.kind], f"{label}; not allowed under {law.citation} (P19)"
        else:
            code, detail = "receives_only", f"{label} (receiving is not sharing: for review)"
        yield code, Finding(code, sharing.file, p.line, p.name, p.name, detail, p.fields)


# ---------------------------------------------------------------------------------------- rendering


def _when(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S UTC") if t else "-"


def _clip(text: str, width: int = 60) -> str:
    """One line, URL-decoded when the portal encoded it (``Property+Crime``); findings.csv keeps it raw."""
    if re.search(r"%[0-9A-Fa-f]{2}", text) or ("+" in text and " " not in text):
        text = unquote_plus(text)
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "…"


def _follow_up(report: VendorReport, limit: int) -> list[str]:
    """Findings on the reason per organization: the RTIC contacts each agency about its searches."""
    codes = ("no_case_number", "vague_reason", "forbidden_purpose")
    per_org: dict[str, Counter[str]] = {}
    for f in report.findings:
        if f.code in codes:
            per_org.setdefault(f.who or "(no name)", Counter())[f.code] += 1
    if not per_org:
        return []
    lines = ["", "## Organizations to follow up (findings on the reason)", ""]
    for who, seen in sorted(per_org.items(), key=lambda kv: (-kv[1].total(), kv[0]))[:limit]:
        lines.append(f"- {who}: " + ", ".join(f"{seen[c]} {c}" for c in codes if seen[c]))
    return lines


def _coverage(report: VendorReport) -> list[str]:
    """What was checked and what could not be, check by check (an absent column is never a pass)."""
    ex = report.export
    lines = ["", "## What was checked", ""]
    columns = ", ".join(f"{role} = {col}" for role, col in ex.roles.items())
    lines.append(f"columns used: {columns}")
    for label, rule, needs in _CHECKS:
        group = next((g for g in needs if ex.has(*g)), None)
        if group is not None:
            lines.append(f"- {label} ({rule}): checked ({', '.join(ex.roles[r] for r in group)})")
        else:
            wanted = " and ".join(f"{r} ({_ROLE_NAMES[r][0]})" for r in needs[0])
            lines.append(f"- {label} ({rule}): not in this export (no {wanted} column)")
    formats = describe_formats(report.profile.case_number_formats)
    lines.append(
        f"- case numbers are those of {report.profile.agency} ({formats}) or dashed year-serial numbers "
        "of other agencies (26-123456); a plate-shaped token (5-7 letters and digits) is never one"
    )
    if report.sharing is None:
        lines.append("- sharing partners (P19): not checked (no --sharing export given)")
    return lines


def _partners(report: VendorReport, limit: int) -> list[str]:
    """P19 both ways: each class by direction, then every partner with its class and reason."""
    if report.sharing is None:
        return []
    home = report.profile.state
    verdicts = judge_partners(report.sharing, home)
    lines = [
        "",
        f"## Sharing partners (P19; home state {home}, {law_for(home).citation}): "
        f"{len(verdicts)} organizations",
        "",
        "| class | we share with | we only receive from | neither |",
        "|---|---:|---:|---:|",
    ]
    for kind in PARTNER_CLASSES:
        of = [v for v in verdicts if v.verdict.kind == kind]
        receive = sum(not v.we_share and v.they_share for v in of)
        neither = sum(not v.we_share and not v.they_share for v in of)
        lines.append(f"| {CLASS_LABELS[kind]} | {sum(v.we_share for v in of)} | {receive} | {neither} |")
    lines.append("")
    for v in verdicts[:limit]:
        lines.append(
            f"- {Path(report.sharing.file).name} line {v.partner.line}: "
            f"{v.partner.name}: {CLASS_LABELS[v.verdict.kind]} ({v.verdict.reason}); {v.direction}"
        )
    if len(verdicts) > limit:
        lines.append(f"- ... and {len(verdicts) - limit} more (all in report.md with --out)")
    return lines


def _count_cell(report: VendorReport, code: str, count: int) -> str:
    """A count, or why there is none: a check that could not run is never shown as 0 (a pass)."""
    if report.checked(code):
        return str(count)
    return "not in this export" if code in _FINDING_NEEDS else "not checked (no --sharing)"


def format_report(report: VendorReport, limit: int = SHOWN_PER_FINDING) -> str:
    """The report an auditor reads (plain text that is also Markdown, for ``report.md``)."""
    ex, counts = report.export, report.counts()
    lines = [f"# Vendor search audit: {ex.file}", "", f"- export: {ex.shape}"]
    if report.period:
        lines.append(f"- period: {_when(report.period[0])} to {_when(report.period[1])}")
    else:
        lines.append("- period: unknown (no readable search time)")
    lines.append(
        f"- rows: {ex.total_rows} total, {len(ex.searches)} read, {len(ex.errors)} malformed, "
        f"{ex.blank_lines} blank lines skipped"
    )
    if ex.ignored_columns:
        lines.append(f"- columns not used: {', '.join(ex.ignored_columns)}")
    if report.sharing:
        sh = report.sharing
        lines.append(
            f"- sharing: {sh.file}, {len(sh.partners)} organizations, {len(sh.errors)} malformed rows"
        )
    r = report.rule
    wide = []
    for role, floor in (("networks", r.networks_floor), ("devices", r.devices_floor)):
        pct, lim = report.limits[role]
        basis = (
            f"floor; under {r.min_searches} values"
            if pct is None
            else f"p{r.percentile:g} {pct:,}, floor {floor:,}"
        )
        wide.append(f"{role} > {lim:,} ({basis})")
    lines += [
        f"- wide search: {', '.join(wide)}; time window > {r.max_window.days} days of elapsed time "
        f"(UTC), with {_span(r.dst_slack).removeprefix('0 days ')} slack for a daylight-saving change",
        *_coverage(report),
        "",
        "## Findings",
        "",
    ]
    lines += ["| finding | rows | rule | meaning |", "|---|---:|---|---|"]
    lines += [
        f"| {code} | {_count_cell(report, code, counts[code])} | {rule} | {meaning} |"
        for code, (rule, meaning) in FINDINGS.items()
    ]
    for code, (rule, meaning) in FINDINGS.items():
        rows = report.of(code)
        if not rows:
            continue
        lines += ["", f"## {code} ({rule}): {len(rows)}, {meaning}", ""]
        for f in rows[:limit]:
            where = f"line {f.line}" if f.file == ex.file else f"{Path(f.file).name} line {f.line}"
            if code.startswith("sharing_") or code == "receives_only":
                lines.append(f"- {where}: {f.who}: {f.detail}")
            elif code == "malformed_row":
                lines.append(f"- {where}: {f.detail}")
            else:
                lines.append(f"- {where}: {_clip(f.who, 30)}: {_clip(f.text)!r}: {f.detail}")
        if len(rows) > limit:
            lines.append(f"- ... and {len(rows) - limit} more (all in findings.csv with --out)")
    lines += _partners(report, limit)
    if ex.has("who"):
        lines += _follow_up(report, limit)
    total = len(ex.searches)
    lacking = sum(s.lacks_case_number for s in report.sample)
    lines += ["", f"## P23 random sample: {len(report.sample)} of {total} searches", ""]
    if report.seed is not None:
        lines.append(f"seed {report.seed} (run again with --seed {report.seed} to draw the same searches)")
        lines.append("")
    for sm in report.sample:
        s = sm.search
        mark = "NO CASE NUMBER" if sm.lacks_case_number else f"case {', '.join(sm.case_numbers)}"
        lines.append(
            f"- line {s.line} (ID {s.search_id or '-'}): {_when(s.search_time)} {_clip(s.who, 30) or '-'}: "
            f"{_clip(s.reason)!r}: {mark}"
        )
    summary = ", ".join(
        f"{counts[c]} {c}" if report.checked(c) else f"{c} not in this export"
        for c in FINDINGS
        if not c.startswith(("sharing_", "receives_"))
    )
    if report.sharing:
        summary += "; sharing: " + ", ".join(
            f"{counts[c]} {c.removeprefix('sharing_')}" for c in (*_SHARING_CODES.values(), "receives_only")
        )
    lines += [
        "",
        f"summary: {total} of {ex.total_rows} rows read; {summary}; "
        f"sample {len(report.sample)} ({lacking} without a case number)",
    ]
    return "\n".join(lines) + "\n"


def _cell(value: str) -> str:
    """Reasons are typed by other agencies' users: never let one run as a spreadsheet formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def write_outputs(report: VendorReport, out: Path) -> tuple[Path, Path]:
    """``report.md`` (every row, not only 20) and ``findings.csv`` (every offending row as written).

    The CSV has a BOM so that Excel, where auditors open it, reads the accents in agency names.
    """
    columns = ["file", "line", "finding", "rule", "detail"]
    for header in (report.export.header, report.sharing.header if report.sharing else ()):
        columns += [h for h in header if h and h not in columns]
    columns.append("extra fields")
    try:
        out.mkdir(parents=True, exist_ok=True)
        md, rows = out / "report.md", out / "findings.csv"
        md.write_text(format_report(report, limit=len(report.findings) or 1), encoding="utf-8")
        with rows.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.DictWriter(fh, columns, restval="", extrasaction="ignore")
            writer.writeheader()
            for f in report.findings:
                rule = FINDINGS[f.code][0]
                cells = {k: _cell(v) for k, v in f.fields.items()}
                writer.writerow(
                    {
                        **cells,
                        "file": f.file,
                        "line": f.line,
                        "finding": f.code,
                        "rule": rule,
                        "detail": f.detail,
                    }
                )
    except OSError as exc:
        raise ConfigError(f"cannot write the report to {out}: {exc.strerror or exc}") from exc
    return md, rows


def run_vendor_audit(
    fmt: str,
    path: Path,
    sharing: Path | None,
    *,
    sample: int,
    seed: int | None,
    out: Path | None,
    profile: Profile = GENERIC,
) -> int:
    """``alpr audit vendor``: 0 when the report was produced, whatever it found; 1 if nothing was readable.

    Without ``--seed`` a seed is drawn and printed, so any sample can be drawn again.
    """
    if fmt != "flock":
        raise ConfigError(f"unknown vendor format {fmt!r}; supported: flock")
    export = read_export(path)
    partners = read_sharing(sharing) if sharing is not None else None
    drawn = seed if seed is not None else secrets.randbelow(2**31)
    report = audit(export, partners, sample, drawn, profile=profile)
    print(format_report(report), end="")
    if out is not None:
        md, rows = write_outputs(report, out)
        print(f"wrote {md} and {rows} ({len(report.findings)} findings)")
    if not export.searches:
        print(
            f"alpr: no readable search rows in {path} ({len(export.errors)} malformed): "
            "nothing was audited; check the export's date range, or export it again",
            file=sys.stderr,
        )
        return 1
    return 0
