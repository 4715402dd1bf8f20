"""Justifications that mean something (P2, P6, P12, P16): case numbers in the agency's formats, reasons
naming a presumed crime or a listed purpose, partial plates only for major crimes."""

from __future__ import annotations

import dataclasses

import pytest

from streams.access.justification import (
    GENERIC,
    check_assignment,
    check_case_number,
    check_crime_type,
    check_purpose,
    check_reason,
    describe_formats,
    is_major_crime,
    looks_like_plate,
)
from streams.errors import JustificationRefused, PolicyViolation
from streams.retention.policy import load_profile

SAN_JOSE = load_profile("san_jose")
JUNK = ["N/A", "none", "TBD", "123", "-", ",", ".", "p", "test", "", "   ", "SJ-26-1", "SJ 26 004512"]
PLATES = ["8ABC123", "7XYZ999", "E287021", "Stolen Vehicle E287021", "case 6TRJ244"]


def refusal(call, *args, **kwargs) -> JustificationRefused:
    with pytest.raises(JustificationRefused) as info:
        call(*args, **kwargs)
    assert isinstance(info.value, PolicyViolation)
    return info.value


@pytest.mark.parametrize("value", JUNK)
def test_junk_case_numbers_are_refused_with_the_expected_formats_p16(value: str) -> None:
    error = refusal(check_case_number, value, SAN_JOSE)
    assert error.rule == "P16"
    assert "SJ-26-004512, a 9-digit number or a 7-digit number" in str(error)


@pytest.mark.parametrize("value", PLATES)
def test_a_plate_in_the_case_field_is_refused_p16(value: str) -> None:
    for profile in (SAN_JOSE, GENERIC):
        error = refusal(check_case_number, value, profile)
        assert "licence plate" in str(error) and error.rule == "P16"


@pytest.mark.parametrize(
    ("value", "normalized"),
    [
        ("SJ-26-005120", "SJ-26-005120"),
        (" sj-26-0100 ", "SJ-26-0100"),
        ("SJ-26-0451", "SJ-26-0451"),
        ("260045120", "260045120"),  # 9-digit report number
        ("2600451", "2600451"),  # 7-digit CAD incident number
        ("ＳＪ-２６-００４５１２", "SJ-26-004512"),  # full-width, as some keyboards type it
    ],
)
def test_each_san_jose_format_is_accepted_and_normalized(value: str, normalized: str) -> None:
    assert check_case_number(value, SAN_JOSE) == normalized


def test_other_agencies_formats_are_not_san_joses() -> None:
    """The generic formats (agencies without their own) take OPD-26-004512; San José's do not."""
    assert check_case_number("OPD-26-004512", GENERIC) == "OPD-26-004512"
    assert refusal(check_case_number, "OPD-26-004512", SAN_JOSE).rule == "P16"
    assert describe_formats(GENERIC.case_number_formats) == (
        "AB-26-004512, a 7-digit number or a 9-digit number"
    )


def test_the_rule_served_is_named_and_the_case_field_is_scanned_p22() -> None:
    assert refusal(check_case_number, "-", SAN_JOSE, rule="P12", field="hold case number").rule == "P12"
    error = refusal(check_case_number, "ERO-26-000001", GENERIC)
    assert error.rule == "P22" and "'ero'" in str(error).lower()


def test_formats_without_an_example_are_described_by_their_pattern() -> None:
    custom = dataclasses.replace(SAN_JOSE, case_number_formats=(r"(?:C|D)\d{7}", r"\d{2}-\d{5,6}"))
    text = describe_formats(custom.case_number_formats)
    assert "/(?:C|D)\\d{7}/" in text and "26-004512" in text
    assert check_case_number("C2600123", custom) == "C2600123"


@pytest.mark.parametrize(
    "reason",
    [
        "211 PC",
        "PC 211",
        "10851 VC",
        "VC 20001(a)",
        "11350 H&S",
        "187(a)",
        "245(a)(1) PC armed suspect",
        "Penal Code 459",
        "armed robbery suspect vehicle",
        "Carjacking at Curtner/Monterey",
        "stolen vehicle",
        "hit and run, red sedan",
        "DUI driver fled",
        "identity theft ring",
        "felony warrant",
        "AMBER alert",
        "Missing person (at risk)",
        "Silver Alert",
    ],
)
def test_a_reason_names_a_crime_or_a_listed_purpose_p2(reason: str) -> None:
    assert check_reason(reason, SAN_JOSE) == reason


@pytest.mark.parametrize("reason", [".", "xyz", "keep", "test", "bolo", "", "   ", "see attached", "123"])
def test_a_reason_that_names_nothing_is_refused_p2(reason: str) -> None:
    error = refusal(check_reason, reason, SAN_JOSE)
    assert error.rule == "P2" and "presumed crime" in str(error) and "amber alert" in str(error)


def test_non_criminal_purposes_come_from_the_profile() -> None:
    narrow = dataclasses.replace(SAN_JOSE, non_criminal_purposes=("endangered missing",))
    assert refusal(check_reason, "AMBER alert", narrow).rule == "P2"
    assert check_reason("endangered  missing  adult", narrow) == "endangered missing adult"


def test_a_search_crime_type_and_purpose_must_say_something_p16() -> None:
    assert check_crime_type("PC 211 robbery", SAN_JOSE) == "PC 211 robbery"
    assert refusal(check_crime_type, "keep", SAN_JOSE).rule == "P16"
    assert check_purpose("locate suspect vehicle", SAN_JOSE) == "locate suspect vehicle"
    assert check_purpose("evidence for trial", SAN_JOSE) == "evidence for trial"
    for junk in ("test", "keep", "bolo", "n/a", ".", "xyz", "investigation"):
        assert refusal(check_purpose, junk, SAN_JOSE).rule == "P16", junk


@pytest.mark.parametrize(
    ("reason", "major"),
    [
        ("PC 211 robbery suspect vehicle", True),
        ("Homicide, witness saw part of the plate", True),
        ("187(a)", True),
        ("ADW 245(a)(1)", True),
        ("hit-and-run with injuries", True),
        ("AMBER alert", True),
        ("human trafficking 236.1 PC", True),
        ("littering", False),
        ("vandalism", False),
        ("simple assault", False),
        ("case 2110 follow-up", False),  # "211" inside another number is not robbery
        ("SJ-26-000211", False),
    ],
)
def test_major_crimes_come_from_the_profile_p6(reason: str, major: bool) -> None:
    assert is_major_crime(reason, SAN_JOSE) is major


@pytest.mark.parametrize("assignment", ["xyz", "", None, "n/a", "TBD", "x1", "police"])
def test_an_assignment_must_name_a_unit_p2(assignment: str | None) -> None:
    assert refusal(check_assignment, assignment).rule == "P2"


def test_a_real_assignment_is_kept() -> None:
    assert check_assignment("  Southern Division   patrol ") == "Southern Division patrol"
    assert looks_like_plate("SJ-26-004512") is None and looks_like_plate("8abc123") == "8ABC123"
