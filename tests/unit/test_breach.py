"""The breach notice (P27): the parking policy's fields in its order, refusals that write nothing.

The quoted field names are those of San José's Council Policy on ALPR for parking operations,
section DATA BREACH NOTIFICATION REQUIREMENTS (seeds/002_8a68297f3d6f0e40.txt), items 1-6.c.ii.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from streams.reports.breach import (
    Format,
    IncidentInvalid,
    council_memo_reminder,
    load_incident,
    parse_incident,
    render_notice,
    write_notice,
)
from streams.retention.policy import load_profile
from tests.conftest import ROOT

SAMPLE = ROOT / "samples" / "breach-incident.toml"
TODAY = date(2026, 4, 1)
SAN_JOSE = load_profile("san_jose")

#: The notice's parts, items 1-6 of the policy, then 6.a-6.c.ii, in the policy's order and words.
TITLE = "Notification of Data Breach"
SECTIONS = ["What Happened", "What Information Was Involved", "What We Are Doing", "What You Can Do"]
MORE = "For More Information"
SUB_ITEMS = [
    "Name and contact information for department reporting the breach",
    "A list of the personal information subject to the breach",
    "the date, estimated date, or the date range that the breach occurred",
    "If notification was delayed as a result of law enforcement investigation",
    "A general description of the breach incident",
]
REQUIRED = [
    "what_happened",
    "information_involved",
    "what_we_are_doing",
    "what_you_can_do",
    "department",
    "contact",
    "breach_date",
    "discovered",
    "delayed_by_law_enforcement",
]


def incident(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "what_happened": "A support account was used to export ALPR search results.",
        "information_involved": ["License plate numbers", "Photographs of vehicles"],
        "what_we_are_doing": "We disabled the account and reviewed every export.",
        "what_you_can_do": "No action is required; call us with any question.",
        "department": "San José Police Department",
        "contact": "201 W. Mission Street, San José;\n(408) 555-0142",
        "breach_date": date(2026, 3, 9),
        "discovered": date(2026, 3, 13),
        "delayed_by_law_enforcement": False,
        "notice_date": date(2026, 3, 20),
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def in_order(text: str, parts: list[str]) -> list[int]:
    """Positions of each part in ``text``, each found after the previous one."""
    positions, start = [], 0
    for part in parts:
        at = text.find(part, start)
        assert at >= 0, f"{part!r} is missing or comes too early"
        positions.append(at)
        start = at + len(part)
    return positions


def notice(fmt: Format = "md", **changes: Any) -> str:
    return render_notice(parse_incident(incident(**changes), TODAY), SAN_JOSE, fmt)


# -- every field, in the policy's order -------------------------------------------------------


def test_markdown_has_the_title_every_heading_and_every_sub_item_in_order() -> None:
    text = notice("md")
    assert text.startswith(f"# {TITLE}\n")
    in_order(text, [*(f"## {s}" for s in SECTIONS), f"## {MORE}", *SUB_ITEMS])


def test_plain_text_has_the_same_parts_in_the_same_order() -> None:
    text = notice("txt")
    assert text.startswith(f"{TITLE}\n{'=' * len(TITLE)}\n")
    in_order(text, [*(f"{s}\n{'-' * len(s)}" for s in SECTIONS), f"{MORE}\n{'-' * len(MORE)}"])
    in_order(" ".join(text.split()), SUB_ITEMS)  # wrapped lines joined
    assert "**" not in text and "#" not in text
    assert max(len(line) for line in text.splitlines()) <= 78


@pytest.mark.parametrize("fmt", ["md", "txt"])
def test_each_value_lands_in_its_part(fmt: Format) -> None:
    text = " ".join(notice(fmt).split())
    happened, involved, doing, you_can, more = in_order(text, [*SECTIONS, MORE])
    assert happened < text.find("A support account was used") < involved
    assert involved < text.find("License plate numbers") < text.find("Photographs of vehicles") < doing
    assert doing < text.find("We disabled the account") < you_can
    assert you_can < text.find("No action is required") < more
    tail = text[more:]
    in_order(
        tail,
        [
            "San José Police Department",
            "201 W. Mission Street, San José; (408) 555-0142",  # the contact, on one line
            "License plate numbers; Photographs of vehicles",  # 6.b, the list
            "on March 9, 2026",  # 6.c
            "discovered on March 13, 2026",
            "not delayed as a result of a law enforcement investigation",  # 6.c.i
            "A support account was used",  # 6.c.ii
        ],
    )
    assert "Date of this notice: March 20, 2026" in text


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"breach_date": date(2026, 3, 9)}, "occurred on March 9, 2026"),
        (
            {"breach_date": None, "breach_date_estimated": date(2026, 3, 8)},
            "occurred on or about March 8, 2026 (estimated)",
        ),
        (
            {"breach_date": None, "breach_date_from": date(2026, 3, 1), "breach_date_to": date(2026, 3, 12)},
            "occurred between March 1, 2026 and March 12, 2026",
        ),
        (
            {"breach_date": None, "breach_date_unknown": True},
            "The date of the breach could not be determined when this notice was provided",
        ),
    ],
)
def test_the_breach_date_may_be_a_date_an_estimate_a_range_or_undetermined(
    fields: dict[str, Any], said: str
) -> None:
    assert said in notice(**fields)


def test_a_delay_for_an_investigation_is_stated_with_its_reason() -> None:
    text = notice(delayed_by_law_enforcement=True, delay_reason="The District Attorney asked us to wait.")
    assert "Yes. The District Attorney asked us to wait." in text
    assert "delayed by a law enforcement investigation" in text


def test_the_notice_states_the_programs_retention_where_it_lists_the_information() -> None:
    text = notice()
    involved, doing = text.find("## What Information Was Involved"), text.find("## What We Are Doing")
    retention = text.find("for 30 days and then purges it from all active and backup systems")
    assert involved < retention < doing
    # 30 days before the breach of March 9: the oldest reads that can be involved
    assert "made between February 7, 2026 and March 9, 2026" in text
    hayward = render_notice(parse_incident(incident(), TODAY), load_profile("hayward"))
    assert "for 365 days" in hayward and "Hit (alert) records are kept indefinitely" in hayward


@pytest.mark.parametrize("fmt", ["md", "txt"])
def test_the_council_information_memo_reminder_is_for_the_sender_not_in_the_notice(fmt: Format) -> None:
    text = " ".join(notice(fmt, incident="IR-26-0042").split())
    assert "Reminder (P27)" not in text and "information memo" not in text
    reminder = " ".join(council_memo_reminder(parse_incident(incident(incident="IR-26-0042"), TODAY)).split())
    assert "Reminder (P27): this unauthorized disclosure (IR-26-0042) must also be reported" in reminder
    assert "City Council in an information memo" in reminder


def test_the_notice_date_defaults_to_today() -> None:
    assert "Date of this notice: April 1, 2026" in notice(notice_date=None)


def test_dates_may_be_written_as_text() -> None:
    text = notice(breach_date="2026-03-09", discovered="2026-03-13", notice_date="2026-03-20")
    assert "occurred on March 9, 2026; it was discovered on March 13, 2026" in text


# -- refusals ---------------------------------------------------------------------------------


def refused(data: dict[str, Any], today: date = TODAY) -> list[str]:
    with pytest.raises(IncidentInvalid) as info:
        parse_incident(data, today, "incident.toml")
    message = str(info.value)
    assert message.startswith("incident incident.toml refused, no notice written")
    assert all(p in message for p in info.value.problems)
    return list(info.value.problems)


def test_an_empty_incident_is_refused_naming_every_required_field_in_order() -> None:
    problems = refused({})
    assert len(problems) == len(REQUIRED)
    for problem, field in zip(problems, REQUIRED, strict=True):
        assert problem.startswith(f"missing required field {field} (")


@pytest.mark.parametrize("field", REQUIRED)
def test_each_missing_field_is_named(field: str) -> None:
    data = incident()
    data.pop(field)
    (problem,) = refused(data)
    assert problem.startswith(f"missing required field {field} (")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"what_happened": "  "}, "missing required field what_happened"),
        ({"information_involved": []}, "missing required field information_involved"),
        ({"information_involved": "plates"}, "information_involved must be a list of non-empty texts"),
        ({"information_involved": ["plates", ""]}, "information_involved must be a list of non-empty texts"),
        ({"department": 7}, "department must be text, not int"),
        ({"delayed_by_law_enforcement": "no"}, "delayed_by_law_enforcement = 'no': use true or false"),
        ({"delayed_by_law_enforcement": True}, "delayed_by_law_enforcement = true needs delay_reason"),
        ({"what_we_are_dong": "typo"}, "unknown field 'what_we_are_dong'"),
        ({"breach_date_estimated": date(2026, 3, 8)}, "give only one of breach_date, breach_date_estimated"),
        ({"breach_date": None, "breach_date_to": date(2026, 3, 8)}, "breach_date_to needs breach_date_from"),
        (
            {"breach_date": None, "breach_date_from": date(2026, 3, 8)},
            "breach_date_from needs breach_date_to",
        ),
        (
            {"breach_date": None, "breach_date_unknown": "yes"},
            "breach_date_unknown = 'yes': use true or false",
        ),
        ({"incident": 42}, "incident (your reference, e.g. an incident number) must be text"),
    ],
)
def test_a_malformed_field_is_refused_with_its_reason(changes: dict[str, Any], message: str) -> None:
    (problem,) = refused(incident(**changes))
    assert problem.startswith(message)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"discovered": date(2026, 3, 8)}, "discovered 2026-03-08 is before the breach began (2026-03-09)"),
        (
            {"breach_date": None, "breach_date_from": date(2026, 3, 14), "breach_date_to": date(2026, 3, 15)},
            "discovered 2026-03-13 is before the breach began (2026-03-14)",
        ),
        (
            {"breach_date": None, "breach_date_from": date(2026, 3, 9), "breach_date_to": date(2026, 3, 1)},
            "breach_date_to 2026-03-01 is before breach_date_from 2026-03-09",
        ),
        ({"breach_date": date(2026, 4, 2)}, "breach date 2026-04-02 is in the future (today is 2026-04-01)"),
        ({"discovered": date(2026, 4, 2)}, "discovered 2026-04-02 is in the future"),
        ({"notice_date": date(2026, 4, 2)}, "notice_date 2026-04-02 is in the future"),
        ({"notice_date": date(2026, 3, 12)}, "notice_date 2026-03-12 is before the breach was discovered"),
        (
            {"discovered": datetime(2026, 3, 13, 9, 30)},
            "discovered = 2026-03-13T09:30:00: give a date without",
        ),
        ({"discovered": "13/03/2026"}, "discovered = '13/03/2026' is not a date: use YYYY-MM-DD"),
        ({"discovered": 20260313}, "discovered = 20260313 is not a date"),
    ],
)
def test_impossible_dates_are_refused(changes: dict[str, Any], message: str) -> None:
    problems = refused(incident(**changes))
    assert any(p.startswith(message) for p in problems), problems


def test_several_faults_are_reported_together() -> None:
    data = incident(discovered=date(2026, 3, 1), what_you_can_do=None, department="")
    problems = refused(data)
    assert [p.split(" (")[0] for p in problems] == [
        "missing required field what_you_can_do",
        "missing required field department",
        "discovered 2026-03-01 is before the breach began",
    ]


# -- files ------------------------------------------------------------------------------------


def test_the_sample_incident_is_complete() -> None:
    parsed = parse_incident(load_incident(SAMPLE), TODAY, str(SAMPLE))
    assert parsed.breach.kind == "range" and parsed.incident


def test_a_refused_incident_writes_nothing_and_leaves_an_old_notice_alone(tmp_path: Path) -> None:
    bad = tmp_path / "incident.toml"
    bad.write_text(SAMPLE.read_text().replace("what_you_can_do =", "what_you_could_do ="))
    out = tmp_path / "notices" / "notice.md"
    with pytest.raises(IncidentInvalid, match="unknown field 'what_you_could_do'"):
        write_notice(bad, out, "md", SAN_JOSE, TODAY)
    assert not out.parent.exists()
    out.parent.mkdir()
    out.write_text("the previous notice")
    with pytest.raises(IncidentInvalid):
        write_notice(bad, out, "md", SAN_JOSE, TODAY)
    assert out.read_text() == "the previous notice"
    assert os.listdir(out.parent) == ["notice.md"]


def test_a_written_notice_is_the_rendered_text_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    out = tmp_path / "notice.txt"
    text, parsed = write_notice(SAMPLE, out, "txt", SAN_JOSE, TODAY)
    assert out.read_text(encoding="utf-8") == text == render_notice(parsed, SAN_JOSE, "txt")
    assert out.stat().st_mode & 0o777 == 0o644
    assert os.listdir(tmp_path) == ["notice.txt"]


def test_a_file_that_is_missing_or_not_toml_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(IncidentInvalid, match="no such file"):
        load_incident(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text('department = "unterminated\n')
    with pytest.raises(IncidentInvalid, match=r"(?s)broken\.toml refused.*not valid TOML"):
        load_incident(broken)


# -- the real command -------------------------------------------------------------------------


def breach_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``alpr breach ...`` as a real process, with no ALPR_* settings but those given."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ALPR_")}
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "breach", *args],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_alpr_breach_notice_writes_the_sample_notice(tmp_path: Path) -> None:
    out = tmp_path / "notice.md"
    run = breach_cli("notice", "--incident", str(SAMPLE), "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"wrote {out}"
    text = out.read_text(encoding="utf-8")
    assert text.startswith(f"# {TITLE}\n")
    in_order(text, [*(f"## {s}" for s in SECTIONS), f"## {MORE}", *SUB_ITEMS])
    assert "Reminder (P27)" not in text
    assert "between March 9, 2026 and March 12, 2026" in text
    assert "for 30 days" in text  # the default (San José) profile
    assert "Reminder (P27)" in run.stderr and "information memo" in run.stderr


def test_alpr_breach_notice_prints_plain_text_with_the_profiles_retention() -> None:
    run = breach_cli("notice", "--incident", str(SAMPLE), "--format", "txt", ALPR_PROFILE="hayward")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"{TITLE}\n===")
    assert "for 365 days" in " ".join(run.stdout.split())


def test_alpr_breach_notice_refuses_an_incomplete_incident_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "incident.toml"
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    bad.write_text(
        "\n".join(line for line in lines if not line.startswith(("department", "discovered"))),
        encoding="utf-8",
    )
    out = tmp_path / "notice.md"
    run = breach_cli("notice", "--incident", str(bad), "--out", str(out))
    assert run.returncode == 2
    assert run.stderr.startswith(f"alpr: error: incident {bad} refused, no notice written")
    assert "missing required field department (" in run.stderr
    assert "missing required field discovered (" in run.stderr
    assert run.stdout == ""
    assert os.listdir(tmp_path) == ["incident.toml"]


# -- P27: a notice says something, and reads correctly ----------------------------------------


def test_p27_an_incident_with_x_in_every_field_is_refused_naming_each_field() -> None:
    junk = incident(
        what_happened="x",
        information_involved=["x"],
        what_we_are_doing="x",
        what_you_can_do="x",
        department="x",
        contact="x",
    )
    with pytest.raises(IncidentInvalid) as refused:
        parse_incident(junk, TODAY)
    said = "\n".join(refused.value.problems)
    for key in REQUIRED[:6]:  # the free-text fields; the dates are judged apart
        assert key in said, f"{key} not named in {said}"


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"what_happened": "TBD"}, "what_happened = 'TBD' is a placeholder"),
        ({"what_happened": "Data leaked."}, "what_happened = 'Data leaked.' says too little"),
        ({"what_we_are_doing": "n/a"}, "what_we_are_doing = 'n/a' is a placeholder"),
        ({"what_you_can_do": "Lorem ipsum dolor"}, "is a placeholder"),
        ({"department": "SJPD"}, "department = 'SJPD' says too little"),
        ({"contact": "ask the front desk"}, "does not say how to reach the department"),
        (
            {"information_involved": ["License plate numbers", "-"]},
            "item '-' does not name a kind of information",
        ),
        ({"information_involved": ["Plates", "plates"]}, "lists the same information twice"),
        ({"delayed_by_law_enforcement": True, "delay_reason": "yes"}, "delay_reason = 'yes' says too little"),
    ],
)
def test_p27_placeholder_and_empty_fields_are_refused(changes: dict[str, Any], said: str) -> None:
    with pytest.raises(IncidentInvalid) as refused:
        parse_incident(incident(**changes), TODAY)
    assert any(said in problem for problem in refused.value.problems), refused.value.problems


@pytest.mark.parametrize(
    "contact",
    [
        "(408) 555-0142",
        "alpr-privacy@example.org",
        "https://www.example.org/alpr",
        "201 W. Mission Street, San José",
    ],
)
def test_p27_any_real_way_to_reach_the_department_is_a_contact(contact: str) -> None:
    assert parse_incident(incident(contact=contact), TODAY).contact == contact


@pytest.mark.parametrize("fmt", ["md", "txt"])
def test_p27_an_undetermined_breach_date_reads_as_a_sentence(fmt: Format) -> None:
    text = " ".join(notice(fmt, breach_date=None, breach_date_unknown=True).split())
    assert "The breach occurred could" not in text
    assert (
        "The date of the breach could not be determined when this notice was provided; "
        "it was discovered on March 13, 2026." in text
    )
