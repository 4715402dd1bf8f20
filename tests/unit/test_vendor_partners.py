"""Sharing partners by name (P19): federal, commercial/private, out-of-state or eligible, both ways.

``samples/vendor/flock_sharing_large.csv`` is a sharing page in Flock's layout with an extra
``Expected Class`` column (ignored by the audit): more than 100 made-up, real-style names as
partner lists write them. The classifier must get at least 98 % of them right; the misses are
printed so that a failure says which names to look at.
"""

from __future__ import annotations

import csv

import pytest

from streams.access.vendor import (
    PARTNER_CLASSES,
    audit,
    classify_partner,
    judge_partners,
    parse_export,
    read_sharing,
)
from tests.conftest import ROOT

LARGE = ROOT / "samples" / "vendor" / "flock_sharing_large.csv"


def expected() -> list[dict[str, str]]:
    with LARGE.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_large_partner_list_is_classified_at_least_98_percent_right_p19() -> None:
    rows = expected()
    assert len(rows) >= 100 and {r["Expected Class"] for r in rows} == set(PARTNER_CLASSES)
    misses = []
    for r in rows:
        got = classify_partner(r["Organization Name"], "CA")
        if got.kind != r["Expected Class"]:
            misses.append(
                f"{r['Organization Name']}: expected {r['Expected Class']}, got {got.kind} ({got.reason})"
            )
    print(f"{len(rows) - len(misses)}/{len(rows)} right; misses:", *misses, sep="\n  ")
    assert (len(rows) - len(misses)) / len(rows) >= 0.98, misses


def test_the_large_list_has_partners_in_both_directions() -> None:
    """Each non-eligible class has partners we share with and partners we only receive from, so the
    direction rule is exercised on every class."""
    verdicts = judge_partners(read_sharing(LARGE), "CA")
    for kind in ("federal", "commercial", "out_of_state"):
        of = [v for v in verdicts if v.verdict.kind == kind]
        assert any(v.we_share for v in of) and any(v.they_share and not v.we_share for v in of), kind


def test_a_partner_we_only_receive_from_is_not_counted_as_one_we_share_with_p19() -> None:
    """The audit's P19 findings are the partners we share with; the receive-only ones are apart."""
    report = audit(
        parse_export("Reason,DateTime\nRobbery SJ-26-004512,2026-01-05\n"), read_sharing(LARGE), 0, 1
    )
    verdicts = judge_partners(read_sharing(LARGE), "CA")
    sharing = {v.partner.name for v in verdicts if v.we_share and v.verdict.kind != "eligible"}
    receiving = {
        v.partner.name for v in verdicts if not v.we_share and v.they_share and v.verdict.kind != "eligible"
    }
    codes = ("sharing_federal", "sharing_out_of_state", "sharing_private")
    assert {f.who for c in codes for f in report.of(c)} == sharing
    assert {f.who for f in report.of("receives_only")} == receiving
    assert sharing and receiving and not sharing & receiving


@pytest.mark.parametrize(
    ("name", "kind", "why"),
    [
        # out of state: the SO suffix, parishes, the "AL - " prefix, all-caps names, state names
        ("Maricopa County SO", "out_of_state", "Maricopa County is not a county of California"),
        ("Mobile AL SO", "out_of_state", "Alabama: state code AL"),
        ("Jefferson Parish SO", "out_of_state", "Louisiana: a parish"),
        ("AL - Mobile PD", "out_of_state", 'Alabama: "AL -" prefix'),
        ("HOUSTON TX PD", "out_of_state", "Texas: state code TX"),
        ("LOUISIANA STATE POLICE", "out_of_state", "Louisiana: names Louisiana"),
        ("Kansas Bureau of Investigation", "out_of_state", "Kansas"),  # a state bureau, not the FBI
        ("Alabama Drug Enforcement Task Force", "out_of_state", "Alabama"),  # state, not the DEA
        # federal
        ("Tennessee Valley Authority Police", "federal", "Tennessee Valley Authority"),
        ("Northern California HIDTA", "federal", "HIDTA"),
        ("VA Palo Alto Health Care System Police", "federal", '"VA"'),
        ("Department of Justice", "federal", "no state"),
        # commercial or private
        ("BNSF Railway Police", "commercial", "BNSF"),
        ("Union Pacific Police", "commercial", "Union Pacific"),
        ("Lowe's Home Improvement", "commercial", "Lowe's"),
        ("Simon Property Group", "commercial", "Property Group"),
        ("Oakwood Apartments LLC", "commercial", "Apartments"),
        ("Evergreen Homeowners Association", "commercial", "Homeowners Association"),
        ("Stanford University Department of Public Safety", "commercial", "private university"),
        ("University of Southern California DPS", "commercial", "private university"),
        # eligible (California)
        ("University of California Berkeley PD", "eligible", "California"),
        ("San Jose State University PD", "eligible", "taken for a California public agency"),
        ("California Department of Justice", "eligible", "names California"),
        ("Nevada County Sheriff's Office", "eligible", "Nevada County is in California"),
        ("Marin CO SO", "eligible", ""),
        ("LA County SO", "eligible", "LA County is in California"),
        ("Santa Clara County DA Bureau of Investigation", "eligible", "Santa Clara County"),
        ("Virginia Beach PD", "out_of_state", "Virginia"),
    ],
)
def test_partner_classes_and_the_reason_shown(name: str, kind: str, why: str) -> None:
    got = classify_partner(name, "CA")
    assert (got.kind, why in got.reason) == (kind, True), got


def test_the_home_state_decides_what_is_out_of_state() -> None:
    assert classify_partner("Washington State Patrol", "WA").kind == "eligible"
    assert classify_partner("Washington State Patrol", "CA").kind == "out_of_state"
    assert classify_partner("King County SO", "WA").reason == "Washington: King County is in Washington"
    assert classify_partner("Santa Clara County SO", "WA").kind == "out_of_state"
    assert classify_partner("Richmond VA PD", "VA").kind == "eligible"
