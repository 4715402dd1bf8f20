"""Feed adapters on their sample files and on broken extracts (P1, P3, P5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streams.access.justification import GENERIC
from streams.hotlists.adapters import ADAPTERS, ExtractRefused, adapter
from streams.hotlists.adapters.flock import ADAPTER as FLOCK
from streams.hotlists.adapters.ncic import COLUMNS
from tests.conftest import ROOT

FEEDS = ROOT / "samples" / "feeds"


def records(fmt: str, path: Path, source: str | None = None):
    extract = adapter(fmt).open(path, source)
    return extract, list(extract.records)


def refused(fmt: str, path: Path, source: str | None = None) -> ExtractRefused:
    with pytest.raises(ExtractRefused) as info:
        records(fmt, path, source)
    return info.value


def test_registry_names_every_adapter() -> None:
    assert set(ADAPTERS) == {"ncic", "svs", "ndjson", "flock"}
    assert ADAPTERS["flock"].pending and not ADAPTERS["ncic"].pending


# -- NCIC ----------------------------------------------------------------------------------


def test_ncic_sample() -> None:
    extract, parsed = records("ncic", FEEDS / "ncic_lpr_extract.txt")
    assert extract.generated_at == datetime(2026, 11, 23, 6, tzinfo=UTC)
    entries = {p.entry.entry_id: p.entry for p in parsed if p.entry}
    assert set(entries) == {"V123456789", "V223456780", "W300000111", "M400000222"}
    stolen = entries["V123456789"]
    assert (stolen.plate, stolen.plate_state, stolen.list_type) == ("7ABC123", "CA", "stolen_vehicle")
    assert stolen.ori == "CA0431000" and stolen.case_number == "SJ-26-004512"
    assert dict(stolen.vehicle) == {
        "vin": "1HGCM82633A004352",
        "year": "2019",
        "make": "HOND",
        "model": "CIV",
        "style": "4D",
        "color": "GRY",
        "plate_type": "PC",
        "plate_year": "2027",
    }
    assert entries["W300000111"].list_type == "wanted_person"
    assert "armed" in entries["W300000111"].reason  # MIS kept in the reason
    assert entries["M400000222"].plate_state == "NV"


def test_ncic_immigration_violator_file_is_dropped_p5() -> None:
    _, parsed = records("ncic", FEEDS / "ncic_lpr_extract.txt")
    [dropped] = [p for p in parsed if p.dropped]
    assert dropped.entry is None and "P5" in dropped.dropped and dropped.key == "ncic:I500000333"


def ncic_file(
    tmp_path: Path, rows: list[str], trailer: str | None = "auto", header: str | None = None
) -> Path:
    lines = [header or "HDR|NCIC-LPR|1|2026-11-23T06:00:00Z", "|".join(COLUMNS), *rows]
    if trailer == "auto":
        lines.append(f"TRL|{len(rows)}")
    elif trailer is not None:
        lines.append(trailer)
    path = tmp_path / "extract.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


ROW = "V|V1|CA0431000|7ABC123|CA|2027|PC||2019|HOND|CIV|4D|GRY|SJ-1|"


def test_ncic_truncated_extract_is_refused(tmp_path: Path) -> None:
    assert refused("ncic", ncic_file(tmp_path, [ROW], trailer=None)).code == "truncated"
    assert refused("ncic", ncic_file(tmp_path, [ROW], trailer="TRL|2")).code == "truncated"


def test_ncic_empty_and_unparseable_extracts_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert refused("ncic", empty).code == "empty"
    assert refused("ncic", ncic_file(tmp_path, [])).code == "empty"
    assert refused("ncic", ncic_file(tmp_path, [ROW], header="HDR|SOMETHING|1|x")).code == "unparseable"
    assert (
        refused("ncic", ncic_file(tmp_path, [ROW], header="HDR|NCIC-LPR|1|yesterday")).code == "unparseable"
    )
    wrong = tmp_path / "columns.txt"
    wrong.write_text("HDR|NCIC-LPR|1|2026-11-23T06:00:00Z\nLIC|LIS\nTRL|0\n")
    assert refused("ncic", wrong).code == "unparseable"
    assert refused("ncic", tmp_path / "missing.txt").code == "unreachable"


def test_ncic_bad_records_are_reported_with_line_numbers(tmp_path: Path) -> None:
    rows = [
        ROW,
        "V|V2|CA0431000|8XYZ999|California|2027|PC||2019|HOND|CIV|4D|GRY|SJ-2|",
        "Q|V3|CA0431000|8XYZ998|CA|2027|PC||2019|HOND|CIV|4D|GRY|SJ-3|",
        "V|V4|too|few",
        "V|V5|CA0431000||CA|2027|PC||2019|HOND|CIV|4D|GRY|SJ-5|",
    ]
    _, parsed = records("ncic", ncic_file(tmp_path, rows))
    assert [p.entry.entry_id for p in parsed if p.entry] == ["V1"]
    errors = [p.error for p in parsed if p.error]
    assert len(errors) == 4
    assert errors[0].endswith("extract.txt:4: LIS 'California' is not a two-letter state")
    assert ":5: unknown NCIC file code 'Q'" in errors[1]
    assert ":6: 4 fields" in errors[2]
    assert ":7: no plate (LIC)" in errors[3]
    assert [p.key for p in parsed if p.error] == ["ncic:V2", "ncic:V3", None, "ncic:V5"]


def ncic_parts(tmp_path: Path, headers: dict[str, str]) -> Path:
    """A directory extract: file name -> the header's part field ('' for none)."""
    folder = tmp_path / "extract"
    folder.mkdir()
    for i, (name, part) in enumerate(headers.items()):
        lines = ncic_file(tmp_path, [ROW.replace("V1|", f"V{i + 1}|")]).read_text().splitlines()
        lines[0] += f"|{part}" if part else ""
        (folder / name).write_text("\n".join(lines) + "\n")
    return folder


def test_ncic_directory_of_numbered_parts_is_one_extract(tmp_path: Path) -> None:
    _, parsed = records("ncic", ncic_parts(tmp_path, {"a.txt": "1/2", "b.txt": "2/2"}))
    assert [p.entry.entry_id for p in parsed] == ["V1", "V2"]


@pytest.mark.parametrize(
    ("headers", "code", "message"),
    [
        ({"a.txt": "1/3", "b.txt": "2/3"}, "truncated", "part 3 of 3 missing (2 of 3 parts arrived)"),
        ({"a.txt": "2/3", "b.txt": "3/3"}, "truncated", "part 1 of 3 missing"),
        ({"a.txt": "", "b.txt": ""}, "truncated", "a.txt, b.txt carry no part number"),
        ({"a.txt": "1/2", "b.txt": ""}, "truncated", "b.txt carry no part number"),
        ({"a.txt": "1/2", "b.txt": "1/2"}, "unparseable", "part 1 of 2 is both a.txt and b.txt"),
        ({"a.txt": "1/2", "b.txt": "2/3"}, "unparseable", "disagree on their number"),
        ({"a.txt": "3/2"}, "unparseable", "part '3/2' is not '<n>/<N>'"),
        ({"a.txt": "2/2"}, "truncated", "part 1 of 2 missing"),
    ],
)
def test_ncic_directory_missing_or_mixed_parts_is_refused(tmp_path: Path, headers, code, message) -> None:
    """A part that did not arrive would read as removals: an extract in several files must number
    its parts, and one with a part missing, doubled or unnumbered is refused before any record is
    read (schemas/feeds/ncic_lpr_extract.md, P3)."""
    refusal = refused("ncic", ncic_parts(tmp_path, headers))
    assert refusal.code == code
    assert message in str(refusal)


def test_ncic_parts_of_different_extracts_are_refused(tmp_path: Path) -> None:
    folder = ncic_parts(tmp_path, {"a.txt": "1/2", "b.txt": "2/2"})
    b = folder / "b.txt"
    b.write_text(b.read_text().replace("2026", "2025", 1))
    assert "different generation times" in str(refused("ncic", folder))


# -- CA SVS ------------------------------------------------------------------------------


def test_svs_samples() -> None:
    extract, parsed = records("svs", FEEDS / "svs_slr.csv")
    assert extract.sources == {"slr"}
    [slr] = [p.entry for p in parsed]
    assert (slr.key, slr.plate, slr.list_type, slr.case_number) == (
        "slr:SLR-2026-000981",
        "5TRK901",
        "stolen_plate",
        None,
    )
    extract, parsed = records("svs", FEEDS / "svs_sfr.csv")
    [sfr] = [p.entry for p in parsed]
    assert (sfr.source, sfr.list_type, sfr.case_number) == ("sfr", "felony_vehicle", "HAY-26-03310")
    assert dict(sfr.vehicle)["vin"] == "5NPE24AF1FH000001"


def test_svs_source_must_match_the_list(tmp_path: Path) -> None:
    assert refused("svs", FEEDS / "svs_slr.csv", source="sfr").code == "usage"


def test_svs_truncated_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "slr.csv"
    path.write_text("\n".join((FEEDS / "svs_slr.csv").read_text().splitlines()[:-1]) + "\n")
    assert refused("svs", path).code == "truncated"


# -- NDJSON -----------------------------------------------------------------------------


def test_ndjson_refuses_department_entries() -> None:
    error = refused("ndjson", ROOT / "samples" / "hotlist.ndjson")
    assert error.code == "usage" and "hotlist add" in str(error)


def test_ndjson_with_a_source_keeps_to_it() -> None:
    extract, parsed = records("ndjson", ROOT / "samples" / "hotlist.ndjson", source="ncic")
    assert extract.sources == {"ncic"}
    assert {p.entry.source for p in parsed if p.entry} == {"ncic"}
    assert any("not 'ncic'" in (p.error or "") for p in parsed)
    assert any("P5" in (p.dropped or "") for p in parsed)  # the immigration entry of the sample


# -- Flock ------------------------------------------------------------------------------------

#: The import's clock for the Flock samples: what has expired is judged as of this time.
FLOCK_NOW = datetime(2026, 12, 1, tzinfo=UTC)


def flock_records(path: Path) -> list:
    return list(FLOCK.for_import(None, GENERIC, FLOCK_NOW).open(path, None).records)


def test_flock_export_rows_become_department_entries() -> None:
    parsed = flock_records(FEEDS / "flock_export.csv")
    entries = {p.entry.plate: p.entry for p in parsed if p.entry}
    robbery = entries["8BOL042"]
    assert robbery.source == "local" and robbery.key == "local:flock-robbery-suspects-8BOL042"
    assert robbery.case_number == "SJ-26-005120"
    assert robbery.expires_at == datetime(2027, 1, 1, tzinfo=UTC)  # through the end of 2026-12-31
    assert entries["6ABC777"].expires_at == FLOCK_NOW + timedelta(days=365)  # "never": capped
    assert entries["6ABC777"].list_type == "stolen_vehicle"
    assert entries["6ABC777"].case_number is None
    assert entries["6ABC777"].approved_by is None  # never activated by an import
    [bad] = [p for p in parsed if p.error]
    assert "flock_export.csv:6" in bad.error and "7#BAD" in bad.error


def test_flock_change_log_removals() -> None:
    parsed = flock_records(FEEDS / "flock_changelog.csv")
    assert [(p.remove, p.key) for p in parsed] == [
        (False, "local:flock-robbery-suspects-8BOL042"),
        (True, "local:flock-custom-follow-up-2QRS345"),
    ]


def test_flock_without_its_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("Plate,Reason\n7ABC123,x\n")
    assert refused("flock", path).code == "unparseable"


def test_p5_flock_list_named_for_immigration_drops_every_row(tmp_path: Path) -> None:
    """P5: the list name reaches the classifier, so a row with a bland (or no) reason of an
    "ERO Removals" list is dropped, naming the term; a robbery list beside it loads."""
    path = tmp_path / "flock.csv"
    path.write_text(
        "Hotlist Name,License,State,Reason,Case,Expiry\n"
        "ERO Removals,8ERO001,CA,Follow up,SJ-26-004512,never\n"
        "CBP Border lookouts,8CBP002,CA,,,never\n"
        "\u0406mmigration team,8IMM003,CA,Vehicle of interest,,never\n"
        "Robbery suspects,8BOL042,CA,PC 211 robbery,SJ-26-005120,never\n"
    )
    parsed = flock_records(path)
    dropped = {p.key: p.dropped for p in parsed if p.dropped}
    assert set(dropped) == {
        "local:flock-ero-removals-8ERO001",
        "local:flock-cbp-border-lookouts-8CBP002",
        "local:flock-mmigration-team-8IMM003",
    }
    assert "(P5)" in dropped["local:flock-ero-removals-8ERO001"]
    assert "'ERO'" in dropped["local:flock-ero-removals-8ERO001"]
    assert "'CBP'" in dropped["local:flock-cbp-border-lookouts-8CBP002"]
    assert [p.entry.plate for p in parsed if p.entry] == ["8BOL042"]
