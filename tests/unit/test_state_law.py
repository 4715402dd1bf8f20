"""State law profiles without Kafka (issue 17 item 2): the home agency's state decides the retention
caps, who may receive ALPR data and the reporting duties (P11, P13, P19, P26); every refusal names
the law. The directory, the webhooks and the transparency page decide sharing by the same law."""

from __future__ import annotations

import dataclasses
import tomllib
from datetime import date
from pathlib import Path

import pytest

from streams.access.audit import AccessRecorded
from streams.access.directory import Agency, Directory
from streams.cameras.registry import CameraRegistry
from streams.console.transparency import render_page, shared_with, summarize
from streams.errors import ConfigError
from streams.retention.law import AUDIT_RECORD_FIELDS, known_states, law_for
from streams.retention.policy import load_profile
from tests.factories import NOW

ROOT = Path(__file__).resolve().parents[2]

#: state -> (citation, read cap, hit cap, in force)
LAWS = {
    "CA": ("California SB 34 and AG bulletin 2023-DLE-06", None, None, date(2016, 1, 1)),
    "WA": ("Washington ESSB 6002", 21, 21, date(2026, 3, 30)),
    "VA": ("Virginia Code 2.2-5517", 21, 21, date(2025, 7, 1)),
}
#: An in-state police department of each state.
POLICE = {
    "CA": ("CA0010900", "municipal_police"),
    "WA": ("WA0270300", "municipal_police"),
    "VA": ("VA0290100", "county_sheriff"),
}


def test_every_law_file_is_tested_here_and_ships_as_package_data() -> None:
    """A law file that is not in the wheel would refuse every profile of its state on install."""
    assert known_states() == tuple(sorted(LAWS))
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "laws/*.toml" in pyproject["tool"]["setuptools"]["package-data"]["streams.retention"]


@pytest.mark.parametrize("state", sorted(LAWS))
def test_each_law_file_loads_with_its_statute_and_caps(state: str) -> None:
    law = law_for(state.lower())
    citation, read_cap, hit_cap, in_force = LAWS[state]
    assert (law.state, law.citation, law.in_force) == (state, citation, in_force)
    assert (law.read_retention_max_days, law.hit_retention_max_days) == (read_cap, hit_cap)
    assert law.statutes and law.reporting_duties is not None
    assert law.in_state_only and not {"federal", "commercial", "private"} & law.recipient_types


def test_washington_bans_immigration_use_and_sensitive_sites_and_lists_its_audit_fields() -> None:
    wa = law_for("WA")
    assert wa.immigration_use_banned and wa.sensitive_sites_banned
    assert set(wa.audit_fields) == {
        "camera location",
        "time",
        "data queried",
        "purpose",
        "offense type",
        "case number",
        "user name",
    }
    assert law_for("CA").immigration_use_banned  # SB 54
    assert "annual report" in " ".join(law_for("VA").reporting_duties)


@pytest.mark.parametrize("state", sorted(LAWS))
def test_every_audit_field_a_law_requires_is_in_the_access_record_p15(state: str) -> None:
    record = AccessRecorded(NOW, "kim", "search", "SJ-26-004512", "robbery suspect").to_dict()
    for field in law_for(state).audit_fields:
        assert AUDIT_RECORD_FIELDS[field] in record, field


def test_an_unknown_state_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="state 'OR' has no ALPR law profile: choose one of CA, VA, WA"):
        law_for("OR")
    with pytest.raises(ConfigError, match="profile san_jose: state 'OR' has no ALPR law profile"):
        dataclasses.replace(load_profile("san_jose"), state="OR")


# -- retention caps (P11, P13) -----------------------------------------------------------------------


def test_a_washington_profile_keeping_reads_30_days_is_refused_naming_essb_6002_p11() -> None:
    with pytest.raises(
        ConfigError,
        match="profile washington: read_retention_days 30 exceeds Washington ESSB 6002's 21-day limit",
    ):
        dataclasses.replace(load_profile("washington"), read_retention_days=30, timing=None)


def test_a_virginia_profile_keeping_hits_indefinitely_is_refused_naming_the_code_p13() -> None:
    with pytest.raises(
        ConfigError, match="hit_retention_days indefinite exceeds Virginia Code 2.2-5517's 21-day limit"
    ):
        dataclasses.replace(load_profile("virginia"), hit_retention_days=None)


def test_san_jose_moved_to_washington_is_refused_and_hayward_keeps_a_year_in_california() -> None:
    """California has no statewide cap: the agency's 365 days stand; the same days in WA do not."""
    assert load_profile("hayward").read_retention_days == 365
    with pytest.raises(ConfigError, match="read_retention_days 30 exceeds Washington ESSB 6002"):
        dataclasses.replace(load_profile("san_jose"), state="WA")
    assert dataclasses.replace(load_profile("washington"), read_retention_days=14, timing=None)


# -- sharing (P19) -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agency_type", "state", "why"),
    [
        ("federal", "VA", "P19 / Virginia Code 2.2-5517: ALPR data is not shared with federal agencies"),
        ("municipal_police", "MD", "P19 / Virginia Code 2.2-5517: ALPR data is not shared out of state"),
        ("commercial", "VA", "P19 / Virginia Code 2.2-5517: ALPR data is not shared with commercial"),
    ],
)
def test_virginia_refuses_federal_and_out_of_state_partners_naming_the_code(
    agency_type: str, state: str, why: str
) -> None:
    refusal = law_for("VA").sharing_refusal("X1", agency_type, state)
    assert refusal is not None and refusal.startswith(why)


@pytest.mark.parametrize(
    ("agency_type", "state", "why"),
    [
        ("municipal_police", "NV", "not shared out of state: X1 is in NV: ALPR data goes to California"),
        ("federal", "CA", "not shared with federal agencies"),
        ("commercial", "CA", "not shared with commercial entities"),
        ("private", "CA", "not shared with private entities"),
    ],
)
def test_california_refuses_out_of_state_federal_commercial_and_private_p19(
    agency_type: str, state: str, why: str
) -> None:
    refusal = law_for("CA").sharing_refusal("X1", agency_type, state)
    assert refusal is not None
    assert refusal.startswith("P19 / California SB 34 and AG bulletin 2023-DLE-06: ") and why in refusal


def test_washington_refuses_an_oregon_police_department_naming_essb_6002() -> None:
    refusal = law_for("WA").sharing_refusal("OR0260200", "municipal_police", "OR")
    assert refusal is not None and refusal.startswith("P19 / Washington ESSB 6002: ")
    assert "goes to Washington agencies only" in refusal


@pytest.mark.parametrize("state", sorted(LAWS))
def test_every_state_accepts_an_in_state_police_department(state: str) -> None:
    agency_id, agency_type = POLICE[state]
    assert law_for(state).sharing_refusal(agency_id, agency_type, state.lower()) is None


# -- one decision: the directory, the webhooks, the transparency page ----------------------------------

WA_HOME = Agency(
    "WA0170000", "Example Washington PD", "municipal_police", "WA", "home", shares_with=("WA0270300",)
)
TACOMA = Agency("WA0270300", "Tacoma Police Department", "municipal_police", "WA", "signed", "2026-04-01")
PORTLAND = Agency("OR0260200", "Portland Police Bureau", "municipal_police", "OR", "signed", "2026-04-01")
SJPD = Agency("CA0430100", "A California department", "municipal_police", "CA", "signed", "2026-04-01")


def test_a_washington_directory_shares_with_washington_agencies_only_p19() -> None:
    """Alerts of a WA home agency reach a WA partner, never an Oregon or California one (even if a
    record of theirs reached the agencies topic); the webhooks decide the same way."""
    forged = {**dataclasses.asdict(WA_HOME), "shares_with": ("WA0270300", "OR0260200", "CA0430100")}
    home = Agency(**forged)
    directory = Directory({}, {a.agency_id: a for a in (home, TACOMA, PORTLAND, SJPD)})
    assert directory.sees_agency("WA0270300", "WA0170000")
    assert not directory.sees_agency("OR0260200", "WA0170000")
    assert not directory.sees_agency("CA0430100", "WA0170000")
    refusal = directory.sharing_refusal("CA0430100")
    assert refusal is not None and "P19 / Washington ESSB 6002" in refusal and "is in CA" in refusal


def test_a_directory_without_a_home_agency_shares_with_nobody_p19() -> None:
    refusal = Directory({}, {"WA0270300": TACOMA}).sharing_refusal("WA0270300")
    assert refusal is not None and "no home agency" in refusal


def test_the_transparency_page_names_the_state_law_and_its_partners_p19_p26() -> None:
    figures = summarize(CameraRegistry({}), load_profile("washington"), {}, [WA_HOME, TACOMA, PORTLAND], NOW)
    assert figures["law"]["citation"] == "Washington ESSB 6002"
    assert figures["law"]["read_retention_max_days"] == 21
    assert [a["agency_id"] for a in figures["shared_with"]] == ["WA0270300"]
    assert figures["statement"] is None  # the San José memo speaks of California law
    page = render_page(figures)
    assert "under Washington law: Washington ESSB 6002 (in force 2026-03-30), at most 21 days" in page
    assert "Only Washington law enforcement agencies with an agreement on file" in page
    assert 'id="t-statement"' not in page
    virginia = render_page(summarize(CameraRegistry({}), load_profile("virginia"), {}, [], NOW))
    assert "annual report on the use of the ALPR system (Virginia Code 2.2-5517)" in virginia
    california = render_page(summarize(CameraRegistry({}), load_profile("san_jose"), {}, [], NOW))
    assert "no statewide limit on how long reads are kept" in california and 'id="t-statement"' in california


def test_partners_are_listed_by_the_deployments_state_law() -> None:
    assert [a.agency_id for a in shared_with([TACOMA, SJPD], "WA")] == ["WA0270300"]
    assert [a.agency_id for a in shared_with([TACOMA, SJPD])] == ["CA0430100"]


def test_the_law_allows_an_agency_without_an_agreement_but_sharing_needs_one_p19_p17() -> None:
    """The law's part (type, state) and the agreement are two questions: a search for a WA agency
    without an agreement may still be approved by a Commander (P17), yet it receives no alerts."""
    olympia = Agency("WA0340100", "Olympia Police Department", "municipal_police", "WA", "none")
    directory = Directory({}, {a.agency_id: a for a in (WA_HOME, olympia)})
    assert directory.law_refusal("WA0340100") is None
    assert directory.sharing_refusal("WA0340100") == (
        "P19: WA0340100 has no sharing agreement on file (agreement 'none')"
    )
