"""Signed checkpoints of the audit trail on the embedded broker (P14): `alpr audit checkpoint` signs
the head with a key kept outside Kafka, `alpr audit verify` holds the trail to the checkpoints and
to digests published earlier, and each way of forging a trail someone with Kafka access has (a
chain re-anchored on genesis, a back-dated record, a record rewritten after a checkpoint, a head
cut as if by retention, a checkpoint signed with another key) is named broken with its reason."""

from __future__ import annotations

import asyncio
import contextlib
import re
import stat
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streams.access.audit import GENESIS, AccessRecorded, chain_record, record_access, record_hash
from streams.access.checkpoint import Checkpoint, decode_checkpoint, sign_checkpoint, trusted_keys
from streams.errors import BrokerError
from streams.kafka.topics import create_topics
from tests.conftest import alpr, settings_of
from tests.integration.kafka_helpers import (
    add_user,
    alpr_as,
    produce,
    read_topic,
    service_env,
)
from tests.integration.test_audit_trail import produce_raw

pytestmark = pytest.mark.integration

USERS = ["Det. Kim Tran", "Ofc. Ana Ruiz", "Sgt. Bo Lee", "Analyst Mo Diaz", "Lt. Sam Park"]


@pytest.fixture()
def env(topics_env):
    return topics_env


def genuine_trail(settings: Any, count: int = 10, hours_ago: float = 3) -> None:
    """Searches written through the project's own writer, hours old and in order (P15)."""
    start = datetime.now(UTC) - timedelta(hours=hours_ago)

    async def write() -> None:
        for i in range(count):
            record = AccessRecorded(
                start + timedelta(minutes=i),
                USERS[i % len(USERS)],
                "search",
                "SJ-26-004512",
                "stolen vehicle investigation",
                {"plate": f"7ABC{i:03d}"},
                i,
                agency="SJPD",
                crime_type="10851 VC",
            )
            await record_access(settings, record)

    asyncio.run(write())


def checkpoint(env: dict[str, str]) -> str:
    """`alpr audit checkpoint` as the nightly job's reporting service account; the digest it printed."""
    made = alpr(service_env(env, "reporting"), "audit", "checkpoint")
    assert made.returncode == 0, made.stdout + made.stderr
    found = re.search(r"audit checkpoint sha256 ([0-9a-f]{64}) signed ", made.stdout)
    assert found, made.stdout
    return found[1]


def checkpoints(settings: Any) -> list[Checkpoint]:
    records = asyncio.run(read_topic(settings.kafka, settings.topic("audit-checkpoints")))
    found = [decode_checkpoint(r.value, trusted_keys(settings)) for r in records]
    assert all(isinstance(c, Checkpoint) for c in found), found
    return [c for c in found if isinstance(c, Checkpoint)]


def audit_values(settings: Any) -> list[tuple[int, int, bytes, dict[str, Any]]]:
    records = asyncio.run(read_topic(settings.kafka, settings.topic("audit")))
    return [(r.partition, r.offset, r.key, orjson.loads(r.value)) for r in records]


def verify(env: dict[str, str], auditor: Any, *args: str) -> Any:
    return alpr_as(env, auditor, "audit", "verify", *args)


def test_a_genuine_trail_with_checkpoints_verifies_and_its_digest_is_published_p14(env, tmp_path) -> None:
    """Checkpoints signed along the way, the key 0600 in a 0700 directory, the public key printed
    for publication; verify passes and finds each published digest (given or in a file); the
    annual report prints the latest digest."""
    settings = settings_of(env)
    genuine_trail(settings, hours_ago=3)
    first = checkpoint(env)
    key_file = Path(env["ALPR_STATE_DIR"]) / "audit-signing.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    public = alpr(service_env(env, "reporting"), "audit", "checkpoint", "--public-key")
    assert public.returncode == 0 and trusted_keys(settings) == {public.stdout.strip()}
    genuine_trail(settings, count=4, hours_ago=1)
    auditor = asyncio.run(add_user(settings, "ray", "auditor", badge="X-3"))
    latest = checkpoint(env)

    result = verify(env, auditor, "--published", first, "--published", latest.upper())
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("audit trail intact: ")
    assert "2 signed checkpoint(s); latest: sha256 " + latest in result.stdout
    for digest in (first, latest):
        assert f"published checkpoint {digest} found, signed and matching" in result.stdout
    published = tmp_path / "published.txt"
    published.write_text(f"Annual report 2026: latest signed checkpoint sha256 {first} signed ...\n")
    assert verify(env, auditor, "--published-file", str(published)).returncode == 0
    bad = verify(env, auditor, "--published", "not-a-digest")
    assert bad.returncode == 2 and "is not a sha256 digest" in bad.stderr

    year = datetime.now(UTC).year
    out = tmp_path / "report"
    report = alpr(service_env(env, "reporting"), "report", "annual", "--year", str(year), "--out", str(out))
    assert report.returncode == 0, report.stdout + report.stderr
    text = (out / "report.md").read_text(encoding="utf-8")
    newest = max(checkpoints(settings), key=lambda c: c.signed_at)
    assert f"sha256 {newest.digest} signed " in text and newest.digest in (out / "report.html").read_text()
    assert "The audit trail verified intact against its signed checkpoints" in text


def test_forged_trails_are_broken_with_the_reason_p14(env) -> None:
    """A chain re-anchored on genesis, a back-dated record and a checkpoint signed with a key
    nobody published: each is named with its partition, offset and reason."""
    settings = settings_of(env)
    genuine_trail(settings)
    auditor = asyncio.run(add_user(settings, "ray", "auditor", badge="X-3"))
    checkpoint(env)
    assert verify(env, auditor).returncode == 0
    topic = settings.topic("audit")
    now = datetime.now(UTC)

    # 1. a chain of someone's own, anchored on genesis as if the topic had been empty
    fake = AccessRecorded(now, USERS[0], "search", "SJ-26-004512", "stolen vehicle", {"plate": "7ABC001"}, 0)
    reanchored = chain_record(fake.to_dict(), str(uuid.uuid4()), 0, GENESIS)
    where = asyncio.run(produce_raw(settings.kafka, topic, USERS[0].encode(), orjson.dumps(reanchored)))
    broken = verify(env, auditor)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert (
        f"partition {where[0]} offset {where[1]} (chain {reanchored['chain']}, seq 0): anchored on genesis"
        in broken.stdout
    ), broken.stdout
    assert "re-anchored on genesis mid-stream" in broken.stdout

    # 2. a record anchored on a real hash but dated two days back
    newest = max(audit_values(settings), key=lambda v: (v[3]["at"], v[1]))[3]
    old = AccessRecorded(now - timedelta(days=2), USERS[1], "search", "SJ-26-004512", "stolen vehicle", {}, 0)
    backdated = chain_record(old.to_dict(), str(uuid.uuid4()), 0, newest["hash"])
    where = asyncio.run(produce_raw(settings.kafka, topic, USERS[1].encode(), orjson.dumps(backdated)))
    broken = verify(env, auditor)
    assert re.search(
        rf"partition {where[0]} offset {where[1]} \(chain {backdated['chain']}, seq 0\): back-dated: dated ",
        broken.stdout,
    ), broken.stdout

    # 3. a checkpoint signed with another key
    stranger = Ed25519PrivateKey.generate()
    forged = sign_checkpoint(stranger, topic, checkpoints(settings)[0].partitions, now)
    cp_topic = settings.topic("audit-checkpoints")
    asyncio.run(produce(settings.kafka, cp_topic, [(b"checkpoint", orjson.dumps(forged), None)]))
    broken = verify(env, auditor)
    assert re.search(r"audit-checkpoints partition 0 offset 1: signed by an unknown key", broken.stdout)
    assert broken.stdout.startswith("AUDIT TRAIL BROKEN at audit-checkpoints partition 0 offset 1")


async def _admin(settings: Any) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(**settings.kafka.options(), request_timeout_ms=15000)
    await admin.start()
    return admin


def test_a_head_cut_as_if_by_retention_is_broken_p14(env) -> None:
    """DeleteRecords on a partition's head looks like retention. Without a checkpoint nothing
    attests the removed range; with one, it shows the records were younger than the audit
    retention: broken either way, naming the partition and its new first offset."""
    settings = settings_of(env)
    genuine_trail(settings, count=15)
    auditor = asyncio.run(add_user(settings, "ray", "auditor", badge="X-3"))
    values = audit_values(settings)
    partition = max({p for p, *_ in values}, key=lambda p: sum(v[0] == p for v in values))
    tp = TopicPartition(settings.topic("audit"), partition)

    async def cut(before: int) -> None:
        admin = await _admin(settings)
        try:
            await admin.delete_records({tp: RecordsToDelete(before)})
        finally:
            await admin.close()

    asyncio.run(cut(2))
    broken = verify(env, auditor)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert (
        f"partition {partition} offset 2: missing head: records 0-1 of partition {partition} are gone and "
        "no signed checkpoint shows" in broken.stdout
    ), broken.stdout

    checkpoint(env)
    asyncio.run(cut(3))
    broken = verify(env, auditor)
    assert broken.returncode == 1
    assert re.search(
        rf"partition {partition} offset 3: missing head: records 0-2 of partition {partition} are gone, but "
        r"the checkpoint signed \S+ shows offset \d+ written \S+, within the audit retention",
        broken.stdout,
    ), broken.stdout


def test_a_record_rewritten_after_a_checkpoint_is_broken_p14(env) -> None:
    """The audit topic deleted and written again, record for record at the same offsets, with one
    record changed and its hash recomputed: the checkpoint's hash at that offset no longer holds."""
    settings = settings_of(env)
    genuine_trail(settings)
    auditor = asyncio.run(add_user(settings, "ray", "auditor", badge="X-3"))
    checkpoint(env)
    [signed] = checkpoints(settings)
    head = next(h for h in signed.partitions if h.head is not None and h.head.offset > 0)
    assert head.head is not None
    values = sorted(audit_values(settings), key=lambda v: (v[0], v[1]))

    rewritten: list[tuple[bytes | None, bytes | None, int | None]] = []
    for partition, offset, key, value in values:
        if (partition, offset) == (head.partition, head.head.offset):
            value = {**value, "result_count": 0}
            value["hash"] = record_hash(value)
        rewritten.append((key, orjson.dumps(value), partition))

    async def rebuild() -> None:
        topic = settings.topic("audit")
        admin = await _admin(settings)
        try:
            await admin.delete_topics([topic])
            for _ in range(200):  # until the broker has finished deleting it
                with contextlib.suppress(BrokerError):  # "marked for deletion": tried again
                    if await create_topics(settings, only=["audit"]):
                        break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the audit topic could not be created again")
        finally:
            await admin.close()
        await produce(settings.kafka, topic, rewritten)

    asyncio.run(rebuild())
    broken = verify(env, auditor)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert re.search(
        rf"partition {head.partition} offset {head.head.offset} \(chain \S+, seq \d+\): rewritten: the "
        rf"checkpoint signed \S+ says this offset holds hash {head.head.hash[:12]}",
        broken.stdout,
    ), broken.stdout


def test_checkpoint_is_refused_to_the_wrong_role_and_without_sign_in_and_writes_nothing_p14(env) -> None:
    settings = settings_of(env)
    officer = asyncio.run(add_user(settings, "oli", "officer", badge="O-7"))
    refused = alpr_as(env, officer, "audit", "checkpoint")
    assert refused.returncode == 2 and "P21: the officer role may not audit.checkpoint" in refused.stderr
    anonymous = alpr(env, "audit", "checkpoint")
    assert anonymous.returncode != 0 and "sign in" in anonymous.stderr.lower(), anonymous.stderr
    assert asyncio.run(read_topic(settings.kafka, settings.topic("audit-checkpoints"))) == []
    assert not (Path(env["ALPR_STATE_DIR"]) / "audit-signing.key").exists()
