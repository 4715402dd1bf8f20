"""Access rules without Kafka: TOTP (P18), the shared sign-in state (codes once, lockout per source,
revocation: P18), the permission table (P21), justified searches (P15-P22)."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from streams.access import rules
from streams.access.audit import AccessRecorded, record_hash
from streams.access.directory import Agency, Directory, User
from streams.access.permissions import may, require
from streams.access.principal import Principal
from streams.access.rules import Decision, Justification, access_record
from streams.access.signins import SigninState, token_hash
from streams.access.totp import code_at, new_secret, verify
from streams.errors import AccessDenied, NotSignedIn
from streams.retention.policy import load_profile
from tests.factories import NOW

SECRET = new_secret()
HOME = Agency("SJPD", "San José Police Department", "municipal_police", "CA", "home")
OAKLAND = Agency("CA0010900", "Oakland Police Department", "municipal_police", "CA", "signed", "2026-03-01")
FREMONT = Agency("CA0010800", "Fremont Police Department", "municipal_police", "CA", "none")
FEDERAL = Agency("FED1", "Some federal agency", "federal", "CA", "signed")  # only if a record were forged
RENO = Agency("NV0160000", "Reno Police Department", "municipal_police", "NV", "signed")


def person(
    name: str = "kim",
    role: str = "analyst",
    agency: str = "SJPD",
    trained: bool = True,
    rank: str | None = None,
    active: bool = True,
) -> User:
    return User(
        name,
        name.title(),
        "A-7",
        agency,
        role,
        PasswordHasher().hash("correct-horse-battery"),
        SECRET,
        (("ALPR user training", "2026-10-01"),) if trained else (),
        active,
        rank,
    )


#: P17: who may approve a search for an agency without access of its own.
COMMANDERS = (
    person("ruiz", "lieutenant", rank="commander"),
    person("diaz", "lieutenant", rank="deputy chief"),
    person("cap", "lieutenant", rank="captain"),
    person("gone", "lieutenant", rank="commander", active=False),
    person("ocmdr", "lieutenant", "CA0010900", rank="commander"),
)


DIRECTORY = Directory(
    {u.name: u for u in (person(), person("lee", "dispatcher"), person("new", trained=False), *COMMANDERS)},
    {a.agency_id: a for a in (HOME, OAKLAND, FREMONT, FEDERAL, RENO)},
)
WHY = Justification("armed robbery suspect vehicle", "PC 211 robbery", "SJ-26-004512")
PROFILE = load_profile("san_jose")


def authorize(user: Principal, action: str, why: Justification, directory: Directory = DIRECTORY) -> Decision:
    """The rules as the deployment (San José's profile) applies them at :data:`NOW`."""
    return rules.authorize(user, action, why, directory, PROFILE, NOW)


def test_totp_matches_rfc_6238_and_accepts_one_step_of_drift() -> None:
    rfc = base64.b32encode(b"12345678901234567890").decode()
    assert code_at(rfc, datetime.fromtimestamp(59, UTC)) == "287082"
    assert code_at(rfc, datetime.fromtimestamp(1111111109, UTC)) == "081804"
    now = datetime(2026, 11, 23, 12, 0, 10, tzinfo=UTC)
    assert verify(SECRET, code_at(SECRET, now), now) is not None
    assert verify(SECRET, code_at(SECRET, now - timedelta(seconds=30)), now) is not None
    assert verify(SECRET, code_at(SECRET, now - timedelta(seconds=90)), now) is None
    assert verify(SECRET, "12345", now) is None and verify(SECRET, "abcdef", now) is None


def failed(state: SigninState, user: str, source: str, at: datetime) -> None:
    state.apply({"event": "signin_failed", "user": user, "source": source, "at": at.isoformat()})


def opened(state: SigninState, token: str, user: str, at: datetime, source: str = "desk") -> None:
    state.apply(
        {
            "event": "session_opened",
            "session": f"s-{token}",
            "token_hash": token_hash(token),
            "user": user,
            "role": "analyst",
            "agency": "SJPD",
            "channel": "console",
            "source": source,
            "expires_at": (at + timedelta(hours=8)).isoformat(),
            "at": at.isoformat(),
        }
    )


def test_a_code_signs_in_once_system_wide_the_first_claim_wins_p18() -> None:
    """Every process folds the same signins topic in the same order: the first claim of a code's
    time step wins, wherever the second one came from (CLI, console, a second authenticator)."""
    step = verify(SECRET, code_at(SECRET, NOW), NOW)
    assert step is not None
    state = SigninState()
    for claim_id in ("console-claim", "cli-claim"):
        state.apply({"event": "claimed", "claim": f"code:kim:{step}", "id": claim_id, "at": NOW.isoformat()})
    assert state.claims[f"code:kim:{step}"] == "console-claim"


def test_five_wrong_codes_from_x_lock_x_while_y_still_signs_in_and_the_lock_is_not_extended_p18() -> None:
    """CJIS: 5 failures lock for 10 minutes, per user and source, so an attacker at X cannot keep
    the user at Y out; attempts during the lock are not counted and do not extend it."""
    state = SigninState()
    for i in range(5):
        failed(state, "kim", "10.0.0.66", NOW + timedelta(seconds=i))
    until = state.locked("kim", "10.0.0.66", NOW + timedelta(seconds=5))
    assert until == NOW + timedelta(minutes=10, seconds=4)
    assert state.locked("kim", "10.0.0.7", NOW + timedelta(seconds=5)) is None  # Y is not locked
    opened(state, "tok-y", "kim", NOW + timedelta(seconds=6), source="10.0.0.7")
    assert state.session("tok-y", NOW + timedelta(seconds=7)) is not None
    for minute in range(1, 10):  # one attempt a minute from X during the lock
        failed(state, "kim", "10.0.0.66", NOW + timedelta(minutes=minute))
    assert state.locked("kim", "10.0.0.66", NOW + timedelta(minutes=9, seconds=30)) == until
    assert state.locked("kim", "10.0.0.66", until) is None


def test_disabling_a_user_revokes_their_open_sessions_p18() -> None:
    state = SigninState()
    opened(state, "tok-1", "kim", NOW)
    assert state.session("tok-1", NOW + timedelta(minutes=1)) is not None
    state.apply({"event": "sessions_revoked", "user": "kim", "at": (NOW + timedelta(minutes=2)).isoformat()})
    assert state.session("tok-1", NOW + timedelta(minutes=3)) is None
    opened(state, "tok-2", "kim", NOW + timedelta(minutes=4))  # a new sign-in after re-enabling works
    assert state.session("tok-2", NOW + timedelta(minutes=5)) is not None


def test_untrained_users_and_the_roles_table_p21() -> None:
    assert not person("new", trained=False).trained and person().trained
    assert require(person().principal(), "search").name == "kim"
    with pytest.raises(NotSignedIn):
        require(None, "alert.view")
    with pytest.raises(AccessDenied, match="P21: the auditor role may not alert.view"):
        require(person("aud", "auditor").principal(), "alert.view")


def test_access_is_by_role_p21() -> None:
    analyst, officer = person(role="analyst").principal(), person(role="officer").principal()
    dispatcher, auditor = person(role="dispatcher").principal(), person(role="auditor").principal()
    assert may(analyst, "replay") and may(officer, "search")
    assert not may(dispatcher, "search") and may(dispatcher, "alert.act")
    assert not may(auditor, "search") and may(auditor, "audit.read") and not may(auditor, "alert.view")
    assert not may(person(role="administrator").principal(), "replay")
    assert not may(person("ext", "external", "CA0010900").principal(), "alert.view")
    refused = authorize(person("lee", "dispatcher").principal(), "search", WHY, DIRECTORY)
    assert not refused.allowed and refused.reason.startswith("P21")


@pytest.mark.parametrize(
    ("why", "rule"),
    [
        (dataclasses.replace(WHY, case_number=" "), "P15/P16"),
        (dataclasses.replace(WHY, crime_type=""), "P15/P16"),
        (dataclasses.replace(WHY, purpose=""), "P15/P16"),
        (dataclasses.replace(WHY, purpose="ICE detainer request"), "P22"),
        (dataclasses.replace(WHY, purpose="locate the person", crime_type="immigration violation"), "P22"),
        (dataclasses.replace(WHY, purpose="vehicle seen at abortion clinic"), "P22"),
    ],
)
def test_a_search_needs_a_lawful_stated_reason(why, rule) -> None:
    decision = authorize(person().principal(), "search", why, DIRECTORY)
    assert not decision.allowed and decision.reason.startswith(rule) and decision.decision == "refused"


def test_searching_for_another_agency_p17_p19() -> None:
    kim = person().principal()
    assert authorize(kim, "search", dataclasses.replace(WHY, on_behalf_of="CA0010900"), DIRECTORY).allowed
    no_access = dataclasses.replace(WHY, on_behalf_of="CA0010800")
    refused = authorize(kim, "search", no_access, DIRECTORY)
    assert not refused.allowed and refused.reason.startswith("P17")
    approved = dataclasses.replace(no_access, commander="ruiz", approved_on=date(2026, 11, 20))
    assert authorize(kim, "search", approved, DIRECTORY).allowed
    for ineligible in ("FED1", "NV0160000", "NOSUCH"):
        decision = authorize(kim, "search", dataclasses.replace(approved, on_behalf_of=ineligible), DIRECTORY)
        assert not decision.allowed and decision.reason.startswith("P19")


def test_external_users_need_an_eligible_agency_with_an_agreement_p19() -> None:
    def verdict(agency: str, action: str = "search") -> bool:
        ext = person("ext", "external", agency)
        directory = Directory({**DIRECTORY.users, "ext": ext}, DIRECTORY.agencies)
        return authorize(ext.principal(), action, WHY, directory).allowed

    assert verdict("CA0010900")
    assert not verdict("CA0010800") and not verdict("NV0160000")
    assert not verdict("CA0010900", "replay")


@pytest.mark.parametrize(
    "case", ["N/A", "none", "TBD", "123", "-", ",", ".", "p", "test", "8ABC123", "OPD-26-1"]
)
def test_a_search_case_number_must_have_the_agencys_format_p16(case: str) -> None:
    decision = authorize(person().principal(), "search", dataclasses.replace(WHY, case_number=case))
    assert not decision.allowed and decision.reason.startswith("P16: ") and "SJ-26-004512" in decision.reason


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("crime_type", "."),
        ("crime_type", "xyz"),
        ("purpose", "test"),
        ("purpose", "keep"),
        ("purpose", "bolo"),
    ],
)
def test_a_search_crime_type_and_purpose_must_say_something_p16(field: str, value: str) -> None:
    decision = authorize(person().principal(), "search", dataclasses.replace(WHY, **{field: value}))
    assert not decision.allowed and decision.reason.startswith("P16: ")


def test_the_case_field_is_scanned_for_forbidden_purposes_p22() -> None:
    decision = authorize(
        person().principal(), "search", dataclasses.replace(WHY, case_number="ERO-26-000001")
    )
    assert not decision.allowed and decision.reason.startswith("P22")


def test_a_case_for_another_agency_is_judged_by_that_agencys_formats_p16() -> None:
    """Oakland has a profile (generic formats): its OPD-26-004512 is fine for Oakland, not for us."""
    oakland = dataclasses.replace(WHY, case_number="OPD-26-004512", on_behalf_of="CA0010900")
    assert authorize(person().principal(), "search", oakland).allowed
    own = authorize(person().principal(), "search", dataclasses.replace(oakland, on_behalf_of=None))
    assert not own.allowed and own.reason.startswith("P16: ")


NO_ACCESS = dataclasses.replace(WHY, on_behalf_of="CA0010800")


@pytest.mark.parametrize(
    ("commander", "approved_on", "words"),
    [
        ("Commander x", date(2026, 11, 20), "not an active user of your agency"),
        ("ruiz", date(2099, 1, 1), "in the future"),
        ("ruiz", date(2026, 11, 24), "in the future"),
        ("ruiz", NOW.date() - timedelta(days=31), "older than 30 days"),
        ("cap", date(2026, 11, 20), "may not approve"),
        ("kim", date(2026, 11, 20), "may not approve"),
        ("gone", date(2026, 11, 20), "not an active user"),
        ("ocmdr", date(2026, 11, 20), "not an active user of your agency"),
        ("ruiz", None, "approval date"),
    ],
)
def test_a_commanders_approval_must_be_real_and_current_p17(commander, approved_on, words) -> None:
    why = dataclasses.replace(NO_ACCESS, commander=commander, approved_on=approved_on)
    decision = authorize(person().principal(), "search", why)
    assert not decision.allowed and decision.reason.startswith("P17") and words in decision.reason


def test_a_commander_or_above_approves_up_to_the_profiles_age_p17() -> None:
    for name, day in (("ruiz", NOW.date()), ("diaz", NOW.date() - timedelta(days=30))):
        why = dataclasses.replace(NO_ACCESS, commander=name, approved_on=day)
        assert authorize(person().principal(), "search", why).allowed, name
    own = dataclasses.replace(WHY, commander="ruiz", approved_on=NOW.date())
    assert not authorize(person().principal(), "search", own).allowed  # no agency served: nothing to approve


def test_the_access_record_names_the_agency_served_and_the_approval_p17() -> None:
    why = dataclasses.replace(NO_ACCESS, commander="ruiz", approved_on=date(2026, 11, 20))
    data = access_record(NOW, person().principal(), "replay", why, {}, 2).to_dict()
    assert (data["on_behalf_of"], data["commander"], data["approved_on"]) == (
        "CA0010800",
        "ruiz",
        "2026-11-20",
    )
    assert AccessRecorded.from_dict(data).to_dict() == data


def test_records_without_an_agency_served_hash_as_before_p14() -> None:
    """The P17 fields are left out when unset: a record written before them keeps its hash."""
    data = access_record(NOW, person().principal(), "search", WHY, {"plate": "7ABC123"}, 1).to_dict()
    assert not {"on_behalf_of", "commander", "approved_on"} & set(data)
    assert record_hash(data) == record_hash(AccessRecorded.from_dict(data).to_dict())
