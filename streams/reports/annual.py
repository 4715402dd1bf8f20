"""The Annual Data Usage Report (P26): reads and hits by location, records accessed, accuracy.

``alpr report annual --year YYYY [--out DIR]`` builds it from the ``aggregates`` topic (daily
counts that outlive the reads, :mod:`streams.reports.aggregates`), the audit trail (records
accessed, sharing by agency; kept at least two years, P14), the directory (agencies with sharing
agreements), the camera registry (names, locations, cameras added and retired in the year) and the
hot-list sources. It writes ``report.md`` and ``report.html`` (the same content; every value
HTML-escaped), one CSV per table and PNG charts.

The report states the period its counts cover and says so plainly when that is not the whole year
(the aggregates began later, days are missing, or the year is not over). Accuracy is the share of
hits that people rejected as misreads, by match kind; the denominator is the hits of the year by
capture day and the numerator the misread rejections decided in the year.

:func:`build_report` and the renderers are pure; :func:`run_annual` reads the topics.
"""

from __future__ import annotations

import csv
import html
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from streams.access.audit import AccessRecorded
from streams.access.audit_tools import checked_trail, is_search
from streams.access.checkpoint import Checkpoint, published_line
from streams.access.directory import Agency, DirectoryStore
from streams.cameras.registry import Camera, CameraStore
from streams.kafka.log import read_latest
from streams.reads.model import POSITION_UNKNOWN
from streams.reports.aggregates import MATCH_KINDS, AggregateSet, load_aggregates
from streams.settings import Settings

__all__ = [
    "AnnualReport",
    "Table",
    "build_report",
    "render_html",
    "render_markdown",
    "run_annual",
    "write_report",
]

Cell = str | int | float

MATCH_KIND_NAMES = {"exact": "exact", "ocr_equivalent": "OCR-equivalent", "partial": "partial plate"}


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    csv_name: str | None = None


@dataclass(frozen=True)
class Section:
    title: str
    paragraphs: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    charts: tuple[tuple[str, str], ...] = ()  # (file name, description)


@dataclass(frozen=True)
class AnnualReport:
    year: int
    agency: str
    generated_at: datetime
    covered: tuple[date, ...]  # the days of the year with counts
    period: str  # the period statement, in words
    complete: bool  # the counts cover every day of the year
    sections: tuple[Section, ...]
    totals: Mapping[str, int] = field(default_factory=dict)
    monthly: tuple[tuple[str, int, int], ...] = ()  # (YYYY-MM, reads, hits)
    accuracy: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # kind -> (hits, misreads)
    top_cameras: tuple[tuple[str, int], ...] = ()

    def tables(self) -> list[Table]:
        return [t for s in self.sections for t in s.tables]


# -- numbers (pure) -------------------------------------------------------------------------------


def _days_in(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]


def _ranges(days: Sequence[date]) -> list[tuple[date, date]]:
    out: list[tuple[date, date]] = []
    for day in sorted(days):
        if out and day - out[-1][1] == timedelta(days=1):
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


def _span(a: date, b: date) -> str:
    return a.isoformat() if a == b else f"{a.isoformat()} to {b.isoformat()}"


def period_statement(year: int, covered: Iterable[date], today: date) -> tuple[str, bool]:
    """What the counts cover, in words, and whether that is the whole year."""
    days = _days_in(year)
    have = sorted(set(covered) & set(days))
    if not have:
        return (
            f"No counts exist for {year}: the aggregates topic holds no day of that year, so this "
            "report has no reads, hits or outcomes to show (run 'alpr aggregate' daily; see README).",
            False,
        )
    missing = [d for d in days if d not in set(have)]
    text = (
        f"Period covered: {have[0].isoformat()} to {have[-1].isoformat()}, counts for {len(have)} of the "
        f"{len(days)} days of {year}."
    )
    if not missing:
        return text + f" The data covers the whole year {year}.", True
    notes = []
    if have[0] > days[0]:
        notes.append(
            f"the counts begin on {have[0].isoformat()} (no earlier day of the year was aggregated "
            f"while its reads were kept), so {days[0].isoformat()} to "
            f"{(have[0] - timedelta(days=1)).isoformat()} is not counted"
        )
    if days[-1] >= today:
        notes.append(f"the year is not over (report made on {today.isoformat()})")
    elif have[-1] < days[-1]:
        notes.append(f"the counts end on {have[-1].isoformat()}")
    gaps = [r for r in _ranges(missing) if have[0] < r[0] and r[1] < have[-1]]
    if gaps:
        listed = ", ".join(_span(a, b) for a, b in gaps[:10]) + (" ..." if len(gaps) > 10 else "")
        notes.append(
            f"{sum((b - a).days + 1 for a, b in gaps)} days inside the period have no counts ({listed})"
        )
    return text + " THE DATA DOES NOT COVER THE WHOLE YEAR: " + "; ".join(notes) + ".", False


def _share(part: int, whole: int) -> str:
    return "-" if whole == 0 else f"{100 * part / whole:.1f}%"


def _active_in(camera: Camera, year: int) -> bool:
    start, end = date(year, 1, 1), date(year, 12, 31)
    installed = camera.install_date is None or camera.install_date <= end
    return installed and (camera.retired_on is None or camera.retired_on >= start)


def build_report(
    year: int,
    aggregates: AggregateSet,
    cameras: Mapping[str, Camera],
    agencies: Mapping[str, Agency],
    sources: Sequence[Mapping[str, Any]],
    accesses: Iterable[AccessRecorded],
    *,
    agency: str,
    generated_at: datetime,
    checkpoint: Checkpoint | None = None,
    broken_links: int = 0,
) -> AnnualReport:
    """Every number of the report, from the data as read (no I/O). ``checkpoint`` is the latest
    signed checkpoint of the audit trail, whose digest the report publishes (P14);
    ``broken_links`` how many problems ``alpr audit verify`` found when the report was made."""
    in_year = set(_days_in(year))
    covered = sorted(d for d in aggregates.days if d in in_year)
    period, complete = period_statement(year, covered, generated_at.date())

    reads: Counter[str] = Counter()
    unplaced: Counter[str] = Counter()  # reads without a position (issue 17)
    rejected: Counter[str] = Counter()
    hits: dict[str, Counter[str]] = {}
    historical: Counter[str] = Counter()
    monthly_reads: Counter[str] = Counter()
    monthly_hits: Counter[str] = Counter()
    for (day, camera), rec in aggregates.cameras.items():
        if day not in in_year or day not in aggregates.days:
            continue  # a day whose run did not finish is not counted
        reads[camera] += int(rec.get("reads", 0))
        unplaced[camera] += int(rec.get("unplaced_reads", 0))
        rejected[camera] += int(rec.get("rejected", 0))
        by_kind = hits.setdefault(camera, Counter())
        for kind, n in (rec.get("hits") or {}).items():
            by_kind[kind] += int(n)
        historical[camera] += int(rec.get("historical_hits", 0))
        month = day.isoformat()[:7]
        monthly_reads[month] += int(rec.get("reads", 0))
        monthly_hits[month] += sum(int(n) for n in (rec.get("hits") or {}).values())

    confirmed: Counter[str] = Counter()
    rejections: dict[str, Counter[str]] = {}
    for day, rec in aggregates.outcomes.items():
        if day not in in_year or day not in aggregates.days:
            continue
        for kind, outcome in (rec.get("by_match_kind") or {}).items():
            confirmed[kind] += int(outcome.get("confirmed", 0))
            bucket = rejections.setdefault(kind, Counter())
            for reason, n in (outcome.get("rejected") or {}).items():
                bucket[reason] += int(n)

    purposes: dict[str, Counter[str]] = {}
    for day, rec in aggregates.accesses.items():
        if day not in in_year or day not in aggregates.days:
            continue
        for purpose, tally in (rec.get("by_purpose") or {}).items():
            row = purposes.setdefault(purpose, Counter())
            for k in ("allowed", "refused", "results"):
                row[k] += int(tally.get(k, 0))

    # -- locations
    known = {c.id: c for c in cameras.values() if _active_in(c, year)}
    ids = sorted(set(reads) | set(hits) | set(known), key=lambda c: (-reads[c], c))
    total_reads = sum(reads.values())

    def where(camera_id: str) -> tuple[str, str]:
        cam = cameras.get(camera_id)
        if cam is None:
            return "(not in the registry)", "-"
        return cam.name, f"{cam.lat:.5f}, {cam.lon:.5f}"

    # P26 reads by location: a fixed camera's reads without a position were taken where it stands;
    # a mobile (or unregistered) camera's were taken somewhere unknown: one "position unknown" bucket.
    fixed = {c.id for c in cameras.values() if c.kind == "fixed"}
    unknown = {c: unplaced[c] for c in ids if unplaced[c] and c not in fixed}
    placed = {c: reads[c] - unknown.get(c, 0) for c in ids}
    read_rows = tuple((c, *where(c), placed[c], _share(placed[c], total_reads), rejected[c]) for c in ids) + (
        (
            (
                POSITION_UNKNOWN,
                "reads of mobile cameras that reported no position",
                POSITION_UNKNOWN,
                sum(unknown.values()),
                _share(sum(unknown.values()), total_reads),
                0,
            ),
        )
        if unknown
        else ()
    )
    hit_total = {c: sum(hits.get(c, Counter()).values()) for c in ids}
    hit_rows: tuple[tuple[Cell, ...], ...] = tuple(
        (
            c,
            where(c)[0],
            hit_total[c],
            *(hits.get(c, Counter())[k] for k in MATCH_KINDS),
            historical[c],
            _share(hit_total[c], reads[c]),
        )
        for c in sorted(ids, key=lambda c: (-hit_total[c], c))
        if hit_total[c] or c in known
    )

    # -- accuracy
    kinds = list(MATCH_KINDS) + sorted(
        k
        for k in set(confirmed) | set(rejections) | {k for c in hits.values() for k in c}
        if k not in MATCH_KINDS
    )
    hits_by_kind: Counter[str] = Counter()
    for by_kind in hits.values():
        hits_by_kind.update(by_kind)
    accuracy_rows = []
    accuracy: dict[str, tuple[int, int]] = {}
    for kind in kinds:
        rej = rejections.get(kind, Counter())
        misread = rej["misread"]
        decided = confirmed[kind] + sum(rej.values())
        accuracy[kind] = (hits_by_kind[kind], misread)
        accuracy_rows.append(
            (
                MATCH_KIND_NAMES.get(kind, kind),
                hits_by_kind[kind],
                confirmed[kind],
                sum(rej.values()),
                misread,
                _share(misread, hits_by_kind[kind]),
                _share(misread, decided),
            )
        )
    all_rej = sum(sum(r.values()) for r in rejections.values())
    all_misread = sum(r["misread"] for r in rejections.values())
    all_hits = sum(hits_by_kind.values())
    accuracy_rows.append(
        (
            "all",
            all_hits,
            sum(confirmed.values()),
            all_rej,
            all_misread,
            _share(all_misread, all_hits),
            _share(all_misread, sum(confirmed.values()) + all_rej),
        )
    )
    reason_totals: Counter[str] = Counter()
    for rej in rejections.values():
        reason_totals.update(rej)

    # -- records accessed and sharing (audit trail)
    purpose_rows = tuple(
        (p, t["allowed"], t["refused"], t["results"])
        for p, t in sorted(purposes.items(), key=lambda kv: (-kv[1]["allowed"], kv[0]))
    )
    searches = [a for a in accesses if a.at.astimezone(UTC).year == year and is_search(a)]
    by_agency: dict[str, Counter[str]] = {}
    for a in searches:
        row = by_agency.setdefault(a.agency or "(none)", Counter())
        row["refused" if a.decision == "refused" else "allowed"] += 1
        row["results"] += a.result_count if a.decision != "refused" else 0
    home = {a.agency_id for a in agencies.values() if a.agreement == "home"}
    agency_rows = tuple(
        (
            ag,
            agencies[ag].name if ag in agencies else "(not in the directory)",
            "own agency" if ag in home else (agencies[ag].agreement if ag in agencies else "-"),
            t["allowed"],
            t["refused"],
            t["results"],
        )
        for ag, t in sorted(by_agency.items(), key=lambda kv: (-kv[1]["allowed"], kv[0]))
    )
    shared = sorted((a for a in agencies.values() if a.agreement == "signed"), key=lambda a: a.agency_id)
    agreement_rows = tuple((a.agency_id, a.name, a.type, a.agreement_date or "-") for a in shared)
    shared_searches = sum(t["allowed"] for ag, t in by_agency.items() if ag not in home)

    # -- program changes
    added = sorted(
        (c for c in cameras.values() if c.install_date is not None and c.install_date.year == year),
        key=lambda c: (c.install_date or date.min, c.id),
    )
    retired = sorted(
        (c for c in cameras.values() if c.retired_on is not None and c.retired_on.year == year),
        key=lambda c: (c.retired_on or date.min, c.id),
    )
    source_rows = tuple(
        (
            str(s.get("source", "?")),
            str(s.get("format") or "-"),
            str(s.get("last_success") or "never"),
            int(s.get("entry_count") or 0),
        )
        for s in sorted(sources, key=lambda s: str(s.get("source", "")))
    )

    months = sorted(set(monthly_reads) | set(monthly_hits))
    monthly = tuple((m, monthly_reads[m], monthly_hits[m]) for m in months)
    records_accessed = sum(t["results"] for t in purposes.values())
    totals = {
        "reads": total_reads,
        "rejected": sum(rejected.values()),
        "hits": all_hits,
        "confirmed": sum(confirmed.values()),
        "rejections": all_rej,
        "misreads": all_misread,
        "searches": sum(t["allowed"] for t in purposes.values()),
        "refused_searches": sum(t["refused"] for t in purposes.values()),
        "records_accessed": records_accessed,
        "cameras": len(ids),
    }
    cam_count = len([c for c in ids if reads[c]])
    sections = (
        Section(
            "Summary",
            (
                period,
                f"{total_reads:,} plate reads from {cam_count} cameras; {all_hits:,} hits (alerts raised) "
                f"of which {sum(confirmed.values()):,} were confirmed and {all_rej:,} rejected, "
                f"{all_misread:,} of them as misreads ({_share(all_misread, all_hits)} of hits); "
                f"{totals['searches']:,} searches returned {records_accessed:,} records "
                f"({totals['refused_searches']:,} searches refused).",
                "These counts come from daily aggregates that hold no plates. Reads themselves are kept "
                "only for the read retention (P11); the aggregates keep the counts for three years.",
            ),
            (
                Table(
                    "Reads and hits by month",
                    ("month", "reads", "hits"),
                    monthly,
                    "reads_by_month.csv",
                ),
            ),
            (("reads_by_month.png", "Reads and hits by month"),),
        ),
        Section(
            "Reads by location",
            (
                "Reads the matcher screened, by camera (location from the camera registry); reads of "
                "mobile cameras that reported no position are counted apart, as position unknown. "
                "Rejected: input refused as malformed or out of time, counted on the day it was refused.",
            ),
            (
                Table(
                    "Reads by camera",
                    ("camera", "name", "location (lat, lon)", "reads", "share", "rejected"),
                    read_rows,
                    "reads_by_camera.csv",
                ),
            ),
            (("reads_by_camera.png", "Reads by camera (the 25 with the most)"),),
        ),
        Section(
            "Hits by location",
            (
                "Hits are alerts raised for a camera's reads, by the read's capture day and match "
                "kind; historical: found later by the retro-hunt. Hit rate: hits per read.",
            ),
            (
                Table(
                    "Hits by camera",
                    (
                        "camera",
                        "name",
                        "hits",
                        "exact",
                        "OCR-equivalent",
                        "partial plate",
                        "historical",
                        "hit rate",
                    ),
                    hit_rows,
                    "hits_by_camera.csv",
                ),
            ),
        ),
        Section(
            "Records accessed",
            (
                f"Searches of ALPR data (searches, replays, holds, exports) by purpose, from the audit "
                f"trail: {totals['searches']:,} allowed, {totals['refused_searches']:,} refused, "
                f"{records_accessed:,} records returned. Words with digits in a purpose (case numbers) "
                "are shown as #.",
            ),
            (
                Table(
                    "Accesses by purpose",
                    ("purpose", "searches", "refused", "records returned"),
                    purpose_rows,
                    "accesses_by_purpose.csv",
                ),
            ),
        ),
        Section(
            "Sharing",
            (
                f"{len(shared)} agencies outside the department hold a signed sharing agreement; their "
                f"users made {shared_searches:,} searches in {year}.",
            ),
            (
                Table(
                    "Agencies with sharing agreements",
                    ("agency", "name", "type", "agreement signed"),
                    agreement_rows,
                    "sharing_agreements.csv",
                ),
                Table(
                    "Searches by agency",
                    ("agency", "name", "agreement", "searches", "refused", "records returned"),
                    agency_rows,
                    "accesses_by_agency.csv",
                ),
            ),
        ),
        audit_section(checkpoint, broken_links),
        Section(
            "Accuracy",
            (
                "Every alert is checked by a person before anyone acts (P7). Misread share: hits "
                "rejected as misreads over all hits of that match kind; of decided: over the hits "
                "confirmed or rejected. Outcomes are counted on the day they were decided.",
                "Rejections by reason: "
                + (", ".join(f"{r} {n:,}" for r, n in sorted(reason_totals.items())) or "none")
                + ".",
            ),
            (
                Table(
                    "Accuracy by match kind",
                    ("match kind", "hits", "confirmed", "rejected", "misread", "misread share", "of decided"),
                    tuple(accuracy_rows),
                    "accuracy.csv",
                ),
            ),
            (("accuracy.png", "Share of hits rejected as misreads, by match kind"),),
        ),
        Section(
            "Program changes",
            (f"{len(added)} cameras installed and {len(retired)} retired in {year} (camera registry).",),
            (
                Table(
                    "Cameras added",
                    ("camera", "name", "kind", "installed"),
                    tuple(
                        (c.id, c.name, c.kind, c.install_date.isoformat() if c.install_date else "-")
                        for c in added
                    ),
                    "cameras_added.csv",
                ),
                Table(
                    "Cameras retired",
                    ("camera", "name", "kind", "retired"),
                    tuple(
                        (c.id, c.name, c.kind, c.retired_on.isoformat() if c.retired_on else "-")
                        for c in retired
                    ),
                    "cameras_retired.csv",
                ),
                Table(
                    "Hot-list sources",
                    ("source", "format", "last successful sync", "entries"),
                    source_rows,
                    "hotlist_sources.csv",
                ),
            ),
        ),
    )
    return AnnualReport(
        year,
        agency,
        generated_at,
        tuple(covered),
        period,
        complete,
        sections,
        totals,
        monthly,
        accuracy,
        tuple((c, reads[c]) for c in ids[:25] if reads[c]),
    )


def audit_section(checkpoint: Checkpoint | None, broken_links: int) -> Section:
    """P14: the digest of the latest signed checkpoint of the audit trail, published so that a
    rewrite of the trail after this report shows (``alpr audit verify --published``)."""
    state = (
        "The audit trail verified intact against its signed checkpoints when this report was made."
        if not broken_links
        else f"THE AUDIT TRAIL DID NOT VERIFY when this report was made: {broken_links} broken links "
        "(alpr audit verify names them); the accesses above leave out the records they name."
    )
    if checkpoint is None:
        return Section(
            "Audit trail integrity", (state, "No signed checkpoint of the audit trail exists yet.")
        )
    return Section(
        "Audit trail integrity",
        (
            state,
            f"Latest signed checkpoint of the audit trail: {published_line(checkpoint)}; signed with the "
            f"Ed25519 public key {checkpoint.key}.",
            "Keep this digest: 'alpr audit verify --published DIGEST' shows whether the trail still holds "
            "it, so any rewrite of the trail after this report is detected.",
        ),
    )


# -- rendering (pure) -----------------------------------------------------------------------------


def _title(report: AnnualReport) -> str:
    return f"Annual Data Usage Report {report.year}: {report.agency}"


def _md(value: Cell) -> str:
    text = f"{value:,}" if isinstance(value, int) else str(value)
    text = html.escape(text, quote=False).replace("|", "\\|")
    return " ".join(text.split())


def render_markdown(report: AnnualReport) -> str:
    lines = [
        f"# {_md(_title(report))}",
        "",
        f"Automated License Plate Reader program, Annual Data Usage Report (P26). Generated "
        f"{report.generated_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
    ]
    for section in report.sections:
        lines += [f"## {_md(section.title)}", ""]
        for paragraph in section.paragraphs:
            lines += [_md(paragraph), ""]
        for table in section.tables:
            lines += [f"### {_md(table.title)}", ""]
            if not table.rows:
                lines += ["(none)", ""]
                continue
            lines.append("| " + " | ".join(_md(c) for c in table.columns) + " |")
            lines.append("|" + "|".join("---" for _ in table.columns) + "|")
            lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in table.rows]
            if table.csv_name:
                lines.append("")
                lines.append(f"Also in `{table.csv_name}`.")
            lines.append("")
        for image, alt in section.charts:
            lines += [f"![{_md(alt)}]({image})", ""]
    return "\n".join(lines)


def _h(value: Cell) -> str:
    return html.escape(f"{value:,}" if isinstance(value, int) else str(value))


def render_html(report: AnnualReport) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_h(_title(report))}</title>",
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:0.5em 0 1.5em}th,td{border:1px solid #999;padding:2px 8px}"
        "td.n{text-align:right}img{max-width:100%}</style>",
        "</head><body>",
        f"<h1>{_h(_title(report))}</h1>",
        f"<p>Automated License Plate Reader program, Annual Data Usage Report (P26). Generated "
        f"{report.generated_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC.</p>",
    ]
    for section in report.sections:
        out.append(f"<h2>{_h(section.title)}</h2>")
        out += [f"<p>{_h(p)}</p>" for p in section.paragraphs]
        for table in section.tables:
            out.append(f"<h3>{_h(table.title)}</h3>")
            if not table.rows:
                out.append("<p>(none)</p>")
                continue
            out.append(
                "<table><thead><tr>"
                + "".join(f"<th>{_h(c)}</th>" for c in table.columns)
                + "</tr></thead><tbody>"
            )
            for row in table.rows:
                cells = "".join(
                    f'<td class="n">{_h(c)}</td>' if isinstance(c, int | float) else f"<td>{_h(c)}</td>"
                    for c in row
                )
                out.append(f"<tr>{cells}</tr>")
            out.append("</tbody></table>")
            if table.csv_name:
                out.append(f'<p>Also in <a href="{_h(table.csv_name)}">{_h(table.csv_name)}</a>.</p>')
        for image, alt in section.charts:
            out.append(f'<p><img src="{_h(image)}" alt="{_h(alt)}"></p>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _plot(report: AnnualReport, folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    months = [f"{report.year}-{m:02d}" for m in range(1, 13)]
    by_month = {m: (r, h) for m, r, h in report.monthly}
    fig, ax = plt.subplots(figsize=(10, 4))
    slots = range(len(months))
    ax.bar(slots, [by_month.get(m, (0, 0))[0] for m in months], color="#4472c4", label="reads")
    ax.set_ylabel("reads (bars)")
    ax2 = ax.twinx()
    ax2.plot(slots, [by_month.get(m, (0, 0))[1] for m in months], color="#c00000", marker="o", label="hits")
    ax2.set_ylabel("hits (line)")
    ax.set_xticks(list(slots), months, rotation=45)
    ax.set_title(f"Reads and hits by month, {report.year}")
    fig.tight_layout()
    paths.append(folder / "reads_by_month.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    cams = list(report.top_cameras)
    fig, ax = plt.subplots(figsize=(10, max(3.0, 0.3 * len(cams) + 1.5)))
    ax.barh([c for c, _ in reversed(cams)], [n for _, n in reversed(cams)], color="#4472c4")
    ax.set_xlabel("reads")
    ax.set_title(f"Reads by camera, {report.year}")
    fig.tight_layout()
    paths.append(folder / "reads_by_camera.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    kinds = [k for k, (hits, _m) in report.accuracy.items() if hits or k in MATCH_KINDS]
    shares = [
        100 * report.accuracy[k][1] / report.accuracy[k][0] if report.accuracy[k][0] else 0 for k in kinds
    ]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar([MATCH_KIND_NAMES.get(k, k) for k in kinds], shares, color="#c00000")
    ax.set_ylabel("% of hits rejected as misreads")
    ax.set_title(f"Misreads by match kind, {report.year}")
    fig.tight_layout()
    paths.append(folder / "accuracy.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths


def write_report(report: AnnualReport, folder: Path) -> list[Path]:
    """report.md, report.html, a CSV per table and the charts; the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("report.md", render_markdown(report)), ("report.html", render_html(report))):
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    for table in report.tables():
        if table.csv_name is None:
            continue
        path = folder / table.csv_name
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(table.columns)
            writer.writerows(table.rows)
        written.append(path)
    written += _plot(report, folder)
    return written


# -- the command (Kafka I/O) ----------------------------------------------------------------------


async def collect(settings: Settings, year: int, now: datetime) -> AnnualReport:
    aggregates = await load_aggregates(settings)
    registry = await CameraStore(settings).load()
    directory = await DirectoryStore(settings).load()
    sources = [
        orjson.loads(v.value)
        for v in (await read_latest(settings.kafka, settings.topic("hotlist-sources"))).values()
    ]
    trail = await checked_trail(settings, now)
    report = build_report(
        year,
        aggregates,
        registry.cameras,
        directory.agencies,
        sources,
        trail.accepted,
        agency=settings.profile.agency,
        generated_at=now,
        checkpoint=trail.latest,
        broken_links=len(trail.problems),
    )
    from dataclasses import replace

    from streams.retention.law import law_for

    # P26: the report names the law that requires it: the home state's (streams/retention/law.py).
    law = law_for(settings.profile.state)
    duty = "; ".join(law.reporting_duties) or "no statewide report; the agency's policy requires it (P26)"
    basis = Section("Legal basis", (f"Reporting duty under {law.name} law ({law.citation}): {duty}.",))
    return replace(report, sections=(basis, *report.sections))


async def run_annual(settings: Settings, year: int, out: Path | None, now: datetime) -> int:
    """``alpr report annual``: write the report; print the period statement and the files."""
    report = await collect(settings, year, now)
    folder = out or Path(f"annual-report-{year}")
    paths = write_report(report, folder)
    print(report.period)
    t = report.totals
    print(
        f"{year}: {t['reads']} reads, {t['hits']} hits, {t['misreads']} rejected as misreads, "
        f"{t['searches']} searches returning {t['records_accessed']} records"
    )
    print(f"wrote {len(paths)} files to {folder}/: " + ", ".join(p.name for p in paths))
    return 0
