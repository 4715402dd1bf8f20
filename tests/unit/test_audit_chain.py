"""The audit trail's hash chains show alteration and removal, and signed checkpoints of its head show
rebuilt chains, back-dating and cut heads (P14, P15); the report and the random sample of searches
(P15, P23) are pure functions over the records."""

from __future__ import annotations

import random
import stat
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streams.access.audit import GENESIS, AccessRecorded, chain_record, record_hash
from streams.access.audit_tools import (
    draw_sample,
    format_report,
    format_sample,
    format_verify,
    is_search,
    missing_case_number,
    months_before,
    published_digests,
    summarize,
    verify_chain,
)
from streams.access.checkpoint import (
    Checkpoint,
    Mark,
    PartitionHead,
    decode_checkpoint,
    public_key_text,
    published_line,
    sign_checkpoint,
    signing_key,
    trusted_keys,
)
from streams.codec import validator
from streams.errors import ConfigError
from streams.matching.normalize import partition_for
from streams.settings import Settings

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PARTITIONS = 3

Raw = tuple[int, int, bytes]
KEY = Ed25519PrivateKey.generate()
TRUSTED = frozenset({public_key_text(KEY)})
RETENTION = NOW - timedelta(days=731)


@dataclass
class Log:
    """An in-memory audit topic: records land on the partition of their key, like TopicWriter's."""

    partitions: dict[int, list[bytes]] = field(default_factory=lambda: {p: [] for p in range(PARTITIONS)})
    newest: str = GENESIS
    checkpoints: list[Raw] = field(default_factory=list)  # the audit-checkpoints topic

    def append(self, user: str, value: bytes) -> tuple[int, int]:
        partition = partition_for(user, PARTITIONS)
        self.partitions[partition].append(value)
        self.newest = orjson.loads(value)["hash"]
        return partition, len(self.partitions[partition]) - 1

    def records(self) -> list[Raw]:
        return [(p, o, v) for p, values in self.partitions.items() for o, v in enumerate(values)]

    def checkpoint(self, at: datetime, key: Ed25519PrivateKey = KEY) -> bytes:
        """Sign every partition's first and newest record now, as `alpr audit checkpoint` does."""

        def mark(values: list[bytes], offset: int) -> Mark:
            data = orjson.loads(values[offset])
            return Mark(offset, data["hash"], datetime.fromisoformat(data["at"]))

        heads = [
            PartitionHead(p, 0, len(v), mark(v, 0), mark(v, len(v) - 1))
            if v
            else PartitionHead(p, 0, 0, None, None)
            for p, v in self.partitions.items()
        ]
        raw = orjson.dumps(sign_checkpoint(key, "alpr.audit", heads, at))
        self.checkpoints.append((0, len(self.checkpoints), raw))
        return raw

    def verify(self, records: list[Raw] | None = None, **kw: Any) -> Any:
        """verify_chain over the records (all by default) and this log's checkpoints."""
        kw.setdefault("trusted", TRUSTED)
        return verify_chain(
            self.records() if records is None else records, checkpoints=self.checkpoints, **kw
        )


@dataclass
class Writer:
    """One chain, written like AuditWriter does it."""

    log: Log
    chain: str = field(default_factory=lambda: str(uuid.uuid4()))
    seq: int = 0
    prev: str | None = None
    written: list[tuple[int, int]] = field(default_factory=list)

    def write(self, record: AccessRecorded) -> tuple[int, int]:
        if self.prev is None:
            self.prev = self.log.newest
        data = chain_record(record.to_dict(), self.chain, self.seq, self.prev)
        validator("audit_record")(data)
        self.seq, self.prev = self.seq + 1, data["hash"]
        where = self.log.append(record.user, orjson.dumps(data))
        self.written.append(where)
        return where


USERS = ["Det. Kim Tran", "Ofc. Ana Ruiz", "Sgt. Bo Lee", "Analyst Mo Diaz", "Lt. Sam Park"]


def access(at: datetime, user: str = "Det. Kim Tran", **changes: Any) -> AccessRecorded:
    """A replay with a case number, purpose, crime type and agency, unless ``changes`` say otherwise."""
    base = AccessRecorded(
        at,
        user,
        "replay",
        "SJ-26-004512",
        "homicide investigation",
        {"plate": "7ABC123"},
        3,
        agency="SJPD",
        crime_type="187 PC",
    )
    return replace(base, **changes)


def trail(
    start: datetime = NOW - timedelta(days=1), step: timedelta = timedelta(minutes=5)
) -> tuple[Log, list[Writer]]:
    """Three chains: one writes, then two interleave; 24 records over all partitions."""
    log = Log()
    first, second, third = Writer(log), Writer(log), Writer(log)
    t = start
    for i in range(8):
        first.write(access(t, USERS[i % len(USERS)]))
        t += step
    for i in range(8):
        second.write(access(t, USERS[(i + 1) % len(USERS)], action="search"))
        third.write(access(t, USERS[(i + 2) % len(USERS)], action="hold_release"))
        t += step
    return log, [first, second, third]


def without(records: list[Raw], *places: tuple[int, int]) -> list[Raw]:
    return [r for r in records if (r[0], r[1]) not in places]


def test_records_validate_and_hash_their_canonical_json() -> None:
    log, [writer, *_] = trail()
    data = orjson.loads(log.partitions[writer.written[0][0]][writer.written[0][1]])
    assert data["seq"] == 0 and data["prev_hash"] == GENESIS and data["chain"] == writer.chain
    assert data["agency"] == "SJPD" and data["crime_type"] == "187 PC"
    assert data["hash"] == record_hash(data) == record_hash({k: data[k] for k in reversed(list(data))})
    assert AccessRecorded.from_dict(data) == access(NOW - timedelta(days=1), USERS[0])


def test_an_intact_trail_verifies() -> None:
    log, writers = trail()
    result = verify_chain(log.records())
    assert result.intact, result.problems
    assert (result.records, result.chains) == (24, 3)
    assert result.oldest == NOW - timedelta(days=1)
    assert len(result.accepted) == 24
    oldest = NOW - timedelta(days=1)
    newest = oldest + 15 * timedelta(minutes=5)
    assert format_verify(result)[0] == (
        f"audit trail intact: 24 records in 3 chains (oldest {oldest.isoformat()}, "
        f"newest {newest.isoformat()})"
    )
    assert {p for w in writers for p, _ in w.written} == set(range(PARTITIONS))  # chains span partitions


def test_the_order_records_are_read_in_does_not_matter() -> None:
    log, _ = trail()
    records = log.records()
    random.Random(7).shuffle(records)
    assert verify_chain(records).intact


def test_a_chain_spread_over_partitions_out_of_offset_order_verifies() -> None:
    log = Log()
    writer = Writer(log)
    where = [writer.write(access(NOW + timedelta(minutes=i), user)) for i, user in enumerate(USERS * 2)]
    assert len({p for p, _ in where}) > 1
    assert verify_chain(log.records()).intact


def test_altering_a_field_is_a_hash_mismatch_named_at_that_record() -> None:
    log, [_, second, _] = trail()
    partition, offset = second.written[3]
    data = orjson.loads(log.partitions[partition][offset])
    data["result_count"] = 0  # hide what was returned
    log.partitions[partition][offset] = orjson.dumps(data)
    result = verify_chain(log.records())
    assert not result.intact
    first = result.first
    assert first is not None and (first.partition, first.offset) == (partition, offset)
    assert (first.chain, first.seq, first.kind) == (second.chain, 3, "altered")
    assert len(result.problems) == 1  # the next record still links to the stored hash
    line = format_verify(result)[0]
    where = f"partition {partition} offset {offset} (chain {second.chain}, seq 3)"
    assert line.startswith(f"AUDIT TRAIL BROKEN at {where}: hash mismatch")
    assert len(result.accepted) == 23


def test_altering_a_record_and_its_hash_breaks_the_next_link() -> None:
    log, [first_writer, *_] = trail()
    partition, offset = first_writer.written[2]
    data = orjson.loads(log.partitions[partition][offset])
    data["purpose"] = "homicide investigation (approved)"
    data["hash"] = record_hash(data)
    log.partitions[partition][offset] = orjson.dumps(data)
    result = verify_chain(log.records())
    first = result.first
    assert first is not None and first.kind == "prev_hash" and first.seq == 3
    assert (first.partition, first.offset) == first_writer.written[3]


def test_deleting_a_middle_record_is_a_seq_gap_named_at_the_next_record() -> None:
    log, [_, _, third] = trail()
    result = verify_chain(without(log.records(), third.written[4]))
    first = result.first
    assert first is not None and first.kind == "removed"
    assert (first.partition, first.offset, first.chain, first.seq) == (*third.written[5], third.chain, 5)
    assert "seq 5 follows seq 3" in first.what and "seq 4 missing" in first.what
    assert len(result.problems) == 1
    assert len(result.accepted) == 23  # the record after the gap is genuine: the report keeps it


def test_deleting_a_whole_chain_leaves_an_unknown_anchor() -> None:
    log = Log()
    early, removed, later = Writer(log), Writer(log), Writer(log)
    for i, user in enumerate(USERS * 2):  # every partition starts with records nobody removes
        early.write(access(NOW + timedelta(minutes=i), user))
    for i, user in enumerate(USERS):
        removed.write(access(NOW + timedelta(hours=1, minutes=i), user, action="search"))
    later.write(access(NOW + timedelta(hours=2), "Lt. Sam Park"))
    assert orjson.loads(log.partitions[later.written[0][0]][later.written[0][1]])["prev_hash"] == removed.prev
    result = verify_chain(without(log.records(), *removed.written))
    first = result.first
    assert first is not None and first.kind == "unknown_anchor"
    assert (first.partition, first.offset, first.chain, first.seq) == (*later.written[0], later.chain, 0)
    assert "unknown anchor" in format_verify(result)[0]


def test_the_first_broken_link_is_the_earliest_and_the_rest_are_counted() -> None:
    log, [first_writer, second, _] = trail()
    late = second.written[6]
    early = first_writer.written[1]
    for partition, offset in (late, early):
        data = orjson.loads(log.partitions[partition][offset])
        data["user"] = "someone else"
        log.partitions[partition][offset] = orjson.dumps(data)
    result = verify_chain(log.records())
    assert [(p.partition, p.offset) for p in result.problems] == [early, late]
    lines = format_verify(result)
    assert lines[0].startswith(f"AUDIT TRAIL BROKEN at partition {early[0]} offset {early[1]}")
    assert lines[1] == "1 further problem:"


def test_an_unreadable_record_is_a_broken_link() -> None:
    log, _ = trail()
    log.partitions[1].append(b"{not json")
    log.partitions[2].append(b"")
    result = verify_chain(log.records())
    assert {(p.partition, p.offset, p.kind) for p in result.problems} == {
        (1, len(log.partitions[1]) - 1, "unreadable"),
        (2, len(log.partitions[2]) - 1, "unreadable"),
    }


def test_a_record_without_chain_fields_is_a_broken_link() -> None:
    log, _ = trail()
    data = access(NOW).to_dict()  # as the trail was written before it had chains
    log.partitions[0].append(orjson.dumps(data))
    [problem] = verify_chain(log.records()).problems
    assert problem.kind == "unreadable" and "not a valid audit record" in problem.what


def test_a_second_record_with_a_valid_hash_in_the_same_place_is_an_insertion() -> None:
    log, [_, second, _] = trail()
    partition, offset = second.written[2]
    forged = orjson.loads(log.partitions[partition][offset])
    forged["case_number"] = "SJ-26-999999"
    forged["hash"] = record_hash(forged)
    log.partitions[0].append(orjson.dumps(forged))
    [problem] = verify_chain(log.records()).problems
    assert (problem.partition, problem.offset, problem.kind) == (0, len(log.partitions[0]) - 1, "inserted")
    assert f"partition {partition} offset {offset}" in problem.what  # the genuine one


def test_an_identical_copy_is_a_producer_retry_not_a_break() -> None:
    log, [first_writer, *_] = trail()
    partition, offset = first_writer.written[5]
    log.partitions[partition].append(log.partitions[partition][offset])
    result = verify_chain(log.records())
    assert result.intact and result.duplicates == 1 and result.records == 24


def expired(log: Log, count: int) -> list[Raw]:
    """The topic after retention removed each partition's first ``count`` records."""
    return [r for r in log.records() if r[1] >= count]


def test_an_expired_head_of_the_topic_is_not_an_error_when_a_checkpoint_shows_it_p14() -> None:
    log, _ = trail(start=NOW - timedelta(days=800), step=timedelta(days=1))
    log.checkpoint(NOW - timedelta(days=776))
    records = expired(log, 3)
    result = log.verify(records, kept_since=RETENTION)
    assert result.intact, result.problems
    assert result.before_window > 0 and result.window_start is not None
    assert any("before the retained window" in line for line in format_verify(result))


def test_a_cut_head_that_no_checkpoint_attests_is_broken_p14() -> None:
    """The same expiry without a signed checkpoint: nothing shows the partitions ever reached the
    removed offsets, so a cut (DeleteRecords by someone with Kafka access) is not excused."""
    log, _ = trail(start=NOW - timedelta(days=800), step=timedelta(days=1))
    result = log.verify(expired(log, 3), kept_since=RETENTION)
    missing = [p for p in result.problems if p.kind == "missing_head"]
    assert {p.partition for p in missing} == set(range(PARTITIONS))
    assert all(p.offset == 3 and "no signed checkpoint" in p.what for p in missing)
    assert format_verify(result)[0].startswith("AUDIT TRAIL BROKEN at partition ")


def test_an_expired_head_excuses_nothing_inside_the_window() -> None:
    log, [_, second, _] = trail(start=NOW - timedelta(days=800), step=timedelta(days=1))
    log.checkpoint(NOW - timedelta(days=776))
    records = without(expired(log, 2), second.written[5])  # heads lost up to day 11; seq 5 is day 13
    [problem] = log.verify(records).problems
    assert (problem.kind, problem.chain, problem.seq) == ("removed", second.chain, 6)


def test_records_younger_than_the_retention_cannot_have_expired_p14() -> None:
    """Cutting the head of a partition (DeleteRecords) looks like expiry, but the checkpoint shows
    the records removed were younger than the audit retention."""
    log = Log()
    writer = Writer(log)
    for i in range(15):
        writer.write(access(NOW - timedelta(days=1, minutes=-i), USERS[i % len(USERS)]))
    log.checkpoint(NOW - timedelta(hours=20))
    partition, offset = next(w for w in writer.written[1:] if w[0] != writer.written[0][0])
    records = [r for r in log.records() if r[0] != partition or r[1] > offset]
    assert log.verify(records).intact  # without the retention nothing tells
    result = log.verify(records, kept_since=RETENTION)
    assert {p.kind for p in result.problems} == {"missing_head", "removed"}
    [cut] = [p for p in result.problems if p.kind == "missing_head"]
    assert (cut.partition, cut.offset) == (partition, offset + 1)
    assert "within the audit retention" in cut.what and "removed, not expired" in cut.what


def test_a_removed_chain_from_before_the_window_is_not_an_error() -> None:
    log = Log()
    old, later = Writer(log), Writer(log)
    for i, user in enumerate(USERS):
        old.write(access(NOW - timedelta(days=800, minutes=-i), user))
    for i, user in enumerate(USERS * 2):
        later.write(access(NOW - timedelta(days=800, minutes=-30 - i), user))
    log.checkpoint(NOW - timedelta(days=799))
    records = [r for r in log.records() if (r[0], r[1]) not in set(old.written)]
    result = log.verify(records, kept_since=RETENTION)
    assert result.intact, result.problems
    assert result.before_window == 1  # the later chain's anchor


# -- signed checkpoints (P14) ----------------------------------------------------------------------


def kinds(result: Any) -> set[str]:
    return {p.kind for p in result.problems}


def test_a_checkpoint_is_signed_and_its_digest_is_what_gets_published() -> None:
    log, _ = trail()
    raw = log.checkpoint(NOW)
    found = decode_checkpoint(raw, TRUSTED)
    assert isinstance(found, Checkpoint)
    assert found.records == 24 and found.signed_at == NOW and found.key == public_key_text(KEY)
    line = published_line(found)
    assert line.startswith(f"sha256 {found.digest} signed 2026-03-01T12:00:00+00:00 (24 records: partition 0")
    assert published_digests(f"latest: {line}") == [found.digest]
    result = log.verify()
    assert result.intact and result.checkpoints == 1
    assert result.latest is not None and result.latest.digest == found.digest
    assert f"1 signed checkpoint(s); latest: {line}" in format_verify(result)


def test_the_signing_key_is_kept_owner_only_and_the_published_keys_are_trusted_p14(tmp_path: Path) -> None:
    """The key is created 0600 in a 0700 directory on first use (never by a verifier); a verifier
    trusts the keys published in ALPR_AUDIT_PUBLIC_KEYS and the local key when it exists."""
    key_file = tmp_path / "keys" / "audit.key"
    settings = Settings.from_env(
        {"ALPR_AUDIT_PUBLIC_KEYS": " k1, k2 ,", "ALPR_AUDIT_SIGNING_KEY_FILE": str(key_file)}
    )
    assert trusted_keys(settings) == {"k1", "k2"} and not key_file.exists()
    key = signing_key(settings)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert trusted_keys(settings) == {"k1", "k2", public_key_text(key)}
    assert public_key_text(signing_key(settings)) == public_key_text(key)  # read, not made again
    key_file.write_text("not a key")
    with pytest.raises(ConfigError, match="is not an audit signing key"):
        signing_key(settings)


def test_a_trail_with_checkpoints_all_along_verifies() -> None:
    log = Log()
    writers = [Writer(log), Writer(log)]
    for i in range(30):
        writers[i % 2].write(access(NOW - timedelta(hours=30 - i), USERS[i % len(USERS)]))
        if i % 5 == 4:
            log.checkpoint(NOW - timedelta(hours=30 - i, minutes=-1))
    result = log.verify(kept_since=RETENTION)
    assert result.intact, result.problems
    assert result.checkpoints == 6 and len(result.accepted) == 30


def test_a_checkpoint_with_a_bad_signature_or_an_unknown_key_is_broken_p14() -> None:
    log, _ = trail()
    good = orjson.loads(log.checkpoint(NOW))
    tampered = {**good, "signed_at": (NOW + timedelta(days=1)).isoformat()}
    log.checkpoints.append((0, 1, orjson.dumps(tampered)))
    log.checkpoint(NOW, key=Ed25519PrivateKey.generate())  # someone else's key, not published
    result = log.verify()
    bad = [p for p in result.problems if p.kind == "checkpoint"]
    assert [p.offset for p in bad] == [1, 2]
    assert bad[0].what.startswith("bad signature: the checkpoint was altered after it was signed")
    assert bad[1].what.startswith("signed by an unknown key") and "a forged checkpoint" in bad[1].what
    assert "audit-checkpoints partition 0 offset 1: bad signature" in format_verify(result)[0]
    assert result.checkpoints == 1  # only the genuine one counts
    assert not verify_chain(log.records(), checkpoints=log.checkpoints).intact  # no trusted key at all


def test_a_chain_re_anchored_on_genesis_mid_stream_is_broken_p14() -> None:
    """A forger appends a chain of their own, anchored on "genesis" as if the topic were empty: the
    hash chain alone cannot tell, the records before it on its partition can."""
    log, _ = trail()
    forger = Writer(log)
    forger.prev = GENESIS
    for i in range(3):
        forger.write(access(NOW - timedelta(minutes=10 - i), USERS[0], result_count=0))
    result = log.verify()
    [problem] = result.problems
    assert (problem.kind, problem.chain, problem.seq) == ("genesis", forger.chain, 0)
    assert "re-anchored on genesis mid-stream" in problem.what
    assert len(result.accepted) == 24  # none of the forged chain's records is vouched for


def test_a_genesis_chain_on_an_empty_partition_is_broken_by_older_records_or_a_checkpoint_p14() -> None:
    """The forged chain is its partition's first record: the older records on other partitions tell
    and, once retention has removed those, the checkpoint that counted them does."""
    log = Log()
    honest = Writer(log)
    for i in range(5):
        honest.write(access(NOW - timedelta(hours=5 - i), USERS[0]))
    log.checkpoint(NOW - timedelta(minutes=50))
    empty = next(p for p, values in log.partitions.items() if not values)
    user = next(u for u in (f"user {i}" for i in range(100)) if partition_for(u, PARTITIONS) == empty)
    forger = Writer(log)
    forger.prev = GENESIS
    where = forger.write(access(NOW + timedelta(minutes=30), user))
    assert where == (empty, 0)
    [problem] = log.verify().problems
    assert problem.kind == "genesis" and "is older: the topic was not empty" in problem.what
    # retention removed the honest partition (the checkpoint shows it reached offset 4)
    honest_partition = partition_for(USERS[0], PARTITIONS)
    bounds = {p: (5, 5) if p == honest_partition else (0, len(v)) for p, v in log.partitions.items()}
    left = [r for r in log.records() if r[0] != honest_partition]
    [problem] = log.verify(left, bounds=bounds, kept_since=NOW - timedelta(minutes=10)).problems
    assert problem.kind == "genesis" and "already counted 5 audit records" in problem.what
    assert verify_chain(left).intact  # without the checkpoint nothing tells


def test_chains_begun_on_an_empty_topic_at_once_may_both_anchor_on_genesis() -> None:
    log = Log()
    first, second = Writer(log), Writer(log)
    first.prev = second.prev = GENESIS
    for i in range(6):
        (first if i % 2 else second).write(access(NOW + timedelta(seconds=i), USERS[0]))
    log.checkpoint(NOW + timedelta(minutes=1))
    assert log.verify().intact


def test_a_back_dated_record_is_broken_p14() -> None:
    log, [first, *_] = trail()
    where = first.write(access(NOW - timedelta(days=3), USERS[0]))
    [problem] = log.verify().problems
    assert (problem.kind, (problem.partition, problem.offset)) == ("backdated", where)
    assert "before the record before it" in problem.what


def test_a_record_dated_before_a_checkpoint_it_was_written_after_is_broken_p14() -> None:
    log = Log()
    writer = Writer(log)
    writer.write(access(NOW - timedelta(hours=5), USERS[0]))
    log.checkpoint(NOW - timedelta(hours=1))
    empty = next(p for p, values in log.partitions.items() if not values)
    user = next(u for u in (f"user {i}" for i in range(100)) if partition_for(u, PARTITIONS) == empty)
    writer.write(access(NOW - timedelta(hours=4), user))  # first on its partition: no record before it
    [problem] = log.verify().problems
    assert problem.kind == "backdated" and "written after the checkpoint signed" in problem.what


def test_a_record_rewritten_after_a_checkpoint_is_broken_p14() -> None:
    """The whole partition rebuilt with one record changed and every hash recomputed: each chain
    link holds, the checkpoint's hash at that offset does not."""
    log, [*_, last] = trail()
    log.checkpoint(NOW)
    partition, offset = last.written[-1]  # the newest record written: its chain's and partition's last
    assert offset == len(log.partitions[partition]) - 1
    data = orjson.loads(log.partitions[partition][offset])
    forged = {**data, "result_count": 0}
    forged["hash"] = record_hash(forged)
    log.partitions[partition][offset] = orjson.dumps(forged)
    assert verify_chain(log.records()).intact  # the chains alone cannot tell
    result = log.verify()
    rewritten = [p for p in result.problems if p.kind == "rewritten"]
    assert [(p.partition, p.offset) for p in rewritten] == [(partition, offset)]
    assert "says this offset holds hash" in rewritten[0].what
    assert len(result.accepted) == 23


def test_records_removed_from_a_partitions_end_after_a_checkpoint_are_broken_p14() -> None:
    log, _ = trail()
    log.checkpoint(NOW)
    partition = max(log.partitions, key=lambda p: len(log.partitions[p]))
    end = len(log.partitions[partition])
    records = [r for r in log.records() if r[0] != partition or r[1] < end - 1]
    result = log.verify(
        records, bounds={p: (0, len(v) - (p == partition)) for p, v in log.partitions.items()}
    )
    truncated = [p for p in result.problems if p.kind == "truncated"]
    assert [(p.partition, p.offset) for p in truncated] == [(partition, end - 1)]


def test_a_published_digest_must_be_among_the_signed_checkpoints_p14() -> None:
    log, _ = trail()
    published = decode_checkpoint(log.checkpoint(NOW - timedelta(minutes=1)), TRUSTED)
    assert isinstance(published, Checkpoint)
    result = log.verify(published=[published.digest.upper()])
    assert result.intact and result.published == (published.digest,)
    assert f"published checkpoint {published.digest} found, signed and matching" in format_verify(result)
    log.checkpoints.clear()  # the checkpoints topic rebuilt without it
    [problem] = log.verify(published=[published.digest]).problems
    assert problem.kind == "published" and problem.line().startswith(
        f"published checkpoint: {published.digest}"
    )


# -- report ----------------------------------------------------------------------------------------


def test_the_report_counts_by_user_agency_purpose_and_action() -> None:
    records = [
        access(NOW - timedelta(minutes=50), "Det. Kim Tran", result_count=3),
        access(
            NOW - timedelta(minutes=40), "Det. Kim Tran", purpose="Homicide  investigation", result_count=2
        ),
        access(
            NOW - timedelta(minutes=30),
            "Ofc. Ana Ruiz",
            action="search",
            purpose="immigration check",
            decision="refused",
            reason="P22",
            result_count=0,
            agency="Oakland PD",
        ),
        access(NOW - timedelta(days=3), "Ofc. Ana Ruiz"),  # outside the period
    ]
    report = summarize(records, NOW - timedelta(hours=1), NOW)
    assert (report.total.accesses, report.total.refused, report.total.results) == (3, 1, 5)
    assert (report.by_user["Det. Kim Tran"].accesses, report.by_user["Det. Kim Tran"].results) == (2, 5)
    assert report.by_user["Ofc. Ana Ruiz"].refused == 1
    assert report.by_agency["Oakland PD"].accesses == 1 and report.by_agency["SJPD"].accesses == 2
    assert report.by_purpose["homicide investigation"].accesses == 2
    assert report.by_action["search"].refused == 1
    lines = format_report(report)
    assert lines[0].endswith("3 accesses, 1 refused, 5 records returned")
    assert any(line.split() == ["Det.", "Kim", "Tran", "2", "0", "5"] for line in lines)
    assert any(line.split() == ["Ofc.", "Ana", "Ruiz", "1", "1", "0"] for line in lines)


# -- random sample ---------------------------------------------------------------------------------


def searches() -> list[AccessRecorded]:
    out = [
        access(NOW - timedelta(days=i), USERS[i % len(USERS)], case_number=f"SJ-26-{4500 + i:06d}")
        for i in range(1, 40)
    ]
    out.append(
        access(NOW - timedelta(days=10, hours=1), "Ofc. Ana Ruiz", case_number=None, purpose="follow up")
    )
    return out


def test_what_counts_as_a_search() -> None:
    assert is_search(access(NOW, action="replay", query={}))
    assert is_search(access(NOW, action="hold_add", query={"read_id": "r-1"}))
    assert is_search(access(NOW, action="console_lookup", query={"plate": "7ABC123"}))
    assert is_search(access(NOW, action="browse", query={"camera": "curtner-malone"}))
    assert not is_search(access(NOW, action="hold_release", query={"read_id": "r-1"}))
    assert not is_search(access(NOW, action="sign_in", query={}))
    assert not is_search(access(NOW, action="replay_export_view", query={"cameras": []}))


def test_a_case_number_in_the_field_or_the_purpose_counts() -> None:
    assert not missing_case_number(access(NOW, case_number="SJ-26-004512"))
    assert not missing_case_number(access(NOW, case_number=None, purpose="211 suspect, incident 26-123456"))
    assert missing_case_number(access(NOW, case_number=None, purpose="stolen vehicle follow up"))
    assert missing_case_number(access(NOW, case_number="n/a", purpose="investigation"))


def test_the_sample_is_uniform_over_recent_searches_and_reproducible_with_a_seed() -> None:
    records = searches() + [
        access(NOW - timedelta(days=2), action="hold_release", query={"read_id": "r"}),
        access(NOW - timedelta(days=2), action="search", decision="refused", reason="P22"),
        access(NOW - timedelta(days=400)),  # older than six months
    ]
    since = months_before(NOW, 6)
    sample, population = draw_sample(records, 10, since, NOW, seed=1)
    assert population == 40 and len(sample) == 10
    assert sample == draw_sample(list(reversed(records)), 10, since, NOW, seed=1)[0]
    assert sample != draw_sample(records, 10, since, NOW, seed=2)[0]
    assert all(is_search(r) and r.decision == "allowed" and r.at >= since for r in sample)
    assert sample == sorted(sample, key=lambda r: r.at)
    everything, _ = draw_sample(records, 100, since, NOW, seed=None)
    assert len(everything) == 40
    counts = {id(r): 0 for r in records}
    for seed in range(400):  # every search is drawn about equally often
        for r in draw_sample(records, 10, since, NOW, seed)[0]:
            counts[id(r)] += 1
    drawn = [c for c in counts.values() if c]
    assert len(drawn) == 40 and min(drawn) > 50 and max(drawn) < 160


def test_the_sample_flags_a_search_without_a_case_number() -> None:
    records = searches()
    sample, population = draw_sample(records, 40, months_before(NOW, 6), NOW, seed=3)
    lines = format_sample(sample, population, months_before(NOW, 6), NOW, 3)
    since = months_before(NOW, 6).isoformat()
    assert lines[0] == f"random sample of 40 of 40 searches from {since} to {NOW.isoformat()} (seed 3)"
    flagged = [i for i, line in enumerate(lines) if "FLAG: NO CASE OR INCIDENT NUMBER (P23)" in line]
    assert len(flagged) == 1
    block = "\n".join(lines[flagged[0] - 4 : flagged[0] + 1])
    assert (
        "Ofc. Ana Ruiz" in block
        and "case number: -" in block
        and "FLAG: VAGUE PURPOSE (P23)" in "\n".join(lines)
    )
    assert lines[-1].startswith("1 of 40 sampled searches have no case or incident number (P23)")


@pytest.mark.parametrize(
    ("now", "months", "expected"),
    [
        (datetime(2026, 8, 31, 9, tzinfo=UTC), 6, datetime(2026, 2, 28, 9, tzinfo=UTC)),
        (datetime(2026, 3, 1, tzinfo=UTC), 6, datetime(2025, 9, 1, tzinfo=UTC)),
        (datetime(2026, 1, 15, tzinfo=UTC), 1, datetime(2025, 12, 15, tzinfo=UTC)),
        (datetime(2026, 12, 31, tzinfo=UTC), 12, datetime(2025, 12, 31, tzinfo=UTC)),
    ],
)
def test_months_before_counts_calendar_months(now: datetime, months: int, expected: datetime) -> None:
    assert months_before(now, months) == expected
