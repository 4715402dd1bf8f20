"""``alpr audit vendor`` as an auditor runs it: the real CLI in a subprocess on the committed samples."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.unit.test_vendor_audit import SEARCH_AUDIT_COUNTS

pytestmark = pytest.mark.e2e

SAMPLES = ROOT / "samples" / "vendor"
EXPECTED = SEARCH_AUDIT_COUNTS


@pytest.fixture(scope="module")
def auditor_env(broker, tmp_path_factory) -> dict[str, str]:
    """A signed-in auditor's session (P21: ``audit.read``), once for the module: a code signs in once."""
    import asyncio

    from streams.kafka.topics import create_topics
    from tests.conftest import make_env, settings_of
    from tests.integration.kafka_helpers import add_user, login

    env = make_env(broker, tmp_path_factory.mktemp("vendor-audit"))
    settings = settings_of(env)
    asyncio.run(create_topics(settings))
    return login(env, asyncio.run(add_user(settings, "ray", "auditor", badge="X-3")))


_ENV: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _signed_in(auditor_env: dict[str, str]) -> None:
    _ENV.clear()
    _ENV.update(auditor_env)


def alpr_audit_vendor(
    *args: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "audit", "vendor", "--format", "flock", *map(str, args)],
        env=env if env is not None else _ENV,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_only_a_signed_in_auditor_may_audit_a_vendor_export(auditor_env, tmp_path: Path) -> None:
    """P21: without a session the command exits 2 before it reads the export; an analyst is refused;
    the auditor's run is on the audit trail (P15)."""
    import asyncio

    from tests.conftest import settings_of
    from tests.integration.kafka_helpers import add_user, alpr_as, read_topic

    out = tmp_path / "nobody"
    nobody = {**auditor_env, "ALPR_SESSION_FILE": str(tmp_path / "no-session")}
    result = alpr_audit_vendor(SAMPLES / "flock_search_audit.csv", "--out", out, env=nobody)
    assert result.returncode == 2 and "sign in first" in result.stderr and not out.exists()
    settings = settings_of(auditor_env)
    kim = asyncio.run(add_user(settings, "kim-vendor", "analyst", badge="A-7"))
    args = (
        "audit",
        "vendor",
        "--format",
        "flock",
        str(SAMPLES / "flock_search_audit.csv"),
        "--out",
        str(out),
    )
    refused = alpr_as(auditor_env, kim, *args)
    assert refused.returncode == 2 and "P21: the analyst role may not audit.read" in refused.stderr
    assert not out.exists()
    assert alpr_audit_vendor(SAMPLES / "flock_search_audit.csv", "--seed", "1").returncode == 0
    records = asyncio.run(read_topic(settings.kafka, settings.topic("audit")))
    import orjson

    vendor = [orjson.loads(r.value) for r in records if r.value and b"audit_vendor" in r.value]
    assert [(v["user"], v["badge"]) for v in vendor] == [("ray", "X-3")]


def test_the_samples_give_the_documented_report_and_outputs(tmp_path: Path) -> None:
    out = tmp_path / "audit"
    result = alpr_audit_vendor(
        SAMPLES / "flock_search_audit.csv",
        "--sharing",
        SAMPLES / "flock_sharing.csv",
        "--sample",
        "10",
        "--seed",
        "7",
        "--out",
        out,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    stdout = result.stdout
    for code, count in EXPECTED.items():
        assert f"| {code} | {count} |" in stdout
    assert "period: 2026-01-02 15:01:50 UTC to 2026-03-29 16:48:49 UTC" in stdout
    assert "rows: 100 total, 98 read, 2 malformed, 2 blank lines skipped" in stdout
    assert "- line 76: 6 fields on line 76, header has 10" in stdout
    assert (
        "Houston TX PD: out-of-state: Texas: state code TX; we share with them and receive from them; "
        "not allowed under California SB 34" in stdout
    )
    assert "- San Jose CA PD: 7 no_case_number, 3 vague_reason, 2 forbidden_purpose" in stdout
    assert "## P23 random sample: 10 of 98 searches" in stdout and "--seed 7" in stdout
    summary = stdout.strip().splitlines()[-2]
    assert summary.startswith("summary: 98 of 100 rows read; 14 no_case_number, 9 vague_reason")
    assert f"wrote {out / 'report.md'} and {out / 'findings.csv'} (37 findings)" in stdout

    report = (out / "report.md").read_text(encoding="utf-8")
    assert report.startswith("# Vendor search audit:") and "| forbidden_purpose | 3 | P22 |" in report
    with (out / "findings.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert Counter(r["finding"] for r in rows) == {code: n for code, n in EXPECTED.items() if n}
    ice = next(r for r in rows if r["finding"] == "forbidden_purpose")
    assert (ice["line"], ice["Reason"], ice["Org_Name"]) == ("40", "ICE detainer", "San Jose CA PD")
    wide = [r for r in rows if r["finding"] == "wide_search"]
    assert wide[0]["Total_Networks_Searched"] == "1,500" and wide[0]["Total_Devices_Searched"] == "80,000"
    federal = next(r for r in rows if r["finding"] == "sharing_federal")
    assert federal["Organization Name"] == "Homeland Security Investigations - San Francisco"
    assert federal["file"].endswith("flock_sharing.csv") and federal["line"] == "19"


def test_the_same_seed_draws_the_same_sample() -> None:
    def sample(seed: str) -> str:
        result = alpr_audit_vendor(SAMPLES / "flock_search_audit.csv", "--sample", "10", "--seed", seed)
        assert result.returncode == 0, result.stderr
        return result.stdout.split("## P23 random sample")[1]

    assert sample("11") == sample("11")
    assert sample("11") != sample("12")


def test_the_transparency_portal_export() -> None:
    result = alpr_audit_vendor(SAMPLES / "flock_transparency.csv", "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert "- export: Flock transparency portal" in result.stdout
    for code, count in {
        "no_case_number": 4,
        "vague_reason": 3,
        "forbidden_purpose": 1,
        "wide_search": 1,
    }.items():
        assert f"| {code} | {count} |" in result.stdout
    assert "'Property Crime'" in result.stdout  # shown URL-decoded


def test_a_file_with_only_a_header_exits_1_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "header-only.csv"
    header = (SAMPLES / "flock_search_audit.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    path.write_text(header + "\r\n", encoding="utf-8")
    result = alpr_audit_vendor(path)
    assert result.returncode == 1
    assert f"no readable search rows in {path}" in result.stderr
    assert "rows: 0 total, 0 read" in result.stdout


def test_a_missing_file_exits_2_with_a_clear_error(tmp_path: Path) -> None:
    result = alpr_audit_vendor(tmp_path / "nope.csv")
    assert result.returncode == 2
    assert result.stderr.startswith(f"alpr: error: cannot read {tmp_path / 'nope.csv'}: No such file")
    assert "Traceback" not in result.stderr


def test_an_export_without_a_reason_exits_2_naming_the_columns_found_and_needed(tmp_path: Path) -> None:
    """Issue 17: only a missing reason or time is refused, naming what was found and what is needed;
    nothing is written."""
    path = tmp_path / "other.csv"
    path.write_text("Plate,Camera,Time\n8ABC123,CAM-1,2026-01-01\n", encoding="utf-8")
    result = alpr_audit_vendor(path, "--out", tmp_path / "out")
    assert result.returncode == 2 and not (tmp_path / "out").exists()
    assert "found columns 'Plate, Camera, Time'; it also needs a reason column (Reason" in result.stderr
    assert "time column" not in result.stderr


def test_a_reason_and_datetime_export_with_the_large_partner_list() -> None:
    """Issue 17 through the real CLI (profile san_jose): the minimal layout is audited, what it lacks
    is "not in this export", a plate is not a case number, bare 7- and 9-digit incident numbers are;
    partners are classed both ways under the home state's law (P16, P19, P22, P23)."""
    result = alpr_audit_vendor(
        SAMPLES / "flock_search_minimal.csv", "--sharing", SAMPLES / "flock_sharing_large.csv", "--seed", "1"
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for code, count in {
        "no_case_number": 5,
        "vague_reason": 1,
        "forbidden_purpose": 1,
        "bad_time": 1,
    }.items():
        assert f"| {code} | {count} |" in out
    assert "| wide_search | not in this export |" in out and "| bad_count | not in this export |" in out
    no_case = out.split("## no_case_number")[1].split("##")[0]
    assert "'Stolen Vehicle E287021'" in no_case and "2600123" not in no_case and "260012345" not in no_case
    assert "SJ-26-004512, a 9-digit number or a 7-digit number" in out
    assert "home state CA, California SB 34" in out
    assert "| federal | 11 | 4 | 0 |" in out and "| out-of-state | 31 | 9 | 0 |" in out
    assert "sharing: 11 federal, 31 out_of_state, 18 private, 15 receives_only" in out


def test_a_full_export_in_another_layout_judges_windows_in_elapsed_time() -> None:
    """A 30-day window across the fall-back change (30 days 1 h elapsed) is not wide; 45 days is."""
    result = alpr_audit_vendor(SAMPLES / "flock_search_full.csv", "--seed", "1")
    assert result.returncode == 0, result.stderr
    wide = result.stdout.split("## wide_search")[1].split("##")[0]
    assert "line 7:" in wide and "window 45 days 1 h > 30 days" in wide and "line 6:" not in wide
    assert "columns not used: User Name, License Plate" in result.stdout
    assert (
        "- search window in elapsed time (wide search) (review): checked (Time Frame Start" in result.stdout
    )
