"""The quarterly audit of a vendor's search history (P16, P19, P22, P23): ``alpr audit vendor``.

San José audits its Flock Safety search history every quarter, its own searches and those of the
agencies it shares with, and follows up each search whose justification is thin (SJ memo Feb 2026).
The vendor's export is the only record of those searches, so this reads it as it comes (BOM, CRLF,
quoted commas, broken rows, AM/PM slips) and never stops on a bad row: a row it cannot use is
reported with its line number, because an auditor must see what was *not* checked.

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

from streams.access.purpose import case_numbers, forbidden_purpose, is_vague
from streams.errors import ConfigError

__all__ = [
    "FINDINGS",
    "Export",
    "Finding",
    "Partner",
    "RowError",
    "Sampled",
    "Search",
    "SharingExport",
    "VendorReport",
    "WideRule",
    "audit",
    "federal_agency",
    "format_report",
    "out_of_state",
    "parse_export",
    "parse_sharing",
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
    "sharing_federal": ("P19", "sharing partner looks federal (heuristic: review)"),
    "sharing_outside_california": ("P19", "sharing partner looks outside California (heuristic: review)"),
}
SHOWN_PER_FINDING = 20


@dataclass(frozen=True)
class WideRule:
    """When a search is "unusually wide" (a judgment call, so every number is a setting).

        A count is wide when it is above the export's own 95th percentile (nearest rank) *and* above an
        absolute floor: the percentile adapts to the agency's normal, the floor keeps a quiet quarter of
        small searches from flagging its top 5 %. Under ``min_searches`` searches a percentile is just the
    largest value, so only the floor applies. A time window longer than ``max_window`` is wide too.
    """

    percentile: float = 95.0
    min_searches: int = 20
    networks_floor: int = 500
    devices_floor: int = 20_000
    max_window: timedelta = timedelta(days=30)


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

    @property
    def total_rows(self) -> int:
        return len(self.searches) + len(self.errors)


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


def _key(name: str) -> str:
    """Header names compared case-insensitively, spaces/underscores/apostrophes folded."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


#: Each export shape's columns as the vendor names them, and the role each plays. Columns are matched by
#: ``_key`` (case, spaces, underscores folded); the roles in ``_REQUIRED`` must be there, the rest may not.
_SHAPES: dict[str, dict[str, str]] = {
    "Flock organization/network search audit": {
        "ID": "id", "Org_Name": "who", "Total_Networks_Searched": "networks",
        "Total_Devices_Searched": "devices", "Time_Frame_Start": "start", "Time_Frame_End": "end",
        "Reason": "reason", "Search_Time": "time", "Search_Type": "type", "Moderation": "moderation",
    },
    "Flock transparency portal": {
        "id": "id", "userId": "who", "searchDate": "time", "cameraCount": "devices", "reason": "reason",
    },
}  # fmt: skip
_SHAPE_KEYS = {shape: {_key(name): role for name, role in cols.items()} for shape, cols in _SHAPES.items()}
_REQUIRED = frozenset({"id", "reason", "time"})
_SHARING = {
    "organization_name": "name",
    "networks_shared_with_me": "they_share",
    "networks_i_m_sharing": "we_share",
}


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
    """A search-history export in either Flock shape, told apart by its header."""
    header, rows, errors, blank = _table(text, file)
    keys = [_key(h) for h in header]
    found = {
        shape: {cols[k]: h for k, h in zip(keys, header, strict=True) if k in cols}
        for shape, cols in _SHAPE_KEYS.items()
    }
    shape = max(found, key=lambda name: len(found[name]))
    roles = found[shape]
    missing = [name for name, role in _SHAPES[shape].items() if role in _REQUIRED and role not in roles]
    if missing:
        expected = " or ".join(f"({', '.join(cols)})" for cols in _SHAPES.values())
        raise ConfigError(
            f"{file}: unknown columns {', '.join(header)!r}, no {', '.join(missing)}: not a Flock "
            f"search-audit export; expected {expected}, in any case"
        )
    ignored = tuple(h for k, h in zip(keys, header, strict=True) if h and k not in _SHAPE_KEYS[shape])
    searches = [_search(line, values, roles) for line, values in rows]
    return Export(file, shape, tuple(header), tuple(searches), tuple(errors), blank, ignored)


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
    )


def parse_sharing(text: str, file: str = "<sharing>") -> SharingExport:
    """The sharing-agencies page: ``Page, Organization Name, Networks Shared With Me, ...I'm Sharing``."""
    header, rows, errors, blank = _table(text, file)
    roles = {_SHARING[_key(h)]: h for h in header if _key(h) in _SHARING}
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

_FEDERAL = re.compile(
    r"\b(?:FBI|DEA|ATF|ICE|HSI|DHS|CBP|USMS|NCIS|AFOSI|IRS|USPIS|USSS|FPS|TSA|DOD|USAF|USN|USMC|USCG)\b"
    r"|\bU\.S\.|\bUS\b|\bUSA\b"
    r"|(?i:\bfederal\b|homeland security|immigration|customs and border|border patrol|u\.?s\.? marshals?"
    r"|drug enforcement|alcohol,? tobacco|bureau of investigation|secret service|postal inspect"
    r"|marshals service|united states|department of defense|\barmy\b|\bnavy\b|\bnaval\b|air force"
    r"|marine corps|coast guard|military|national guard|veterans affairs"
    r"|national park service|forest service)"
)
_DOJ = re.compile(r"\bDOJ\b|(?i:department of justice)")
_STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CO": "Colorado",
    "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia", "FL": "Florida",
    "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois", "IN": "Indiana", "IA": "Iowa",
    "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine", "MD": "Maryland",
    "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi", "MO": "Missouri",
    "MT": "Montana", "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire", "NJ": "New Jersey",
    "NM": "New Mexico", "NY": "New York", "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio",
    "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina",
    "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont",
    "VA": "Virginia", "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
}  # fmt: skip
#: Codes that are also words or California abbreviations (LA County, "CO SO" = county sheriff).
_AMBIGUOUS = {"AL", "CO", "DE", "HI", "ID", "IN", "LA", "MA", "ME", "OK", "OR", "PA"}
_CODE = "|".join(_STATES)
_CODE_MARKED = re.compile(rf"\(({_CODE}|CA)\)|,\s*({_CODE}|CA)\s*$|\b({_CODE}|CA)\s*(?:PD|(?i:police))\b")
_CODE_BARE = re.compile(rf"\b({'|'.join(c for c in _STATES if c not in _AMBIGUOUS)})\b")
_STATE_NAME = re.compile(r"(?i:\b(" + "|".join(sorted(_STATES.values(), key=len, reverse=True)) + r")\b)")
#: California places named like other states: Nevada County, Nevada City.
_CA_NAMESAKES = re.compile(r"(?i:\bnevada (?:county|city)\b)")
_CALIFORNIA = re.compile(r"\bCA\b|(?i:\bcalifornia\b)")


def federal_agency(name: str) -> str | None:
    """The marker that makes a partner look federal (FBI, DEA, "Homeland Security", military...).

    A heuristic that flags for review. Acronyms count only as whole upper-case words (so "ICE"
    is not found in "Police"); "Department of Justice" counts unless a state is named (the
    California DOJ is a state agency); a city or county fire marshal is not the U.S. Marshals.
    """
    m = _FEDERAL.search(name)
    if m:
        return m.group(0)
    d = _DOJ.search(name)
    if d and not _CALIFORNIA.search(name) and out_of_state(name) is None:
        return d.group(0)
    return None


def out_of_state(name: str) -> str | None:
    """The state that a partner's name places outside California, or None.

    A heuristic that flags for review, after Flock's naming habits: a marked code ("Agency (TX)",
    "Agency, TX", "Houston TX PD"), a bare upper-case code that is not also a word or a California
    abbreviation (CO, LA, IN, OR...), or a state's name ("Texas DPS"). A marked "(CA)"/"CA PD" wins,
    and Nevada County / Nevada City are Californian. A name with no state in it is not flagged.
    """
    marked = _CODE_MARKED.search(name)
    if marked:
        code = next(g for g in marked.groups() if g)
        return None if code == "CA" else code
    if _CALIFORNIA.search(name):
        return None
    bare = _CODE_BARE.search(name) if not name.isupper() else None
    if bare:
        return bare.group(1)
    named = _STATE_NAME.search(_CA_NAMESAKES.sub("", name))
    return named.group(1).title() if named else None


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
    if s.frame_start and s.frame_end and s.frame_end - s.frame_start > rule.max_window:
        wide.append(f"window {(s.frame_end - s.frame_start).days} days > {rule.max_window.days}")
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
) -> VendorReport:
    """Judge every row of the export (and the sharing page); draw the P23 sample.

    Each distinct reason is judged once: real exports repeat a few reasons thousands of times.
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
            verdict = (tuple(case_numbers(s.reason)), is_vague(s.reason), forbidden_purpose(s.reason))
            verdicts[s.reason] = verdict
        for code, detail in _judge(s, verdict, limits, rule):
            found[code].append(Finding(code, export.file, s.line, s.who, s.reason, detail, s.fields))
    if sharing is not None:
        found["malformed_row"] += _malformed(sharing.file, sharing.header, sharing.errors)
        for code, finding in _judge_sharing(sharing):
            found[code].append(finding)
    times = [s.search_time for s in export.searches if s.search_time is not None]
    k = min(sample, len(export.searches))
    drawn = random.Random(seed).sample(export.searches, k)  # noqa: S311 (an audit draw, not a secret)
    return VendorReport(
        export,
        sharing,
        tuple(f for code in FINDINGS for f in found[code]),
        tuple(Sampled(s, verdicts[s.reason][0]) for s in sorted(drawn, key=lambda s: s.line)),
        seed,
        rule,
        limits,
        (min(times), max(times)) if times else None,
    )


def _judge_sharing(sharing: SharingExport) -> Iterator[tuple[str, Finding]]:
    """Each organization is judged once, even when the page lists it on two pages or both ways."""
    seen: set[str] = set()
    for p in sharing.partners:
        key = " ".join(p.name.lower().split())
        if key in seen:
            continue
        seen.add(key)
        direction = f"we share {p.we_share or 'nothing'}; they share {p.they_share or 'nothing'}"
        for code, hit in (
            ("sharing_federal", federal_agency(p.name)),
            ("sharing_outside_california", out_of_state(p.name)),
        ):
            if hit:
                yield (
                    code,
                    Finding(code, sharing.file, p.line, p.name, p.name, f"{hit} ({direction})", p.fields),
                )


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
        f"- wide search: {', '.join(wide)}; time window > {r.max_window.days} days",
        "",
        "## Findings",
        "",
    ]
    lines += ["| finding | rows | rule | meaning |", "|---|---:|---|---|"]
    lines += [
        f"| {code} | {counts[code]} | {rule} | {meaning} |" for code, (rule, meaning) in FINDINGS.items()
    ]
    for code, (rule, meaning) in FINDINGS.items():
        rows = report.of(code)
        if not rows:
            continue
        lines += ["", f"## {code} ({rule}): {len(rows)}, {meaning}", ""]
        for f in rows[:limit]:
            where = f"line {f.line}" if f.file == ex.file else f"{Path(f.file).name} line {f.line}"
            if code.startswith("sharing_"):
                lines.append(f"- {where}: {f.who}: {f.detail}")
            elif code == "malformed_row":
                lines.append(f"- {where}: {f.detail}")
            else:
                lines.append(f"- {where}: {_clip(f.who, 30)}: {_clip(f.text)!r}: {f.detail}")
        if len(rows) > limit:
            lines.append(f"- ... and {len(rows) - limit} more (all in findings.csv with --out)")
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
            f"- line {s.line} (ID {s.search_id or '-'}): {_when(s.search_time)} {_clip(s.who, 30)}: "
            f"{_clip(s.reason)!r}: {mark}"
        )
    summary = ", ".join(f"{counts[c]} {c}" for c in FINDINGS if not c.startswith("sharing_"))
    if report.sharing:
        fed, away = counts["sharing_federal"], counts["sharing_outside_california"]
        summary += f"; sharing: {fed} federal, {away} outside California"
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
    fmt: str, path: Path, sharing: Path | None, *, sample: int, seed: int | None, out: Path | None
) -> int:
    """``alpr audit vendor``: 0 when the report was produced, whatever it found; 1 if nothing was readable.

    Without ``--seed`` a seed is drawn and printed, so any sample can be drawn again.
    """
    if fmt != "flock":
        raise ConfigError(f"unknown vendor format {fmt!r}; supported: flock")
    export = read_export(path)
    partners = read_sharing(sharing) if sharing is not None else None
    report = audit(export, partners, sample, seed if seed is not None else secrets.randbelow(2**31))
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
