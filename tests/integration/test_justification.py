"""Justifications that mean something, through the real interfaces on the real broker (issue 16
items 2, 3 and 9; P2, P6, P16, P17).

Searches go to the console over HTTP (``POST /api/search``) and to ``alpr replay``; department entries
to ``alpr hotlist add`` and ``alpr hotlist sync``. Every refusal changes nothing but the audit trail,
and every search (allowed or refused) leaves one access record naming the agency served, the
Commander and the approval date (P15, P17).
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streams.access.directory import Agency, DirectoryStore
from streams.cli.common import save_session
from streams.codec import dumps, entry_to_dict
from tests.conftest import AlprProcess, TopicSets, alpr, make_env, settings_of, wait_for
from tests.factories import make_entry
from tests.integration.kafka_helpers import (
    HOME,
    SignInUser,
    add_user,
    admin_principal,
    alpr_as,
    audit_records,
    console_up,
    ensure_home,
    login,
    read_topic,
    session_env,
)
from tests.integration.test_hotlists import (
    Cast,
    add_entry,
    audits,
    cast,
    current_keys,
    entry_events,
    pending_keys,
)

pytestmark = pytest.mark.integration

FREMONT = Agency("CA0010800", "Fremont Police Department", "municipal_police", "CA", "none")
OAKLAND = Agency("CA0010900", "Oakland Police Department", "municipal_police", "CA", "signed", "2026-03-01")
WHY = {
    "purpose": "armed robbery suspect vehicle",
    "crime_type": "PC 211 robbery",
    "case_number": "SJ-26-004512",
}


# -- searches through the console (P16, P17, P22) ------------------------------------------------------


@pytest.fixture(scope="module")
def console(broker, tmp_path_factory) -> Iterator[tuple[dict[str, str], dict[str, SignInUser]]]:
    """Fresh topics, the directory (agencies, an analyst, Commanders and a captain), then the
    console process on them; the topics are deleted after the module."""
    root = tmp_path_factory.mktemp("justification")
    sets = TopicSets.of(broker.bootstrap)
    env = sets.fresh(make_env(broker, root))
    settings = settings_of(env)

    async def setup() -> dict[str, SignInUser]:
        await ensure_home(settings)
        store = DirectoryStore(settings)
        for agency in (FREMONT, OAKLAND):
            await store.add_agency(agency, admin_principal(), datetime.now(UTC))
        return {
            "kim": await add_user(settings, "kim", "analyst", badge="A-7"),
            "lee": await add_user(settings, "lee", "dispatcher", badge="D-4"),
            "ruiz": await add_user(settings, "ruiz", "lieutenant", badge="C-1", rank="commander"),
            "cap": await add_user(settings, "cap", "lieutenant", badge="C-2", rank="captain"),
            "ocmdr": await add_user(settings, "ocmdr", "external", badge="O-1", agency=OAKLAND.agency_id),
        }

    people = asyncio.run(setup())
    process = AlprProcess(env, root / "console.log", "console")
    try:
        wait_for(lambda: console_up(env), 60, "the console")
        yield env, people
    finally:
        process.stop()
        sets.delete(env)


def sign_in(env: dict[str, str], user: SignInUser) -> str:
    body = {"user": user.name, "password": user.password, "code": user.fresh_code()}
    status, answer = post(env, "/api/session", body)
    assert status == 200, answer
    return str(answer["token"])


@pytest.fixture(scope="module")
def kim(console) -> str:
    return sign_in(console[0], console[1]["kim"])


def post(env: dict[str, str], path: str, body: object, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{env['ALPR_CONSOLE_PORT']}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def search_body(**fields: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    window = {"from": (now - timedelta(hours=2)).isoformat(), "to": now.isoformat()}
    return {**window, **WHY, "plate": "7JUST01", **fields}


def searches(env: dict[str, str], case: str | None = None) -> list[dict[str, Any]]:
    settings = settings_of(env)
    values = audit_records(settings)
    found = [v for v in values if v.get("action") in ("search", "replay")]
    return sorted((v for v in found if case is None or v["case_number"] == case), key=lambda v: v["at"])


def holds(env: dict[str, str]) -> list[Any]:
    settings = settings_of(env)
    return asyncio.run(read_topic(settings.kafka, settings.topic("evidence-holds")))


@pytest.mark.parametrize(
    "case", ["N/A", "none", "TBD", "123", "-", ".", "test", "8ABC123", "Stolen Vehicle E287021", "SJ-26-1"]
)
def test_a_junk_case_number_is_refused_and_audited_through_the_console_p16(console, kim, case) -> None:
    env, _people = console
    before = len(searches(env))
    status, answer = post(env, "/api/search", search_body(case_number=case), kim)
    assert status == 403, answer
    assert (
        "P16:" in answer["error"] and "SJ-26-004512, a 9-digit number or a 7-digit number" in answer["error"]
    )
    assert "sightings" not in answer
    made = searches(env)
    assert len(made) == before + 1  # exactly one record, the refusal (P15)
    record = made[-1]
    assert (record["user"], record["decision"], record["result_count"]) == ("kim", "refused", 0)
    assert record["case_number"] == case and "P16" in record["reason"]
    assert holds(env) == []  # a refusal changes nothing else


def test_the_case_field_is_scanned_and_a_valid_search_is_allowed_p16_p22(console, kim) -> None:
    env, _people = console
    status, answer = post(env, "/api/search", search_body(case_number="ERO-26-000001"), kim)
    assert status == 403 and "P22" in answer["error"]
    for purpose in ("test", "keep"):
        status, answer = post(env, "/api/search", search_body(purpose=purpose), kim)
        assert status == 403 and "P16:" in answer["error"], answer
    status, answer = post(env, "/api/search", search_body(crime_type="."), kim)
    assert status == 403 and "names no presumed crime" in answer["error"]
    status, answer = post(env, "/api/search", search_body(case_number=" sj-26-004512 "), kim)
    assert status == 200 and answer["count"] == 0, answer
    status, answer = post(env, "/api/search", search_body(case_number="260045120"), kim)
    assert status == 200, answer  # a 9-digit report number
    [refused] = searches(env, "ERO-26-000001")
    assert refused["decision"] == "refused" and "P22" in refused["reason"]


def test_searches_need_a_signed_in_person_of_a_role_that_may_p21(console) -> None:
    env, people = console
    before = len(searches(env))
    status, _answer = post(env, "/api/search", search_body())
    assert status == 401
    lee = sign_in(env, people["lee"])
    status, answer = post(env, "/api/search", search_body(), lee)
    assert status == 403 and "dispatcher role may not search" in answer["error"]
    assert [s["decision"] for s in searches(env)[before:]] == ["refused"]  # lee's, audited


def commander(who: str | None, day: date | None, **more: Any) -> dict[str, Any]:
    fields = {"on_behalf_of": FREMONT.agency_id, "commander": who}
    return {**fields, "approved_on": day.isoformat() if day else None, **more}


@pytest.mark.parametrize(
    ("who", "days_ago", "words"),
    [
        ("Commander x", 1, "is not an active user of your agency"),
        ("ruiz", -1, "in the future"),
        ("ruiz", None, "in the future"),  # 2099-01-01, as the issue found it accepted
        ("ruiz", 31, "older than 30 days"),
        ("cap", 1, "may not approve"),
        ("ocmdr", 1, "not an active user of your agency"),  # a user of another agency
        (None, None, "Commander's prior approval"),
    ],
)
def test_a_commanders_approval_must_be_real_and_current_p17(console, kim, who, days_ago, words) -> None:
    env, _people = console
    case = f"SJ-26-{uuid.uuid4().int % 10**6:06d}"
    today = datetime.now(UTC).date()
    day = None if who is None else date(2099, 1, 1) if days_ago is None else today - timedelta(days=days_ago)
    status, answer = post(env, "/api/search", search_body(case_number=case, **commander(who, day)), kim)
    assert status == 403 and "P17" in answer["error"] and words in answer["error"], answer
    [record] = searches(env, case)
    assert record["decision"] == "refused" and record["on_behalf_of"] == FREMONT.agency_id
    assert record.get("commander") == who


def test_a_valid_approval_is_allowed_and_recorded_p17(console, kim) -> None:
    """The access record carries the agency served, the Commander and the approval date (P17)."""
    env, _people = console
    case = f"SJ-26-{uuid.uuid4().int % 10**6:06d}"
    day = datetime.now(UTC).date() - timedelta(days=2)
    status, answer = post(env, "/api/search", search_body(case_number=case, **commander("ruiz", day)), kim)
    assert status == 200, answer
    [record] = searches(env, case)
    assert (record["decision"], record["user"], record["agency"]) == ("allowed", "kim", HOME)
    assert (record["on_behalf_of"], record["commander"], record["approved_on"]) == (
        FREMONT.agency_id,
        "ruiz",
        day.isoformat(),
    )
    # Oakland has access of its own: no approval needed, and its case numbers are its own format
    oakland = {"on_behalf_of": OAKLAND.agency_id, "case_number": "OPD-26-004512"}
    status, answer = post(env, "/api/search", search_body(**oakland), kim)
    assert status == 200, answer
    status, answer = post(env, "/api/search", search_body(case_number="OPD-26-004512"), kim)
    assert status == 403 and "P16:" in answer["error"]  # not a San José case number


def test_replay_records_the_agency_served_the_commander_and_the_date_p17(console, kim) -> None:
    env, people = console
    # kim's console session, saved as `alpr login` saves it: a code signs in once (P18), and a
    # second sign-in would wait for the clock's next 30-second step
    expires = datetime.now(UTC) + timedelta(hours=1)
    save_session(settings_of(session_env(env, people["kim"])), kim, people["kim"].name, expires)
    case = f"SJ-26-{uuid.uuid4().int % 10**6:06d}"
    day = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    why = ("--purpose", "robbery series", "--case", case, "--crime-type", "PC 211 robbery")
    window = ("--from", "now-2h", "--to", "now", "--plate", "7JUST01")
    behalf = ("--on-behalf-of", FREMONT.agency_id, "--commander", "ruiz", "--approved-on", day)
    out = str(Path(env["ALPR_STATE_DIR"]) / "replay-out")
    future = alpr_as(env, people["kim"], "replay", *window, *why, *behalf[:4], "--approved-on", "2099-01-01")
    assert future.returncode == 2 and "in the future" in future.stderr
    done = alpr_as(env, people["kim"], "replay", *window, *why, *behalf, "--out", out)
    assert done.returncode == 0, done.stderr
    refused, allowed = searches(env, case)
    assert (refused["action"], refused["decision"], refused["approved_on"]) == (
        "replay",
        "refused",
        "2099-01-01",
    )
    assert (allowed["action"], allowed["decision"]) == ("replay", "allowed")
    assert (allowed["on_behalf_of"], allowed["commander"], allowed["approved_on"]) == (
        FREMONT.agency_id,
        "ruiz",
        day,
    )
    junk = alpr_as(env, people["kim"], "replay", *window, *why[:2], "--case", "N/A", *why[4:])
    assert junk.returncode == 2 and "P16:" in junk.stderr


# -- department entries (P2, P6) ----------------------------------------------------------------------


@pytest.fixture()
def env(topics_env):
    return topics_env


@pytest.fixture()
def people(env) -> Cast:
    return cast(env)


def assert_nothing_entered(env: dict[str, str]) -> None:
    assert pending_keys(env) == set() and current_keys(env) == set() and entry_events(env) == []


#: (options, reason, what the refusal says): each proposal names nothing an auditor can check (P2).
NAMELESS = [
    (("--case", "SJ-26-005120"), ".", "names no presumed crime"),
    (("--case", "SJ-26-005120"), "xyz", "names no presumed crime"),
    (("--case", "-"), "PC 211 robbery suspect vehicle", "SJ-26-004512, a 9-digit number"),
    (("--case", "8ABC123"), "PC 211 robbery suspect vehicle", "licence plate"),
]


def test_hotlist_add_refuses_entries_that_name_nothing_p2(env, people) -> None:
    """One directory for every case (a refusal changes nothing, so they cannot affect each other)."""
    for n, (extra, reason, words) in enumerate(NAMELESS, start=1):
        result = add_entry(people, "reyes", "BOLO-J1", *extra, reason=reason)
        assert result.returncode == 2 and "(P2)" in result.stderr and words in result.stderr, result.stderr
        assert_nothing_entered(env)
        refused = audits(env, "hotlist_propose")
        assert len(refused) == n and refused[-1]["decision"] == "refused" and "P2" in refused[-1]["reason"]
    added = add_entry(people, "reyes", "BOLO-J2", "--case", "SJ-26-005120")
    assert added.returncode == 0, added.stderr  # the same member, a justified entry
    assert pending_keys(env) == {"local:BOLO-J2"}


def test_an_entering_member_needs_a_real_assignment_in_the_directory_p2(env, people) -> None:
    """The assignment comes from the directory (never typed); "xyz" there, or none, is refused."""
    settings = settings_of(env)

    async def member(name: str, assignment: str | None) -> SignInUser:
        password = f"correct-horse-battery-{uuid.uuid4().hex[:8]}"
        store, now = DirectoryStore(settings), datetime.now(UTC)
        user, secret = await store.add_user(
            name, password, display=name, badge=f"B-{name[:6]}", agency=HOME, role="officer",
            by=admin_principal(), now=now, assignment=assignment,
        )  # fmt: skip
        await store.record_training(name, "ALPR user training", "2026-10-01", admin_principal(), now)
        return SignInUser(name, password, secret, user.display, user.badge)

    for name, assignment in ((f"xyz-{people.suffix}", "xyz"), (f"none-{people.suffix}", None)):
        user = asyncio.run(member(name, assignment))
        result = alpr(login(env, user), "hotlist", "add", "--plate", "8BOL042", "--reason", "PC 211 robbery",
                      "--case", "SJ-26-005120")  # fmt: skip
        assert result.returncode == 2 and "names no unit" in result.stderr and "(P2)" in result.stderr
    assert_nothing_entered(env)
    refused = audits(env, "hotlist_propose")
    assert [(a["decision"], "P2" in a["reason"]) for a in refused] == [("refused", True)] * 2


def test_a_partial_plate_only_for_a_major_crime_p6(env, people) -> None:
    littering = add_entry(
        people,
        "reyes",
        "BOLO-P6",
        "--case",
        "SJ-26-005120",
        "--plate",
        "*A*B*C*",
        reason="littering 374.4 PC",
    )
    assert littering.returncode == 2 and "(P6)" in littering.stderr, littering.stderr
    assert "homicide" in littering.stderr and "robbery" in littering.stderr  # the listed crimes
    assert_nothing_entered(env)
    homicide = add_entry(
        people, "reyes", "BOLO-P6", "--case", "SJ-26-005120", "--plate", "*A*B*C*", reason="PC 187 homicide"
    )
    assert homicide.returncode == 0, homicide.stderr
    assert pending_keys(env) == {"local:BOLO-P6"}


def test_a_persons_ndjson_file_cannot_make_shared_entries_that_skip_approval_p2(
    env, people, tmp_path
) -> None:
    """A department BOLO labelled "ncic" in an NDJSON file: an administrator's sync is refused
    (audited) and nothing becomes active; only the feed-sync service account syncs feeds."""
    feed = tmp_path / "bolo.ndjson"
    bolo = make_entry(source="ncic", entry_id="BOLO-N1", plate="8NDJ001", list_type="bolo", synced_at=None)
    feed.write_bytes(dumps(entry_to_dict(bolo)) + b"\n")
    for source in ((), ("--source", "ncic")):
        refused = alpr(
            people.as_("admin"), "hotlist", "sync", "--format", "ndjson", "--from", str(feed), *source
        )
        assert refused.returncode == 2 and "(P2)" in refused.stderr, refused.stderr
        assert "alpr hotlist add" in refused.stderr
    assert_nothing_entered(env)
    syncs = audits(env, "hotlist_sync")
    assert [(a["user"], a["decision"]) for a in syncs] == [(people.name("admin"), "refused")] * 2
    synced = alpr(people.feed, "hotlist", "sync", "--format", "ndjson", "--from", str(feed))
    assert synced.returncode == 0, synced.stderr  # the feed-sync service account's adapters
    assert current_keys(env) == {"ncic:BOLO-N1"}
