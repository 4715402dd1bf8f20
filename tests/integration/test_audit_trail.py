"""The audit trail on the embedded broker: written by processes at once, verified, forged, reported
and sampled through the `alpr audit` commands (P14, P15, P23)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from streams.access.audit import record_hash
from streams.kafka.connection import Connection
from tests.conftest import ROOT, alpr, settings_of
from tests.integration.kafka_helpers import add_user, login, read_topic

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)

#: Each process writes its records with record_access, all at once (its chain serializes them).
WRITER = """
import asyncio, json, sys
from datetime import datetime
from streams.access.audit import AccessRecorded, record_access
from streams.settings import Settings

async def main() -> None:
    settings = Settings.from_env()
    records = []
    for r in json.loads(sys.argv[1]):
        at = datetime.fromisoformat(r.pop("at"))
        positional = [r.pop(k) for k in ("user", "action", "case_number", "purpose", "query", "result_count")]
        records.append(AccessRecorded(at, *positional, **r))
    await asyncio.gather(*(record_access(settings, record) for record in records))

asyncio.run(main())
"""


def rec(
    minutes_ago: int, user: str, action: str, case: str | None, purpose: str, **kw: Any
) -> dict[str, Any]:
    return {
        "at": (NOW - timedelta(minutes=minutes_ago)).isoformat(),
        "user": user,
        "action": action,
        "case_number": case,
        "purpose": purpose,
        "query": kw.pop("query", {}),
        "result_count": kw.pop("result_count", 0),
        **kw,
    }


FIRST = [
    rec(50, "Det. Kim Tran", "replay", "SJ-26-004512", "homicide investigation", query={"plate": "7ABC123"},
        result_count=3, badge="4411", agency="SJPD", crime_type="187 PC"),
    rec(45, "Det. Kim Tran", "hold_release", "SJ-26-004512", "evidence hold", query={"read_id": "r-9"},
        result_count=1, reason="case closed", agency="SJPD"),
    rec(40, "Analyst Mo Diaz", "sign_in", None, None, agency="SJPD"),
    rec(35, "Sgt. Bo Lee", "export", "OPD-26-007731", "armed robbery suspect vehicle",
        query={"partial": "7AB*"}, result_count=2, agency="Oakland PD", crime_type="211 PC"),
]  # fmt: skip
SECOND = [
    rec(30, "Ofc. Ana Ruiz", "search", None, "stolen vehicle follow up", query={"plate": "8XYZ999"},
        result_count=1, agency="SJPD", crime_type="10851 VC"),
    rec(25, "Ofc. Ana Ruiz", "search", None, "immigration status check", query={"plate": "5DEF456"},
        decision="refused", reason="P22: ALPR data may not be used for immigration enforcement",
        agency="SJPD"),
    rec(20, "Det. Kim Tran", "hold_release", "SJ-26-004512", "evidence hold", query={"read_id": "r-8"},
        result_count=1, reason="case closed", agency="SJPD"),
    rec(15, "Lt. Sam Park", "sign_in", None, None, agency="SJPD"),
]  # fmt: skip


def write_concurrently(env: dict[str, str]) -> None:
    """Two processes, each its own chain, writing at the same time."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, json.dumps(records)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for records in (FIRST, SECOND)
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err


async def produce_raw(kafka: Connection, topic: str, key: bytes, value: bytes) -> tuple[int, int]:
    """A record written around the project's code, as someone with access to Kafka could."""
    producer = AIOKafkaProducer(**kafka.options())
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, value, key=key)
        return sent.partition, sent.offset
    finally:
        await producer.stop()


@pytest.fixture()
def env(topics_env):
    return topics_env


def test_audit_trail_is_verified_reported_sampled_and_forgery_is_found(env) -> None:
    settings = settings_of(env)
    write_concurrently(env)
    records = asyncio.run(read_topic(settings.kafka, settings.topic("audit")))
    values = [orjson.loads(r.value) for r in records]
    assert len(values) == 8 and len({v["chain"] for v in values}) == 2
    assert all(r.key == v["user"].encode() for r, v in zip(records, values, strict=True))
    assert sorted(v["seq"] for v in values) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert len({r.partition for r in records}) > 1

    # The auditor (P21: audit.read) signs in: this process's chain adds the directory's three
    # records (home agency, user, training), the login's process one more (its sign-in).
    auditor = asyncio.run(add_user(settings, "ray", "auditor", badge="X-3"))
    env = login(env, auditor)
    verify = alpr(env, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.startswith("audit trail intact: 12 records in 4 chains (oldest ")

    # the window around the 8 records' own times, which end before NOW (fixed when the module is
    # imported, which may be many minutes before this test runs), so the auditor's are left out
    window = ((NOW - timedelta(hours=1)).isoformat(), NOW.isoformat())
    report = alpr(env, "audit", "report", "--from", window[0], "--to", window[1])
    assert report.returncode == 0, report.stderr
    assert "WARNING" not in report.stdout
    assert "8 accesses, 1 refused, 8 records returned" in report.stdout.splitlines()[0]
    rows = {" ".join(line.split()[:-3]): line.split()[-3:] for line in report.stdout.splitlines() if line}
    assert rows["Det. Kim Tran"] == ["3", "0", "5"]
    assert rows["Ofc. Ana Ruiz"] == ["2", "1", "1"]
    assert rows["Sgt. Bo Lee"] == ["1", "0", "2"]
    assert rows["Oakland PD"] == ["1", "0", "2"]
    assert rows["search"] == ["2", "1", "1"]

    sample = alpr(env, "audit", "sample", "--n", "3", "--months", "6", "--seed", "1")
    assert sample.returncode == 0, sample.stderr
    out = sample.stdout
    assert out.startswith("random sample of 3 of 3 searches from ")
    blocks = out.split("\n\n")[1:-1]
    assert len(blocks) == 3
    [flagged] = [b for b in blocks if "FLAG: NO CASE OR INCIDENT NUMBER (P23)" in b]
    assert "Ofc. Ana Ruiz (SJPD)  search, 1 result" in flagged and "crime type: 10851 VC" in flagged
    assert any("Det. Kim Tran #4411 (SJPD)  replay, 3 results" in b for b in blocks)
    assert any(
        "Sgt. Bo Lee (Oakland PD)  export, 2 results" in b and "case number: OPD-26-007731" in b
        for b in blocks
    )
    assert "1 of 3 sampled searches have no case or incident number (P23)" in out

    # A forged copy of the replay's record that hides what it returned, then a record whose
    # prev_hash links to nothing.
    original = next(v for v in values if v["action"] == "replay")
    forged = {**original, "result_count": 0}
    bootstrap, topic = settings.kafka, settings.topic("audit")
    where = asyncio.run(produce_raw(bootstrap, topic, forged["user"].encode(), orjson.dumps(forged)))
    last = max((v for v in values if v["chain"] == original["chain"]), key=lambda v: v["seq"])
    dangling = {**last, "at": NOW.isoformat(), "seq": last["seq"] + 1, "prev_hash": "f" * 64}
    dangling["hash"] = record_hash(dangling)
    asyncio.run(produce_raw(bootstrap, topic, dangling["user"].encode(), orjson.dumps(dangling)))

    broken = alpr(env, "audit", "verify")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    first, *rest = broken.stdout.splitlines()
    assert first.startswith(
        f"AUDIT TRAIL BROKEN at partition {where[0]} offset {where[1]} "
        f"(chain {original['chain']}, seq {original['seq']}): hash mismatch"
    ), broken.stdout
    further = [line.strip() for line in rest[1:] if line.startswith("  partition ")]
    assert any(re.search(r"seq 4\): prev_hash mismatch", line) for line in further), broken.stdout
    # P14: the forged copy keeps the replay's time, so once NOW is over an hour old (the module is
    # imported before the test runs) it is also back-dated against the records before it
    assert all("prev_hash mismatch" in line or "back-dated" in line for line in further), broken.stdout
    assert "no signed checkpoint: nothing attests the trail's head (P14)" in broken.stdout

    warned = alpr(env, "audit", "report", "--from", window[0], "--to", window[1])
    assert warned.returncode == 0 and warned.stdout.startswith("WARNING: the audit trail does not verify")
    assert "8 accesses" in warned.stdout  # the forged records are left out
