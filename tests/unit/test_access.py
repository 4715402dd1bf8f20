"""Access rules without Kafka: TOTP (P18), sign-in checks (P18, P21), justified searches (P15-P22)."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from streams.access.directory import Agency, Directory, User, may
from streams.access.rules import Justification, authorize
from streams.access.totp import code_at, new_secret, verify
from streams.console.auth import check_credentials
from streams.errors import AccessDenied
from tests.factories import NOW

SECRET = new_secret()
HOME = Agency("SJPD", "San José Police Department", "municipal_police", "CA", "home")
OAKLAND = Agency("CA0010900", "Oakland Police Department", "municipal_police", "CA", "signed", "2026-03-01")
FREMONT = Agency("CA0010800", "Fremont Police Department", "municipal_police", "CA", "none")
FEDERAL = Agency("FED1", "Some federal agency", "federal", "CA", "signed")  # only if a record were forged
RENO = Agency("NV0160000", "Reno Police Department", "municipal_police", "NV", "signed")


def person(name: str = "kim", role: str = "analyst", agency: str = "SJPD", trained: bool = True) -> User:
    return User(
        name,
        name.title(),
        "A-7",
        agency,
        role,
        PasswordHasher().hash("correct-horse-battery"),
        SECRET,
        (("ALPR user training", "2026-10-01"),) if trained else (),
    )


DIRECTORY = Directory(
    {u.name: u for u in (person(), person("lee", "dispatcher"), person("new", trained=False))},
    {a.agency_id: a for a in (HOME, OAKLAND, FREMONT, FEDERAL, RENO)},
)
WHY = Justification("armed robbery suspect vehicle", "PC 211 robbery", "SJ-26-004512")


def test_totp_matches_rfc_6238_and_accepts_one_step_of_drift() -> None:
    rfc = base64.b32encode(b"12345678901234567890").decode()
    assert code_at(rfc, datetime.fromtimestamp(59, UTC)) == "287082"
    assert code_at(rfc, datetime.fromtimestamp(1111111109, UTC)) == "081804"
    now = datetime(2026, 11, 23, 12, 0, 10, tzinfo=UTC)
    assert verify(SECRET, code_at(SECRET, now), now) is not None
    assert verify(SECRET, code_at(SECRET, now - timedelta(seconds=30)), now) is not None
    assert verify(SECRET, code_at(SECRET, now - timedelta(seconds=90)), now) is None
    assert verify(SECRET, "12345", now) is None and verify(SECRET, "abcdef", now) is None


def test_sign_in_needs_the_password_and_the_code_p18() -> None:
    used: dict[str, int] = {}
    code = code_at(SECRET, NOW)
    for name, password, given in (
        ("kim", "wrong password!", code),
        ("kim", "correct-horse-battery", "000000" if code != "000000" else "111111"),
        ("kim", "correct-horse-battery", ""),
        ("nobody", "correct-horse-battery", code),
    ):
        with pytest.raises(AccessDenied, match="wrong user name, password or code"):
            check_credentials(DIRECTORY, name, password, given, NOW, used)
    assert check_credentials(DIRECTORY, "kim", "correct-horse-battery", code, NOW, used).name == "kim"
    with pytest.raises(AccessDenied, match="used already"):  # a code signs in once
        check_credentials(DIRECTORY, "kim", "correct-horse-battery", code, NOW, used)


def test_untrained_or_disabled_users_cannot_sign_in_p21() -> None:
    code = code_at(SECRET, NOW)
    with pytest.raises(AccessDenied, match="P21: the required ALPR training"):
        check_credentials(DIRECTORY, "new", "correct-horse-battery", code, NOW, {})
    disabled = Directory({"kim": dataclasses.replace(person(), active=False)}, DIRECTORY.agencies)
    with pytest.raises(AccessDenied, match="disabled"):
        check_credentials(disabled, "kim", "correct-horse-battery", code, NOW, {})


def test_access_is_by_role_p21() -> None:
    assert may(person(role="analyst"), "replay") and may(person(role="officer"), "search")
    assert not may(person(role="dispatcher"), "search")
    assert not may(person(role="auditor"), "search") and may(person(role="auditor"), "audit")
    assert not may(person(role="administrator"), "replay")
    refused = authorize(person("lee", "dispatcher"), "search", WHY, DIRECTORY)
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
    decision = authorize(person(), "search", why, DIRECTORY)
    assert not decision.allowed and decision.reason.startswith(rule) and decision.decision == "refused"


def test_searching_for_another_agency_p17_p19() -> None:
    kim = person()
    assert authorize(kim, "search", dataclasses.replace(WHY, on_behalf_of="CA0010900"), DIRECTORY).allowed
    no_access = dataclasses.replace(WHY, on_behalf_of="CA0010800")
    refused = authorize(kim, "search", no_access, DIRECTORY)
    assert not refused.allowed and refused.reason.startswith("P17")
    approved = dataclasses.replace(no_access, commander="Cmdr. Ana Ruiz", approved_on=date(2026, 11, 20))
    assert authorize(kim, "search", approved, DIRECTORY).allowed
    for ineligible in ("FED1", "NV0160000", "NOSUCH"):
        decision = authorize(kim, "search", dataclasses.replace(approved, on_behalf_of=ineligible), DIRECTORY)
        assert not decision.allowed and decision.reason.startswith("P19")


def test_external_users_need_an_eligible_agency_with_an_agreement_p19() -> None:
    assert authorize(person("ext", "external", "CA0010900"), "search", WHY, DIRECTORY).allowed
    assert not authorize(person("ext", "external", "CA0010800"), "search", WHY, DIRECTORY).allowed
    assert not authorize(person("ext", "external", "NV0160000"), "search", WHY, DIRECTORY).allowed
    assert not authorize(person("ext", "external", "CA0010900"), "replay", WHY, DIRECTORY).allowed
