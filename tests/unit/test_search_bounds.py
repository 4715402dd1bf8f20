"""The justified search's bounds, cap, paging and audit, without Kafka (issue 15 item 8; P15, P20,
P21): the reads and the audit topic are replaced by recorders, everything else is the real code."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from streams.access import search as search_module
from streams.access.audit import AccessRecorded
from streams.access.directory import Agency, Directory, User
from streams.access.principal import Principal
from streams.access.search import (
    MAX_EXPORT,
    MAX_OPEN_WINDOW,
    PAGE_SIZE,
    check_bounds,
    check_export,
    parse_request,
    search,
)
from streams.errors import AccessDenied, ConfigError, NotSignedIn
from streams.replay.replay import ReplayResult, Sighting
from streams.settings import Settings
from tests.factories import NOW, make_read

SETTINGS = Settings.from_env({})
HOME = Agency("SJPD", "San José Police Department", "municipal_police", "CA", "home")
OAKLAND = Agency("CA0010900", "Oakland Police Department", "municipal_police", "CA", "signed", "2026-03-01")
TRAINED = (("ALPR user training", "2026-10-01"),)


def user(name: str, role: str, agency: str = "SJPD") -> User:
    return User(name, name.title(), "A-7", agency, role, "no-hash", "no-secret", TRAINED)


DIRECTORY = Directory(
    {
        u.name: u
        for u in (user("kim", "analyst"), user("lee", "dispatcher"), user("oak", "external", "CA0010900"))
    },
    {a.agency_id: a for a in (HOME, OAKLAND)},
)
KIM = DIRECTORY.users["kim"].principal("s-1")
LEE = DIRECTORY.users["lee"].principal("s-2")
OAK = DIRECTORY.users["oak"].principal("s-3")


def body(**fields: Any) -> dict[str, Any]:
    base = {
        "from": (NOW - timedelta(hours=6)).isoformat(),
        "to": NOW.isoformat(),
        "purpose": "armed robbery suspect vehicle",
        "crime_type": "PC 211 robbery",
        "case_number": "SJ-26-004512",
    }
    return {k: v for k, v in {**base, **fields}.items() if v is not None}


class Recorder:
    """Stands in for the audit topic and the reads: what was audited, how often reads were read."""

    def __init__(self, sightings: int = 0) -> None:
        self.audit: list[AccessRecorded] = []
        self.scans = 0
        self.sightings = [
            Sighting(
                make_read(read_id=f"r-{n:04d}", plate="7ABC123", captured_at=NOW - timedelta(minutes=n)),
                "exact",
                False,
                (),
                0,
                n,
            )
            for n in range(sightings)
        ]

    async def record_access(self, _settings: Any, record: AccessRecorded, _writer: Any = None) -> None:
        self.audit.append(record)

    async def replay(self, _settings: Any, _query: Any, _now: Any, _progress: Any = None) -> ReplayResult:
        self.scans += 1
        ordered = sorted(self.sightings, key=lambda s: (s.read.captured_at, s.read.read_id))
        return ReplayResult(sightings=ordered)


@pytest.fixture()
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    found = Recorder(sightings=450)
    monkeypatch.setattr(search_module, "record_access", found.record_access)
    monkeypatch.setattr(search_module, "replay", found.replay)
    return found


def run(principal: Principal | None, request: Any) -> dict[str, Any]:
    return asyncio.run(search(SETTINGS, principal, request, NOW, DIRECTORY))


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({}, "needs a plate, a partial plate or a list of cameras"),
        ({"partial": "*"}, "at least 3 known characters"),
        ({"partial": "7?*"}, "at least 3 known characters"),
        ({"partial": "7A"}, "at least 3 known characters"),
        ({"partial": "???????"}, "at least 3 known characters"),
        ({"cameras": []}, "needs a plate, a partial plate or a list of cameras"),
    ],
)
def test_an_unbounded_search_is_refused_and_audited_without_reading(recorder, fields, says) -> None:
    with pytest.raises(ConfigError, match=says):
        run(KIM, body(**fields))
    assert recorder.scans == 0  # P20: decided before any read is looked at
    [record] = recorder.audit
    assert (record.action, record.decision, record.result_count, record.user) == (
        "search",
        "refused",
        0,
        "kim",
    )
    assert record.agency == "SJPD" and record.badge == "A-7" and record.case_number == "SJ-26-004512"
    assert says in (record.reason or "")


def test_a_window_longer_than_the_retention_is_refused(recorder) -> None:
    days = SETTINGS.profile.read_retention_days + 1
    with pytest.raises(ConfigError, match="longer than the read retention"):
        run(KIM, body(plate="7ABC123", **{"from": (NOW - timedelta(days=days)).isoformat()}))
    assert recorder.scans == 0 and [r.decision for r in recorder.audit] == ["refused"]


@pytest.mark.parametrize(
    ("request_body", "says"),
    [
        ([1, 2], "must be a JSON object"),
        (body(plate="7ABC123", **{"from": "yesterday"}), "not an RFC 3339 time"),
        (body(plate="7ABC123", **{"from": "2026-11-23T08:00:00"}), "no UTC offset"),
        (body(plate="7ABC123", to=(NOW - timedelta(days=1)).isoformat()), "must be after from"),
        (body(plate="7ABC123", partial="7AB*"), "not both"),
        (body(plate="7ABC123", cameras="cam-1"), "list of camera ids"),
        (body(plate=123), "must be a string"),
        (body(plate="7ABC123", extra="x"), "unknown field"),
        (body(partial="7AB%"), "letters, digits"),
        (body(plate="7ABC123", page="not-a-cursor"), "not a cursor"),
        (body(plate="7ABC123", approved_on="soon"), "not a date"),
    ],
)
def test_a_malformed_search_is_refused_with_a_clear_message_and_audited(recorder, request_body, says) -> None:
    with pytest.raises(ConfigError, match=says):
        run(KIM, request_body)
    assert recorder.scans == 0
    [record] = recorder.audit
    assert record.decision == "refused" and "bad search" in (record.reason or "")


def test_results_are_capped_and_paged_with_a_cursor(recorder) -> None:
    first = run(KIM, body(plate="7ABC123"))
    assert first["count"] == PAGE_SIZE == len(first["sightings"]) and first["next"]
    second = run(KIM, body(plate="7ABC123", page=first["next"]))
    third = run(KIM, body(plate="7ABC123", page=second["next"]))
    assert (second["count"], third["count"], third["next"]) == (PAGE_SIZE, 50, None)
    ids = [row["read_id"] for page in (first, second, third) for row in page["sightings"]]
    assert len(ids) == len(set(ids)) == 450  # every sighting once, in time order
    assert ids == [s.read.read_id for s in sorted(recorder.sightings, key=lambda s: s.read.captured_at)]
    assert [(r.decision, r.result_count) for r in recorder.audit] == [
        ("allowed", 200),
        ("allowed", 200),
        ("allowed", 50),
    ]
    assert recorder.audit[1].query["page"] == first["next"] and recorder.audit[0].query["plate"] == "7ABC123"


def test_a_partial_with_three_known_characters_or_a_camera_list_is_enough(recorder) -> None:
    assert run(KIM, body(partial="7A*1"))["count"] == PAGE_SIZE
    assert run(KIM, body(cameras=["curtner-malone"]))["count"] == PAGE_SIZE
    assert [r.decision for r in recorder.audit] == ["allowed", "allowed"]


def test_wrong_role_and_bad_justification_are_refused_audited_and_read_nothing(recorder) -> None:
    with pytest.raises(AccessDenied, match="dispatcher role may not search"):
        run(LEE, body(plate="7ABC123"))  # P21
    with pytest.raises(AccessDenied, match="refused: P22"):
        run(KIM, body(plate="7ABC123", purpose="ICE detainer follow-up"))
    with pytest.raises(AccessDenied, match="refused: P15/P16"):
        run(KIM, body(plate="7ABC123", case_number=""))
    assert recorder.scans == 0
    assert [(r.user, r.decision) for r in recorder.audit] == [
        ("lee", "refused"),
        ("kim", "refused"),
        ("kim", "refused"),
    ]
    assert "P22" in (recorder.audit[1].reason or "")


def test_nobody_signed_in_is_refused_before_anything(recorder) -> None:
    with pytest.raises(NotSignedIn):
        run(None, body(plate="7ABC123"))
    assert recorder.scans == 0 and recorder.audit == []  # nobody to name; the sign-in trail has it


def test_an_external_user_may_search_only(recorder) -> None:
    """P19, P21: a user of an agency with an agreement searches with a justification; nothing else."""
    from streams.access.permissions import PERMISSIONS

    assert PERMISSIONS["external"] == frozenset({"search"})
    assert run(OAK, body(plate="7ABC123"))["count"] == PAGE_SIZE
    assert recorder.audit[-1].agency == "CA0010900"


def test_audited_strings_are_capped_at_200_characters(recorder) -> None:
    with pytest.raises(ConfigError):
        run(KIM, body(partial="*", purpose="x" * 5000, commander="y" * 5000))
    written = recorder.audit[0].to_dict()
    assert len(written["purpose"]) < 250 and len(written["query"]["commander"]) < 250


def test_bounds_are_pure_and_shared() -> None:
    request = parse_request(body(partial="  7a-b* "))
    assert request.partial == "7AB*"
    check_bounds(request, SETTINGS.profile.read_retention)
    with pytest.raises(ConfigError):
        check_bounds(parse_request(body(partial="**?")), SETTINGS.profile.read_retention)


def test_p25_a_replay_of_every_camera_is_limited_to_a_day_not_a_bulk_export() -> None:
    """Replay (unbounded by the search page's rules, for incident reconstruction) still cannot dump
    every read of a long window: with no plate, partial or cameras it covers at most a day."""
    day = parse_request(body(**{"from": (NOW - timedelta(hours=24)).isoformat()}))
    check_export(day)  # an incident's day: allowed
    month = parse_request(body(**{"from": (NOW - timedelta(days=30)).isoformat()}))
    with pytest.raises(ConfigError, match=r"P25: ALPR data is not exported in bulk"):
        check_export(month)
    check_export(parse_request(body(**{"from": (NOW - timedelta(days=30)).isoformat()}, plate="7ABC123")))
    check_export(parse_request(body(**{"from": (NOW - timedelta(days=30)).isoformat()}, cameras=["cam-1"])))
    assert MAX_OPEN_WINDOW == timedelta(hours=24) and MAX_EXPORT <= 20_000
