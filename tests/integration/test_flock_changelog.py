"""A Flock hot-list change log in Flock's own block layout, imported with the CLI on the real broker
(issue 17, item 5; P2, P5, P15, P21).

The log is newest-first, as Flock exports it: the import applies it in time order (a removed plate
stays removed), maps state names, sets aside case values that are no case numbers (the entry waits
incomplete and cannot be approved, P2), skips expired entries and caps "never" by the profile's
longest entry life, counting both. A refused import changes nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from tests.conftest import alpr, settings_of
from tests.integration.kafka_helpers import read_topic
from tests.integration.test_hotlists import cast

pytestmark = pytest.mark.integration


@dataclass
class Block:
    """One event of the log, ``days`` before the import."""

    days: float
    action: str
    hotlist: str
    plate: str
    state: str = "CA"
    reason: str = ""
    case: str = ""
    expiry: str = "Never"


def block_log(path: Path, now: datetime, blocks: list[Block]) -> dict[str, datetime]:
    """A change log in Flock's block layout, newest-first as Flock writes it, with times relative
    to ``now`` (US style, Pacific time, as the real export). Returns each plate's last event time."""
    pacific = timedelta(hours=-8)
    out = ["Flock Safety - Custom Hot List Change Log", f"Exported: {now:%m/%d/%Y %I:%M:%S %p} UTC", ""]
    times: dict[str, datetime] = {}
    for block in sorted(blocks, key=lambda b: b.days):  # newest first; equal times keep list order
        when = (now - timedelta(days=block.days)).replace(microsecond=0)
        times.setdefault(block.plate, when)
        local = when + pacific
        out += [
            f"Date: {local:%m/%d/%Y, %I:%M:%S %p} PST",
            f"Action: {block.action}",
            f"Hotlist Name: {block.hotlist}",
            f"License: {block.plate}",
            f"State: {block.state}",
            f"Reason: {block.reason}",
            f"Case: {block.case}",
            f"Expiry: {block.expiry}",
            "User: jdoe@sjpd",
            "-" * 40,
        ]
    path.write_text("\n".join(out) + "\n")
    return times


def latest(env: dict[str, str], topic: str) -> dict[str, dict | None]:
    settings = settings_of(env)
    state: dict[str, dict | None] = {}
    for r in asyncio.run(read_topic(settings.kafka, settings.topic(topic))):
        state[r.key.decode()] = orjson.loads(r.value) if r.value is not None else None
    return {k: v for k, v in state.items() if v is not None}


def changes(env: dict[str, str]) -> list[dict]:
    settings = settings_of(env)
    return [
        orjson.loads(r.value)
        for r in asyncio.run(read_topic(settings.kafka, settings.topic("hotlist-changes")))
    ]


def key(hotlist: str, plate: str) -> str:
    return f"local:flock-{hotlist.lower().replace(' - ', '-').replace(' ', '-')}-{plate}"


ROBBERY, STOLEN, FELONY, FOLLOW = (
    "Robbery suspects",
    "Stolen Vehicles - local",
    "Felony vehicles",
    "Custom - follow up",
)
BLOCKS = [
    Block(1, "Removed", FOLLOW, "4RMV505"),  # after its addition in time, before it in the file
    Block(2, "Added", FOLLOW, "4RMV505", reason="PC 459 burglary suspect vehicle", case="SJ-26-004514"),
    Block(3, "Updated", ROBBERY, "3EQL606", reason="PC 211 robbery, armed", case="SJ-26-004513"),
    Block(3, "Added", ROBBERY, "3EQL606", reason="PC 211 robbery", case="SJ-26-004513"),
    Block(4, "Added", STOLEN, "2BAD707", state="Atlantis", reason="10851 VC stolen vehicle"),
    Block(
        5, "Added", FELONY, "6FEL303", state="Nevada", reason="PC 245 assault with a deadly weapon", case=","
    ),
    Block(6, "Added", STOLEN, "8STL101", state="california", reason="10851 VC stolen vehicle", case="TBD"),
    Block(7, "Added", ROBBERY, "7RBY202", state="Calif.", reason="PC 211 robbery", case="SJ-26-004512"),
    Block(
        400, "Added", STOLEN, "5OLD404", reason="10851 VC stolen vehicle", case="none", expiry="2025-06-30"
    ),
]


@pytest.fixture()
def people(topics_env) -> dict[str, dict[str, str]]:
    """The CLI environments of the signed-in officer, lieutenant and dispatcher, and of nobody."""
    signed_in = cast(topics_env)
    return {**{key: signed_in.as_(key) for key in ("reyes", "hale", "lee")}, "nobody": signed_in.nobody}


def test_block_change_log_imported_in_time_order_with_states_cases_and_expiry(
    topics_env, people, tmp_path
) -> None:
    env = topics_env
    now = datetime.now(UTC)
    log = tmp_path / "flock_changes.txt"
    times = block_log(log, now, BLOCKS)
    args = ["hotlist", "import", "--format", "flock", str(log)]

    # P21: not signed in, or a role that may not enter department entries: refused, nothing changes.
    nobody = alpr(people["nobody"], *args)
    assert nobody.returncode == 2 and "sign in" in nobody.stderr
    dispatcher = alpr(people["lee"], *args)
    assert dispatcher.returncode == 2 and "P21" in dispatcher.stderr
    assert latest(env, "hotlist-pending") == {} and changes(env) == []

    result = alpr(people["reyes"], *args)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "1 skipped expired" in out and "1 errors" in out and "1 removed" in out, out
    assert "2 superseded" in out and "4 expiry capped" in out, out
    assert "2 pending approval" in out and "2 pending incomplete" in out, out
    assert "nothing was activated" in out
    assert "(block 5)" in result.stderr and "'Atlantis'" in result.stderr  # the refused event, by block
    assert "the Case 'TBD' is not a case or incident number" in result.stderr
    assert "the Case ',' is not a case or incident number" in result.stderr

    pending = latest(env, "hotlist-pending")
    assert set(pending) == {
        key(ROBBERY, "3EQL606"),
        key(FELONY, "6FEL303"),
        key(STOLEN, "8STL101"),
        key(ROBBERY, "7RBY202"),
    }  # 4RMV505 removed, 5OLD404 expired, 2BAD707 refused
    entries = {k.rsplit("-", 1)[1]: v["entry"] for k, v in pending.items()}
    assert entries["3EQL606"]["reason"].startswith("PC 211 robbery, armed")  # the later of two equal times
    assert (entries["6FEL303"]["plate_state"], entries["8STL101"]["plate_state"]) == ("NV", "CA")
    assert entries["7RBY202"]["plate_state"] == "CA"
    assert entries["8STL101"]["case_number"] is None and entries["6FEL303"]["case_number"] is None
    assert entries["7RBY202"]["case_number"] == "SJ-26-004512"
    for plate in ("3EQL606", "6FEL303", "8STL101", "7RBY202"):  # "Never", capped from the event
        expires = datetime.fromisoformat(entries[plate]["expires_at"])
        assert expires == times[plate] + timedelta(days=365), plate
    assert {v["missing"][0] for k, v in pending.items() if "8STL101" in k or "6FEL303" in k} == {
        "case_number"
    }
    assert not any("4RMV505" in c.get("entry_key", "") for c in changes(env))  # never queued
    assert latest(env, "hotlist") == {}

    # P2: the entry whose Case was "," cannot be approved; the complete one can.
    refused = alpr(people["hale"], "hotlist", "approve", key(FELONY, "6FEL303"))
    assert refused.returncode == 2 and "case_number" in refused.stderr and "(P2)" in refused.stderr
    assert latest(env, "hotlist") == {} and key(FELONY, "6FEL303") in latest(env, "hotlist-pending")
    approved = alpr(people["hale"], "hotlist", "approve", key(ROBBERY, "7RBY202"))
    assert approved.returncode == 0, approved.stderr
    assert set(latest(env, "hotlist")) == {key(ROBBERY, "7RBY202")}

    # A later log (newest-first CSV) removes an active and a pending entry in one batch; a removal
    # of an entry never imported is counted, not an error.
    removals = tmp_path / "removals.csv"
    stamp = (now + timedelta(seconds=1)).isoformat()
    removals.write_text(
        "Date,Action,Hotlist Name,License,State,Reason,Case,Expiry\n"
        f"{stamp},Removed,{ROBBERY},7RBY202,CA,,,\n"
        f"{stamp},Removed,{STOLEN},8STL101,CA,,,\n"
        f"{stamp},Removed,{STOLEN},9NOT999,CA,,,\n"
    )
    second = alpr(people["reyes"], "hotlist", "import", "--format", "flock", str(removals))
    assert second.returncode == 0, second.stderr
    assert "2 removed" in second.stdout and "1 removal of unknown" in second.stdout, second.stdout
    assert latest(env, "hotlist") == {}
    assert set(latest(env, "hotlist-pending")) == {key(ROBBERY, "3EQL606"), key(FELONY, "6FEL303")}
    removed = [c for c in changes(env) if c["event"] == "HotlistEntryRemoved"]
    assert {c["entry_key"] for c in removed} == {key(ROBBERY, "7RBY202"), key(STOLEN, "8STL101")}
    assert all(c["reason"] == "removed in the vendor's change log" for c in removed)
