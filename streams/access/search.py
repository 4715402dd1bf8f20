"""The justified search of reads (P15-P17, P19-P22; issue 15 item 8): the one use case behind the
console's search page (POST /api/search), the API and ``alpr replay``.

One path for every front end, so the rules and the audit trail cannot drift apart:

1. ``require(principal, action)`` (the permission table, P21) before anything else;
2. the request is parsed (:func:`parse_request`); a malformed one is refused with a
   :class:`ConfigError` that says what to send;
3. it is bounded (:func:`check_bounds`): a plate, a partial plate with at least three known
   characters, or a camera list, over a window no longer than the read retention, so nobody can
   pull every read of a month in one go;
4. the justification is judged by :func:`streams.access.rules.authorize` (P15-P17, P19-P22):
   a case number in the served agency's formats, a crime type and purpose that name something,
   a real and current Commander's approval for an agency without access;
5. only then are reads looked at, and at most :data:`PAGE_SIZE` are returned, with a cursor for
   the next page.

Every call writes exactly one audit record (P15) - allowed, refused or malformed - with who (user,
badge, agency), what was asked, why, how many reads it returned and the decision. Every refusal is
decided before any data is read, so it says nothing about whether matching reads exist (P20).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from streams.access.audit import record_access
from streams.access.directory import Directory, DirectoryStore
from streams.access.permissions import require
from streams.access.principal import Principal
from streams.access.rules import ALLOWED, Decision, Justification, access_record, authorize
from streams.errors import AccessDenied, ConfigError, InvalidRecord, NotSignedIn
from streams.kafka.log import TopicWriter
from streams.matching.normalize import normalize_plate
from streams.replay.replay import ReplayQuery, replay
from streams.settings import Settings

__all__ = [
    "MAX_CAMERAS",
    "MAX_EXPORT",
    "MAX_OPEN_WINDOW",
    "MIN_KNOWN",
    "PAGE_SIZE",
    "SearchRequest",
    "admit",
    "check_bounds",
    "check_partial",
    "justify",
    "parse_request",
    "record_search",
    "search",
]

#: The most sightings one page of a search returns; ``next`` pages on.
PAGE_SIZE = 200
#: A partial plate needs this many known characters (wildcards ``?`` and ``*`` do not count).
MIN_KNOWN = 3
#: The most cameras one search may name.
MAX_CAMERAS = 500
#: P25, no bulk export: a replay that names no plate and no camera covers at most this long a
#: window (an incident's hours, not a city's month) ...
MAX_OPEN_WINDOW = timedelta(hours=24)
#: ... and no replay writes more than this many sightings (the rest are left out, and it says so).
MAX_EXPORT = 20_000
#: The body keys a search understands (anything else is refused as malformed).
_KEYS = frozenset(
    {
        "from",
        "to",
        "purpose",
        "crime_type",
        "case_number",
        "on_behalf_of",
        "commander",
        "approved_on",
        "plate",
        "partial",
        "cameras",
        "page",
    }
)
_HELP = (
    "send from, to (RFC 3339), purpose, crime_type, case_number, and a plate, a partial plate "
    f"(at least {MIN_KNOWN} known characters) or a list of cameras"
)


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """A parsed search: the window, why (P15-P17) and what (plate, partial or cameras)."""

    start: datetime
    end: datetime
    why: Justification
    plate: str | None = None
    partial: str | None = None
    cameras: frozenset[str] = field(default_factory=frozenset)
    after: tuple[datetime, str] | None = None  # the page cursor: sightings after this one
    page: str | None = None  # the cursor as sent

    def replay_query(self) -> ReplayQuery:
        """The scan of the reads (and held reads, P12) this request asks for."""
        return ReplayQuery(
            self.start,
            self.end,
            self.why.case_number,
            self.why.purpose,
            plate=self.plate,
            partial=self.partial,
            cameras=self.cameras,
        )

    def asked(self) -> dict[str, Any]:
        """What was asked, as the audit record keeps it (P15: the plate or other data elements)."""
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "plate": self.plate,
            "partial": self.partial,
            "cameras": sorted(self.cameras),
            "on_behalf_of": self.why.on_behalf_of,
            "commander": self.why.commander,
            "approved_on": self.why.approved_on.isoformat() if self.why.approved_on else None,
            "page": self.page,
        }


def _text(body: Mapping[str, Any], key: str, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise ConfigError(f"bad search: {key} is missing; {_HELP}")
        return None
    if not isinstance(value, str):
        raise ConfigError(f"bad search: {key} must be a string, not {type(value).__name__}; {_HELP}")
    return value


def _time(body: Mapping[str, Any], key: str) -> datetime:
    text = _text(body, key, required=True) or ""
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(
            f"bad search: {key}={text[:40]!r} is not an RFC 3339 time such as 2026-11-23T08:00:00Z"
        ) from exc
    if when.tzinfo is None:
        raise ConfigError(f"bad search: {key}={text[:40]!r} has no UTC offset (end it with Z or +00:00)")
    return when


def encode_cursor(captured_at: datetime, read_id: str) -> str:
    """The opaque cursor of the page after this sighting."""
    raw = orjson.dumps([captured_at.isoformat(), read_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor(text: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        when, read_id = orjson.loads(raw)
        at = datetime.fromisoformat(when)
        if at.tzinfo is None or not isinstance(read_id, str):
            raise ValueError("not a cursor")
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise ConfigError("bad search: page is not a cursor this search returned as 'next'") from exc
    return at, read_id


def parse_request(body: object) -> SearchRequest:
    """The search a request body asks for; :class:`ConfigError` saying what to send otherwise."""
    if not isinstance(body, Mapping):
        raise ConfigError(f"bad search: the body must be a JSON object; {_HELP}")
    unknown = sorted(str(k)[:40] for k in body if k not in _KEYS)
    if unknown:
        raise ConfigError(f"bad search: unknown field(s) {', '.join(unknown[:5])}; {_HELP}")
    start, end = _time(body, "from"), _time(body, "to")
    if end <= start:
        raise ConfigError(f"bad search: to ({end.isoformat()}) must be after from ({start.isoformat()})")
    approved_text = _text(body, "approved_on") or ""
    try:
        approved = date.fromisoformat(approved_text) if approved_text else None
    except ValueError as exc:
        raise ConfigError(
            f"bad search: approved_on={approved_text[:40]!r} is not a date (YYYY-MM-DD)"
        ) from exc
    why = Justification(
        _text(body, "purpose") or "",
        _text(body, "crime_type") or "",
        _text(body, "case_number") or "",
        _text(body, "on_behalf_of"),
        _text(body, "commander"),
        approved,
    )
    plate_text, partial = _text(body, "plate"), _text(body, "partial")
    if plate_text is not None and partial is not None:
        raise ConfigError("bad search: give a plate or a partial plate, not both")
    try:
        plate = normalize_plate(plate_text) if plate_text is not None else None
    except InvalidRecord as exc:
        raise ConfigError(f"bad search: {exc}") from exc
    if partial is not None:
        partial = partial.upper().replace(" ", "").replace("-", "")
        if not partial or not all(ch.isascii() and (ch.isalnum() or ch in "?*") for ch in partial):
            raise ConfigError(
                "bad search: a partial plate holds letters, digits, ? (one character) and * (any)"
            )
    cameras_raw = body.get("cameras") or []
    if not isinstance(cameras_raw, list) or not all(isinstance(c, str) and c.strip() for c in cameras_raw):
        raise ConfigError("bad search: cameras must be a list of camera ids")
    if len(cameras_raw) > MAX_CAMERAS:
        raise ConfigError(f"bad search: at most {MAX_CAMERAS} cameras per search, not {len(cameras_raw)}")
    page = _text(body, "page")
    return SearchRequest(
        start,
        end,
        why,
        plate,
        partial,
        frozenset(c.strip() for c in cameras_raw),
        _cursor(page) if page else None,
        page,
    )


def check_partial(partial: str) -> None:
    """A partial plate must say something (issue 15 item 8): '*' alone, or '7?*', matches almost
    every plate, so at least :data:`MIN_KNOWN` characters must be known."""
    known = sum(1 for ch in partial if ch not in "?*")
    if known < MIN_KNOWN:
        raise ConfigError(
            f"refused: a partial plate needs at least {MIN_KNOWN} known characters "
            f"(wildcards ? and * do not count); {partial[:20]!r} has {known}"
        )


def check_export(request: SearchRequest) -> None:
    """Replay's bound (P25, no bulk export): a replay of every camera covers at most
    :data:`MAX_OPEN_WINDOW`; naming a plate, a partial plate or cameras allows a longer one."""
    if request.partial is not None:
        check_partial(request.partial)
    if request.plate is None and request.partial is None and not request.cameras:
        if request.end - request.start > MAX_OPEN_WINDOW:
            raise ConfigError(
                f"refused: a replay of every camera covers at most {MAX_OPEN_WINDOW} "
                f"(asked: {request.end - request.start}); name a plate, a partial plate or cameras "
                "for a longer window (P25: ALPR data is not exported in bulk)"
            )


def check_bounds(request: SearchRequest, retention: timedelta) -> None:
    """A search must be narrow: a plate, a partial with :data:`MIN_KNOWN` known characters, or a
    camera list, over a window no longer than the read retention (P11; issue 15 item 8)."""
    if request.partial is not None:
        check_partial(request.partial)
    if request.plate is None and request.partial is None and not request.cameras:
        raise ConfigError(
            "refused: a search needs a plate, a partial plate or a list of cameras; "
            "every read of a window is not a search"
        )
    if request.end - request.start > retention:
        raise ConfigError(
            f"refused: the window ({request.end - request.start}) is longer than the read retention "
            f"({retention}); reads older than that are gone (P11)"
        )


async def _load(settings: Settings, directory: Directory | DirectoryStore | None) -> Directory:
    if isinstance(directory, Directory):
        return directory
    return await (directory or DirectoryStore(settings)).load()


async def record_search(
    settings: Settings,
    principal: Principal,
    action: str,
    why: Justification,
    query: Mapping[str, Any],
    result_count: int,
    now: datetime,
    decision: Decision = ALLOWED,
    writer: TopicWriter | None = None,
) -> None:
    """The one audit record of a justified request (P15): who, what, why, how many, the decision."""
    await record_access(
        settings, access_record(now, principal, action, why, dict(query), result_count, decision), writer
    )


async def justify(
    settings: Settings,
    principal: Principal | None,
    action: str,
    why: Justification,
    query: Mapping[str, Any],
    now: datetime,
    directory: Directory | DirectoryStore | None = None,
) -> Principal:
    """May this principal make this justified request (``search``, ``replay``, ``hold``)? The
    permission table first (P21), then the justification (P15-P17, P19-P22), before any data is
    read. A refusal is audited (with the query) and raised as :class:`AccessDenied`."""
    if principal is None:
        raise NotSignedIn("sign in first (alpr login, or the console's sign-in page)")
    try:
        require(principal, action)
    except AccessDenied as exc:
        await record_search(settings, principal, action, why, query, 0, now, Decision(False, str(exc)))
        raise
    decision = authorize(principal, action, why, await _load(settings, directory), settings.profile, now)
    if not decision.allowed:
        await record_search(settings, principal, action, why, query, 0, now, decision)
        raise AccessDenied(f"refused: {decision.reason}")
    return principal


def _raw_query(body: object) -> dict[str, Any]:
    """What a malformed request asked, for its audit record: only the known fields (the record caps
    every string at 200 characters, P14), never anything else that was sent."""
    if not isinstance(body, Mapping):
        return {"body": type(body).__name__}
    return {str(k): body[k] for k in body if k in _KEYS and k not in ("purpose", "crime_type", "case_number")}


def _why_of(body: object) -> Justification:
    """The justification as sent, even from a body too malformed to parse (for the audit record)."""
    if not isinstance(body, Mapping):
        return Justification("", "", "")

    def text(key: str) -> str:
        value = body.get(key)
        return value if isinstance(value, str) else ""

    return Justification(text("purpose"), text("crime_type"), text("case_number"))


async def admit(
    settings: Settings,
    principal: Principal | None,
    action: str,
    body: object,
    now: datetime,
    directory: Directory | DirectoryStore | None = None,
    *,
    bounded: bool = True,
) -> tuple[Principal, SearchRequest]:
    """Everything a justified request goes through before any read is looked at: the permission
    table (P21), the request's form, its bounds, its justification (P15-P17, P19-P22). A refusal
    or a malformed request is audited (once) and raised.

    ``bounded=False`` is replay's incident reconstruction (analysts and lieutenants only): every
    read of a window of up to a day may be asked for, and the window may reach past the retention
    for held reads (P12); a partial plate must still say something (:func:`check_export`).
    """
    if principal is None:
        raise NotSignedIn("sign in first (alpr login, or the console's sign-in page)")
    why = _why_of(body)
    try:
        require(principal, action)  # P21, before anything else
        request = parse_request(body)
        if bounded:
            check_bounds(request, settings.profile.read_retention)
        else:
            check_export(request)
    except (AccessDenied, ConfigError) as exc:
        await record_search(
            settings, principal, action, why, _raw_query(body), 0, now, Decision(False, str(exc)[:200])
        )
        raise
    return await justify(settings, principal, action, request.why, request.asked(), now, directory), request


async def search(
    settings: Settings,
    principal: Principal | None,
    body: object,
    now: datetime,
    directory: Directory | DirectoryStore | None = None,
) -> dict[str, Any]:
    """THE justified search: ``{"sightings": [...], "count": n, "next": cursor or None}``.

    Raises :class:`NotSignedIn` (nobody signed in: nothing to audit, the sign-in trail has it),
    :class:`AccessDenied` (role or justification refused) or :class:`ConfigError` (malformed or
    unbounded); every call with a principal is audited exactly once (P15).
    """
    justified, request = await admit(settings, principal, "search", body, now, directory)
    found = await replay(settings, request.replay_query(), now)
    after = request.after
    sightings = [s for s in found.sightings if after is None or (s.read.captured_at, s.read.read_id) > after]
    page, more = sightings[:PAGE_SIZE], len(sightings) > PAGE_SIZE
    rows = [s.to_dict() for s in page]
    await record_search(settings, justified, "search", request.why, request.asked(), len(rows), now)
    last = page[-1].read if page else None
    return {
        "sightings": rows,
        "count": len(rows),
        "next": encode_cursor(last.captured_at, last.read_id) if more and last is not None else None,
    }
