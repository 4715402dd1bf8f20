"""The vendor search-history audit (P16, P19, P22, P23) on small inline exports and on the samples."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streams.access.vendor import (
    FINDINGS,
    Export,
    VendorReport,
    WideRule,
    audit,
    case_numbers_in,
    classify_partner,
    format_report,
    parse_export,
    parse_sharing,
    parse_time,
    read_export,
    read_sharing,
    run_vendor_audit,
    write_outputs,
)
from streams.errors import ConfigError
from streams.retention.policy import Profile, load_profile
from tests.conftest import ROOT

SAMPLES = ROOT / "samples" / "vendor"
HEADER = [
    "ID",
    "Org_Name",
    "Total_Networks_Searched",
    "Total_Devices_Searched",
    "Time_Frame_Start",
    "Time_Frame_End",
    "Reason",
    "Search_Time",
    "Search_Type",
    "Moderation",
]
GOOD = "Robbery 211 PC, suspect vehicle, SJ-26-004512"


def row(
    reason: str = GOOD,
    *,
    networks: str = "12",
    devices: str = "900",
    start: str = "01/01/2026, 12:00:00 AM UTC",
    end: str = "01/05/2026, 10:00:00 AM UTC",
    when: str = "01/05/2026, 10:15:30 AM UTC",
    org: str = "Milpitas CA PD",
) -> list[str]:
    return ["id-1", org, networks, devices, start, end, reason, when, "License Plate", ""]


def csv_text(*rows: list[str], header: list[str] = HEADER, newline: str = "\n") -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def export(*rows: list[str]) -> Export:
    return parse_export(csv_text(*rows), "inline.csv")


def judged(*rows: list[str], **kw: object) -> VendorReport:
    return audit(export(*rows), None, 0, 1, **kw)  # type: ignore[arg-type]


def lines_of(report: VendorReport, code: str) -> list[int]:
    return [f.line for f in report.of(code)]


# ------------------------------------------------------------------------------------------- findings


def test_a_specific_reason_with_a_case_number_has_no_finding() -> None:
    report = judged(row(GOOD), row("26-123456 stolen vehicle 10851 VC"))
    assert report.findings == ()
    assert len(report.export.searches) == 2


def test_no_case_number_is_found_p16() -> None:
    report = judged(row(GOOD), row("Stolen vehicle recovery"), row("Property+Crime"))
    assert lines_of(report, "no_case_number") == [3, 4]
    assert lines_of(report, "vague_reason") == []  # specific, just without a number


@pytest.mark.parametrize("reason", ["investigation", "Investigation", "BOLO", "bolo", "test", "", "  "])
def test_vague_reasons_are_found_and_lack_a_case_number_p23(reason: str) -> None:
    report = judged(row(GOOD), row(reason))
    assert lines_of(report, "vague_reason") == [3]
    assert lines_of(report, "no_case_number") == [3]


def test_a_reason_that_is_only_a_case_number_is_vague_but_has_its_number() -> None:
    report = judged(row("26-123456"))
    assert lines_of(report, "vague_reason") == [2]
    assert lines_of(report, "no_case_number") == []


@pytest.mark.parametrize(
    "reason",
    [
        "ICE detainer",
        "immigration status",
        "Immigration+hold+26-100001",
        "abortion clinic visit",
        "REPRODUCTIVE care",
    ],
)
def test_immigration_and_reproductive_care_reasons_are_forbidden_p22(reason: str) -> None:
    report = judged(row(GOOD), row(reason))
    assert lines_of(report, "forbidden_purpose") == [3]
    assert report.of("forbidden_purpose")[0].detail.startswith("P22")


def test_a_search_above_the_95th_percentile_and_the_floors_is_wide() -> None:
    rows = [row(networks=str(10 + i), devices=str(900 + i)) for i in range(40)]
    rows.append(row(networks="1,500", devices="80,000"))
    report = judged(*rows)
    assert lines_of(report, "wide_search") == [42]
    assert "1,500 networks > 500" in report.of("wide_search")[0].detail
    assert "80,000 devices > 20,000" in report.of("wide_search")[0].detail
    assert report.limits["networks"] == (48, 500)


def test_the_floor_keeps_a_small_top_5_percent_from_being_wide() -> None:
    rows = [row(networks="10", devices="900") for _ in range(40)] + [row(networks="400", devices="19000")]
    assert judged(*rows).of("wide_search") == []


def test_the_percentile_keeps_an_export_of_big_searches_from_flagging_them_all() -> None:
    rows = [row(networks="900", devices="40000") for _ in range(40)]
    assert judged(*rows).of("wide_search") == []
    rows.append(row(networks="901", devices="40000"))
    assert lines_of(judged(*rows), "wide_search") == [42]


def test_a_time_window_longer_than_30_days_is_wide() -> None:
    ninety = row(start="10/07/2025, 10:15:30 AM UTC", end="01/05/2026, 10:15:30 AM UTC")
    thirty = row(start="12/06/2025, 10:15:30 AM UTC", end="01/05/2026, 10:15:30 AM UTC")
    report = judged(row(), ninety, thirty)
    assert lines_of(report, "wide_search") == [3]  # too few searches for a percentile: the floor alone
    assert report.limits["devices"] == (None, 20_000)
    assert "window 90 days > 30 days" in report.of("wide_search")[0].detail
    assert lines_of(
        judged(row(), ninety, thirty, rule=WideRule(max_window=timedelta(days=7))), "wide_search"
    ) == [
        3,
        4,
    ]


def test_am_pm_errors_are_reported_per_row_and_the_row_is_still_judged() -> None:
    report = judged(
        row("Stolen vehicle recovery", when="01/14/2026, 13:05:00 PM UTC"),
        row(GOOD, when="01/15/2026, 09:10:00 UTC"),
        row(GOOD, when="#VALUE!"),
        row(GOOD, when="01/16/2026, 21:10:00 UTC"),
        row(GOOD),
    )
    assert lines_of(report, "bad_time") == [2, 3, 4, 5]
    assert lines_of(report, "no_case_number") == [2]  # the 13:05 PM row is judged all the same
    assert len(report.export.searches) == 5 and report.export.errors == ()
    assert report.period == (
        datetime(2026, 1, 5, 10, 15, 30, tzinfo=UTC),
        datetime(2026, 1, 16, 21, 10, tzinfo=UTC),
    )
    details = " ".join(f.detail for f in report.of("bad_time"))
    assert "hour 13 with PM" in details and "ambiguous" in details and "#VALUE!" in details


def test_a_time_frame_that_ends_before_it_starts_is_a_bad_time() -> None:
    report = judged(row(start="01/06/2026, 12:00:00 AM UTC", end="01/05/2026, 10:00:00 AM UTC"))
    assert lines_of(report, "bad_time") == [2]


def test_an_unreadable_count_is_reported_and_a_blank_one_is_not() -> None:
    report = judged(row(devices="n/a"), row(devices=""), row(networks="-3"))
    assert lines_of(report, "bad_count") == [2, 4]


@pytest.mark.parametrize(
    ("text", "expected", "problem"),
    [
        ("11/14/2025, 09:53:36 AM UTC", datetime(2025, 11, 14, 9, 53, 36, tzinfo=UTC), None),
        ("11/14/2025, 12:30:00 AM UTC", datetime(2025, 11, 14, 0, 30, tzinfo=UTC), None),
        ("11/14/2025, 12:30:00 PM UTC", datetime(2025, 11, 14, 12, 30, tzinfo=UTC), None),
        ("11/14/2025 9:53 pm", datetime(2025, 11, 14, 21, 53, tzinfo=UTC), None),
        ("2025-11-14T09:53:36Z", datetime(2025, 11, 14, 9, 53, 36, tzinfo=UTC), None),
        ("2025-11-14T01:53:36-08:00", datetime(2025, 11, 14, 9, 53, 36, tzinfo=UTC), None),
        ("2025-11-14", datetime(2025, 11, 14, tzinfo=UTC), None),
        ("11/14/2025, 13:05:00 PM UTC", datetime(2025, 11, 14, 13, 5, tzinfo=UTC), "hour 13 with PM"),
        ("11/14/2025, 00:30:00 AM UTC", datetime(2025, 11, 14, 0, 30, tzinfo=UTC), "hour 00 with AM"),
        ("11/14/2025, 21:10:00 UTC", datetime(2025, 11, 14, 21, 10, tzinfo=UTC), "no AM/PM"),
        ("11/14/2025, 09:10:00 UTC", None, "ambiguous"),
        ("13/01/2026", None, "month must be in 1..12"),
        ("yesterday", None, "cannot read"),
        ("", None, "blank"),
    ],
)
def test_parse_time(text: str, expected: datetime | None, problem: str | None) -> None:
    when, why = parse_time(text)
    assert when == expected
    assert (why is None) if problem is None else (why is not None and problem in why)


# -------------------------------------------------------------------------------------------- reading


def test_malformed_rows_are_reported_with_their_line_numbers_not_fatal() -> None:
    text = csv_text(row(), row()[:6], row(GOOD) + ["", " "], row("Robbery") + ["extra"], row())
    report = audit(parse_export(text, "x.csv"), None, 0, 1)
    assert [e.line for e in report.export.errors] == [3, 5]
    assert [f.line for f in report.of("malformed_row")] == [3, 5]
    assert "6 fields on line 3, header has 10" in report.of("malformed_row")[0].detail
    assert report.of("malformed_row")[1].fields["extra fields"] == "extra"
    assert [s.line for s in report.export.searches] == [2, 4, 6]  # trailing blank cells are tolerated


def test_blank_lines_and_quoted_newlines_keep_physical_line_numbers() -> None:
    text = csv_text(row(), row("Armed robbery\nSJ-26-004533"), row("bolo"))
    lines = text.splitlines(keepends=True)
    text = "".join(lines[:2] + ["\n", ",,,,,,,,,\n"] + lines[2:])
    ex = parse_export(text)
    assert ex.blank_lines == 2
    assert [s.line for s in ex.searches] == [2, 5, 7]
    assert ex.searches[1].reason == "Armed robbery\nSJ-26-004533"


def test_an_unclosed_quote_is_reported_with_the_lines_it_swallowed() -> None:
    text = csv_text(row()) + 'id-2,Milpitas CA PD,1,1,x,x,"Robbery SJ-26-1,x,x,x\nid-3,a,b\n'
    ex = parse_export(text)
    assert [e.line for e in ex.errors] == [3]
    assert "lines 3-4" in ex.errors[0].message and "quote" in ex.errors[0].message


def test_bom_crlf_and_quoted_commas(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    text = csv_text(row("Robbery, 211 PC, suspect vehicle, SJ-26-004530"), row("bolo"), newline="\r\n")
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    ex = read_export(path)
    assert ex.header[0] == "ID" and ex.shape.startswith("Flock organization")
    assert ex.searches[0].reason == "Robbery, 211 PC, suspect vehicle, SJ-26-004530"
    assert ex.searches[0].fields["Moderation"] == "" and ex.errors == ()
    assert [s.line for s in ex.searches] == [2, 3]


def test_an_export_saved_by_excel_in_windows_1252_is_read(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(csv_text(row(GOOD, org="San José CA PD")).encode("cp1252"))
    assert read_export(path).searches[0].who == "San José CA PD"


def test_the_transparency_portal_shape_is_detected_case_insensitively() -> None:
    text = (
        " ID , UserId,searchDATE,cameraCount,reason,extra\n"
        "1,sjpd-1,2026-01-02T16:19:04Z,2491,Stolen+Vehicle+26-104233,x\n"
        "2,sjpd-2,1/05/2026 12:42 PM,45000,Property+Crime,x\n"
        "3,sjpd-3,2026-01-08,1888,Investigation,x\n"
    )
    ex = parse_export(text)
    assert ex.shape == "Flock transparency portal"
    assert ex.ignored_columns == ("extra",)
    assert [s.devices for s in ex.searches] == [2491, 45000, 1888]
    assert ex.searches[1].search_time == datetime(2026, 1, 5, 12, 42, tzinfo=UTC)
    report = audit(ex, None, 0, 1)
    assert lines_of(report, "no_case_number") == [3, 4]  # URL-decoded: the case number is seen
    assert lines_of(report, "vague_reason") == [4]  # "Property Crime" is specific enough
    assert lines_of(report, "wide_search") == [3]


def test_the_organization_shape_is_detected_with_spaces_and_any_case() -> None:
    header = [f" {h.upper()} " for h in HEADER]
    assert parse_export(csv_text(row(), header=header)).shape == "Flock organization/network search audit"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1,2\n", "found columns 'a, b'; it also needs a reason column .*; a time column"),
        ("id,userId,cameraCount\n1,2,3\n", "found columns 'id, userId, cameraCount'; it also needs a reason"),
        ("Plate,Reason\n8ABC123,x\n", "found columns 'Plate, Reason'; it also needs a time column"),
        ("", "no header row"),
        ("\n\n", "no header row"),
    ],
)
def test_an_export_that_is_not_a_flock_search_audit_is_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_export(text, "odd.csv")


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        read_export(tmp_path / "nope.csv")


# -------------------------------------------------------------------------------------------- sharing


def test_sharing_partners_are_judged_once_each_in_both_directions_p19() -> None:
    """A partner we share with is a P19 finding; one we only receive from is listed apart, never
    counted as one we share with; a name on two pages is one partner, its directions merged."""
    sharing = parse_sharing(
        "\ufeffPage,Organization Name,Networks Shared With Me,Networks I’m Sharing\r\n"
        "1,Milpitas CA PD,1,1\r\n"
        "1,Houston TX PD,1,0\r\n"
        "2,FBI Dallas TX,0,1\r\n"
        "2,Houston  TX PD,1,0\r\n"
        "2,BNSF Railway Police,3,1\r\n"
        "2,Maricopa County SO,1,0\r\n"
        "3,Maricopa County SO,0,1\r\n"
        "3,short\r\n"
    )
    report = audit(export(row()), sharing, 0, 1)
    assert [f.who for f in report.of("receives_only")] == ["Houston TX PD"]
    assert [f.line for f in report.of("sharing_federal")] == [4]
    assert [f.line for f in report.of("sharing_private")] == [6]
    assert [f.who for f in report.of("sharing_out_of_state")] == ["Maricopa County SO"]  # page 3 shares
    assert "not allowed under California SB 34" in report.of("sharing_federal")[0].detail
    assert "we only receive from them" in report.of("receives_only")[0].detail
    assert [f.line for f in report.of("malformed_row")] == [9]
    text = format_report(report)
    assert "| out-of-state | 1 | 1 | 0 |" in text and "| eligible | 1 | 0 | 0 |" in text


def test_the_home_state_is_the_profiles_state_p19() -> None:
    """A Washington agency: Washington partners are eligible, California ones are out of state."""
    sharing = parse_sharing(
        "Page,Organization Name,Networks Shared With Me,Networks I'm Sharing\n"
        "1,Washington State Patrol,1,1\n1,King County SO,1,1\n1,San Jose CA PD,1,1\n"
    )
    wa = Profile("wa", "a Washington agency", 21, 21, 731, 24, 5, state="WA")
    report = audit(export(row()), sharing, 0, 1, profile=wa)
    assert [f.who for f in report.of("sharing_out_of_state")] == ["San Jose CA PD"]
    assert "not allowed under Washington ESSB 6002" in report.of("sharing_out_of_state")[0].detail
    assert "home state WA, Washington ESSB 6002" in format_report(report)


def test_a_sharing_export_without_organization_names_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a Flock sharing export"):
        parse_sharing("Page,Plate\n1,x\n")


# --------------------------------------------------------------------------------------------- sample


def test_the_sample_is_reproducible_with_a_seed_p23() -> None:
    ex = export(*[row(GOOD if i % 3 else "bolo") for i in range(200)])
    first = [s.search.line for s in audit(ex, None, 10, 42).sample]
    assert first == [s.search.line for s in audit(ex, None, 10, 42).sample]
    assert len(set(first)) == 10 and first == sorted(first)
    draws = {tuple(s.search.line for s in audit(ex, None, 10, seed).sample) for seed in range(5)}
    assert len(draws) > 1
    for sampled in audit(ex, None, 10, 42).sample:
        assert sampled.lacks_case_number == (sampled.search.reason == "bolo")


def test_the_sample_is_at_most_the_searches_and_never_negative() -> None:
    ex = export(row(), row())
    assert len(audit(ex, None, 10, 1).sample) == 2
    assert audit(ex, None, 0, 1).sample == ()
    with pytest.raises(ConfigError, match="--sample"):
        audit(ex, None, -1, 1)


# -------------------------------------------------------------------------------------------- scale


def test_fifty_thousand_rows_are_audited_with_the_right_counts() -> None:
    reasons = ["investigation", "ICE detainer", "Stolen vehicle recovery"]
    rows = []
    for i in range(50_000):
        reason = reasons[i % 3] if i % 100 == 0 else f"Robbery 211 PC, SJ-26-{i:06d}"
        devices = "90,000" if i % 1000 == 999 else str(500 + i % 4000)
        when = (
            "02/03/2026, 13:00:00 PM UTC" if i % 5000 == 1 else f"02/{i % 28 + 1:02d}/2026, 10:15:30 AM UTC"
        )
        rows.append(row(reason, networks=str(1 + i % 120), devices=devices, when=when))
    report = audit(parse_export(csv_text(*rows)), None, 10, 7)
    counts = report.counts()
    assert len(report.export.searches) == 50_000
    assert (
        counts["no_case_number"] == 500
        and counts["vague_reason"] == 167
        and counts["forbidden_purpose"] == 167
    )
    assert counts["wide_search"] == 50 and counts["bad_time"] == 10 and counts["malformed_row"] == 0
    assert len(report.sample) == 10


# ------------------------------------------------------------------------------------------- samples


#: What the committed samples/vendor/flock_search_audit.csv (+ flock_sharing.csv) holds, per finding.
SEARCH_AUDIT_COUNTS = {
    "no_case_number": 14,
    "vague_reason": 9,
    "forbidden_purpose": 3,
    "wide_search": 2,
    "bad_time": 3,
    "bad_count": 1,
    "malformed_row": 2,
    "sharing_federal": 1,
    "sharing_out_of_state": 2,
    "sharing_private": 0,
    "receives_only": 0,
}


def sample_report() -> VendorReport:
    return audit(
        read_export(SAMPLES / "flock_search_audit.csv"), read_sharing(SAMPLES / "flock_sharing.csv"), 10, 7
    )


def test_the_committed_search_audit_sample_has_the_documented_findings() -> None:
    report = sample_report()
    assert report.counts() == SEARCH_AUDIT_COUNTS
    ex = report.export
    assert (ex.total_rows, len(ex.searches), ex.blank_lines) == (100, 98, 2)
    assert lines_of(report, "malformed_row") == [76, 82]
    assert lines_of(report, "forbidden_purpose") == [40, 46, 53]
    assert lines_of(report, "wide_search") == [88, 94]
    assert lines_of(report, "bad_time") == [57, 64, 70]
    assert [f.who for f in report.of("sharing_out_of_state")] == [
        "Houston TX PD",
        "Washoe County Sheriff's Office (NV)",
    ]
    assert report.period is not None and report.period[0].date().isoformat() == "2026-01-02"


def test_the_committed_transparency_sample_has_the_documented_findings() -> None:
    report = audit(read_export(SAMPLES / "flock_transparency.csv"), None, 5, 3)
    assert report.export.shape == "Flock transparency portal"
    counts = report.counts()
    assert counts == {**dict.fromkeys(FINDINGS, 0), **{
        "no_case_number": 4, "vague_reason": 3, "forbidden_purpose": 1, "wide_search": 1, "bad_time": 2,
    }}  # fmt: skip
    assert len(report.export.searches) == 30


def test_the_committed_sharing_sample_flags_only_the_federal_and_out_of_state_partners() -> None:
    sharing = read_sharing(SAMPLES / "flock_sharing.csv")
    assert len(sharing.partners) == 20 and sharing.blank_lines == 1
    flagged = {p.name for p in sharing.partners if classify_partner(p.name).kind != "eligible"}
    assert flagged == {
        "Homeland Security Investigations - San Francisco",
        "Houston TX PD",
        "Washoe County Sheriff's Office (NV)",
    }


# ------------------------------------------------------------------------------------------ rendering


def test_the_report_shows_counts_period_and_at_most_20_rows_per_finding() -> None:
    report = judged(*[row("bolo") for _ in range(25)], row())
    text = format_report(report)
    assert "| no_case_number | 25 | P16 |" in text
    assert "period: 2026-01-05 10:15:30 UTC to 2026-01-05 10:15:30 UTC" in text
    assert "rows: 26 total, 26 read, 0 malformed" in text
    section = text.split("## no_case_number")[1].split("##")[0]
    assert section.count("- line ") == 20 and "and 5 more" in section
    assert text.rstrip().splitlines()[-1].startswith("summary: 26 of 26 rows read; 25 no_case_number")
    assert (
        "- Milpitas CA PD: 25 no_case_number, 25 vague_reason"
        in text.split("## Organizations to follow up")[1]
    )


def test_outputs_list_every_offending_row_and_disarm_formulas(tmp_path: Path) -> None:
    report = judged(*[row("bolo") for _ in range(25)], row("=HYPERLINK(1)"), row())
    md, rows = write_outputs(report, tmp_path / "out")
    with rows.open(encoding="utf-8-sig", newline="") as fh:
        found = list(csv.DictReader(fh))
    assert len(found) == len(report.findings) == 51  # 25 x (no case number, vague) + the formula
    assert {r["finding"] for r in found} == {"no_case_number", "vague_reason"}
    assert (
        found[0]["line"] == "2" and found[0]["Reason"] == "bolo" and found[0]["Org_Name"] == "Milpitas CA PD"
    )
    assert any(r["Reason"] == "'=HYPERLINK(1)" for r in found)
    assert md.read_text(encoding="utf-8").count("- line ") == 51  # report.md holds them all


def test_run_returns_1_when_no_search_row_could_be_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "only-header.csv"
    path.write_text(csv_text(), encoding="utf-8")
    assert run_vendor_audit("flock", path, None, sample=10, seed=1, out=None) == 1
    assert "no readable search rows" in capsys.readouterr().err
    path.write_text(csv_text(row()), encoding="utf-8")
    assert run_vendor_audit("flock", path, None, sample=10, seed=None, out=None) == 0
    assert "run again with --seed" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="unknown vendor format"):
        run_vendor_audit("motorola", path, None, sample=10, seed=1, out=None)


# ------------------------------------------------------------------------------- layouts (issue 17)


def minimal(*rows: tuple[str, ...], header: tuple[str, ...] = ("Reason", "DateTime")) -> Export:
    return parse_export(csv_text(*[list(r) for r in rows], header=list(header)), "minimal.csv")


def test_a_reason_and_datetime_export_is_audited_and_what_it_lacks_is_not_in_this_export() -> None:
    """Issue 17: the minimal layout is audited (P16, P22, P23); wide searches and counts cannot be
    judged without their columns, so they read "not in this export", never 0 (a pass)."""
    ex = minimal(("Robbery 211 PC SJ-26-004512", "2026-01-05 10:15:30"), ("bolo", "2026-01-06 11:00:00"))
    assert ex.roles == {"reason": "Reason", "time": "DateTime"}
    report = audit(ex, None, 2, 1, profile=load_profile("san_jose"))
    assert lines_of(report, "vague_reason") == [3] and lines_of(report, "no_case_number") == [3]
    text = format_report(report)
    assert "| wide_search | not in this export |" in text and "| bad_count | not in this export |" in text
    assert "| no_case_number | 1 |" in text
    assert "- networks searched (wide search) (review): not in this export (no networks" in text
    assert "- search window in elapsed time (wide search) (review): not in this export (no start" in text
    assert "- case or incident number in the reason (P16): checked (Reason)" in text
    assert "sharing partners (P19): not checked" in text
    assert "| sharing_federal | not checked (no --sharing) |" in text
    assert "wide_search not in this export" in text.splitlines()[-1]
    assert "## Organizations to follow up" not in text  # no organization column: not claimed


@pytest.mark.parametrize(
    ("reason", "time"),
    [
        ("Reason", "DateTime"),
        ("Search Reason", "Date/Time"),
        ("REASON", "Search Time"),
        ("search_reason", "search_date"),
        ("Justification", "Timestamp"),
        ("Reason for Search", "Date"),
    ],
)
def test_reason_and_time_columns_are_matched_by_name_leniently(reason: str, time: str) -> None:
    ex = minimal(("01/05/2026, 10:15:30 AM UTC", "Stolen vehicle 10851 VC 26-104233"), header=(time, reason))
    assert ex.roles == {"reason": reason, "time": time}
    assert ex.searches[0].search_time == datetime(2026, 1, 5, 10, 15, 30, tzinfo=UTC)
    assert audit(ex, None, 0, 1).findings == ()


def test_an_export_without_a_time_is_refused_naming_the_columns_found_and_needed() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_export("Organization,Search Reason,Plate\nMilpitas CA PD,Robbery,8ABC123\n", "x.csv")
    message = str(caught.value)
    assert "found columns 'Organization, Search Reason, Plate'" in message
    assert "needs a time column (Search_Time, Search Time, searchDate, Search Date...)" in message
    assert "reason column" not in message


@pytest.mark.parametrize(
    ("reason", "cases"),
    [
        ("Stolen Vehicle E287021", ()),  # a plate-shaped token, never a case number
        ("Stolen vehicle 8ABC123", ()),
        ("Robbery 211 PC, incident 2600123", ("2600123",)),  # San José: 7-digit CAD incident number
        ("Burglary, report #260012345", ("260012345",)),  # 9-digit report number
        ("Burglary 26001234", ()),  # 8 digits: no San José format
        ("Robbery SJ-26-004512", ("SJ-26-004512",)),
        ("Kidnapping MIL26-09414", ("MIL26-09414",)),  # another agency's dashed case number
        ("Robbery 2026-01-05", ()),  # a date
        ("Stolen+Vehicle+E287021+26-104233", ("26-104233",)),
    ],
)
def test_case_numbers_are_the_profiles_formats_and_never_a_plate_p16(
    reason: str, cases: tuple[str, ...]
) -> None:
    assert case_numbers_in(reason, load_profile("san_jose")) == cases
    report = audit(minimal((reason, "2026-01-05")), None, 1, 1, profile=load_profile("san_jose"))
    assert (lines_of(report, "no_case_number") == [2]) == (not cases)


def test_a_case_number_column_counts_as_the_searchs_case_number_p16() -> None:
    ex = minimal(
        ("Robbery 211 PC", "SJ-26-004512", "2026-01-05"),
        ("Robbery", "E287021", "2026-01-05"),
        header=("Search Reason", "Case Number", "Date/Time"),
    )
    report = audit(ex, None, 2, 1, profile=load_profile("san_jose"))
    assert lines_of(report, "no_case_number") == [3]
    assert [s.case_numbers for s in report.sample] == [("SJ-26-004512",), ()]


@pytest.mark.parametrize(
    ("start", "end", "wide"),
    [
        # "Last 30 days" picked in Pacific time across the fall-back change: 30 days 1 h elapsed.
        ("10/15/2026, 07:00:00 AM UTC", "11/14/2026, 08:00:00 AM UTC", False),
        ("2026-10-15T00:00:00-07:00", "2026-11-14T00:00:00-08:00", False),
        ("2026-03-01T00:00:00-08:00", "2026-03-31T00:00:00-07:00", False),  # spring: 29 days 23 h
        ("10/15/2026, 07:00:00 AM UTC", "11/14/2026, 09:00:00 AM UTC", True),  # 30 days 2 h
        ("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z", True),  # 31 days
    ],
)
def test_a_window_is_wide_by_its_elapsed_time_with_an_hour_for_daylight_saving(
    start: str, end: str, wide: bool
) -> None:
    report = judged(row(start=start, end=end))
    assert bool(report.of("wide_search")) == wide
    assert "time window > 30 days of elapsed time (UTC), with 1 h slack" in format_report(report)


def test_the_committed_minimal_and_full_layout_samples_have_the_documented_findings() -> None:
    """samples/vendor/README.md's counts for the two layouts of issue 17 (profile san_jose)."""
    sj = load_profile("san_jose")
    minimal_report = audit(read_export(SAMPLES / "flock_search_minimal.csv"), None, 0, 1, profile=sj)
    assert {c: lines_of(minimal_report, c) for c in FINDINGS if minimal_report.of(c)} == {
        "no_case_number": [3, 6, 7, 9, 11],
        "vague_reason": [6],
        "forbidden_purpose": [9],
        "bad_time": [11],
    }
    assert not minimal_report.checked("wide_search") and not minimal_report.checked("bad_count")
    full = audit(read_export(SAMPLES / "flock_search_full.csv"), None, 0, 1, profile=sj)
    assert {c: lines_of(full, c) for c in FINDINGS if full.of(c)} == {
        "no_case_number": [3, 8, 9],
        "vague_reason": [8],
        "forbidden_purpose": [9],
        "wide_search": [7, 10],
        "bad_time": [11],
        "bad_count": [11],
    }
    assert full.export.ignored_columns == ("User Name", "License Plate")


def test_a_plate_shaped_token_is_never_a_case_number_even_if_a_format_takes_it_p16() -> None:
    """An agency whose case numbers are a letter and digits: E287021 fits the format but is plate-
    shaped (5-7 letters and digits), so it is not taken; a longer one is."""
    profile = Profile("x", "an agency", 30, None, 731, 24, 5, case_number_formats=(r"[A-Z]\d{6,8}",))
    assert case_numbers_in("Stolen Vehicle E287021", profile) == ()
    assert case_numbers_in("Stolen Vehicle E28702155", profile) == ("E28702155",)
