"""The Annual Data Usage Report (P26) computed from known daily counts, without a broker.

Its numbers (reads and hits by location, records accessed, accuracy by match kind) must be the
sums of the aggregates; it must say which part of the year the counts cover; and what it prints
from the registries (camera names, agency names, purposes) must be escaped in the HTML.
"""

from __future__ import annotations

import csv
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from streams.access.audit import AccessRecorded
from streams.access.directory import Agency
from streams.cameras.registry import Camera
from streams.codec import dumps
from streams.reports.aggregates import AggregateSet, AlertTally, day_records
from streams.reports.annual import build_report, period_statement, render_html, render_markdown, write_report

YEAR = 2025
MADE = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
EVIL = 'Story & King <script>alert("x")</script>'


def day_of(
    day: date,
    reads: dict[str, int],
    hits: dict[str, dict[str, int]],
    confirmed: dict[str, int],
    rejected: dict[str, dict[str, int]],
    purposes: dict[str, dict[str, int]],
) -> dict[bytes, bytes]:
    alerts = AlertTally()
    for camera, by_kind in hits.items():
        alerts.hits[(day, camera)] = Counter(by_kind)
    for kind, n in confirmed.items():
        alerts.confirmed[(day, kind)] = n
    for kind, reasons in rejected.items():
        alerts.rejected[(day, kind)] = Counter(reasons)
    records = day_records(day, reads, {}, alerts, purposes, datetime.combine(day, datetime.min.time(), UTC))
    return {k: dumps(v) for k, v in records}


def known_year() -> AggregateSet:
    """Counts from 3 March on (the aggregates began then), on three days, plus an unfinished day."""
    latest: dict[bytes, bytes] = {}
    latest |= day_of(
        date(2025, 3, 3),
        {"cam-1": 1000, "cam-2": 500},
        {"cam-1": {"exact": 3, "ocr_equivalent": 2}, "cam-2": {"partial": 1}},
        {"exact": 2},
        {"ocr_equivalent": {"misread": 1}, "partial": {"misread": 1}},
        {"auto theft": {"allowed": 2, "refused": 0, "results": 9}},
    )
    latest |= day_of(
        date(2025, 7, 4),
        {"cam-1": 2000, "cam-3": 10},
        {"cam-1": {"exact": 1, "ocr_equivalent": 8}},
        {"ocr_equivalent": 2},
        {"ocr_equivalent": {"misread": 3, "wrong_state": 1}, "exact": {"not_the_vehicle": 1}},
        {"auto theft": {"allowed": 1, "refused": 1, "results": 2}, "robbery": {"allowed": 1, "results": 1}},
    )
    latest |= day_of(date(2025, 12, 31), {"cam-2": 500}, {}, {}, {}, {})
    # a camera record of a day whose run never finished (no day marker): not counted
    unfinished = day_of(date(2025, 8, 1), {"cam-1": 99999}, {}, {}, {}, {})
    latest |= {k: v for k, v in unfinished.items() if not k.startswith(b"day|")}
    latest |= day_of(date(2024, 12, 31), {"cam-1": 77777}, {}, {}, {}, {})  # the year before
    return AggregateSet.of(latest)


def cameras() -> dict[str, Camera]:
    return {
        "cam-1": Camera("cam-1", EVIL, "SJPD", "fixed", 37.33, -121.89, 90.0, date(2020, 5, 1)),
        "cam-2": Camera("cam-2", "Tully Rd WB", "SJPD", "fixed", 37.31, -121.85, 270.0, date(2025, 2, 14)),
        "cam-3": Camera(
            "cam-3",
            "Patrol 7",
            "SJPD",
            "mobile",
            37.3,
            -121.9,
            None,
            date(2019, 1, 1),
            "retired",
            date(2025, 9, 30),
        ),
        "cam-old": Camera(
            "cam-old",
            "Gone",
            "SJPD",
            "fixed",
            37.3,
            -121.9,
            10.0,
            date(2018, 1, 1),
            "retired",
            date(2024, 6, 1),
        ),
    }


AGENCIES = {
    "SJPD": Agency("SJPD", "San José Police Department", "municipal_police", "CA", "home"),
    "MPPD": Agency("MPPD", "Milpitas <Police>", "municipal_police", "CA", "signed", "2024-11-02"),
    "XPD": Agency("XPD", "No Agreement PD", "municipal_police", "CA", "none"),
}
SOURCES = [
    {"source": "ncic", "format": "ncic", "last_success": "2026-01-15T06:00:00+00:00", "entry_count": 1200},
    {"source": "svs", "format": "svs", "last_success": None, "entry_count": 0},
]


def audit() -> list[AccessRecorded]:
    def search(agency: str, results: int, decision: str = "allowed", year: int = YEAR) -> AccessRecorded:
        at = datetime(year, 6, 1, tzinfo=UTC)
        return AccessRecorded(
            at, "u", "search", "SJ-25-1", "auto theft", {"plate": "X"}, results, decision, agency=agency
        )

    return [
        search("SJPD", 5),
        search("SJPD", 4),
        search("MPPD", 3),
        search("MPPD", 0, "refused"),
        search("MPPD", 8, year=YEAR + 1),  # another year
        AccessRecorded(datetime(YEAR, 6, 1, tzinfo=UTC), "u", "sign_in", None, None, {}, 0, agency="SJPD"),
    ]


def report(**extra):  # type: ignore[no-untyped-def]
    return build_report(
        YEAR,
        known_year(),
        cameras(),
        AGENCIES,
        SOURCES,
        audit(),
        agency="San José Police Department",
        generated_at=MADE,
        **extra,
    )


def table(rep, title: str) -> list[tuple]:  # type: ignore[no-untyped-def]
    [found] = [t for t in rep.tables() if t.title == title]
    return list(found.rows)


def test_reads_and_hits_by_location_are_the_sums_of_the_finished_days_of_the_year() -> None:
    """P26 "number of reads by location, number of hits by location": the year's days with a day
    marker, summed per camera; a day whose run did not finish and the year before are not counted."""
    rep = report()
    reads = {row[0]: row for row in table(rep, "Reads by camera")}
    assert reads["cam-1"][3:5] == (3000, "74.8%")
    assert reads["cam-2"][3] == 1000 and reads["cam-3"][3] == 10
    assert reads["cam-1"][1] == EVIL and reads["cam-1"][2] == "37.33000, -121.89000"
    assert "cam-old" not in reads  # retired before the year began
    assert rep.totals["reads"] == 4010 and rep.totals["cameras"] == 3
    hits = {row[0]: row for row in table(rep, "Hits by camera")}
    assert hits["cam-1"][2:7] == (14, 4, 10, 0, 0)
    assert hits["cam-2"][2:5] == (1, 0, 0) and hits["cam-2"][5] == 1
    assert table(rep, "Reads and hits by month") == [
        ("2025-03", 1500, 6),
        ("2025-07", 2010, 9),
        ("2025-12", 500, 0),
    ]


def test_accuracy_is_the_share_of_hits_rejected_as_misreads_by_match_kind() -> None:
    rep = report()
    rows = {row[0]: row for row in table(rep, "Accuracy by match kind")}
    # kind: hits, confirmed, rejected, misread, misread share, of decided
    assert rows["exact"] == ("exact", 4, 2, 1, 0, "0.0%", "0.0%")
    assert rows["OCR-equivalent"] == ("OCR-equivalent", 10, 2, 5, 4, "40.0%", "57.1%")
    assert rows["partial plate"] == ("partial plate", 1, 0, 1, 1, "100.0%", "100.0%")
    assert rows["all"] == ("all", 15, 4, 7, 5, "33.3%", "45.5%")
    assert rep.accuracy["ocr_equivalent"] == (10, 4)


def test_records_accessed_by_purpose_and_sharing_by_agency() -> None:
    rep = report()
    assert table(rep, "Accesses by purpose") == [("auto theft", 3, 1, 11), ("robbery", 1, 0, 1)]
    assert rep.totals["records_accessed"] == 12
    assert table(rep, "Agencies with sharing agreements") == [
        ("MPPD", "Milpitas <Police>", "municipal_police", "2024-11-02")
    ]
    assert table(rep, "Searches by agency") == [
        ("SJPD", "San José Police Department", "own agency", 2, 0, 9),
        ("MPPD", "Milpitas <Police>", "signed", 1, 1, 3),
    ]


def test_program_changes_name_the_cameras_added_and_retired_in_the_year_and_the_sources() -> None:
    rep = report()
    assert table(rep, "Cameras added") == [("cam-2", "Tully Rd WB", "fixed", "2025-02-14")]
    assert table(rep, "Cameras retired") == [("cam-3", "Patrol 7", "mobile", "2025-09-30")]
    assert table(rep, "Hot-list sources") == [
        ("ncic", "ncic", "2026-01-15T06:00:00+00:00", 1200),
        ("svs", "svs", "never", 0),
    ]


def test_the_report_says_plainly_that_the_counts_do_not_cover_the_whole_year() -> None:
    rep = report()
    assert not rep.complete
    assert rep.period.startswith(
        "Period covered: 2025-03-03 to 2025-12-31, counts for 3 of the 365 days of 2025."
    )
    assert "THE DATA DOES NOT COVER THE WHOLE YEAR" in rep.period
    assert "the counts begin on 2025-03-03" in rep.period and "2025-03-04 to 2025-07-03" in rep.period
    assert rep.period in render_markdown(rep)

    every_day = [date(2024, 1, 1) + timedelta(days=i) for i in range(366)]
    text, complete = period_statement(2024, every_day, date(2025, 2, 1))
    assert complete and text.endswith("The data covers the whole year 2024.") and "366 of the 366" in text
    text, complete = period_statement(2026, every_day[:10], date(2026, 1, 5))
    assert not complete and text.startswith("No counts exist for 2026")
    text, complete = period_statement(2026, [date(2026, 1, 1), date(2026, 1, 2)], date(2026, 1, 3))
    assert not complete and "the year is not over (report made on 2026-01-03)" in text


def test_html_escapes_every_value_and_markdown_keeps_tables_intact() -> None:
    rep = report()
    page = render_html(rep)
    assert "<script>" not in page and "Milpitas <Police>" not in page
    assert "Story &amp; King &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "Milpitas &lt;Police&gt;" in page
    assert page.count("<table>") == len([t for t in rep.tables() if t.rows])
    text = render_markdown(rep)
    assert "<script>" not in text and "Story &amp; King &lt;script&gt;" in text
    header = "| camera | name | location (lat, lon) | reads | share | rejected |"
    assert header in text
    assert (
        '| cam-1 | Story &amp; King &lt;script&gt;alert("x")&lt;/script&gt; | 37.33000, -121.89000 | 3,000 |'
        in text
    )


def test_written_files_hold_the_same_numbers(tmp_path: Path) -> None:
    rep = report()
    written = {p.name for p in write_report(rep, tmp_path / "out")}
    assert {
        "report.md",
        "report.html",
        "reads_by_camera.csv",
        "hits_by_camera.csv",
        "accesses_by_purpose.csv",
        "accuracy.csv",
        "reads_by_month.png",
        "reads_by_camera.png",
        "accuracy.png",
    } <= written
    with (tmp_path / "out" / "accuracy.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == [
        "match kind",
        "hits",
        "confirmed",
        "rejected",
        "misread",
        "misread share",
        "of decided",
    ]
    assert rows[2] == ["OCR-equivalent", "10", "2", "5", "4", "40.0%", "57.1%"]
    with (tmp_path / "out" / "reads_by_camera.csv").open() as handle:
        assert next(r for r in csv.reader(handle) if r[0] == "cam-1")[1] == EVIL  # raw in CSV, as data
    png = (tmp_path / "out" / "accuracy.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 2000


def test_the_report_publishes_the_latest_audit_checkpoint_digest_p14() -> None:
    """P14: the digest of the latest signed checkpoint is in the report, so a rewrite of the audit
    trail after publication is found by `alpr audit verify --published`; a trail that did not
    verify when the report was made is said so plainly."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from streams.access.checkpoint import (
        Checkpoint,
        Mark,
        PartitionHead,
        decode_checkpoint,
        public_key_text,
        sign_checkpoint,
    )
    from streams.reports.annual import audit_section

    key = Ed25519PrivateKey.generate()
    heads = [PartitionHead(0, 0, 12, Mark(0, "a" * 64, MADE), Mark(11, "b" * 64, MADE))]
    signed = decode_checkpoint(dumps(sign_checkpoint(key, "alpr.audit", heads, MADE)), {public_key_text(key)})
    assert isinstance(signed, Checkpoint)
    base = report()
    rep = report(checkpoint=signed)
    md, page = render_markdown(rep), render_html(rep)
    assert f"sha256 {signed.digest} signed 2026-01-15T09:00:00+00:00 (12 records" in md
    assert signed.digest in page and "verified intact against its signed checkpoints" in md
    assert signed.digest not in render_markdown(base) and "No signed checkpoint" in render_markdown(base)
    broken = audit_section(signed, 3)
    assert broken.paragraphs[0].startswith(
        "THE AUDIT TRAIL DID NOT VERIFY when this report was made: 3 broken"
    )
