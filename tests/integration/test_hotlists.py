"""Hot-list sync, department entries, imports and the HTTP endpoint, on the embedded broker (P1-P6)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from streams.hotlists.feeder import keep_in_sync
from streams.hotlists.service import HotlistStore
from streams.kafka.broker import free_port
from tests.conftest import ROOT, alpr, settings_of, wait_for
from tests.integration.kafka_helpers import read_topic
from tests.unit.test_schemas import validator

pytestmark = pytest.mark.integration

FEEDS = ROOT / "samples" / "feeds"
NCIC_ROWS = [line for line in (FEEDS / "ncic_lpr_extract.txt").read_text().splitlines()[2:-1]]


def ncic_extract(
    path: Path, rows: list[str], generated: datetime | None = None, part: tuple[int, int] | None = None
) -> Path:
    """An NCIC extract file; ``part=(n, N)``: part n of an extract in N files."""
    generated = generated or datetime.now(UTC)
    header = f"HDR|NCIC-LPR|1|{generated.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    if part is not None:
        header += f"|{part[0]}/{part[1]}"
    columns = (FEEDS / "ncic_lpr_extract.txt").read_text().splitlines()[1]
    path.write_text("\n".join([header, columns, *rows, f"TRL|{len(rows)}"]) + "\n")
    return path


def sync_ncic(env, path: Path, *extra: str):
    return alpr(env, "hotlist", "sync", "--format", "ncic", "--from", str(path), *extra)


def approve(env, key: str, name: str, badge: str, rank: str):
    return alpr(env, "hotlist", "approve", key, "--by", name, "--badge", badge, "--rank", rank)


@pytest.fixture()
def env(topics_env):
    return topics_env


def topic_values(env, name: str) -> list[dict]:
    settings = settings_of(env)
    records = asyncio.run(read_topic(settings.kafka, settings.topic(name)))
    return [orjson.loads(r.value) if r.value is not None else {"tombstone": r.key.decode()} for r in records]


def entry_events(env) -> list[tuple[str, str]]:
    return [(v["event"], v["entry_key"]) for v in topic_values(env, "hotlist-changes") if "entry_key" in v]


def current_keys(env) -> set[str]:
    settings = settings_of(env)
    records = asyncio.run(read_topic(settings.kafka, settings.topic("hotlist")))
    state: dict[str, bool] = {}
    for r in records:
        state[r.key.decode()] = r.value is not None
    return {k for k, alive in state.items() if alive}


def test_sync_is_a_diff_and_resync_emits_nothing(env, tmp_path) -> None:
    first = sync_ncic(env, ncic_extract(tmp_path / "a.txt", NCIC_ROWS))
    assert first.returncode == 0, first.stderr
    assert "synced ncic" in first.stdout and "4 added" in first.stdout and "1 dropped (P5)" in first.stdout
    assert "Immigration Violator" in first.stderr
    assert current_keys(env) == {"ncic:V123456789", "ncic:V223456780", "ncic:W300000111", "ncic:M400000222"}
    before = entry_events(env)
    assert len(before) == 4

    again = sync_ncic(env, ncic_extract(tmp_path / "b.txt", NCIC_ROWS))
    assert again.returncode == 0 and "0 added, 0 updated, 0 removed, 4 unchanged" in again.stdout
    assert len(entry_events(env)) == 4  # nothing new in the history

    changed = [r.replace("|Felony warrant", "|Felony warrant (updated)") for r in NCIC_ROWS[:4]]
    changed.append("L|L600000444|CA0431000|6NEW600|CA|2027|PC|||||||SJ-26-009999|")
    third = sync_ncic(env, ncic_extract(tmp_path / "c.txt", changed))
    assert "1 added, 1 updated, 0 removed" in third.stdout, third.stdout + third.stderr
    after = entry_events(env)
    assert len(after) == 6 and set(after) - set(before) == {
        ("HotlistEntryUpdated", "ncic:W300000111"),
        ("HotlistEntryAdded", "ncic:L600000444"),
    }

    for value in topic_values(env, "hotlist-changes"):
        validator("hotlist_change").validate(value)
    for value in topic_values(env, "hotlist-sources"):
        validator("hotlist_source").validate(value)
    sources = alpr(env, "hotlist", "sources")
    assert sources.returncode == 0
    line = next(line for line in sources.stdout.splitlines() if line.startswith("ncic"))
    assert line.split()[1] == "5" and "fresh" in line
    assert "checksum sha256:" in sources.stdout


def test_removal_guard_and_force(env, tmp_path) -> None:
    assert sync_ncic(env, ncic_extract(tmp_path / "a.txt", NCIC_ROWS)).returncode == 0
    smaller = ncic_extract(tmp_path / "b.txt", NCIC_ROWS[:2])  # removes 2 of 4
    refused = sync_ncic(env, smaller)
    assert refused.returncode == 2
    assert "would remove 2 of 4 ncic entries" in refused.stderr and "--force" in refused.stderr
    assert len(current_keys(env)) == 4  # nothing changed
    status = alpr(env, "hotlist", "sources").stdout
    assert "too_many_removals" in status
    forced = sync_ncic(env, smaller, "--force")
    assert forced.returncode == 0 and "2 removed" in forced.stdout
    assert current_keys(env) == {"ncic:V123456789", "ncic:V223456780"}


def test_truncated_and_older_extracts_change_nothing(env, tmp_path) -> None:
    assert sync_ncic(env, ncic_extract(tmp_path / "a.txt", NCIC_ROWS)).returncode == 0
    truncated = tmp_path / "t.txt"
    truncated.write_text(
        "\n".join(ncic_extract(tmp_path / "full.txt", NCIC_ROWS[:1]).read_text().splitlines()[:-1])
    )
    result = sync_ncic(env, truncated)
    assert result.returncode == 2 and "truncated" in result.stderr
    older = ncic_extract(tmp_path / "old.txt", NCIC_ROWS[:1], generated=datetime.now(UTC) - timedelta(days=2))
    result = sync_ncic(env, older)
    assert result.returncode == 2 and "older than the ncic extract already loaded" in result.stderr
    assert len(current_keys(env)) == 4
    refusals = [v for v in topic_values(env, "hotlist-changes") if v.get("event") == "HotlistSyncRefused"]
    assert [r["reason_code"] for r in refusals] == ["truncated", "older"]


def test_svs_lists_sync_as_their_own_sources(env) -> None:
    for name in ("svs_slr.csv", "svs_sfr.csv"):
        result = alpr(env, "hotlist", "sync", "--format", "svs", "--from", str(FEEDS / name))
        assert result.returncode == 0, result.stderr
    assert current_keys(env) == {"slr:SLR-2026-000981", "sfr:SFR-2026-004410"}
    mismatch = alpr(
        env, "hotlist", "sync", "--format", "svs", "--source", "svs", "--from", str(FEEDS / "svs_slr.csv")
    )
    assert mismatch.returncode == 2 and "holds list SLR" in mismatch.stderr


DEPT = [
    "hotlist",
    "add",
    "--plate",
    "8BOL042",
    "--state",
    "CA",
    "--reason",
    "PC 211 robbery suspect vehicle",
    "--case",
    "SJ-26-005120",
    "--entered-by",
    "Officer Dana Reyes",
    "--badge",
    "4417",
    "--assignment",
    "Southern Division patrol",
    "--entry-id",
    "BOLO-T1",
    "--expires",
    "7d",
]


def test_department_entry_needs_a_lieutenants_approval_p2(env) -> None:
    added = alpr(env, *DEPT)
    assert added.returncode == 0, added.stderr
    assert "local:BOLO-T1 pending; still missing: approved_by" in added.stdout
    assert current_keys(env) == set()  # not active yet
    assert "local:BOLO-T1" in alpr(env, "hotlist", "pending").stdout

    sergeant = approve(env, "local:BOLO-T1", "Sgt. Lee", "3001", "sergeant")
    assert sergeant.returncode == 2 and "lieutenant or above" in sergeant.stderr
    own = approve(env, "local:BOLO-T1", "Dana Reyes", "4417", "lieutenant")
    assert own.returncode == 2 and "own entry" in own.stderr
    assert current_keys(env) == set()

    approved = approve(env, "local:BOLO-T1", "Lt. Hale", "2210", "lieutenant")
    assert approved.returncode == 0, approved.stderr
    assert current_keys(env) == {"local:BOLO-T1"}
    assert "0 pending" in alpr(env, "hotlist", "pending").stdout
    [entry] = [v for v in topic_values(env, "hotlist") if "entry_id" in v]
    assert entry["approved_by"]["name"] == "Lt. Hale" and entry["expires_at"] is not None

    other = alpr(
        env,
        "hotlist",
        "remove",
        "local:BOLO-T1",
        "--by",
        "Officer Kim",
        "--badge",
        "5555",
        "--reason",
        "done",
    )
    assert other.returncode == 2 and "only the entering member" in other.stderr
    designee = alpr(
        env,
        "hotlist",
        "remove",
        "local:BOLO-T1",
        "--by",
        "Officer Kim",
        "--badge",
        "5555",
        "--designee-of",
        "4417",
        "--reason",
        "vehicle located",
    )
    assert designee.returncode == 0, designee.stderr
    assert current_keys(env) == set()
    for name, schema in (("hotlist-changes", "hotlist_change"), ("hotlist", "hotlist_entry")):
        for value in topic_values(env, name):
            if "tombstone" not in value:
                validator(schema).validate(value)
    events = [v for v in topic_values(env, "hotlist-changes") if v.get("entry_key") == "local:BOLO-T1"]
    assert [e["event"] for e in events] == [
        "HotlistEntryProposed",
        "HotlistEntryApproved",
        "HotlistEntryRemoved",
    ]
    assert events[2]["by"]["badge"] == "5555" and events[2]["designee_of"] == "4417"


def test_incomplete_entry_cannot_be_approved(env) -> None:
    no_case = [a for a in DEPT if a not in ("--case", "SJ-26-005120")]
    assert alpr(env, *no_case).returncode == 0
    result = approve(env, "local:BOLO-T1", "Lt. Hale", "2210", "lieutenant")
    assert result.returncode == 2 and "case_number" in result.stderr and "(P2)" in result.stderr
    assert current_keys(env) == set()


def test_immigration_purpose_is_refused_for_department_entries_p5(env) -> None:
    args = [a if a != "PC 211 robbery suspect vehicle" else "Immigration status check" for a in DEPT]
    result = alpr(env, *args)
    assert result.returncode == 2 and "(P5)" in result.stderr
    assert "0 pending" in alpr(env, "hotlist", "pending").stdout


def test_flock_import_is_pending_and_reports_outcomes(env) -> None:
    result = alpr(
        env,
        "hotlist",
        "import",
        "--format",
        "flock",
        str(FEEDS / "flock_export.csv"),
        "--entered-by",
        "Officer Dana Reyes",
        "--badge",
        "4417",
        "--assignment",
        "Southern patrol",
    )
    assert result.returncode == 0, result.stderr
    assert "1 dropped p5" in result.stdout and "1 errors" in result.stdout
    assert "1 pending approval" in result.stdout and "2 pending incomplete" in result.stdout
    assert "nothing was activated" in result.stdout
    assert current_keys(env) == set()
    changelog = alpr(env, "hotlist", "import", "--format", "flock", str(FEEDS / "flock_changelog.csv"))
    assert changelog.returncode == 0 and "1 removed" in changelog.stdout
    pending = alpr(env, "hotlist", "pending").stdout
    assert "2QRS345" not in pending and "8BOL042" in pending and "2 pending" in pending
    for value in topic_values(env, "hotlist-pending"):
        if "tombstone" not in value:
            validator("hotlist_pending").validate(value)


def http(method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, method=method, data=json.dumps(body).encode() if body is not None else None
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_http_endpoint(env) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "hotlist", "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/hotlist"
    try:
        wait_for(lambda: http("GET", f"{base}/sources")[0] == 200 if _up(port) else False, 30, "the endpoint")
        entry = {
            "source": "local",
            "entry_id": "HTTP-1",
            "plate": "7GH?2*",
            "plate_state": "CA",
            "list_type": "bolo",
            "reason": "PC 187 homicide: partial plate from a witness",
            "case_number": "SJ-26-005333",
            "entered_by": {"name": "Det. Kim Tran", "badge": "3981", "assignment": "Homicide"},
        }
        assert http("POST", f"{base}/entries", entry) == (
            202,
            {
                "entry_key": "local:HTTP-1",
                "status": "pending",
                "missing": ["approved_by (lieutenant's approval)"],
            },
        )
        assert http("POST", f"{base}/entries", {**entry, "plate": "7*"})[0] == 422  # P6
        assert http("POST", f"{base}/entries", {**entry, "plate_state": "California"})[0] == 400
        status, body = http(
            "POST",
            f"{base}/entries/local:HTTP-1/approve",
            {"by": {"name": "Sgt. B", "badge": "9", "rank": "sergeant"}},
        )
        assert status == 403 and "lieutenant" in body["error"]
        status, body = http(
            "POST",
            f"{base}/entries/local:HTTP-1/approve",
            {"by": {"name": "Lt. O", "badge": "1875", "rank": "lieutenant"}},
        )
        assert status == 200 and body["status"] == "active"
        assert (
            http(
                "DELETE", f"{base}/entries/local:HTTP-1", {"by": {"name": "X", "badge": "1"}, "reason": "x"}
            )[0]
            == 403
        )
        assert (
            http("DELETE", f"{base}/entries/local:NOPE", {"by": {"name": "X", "badge": "1"}, "reason": "x"})[
                0
            ]
            == 404
        )
        assert (
            http(
                "DELETE",
                f"{base}/entries/local:HTTP-1",
                {"by": {"name": "Det. Kim Tran", "badge": "3981"}, "reason": "arrest made"},
            )[0]
            == 200
        )
        assert current_keys(env) == set()
    finally:
        server.terminate()
        server.wait(10)


def _up(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_keep_in_sync_retries_then_syncs_and_flags_staleness(env, tmp_path) -> None:
    """The feed is missing at first (retry with backoff), arrives (synced at the next try), then goes
    stale: one HotlistSourceStale per stale period, not one per round."""
    settings = settings_of(env)
    path = tmp_path / "feed" / "extract.txt"
    sleeps: list[float] = []
    start = datetime.now(UTC).replace(microsecond=0)
    clock = {"now": start}

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            path.parent.mkdir()
            ncic_extract(path, NCIC_ROWS, generated=start)
        if len(sleeps) == 4:
            clock["now"] += timedelta(hours=25)  # no newer extract for a day

    asyncio.run(
        keep_in_sync(
            settings,
            "ncic",
            path,
            None,
            timedelta(hours=12),
            clock=lambda: clock["now"],
            sleep=sleep,
            rounds=6,
        )
    )
    assert sleeps[:3] == [1.0, 2.0, 12 * 3600.0]  # backoff while missing, then the interval

    async def status() -> dict:
        async with HotlistStore(settings) as store:
            return (await store.source_status())["ncic"]

    assert asyncio.run(status())["entry_count"] == 4
    stale = [v for v in topic_values(env, "hotlist-changes") if v.get("event") == "HotlistSourceStale"]
    assert [v["fresh_as_of"] for v in stale] == [None, start.isoformat()]  # never synced; then a day old
