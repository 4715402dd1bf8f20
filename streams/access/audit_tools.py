"""Checking and reading the audit trail: ``alpr audit verify``, ``report`` and ``sample`` (P14, P15, P23).

The audit trail is only worth keeping two years if an auditor can tell that nothing was altered or
removed, so :func:`verify_chain` recomputes every hash and walks every writer's chain (see
:mod:`streams.access.audit` for how they are written), and holds the trail to the signed
checkpoints of its head (:mod:`streams.access.checkpoint`):

* a partition whose first records are gone (first offset above 0) is broken ("missing head")
  unless a signed checkpoint shows the partition reached the offset before its first record,
  and shows that record older than the audit retention (``kept_since``): only then did
  retention remove the range, not a person;
* a record that differs from the one a checkpoint signed at its offset, or a partition that
  now ends before an offset a checkpoint signed, is broken ("rewritten", "truncated");
* a record dated more than the slack before the record before it in its partition, or before
  a checkpoint signed before it was written, is broken ("backdated");
* a chain may anchor on "genesis" only at the very beginning of the topic: not after records
  older than it on its partition, nor after a checkpoint that counted records ("genesis");
* a checkpoint with a bad signature, or signed by a key not published, is broken; a published
  digest (``alpr audit verify --published``) that is not among the signed checkpoints is broken.

Kafka's delete policy removes whole segments from the head of each partition once they are older
than the retention; a missing record that may have gone that way is "before the retained window":

* the retained window starts at the newest first record among the partitions whose lost head a
  checkpoint excuses, and never later than ``kept_since`` (now minus the audit retention: nothing
  younger can have expired);
* a gap in a chain is allowed when the record before it is older than that; a chain whose first
  records are missing is allowed when any partition has lost its head;
* an anchor that names no record is allowed when its chain began before the newest lost head.

Times are the records' own ``at``, give or take a slack for clock skew and for the time between an
action and its record. A partition that retention has emptied entirely is not seen at all; with
the audit topic's few partitions keyed by user that does not happen in a working department.

The report (P15) and the random sample (P23) count only records the chain check accepts, and say
so when the trail does not verify. Pure functions first; the Kafka reading is at the end.
"""

from __future__ import annotations

import asyncio
import bisect
import random
import re
import secrets
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import fastjsonschema
import orjson
from aiokafka import TopicPartition

from streams.access.audit import GENESIS, AccessRecorded, record_hash
from streams.access.checkpoint import (
    Checkpoint,
    Mark,
    decode_checkpoint,
    latest,
    published_line,
    read_checkpoints,
    trusted_keys,
)
from streams.access.permissions import require
from streams.access.principal import Principal
from streams.access.purpose import case_numbers, is_vague, normalize_purpose
from streams.codec import validator
from streams.errors import InvalidRecord
from streams.kafka.log import log_ends, read_to_end, started_reader
from streams.kafka.topics import existing_partitions
from streams.settings import Settings

__all__ = [
    "SEARCH_ACTIONS",
    "AuditEntry",
    "BrokenLink",
    "Report",
    "Reported",
    "Sampled",
    "Tally",
    "Trail",
    "VerifyResult",
    "check_trail",
    "draw_sample",
    "format_report",
    "format_sample",
    "format_verify",
    "is_search",
    "missing_case_number",
    "checked_trail",
    "months_before",
    "published_digests",
    "read_audit",
    "read_trail",
    "report",
    "run_checkpoint",
    "sample",
    "verify",
    "summarize",
    "verify_chain",
]

#: Actions that read ALPR data (P23 samples them); any action whose query names a plate, a partial
#: plate or a camera counts too.
SEARCH_ACTIONS = frozenset({"replay", "search", "hold_add", "export"})
_SEARCH_KEYS = ("plate", "partial", "camera", "cameras", "camera_id")
#: Clock skew between writers, and the lag between an action's time and its record's write.
DEFAULT_SLACK = timedelta(hours=1)
_LONG_AGO = datetime.min.replace(tzinfo=UTC)
_MAX_LISTED = 10


# -- verification (pure) --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """A decoded audit record at its place in the log."""

    partition: int
    offset: int
    chain: str
    seq: int
    prev_hash: str
    hash: str  # as stored
    digest: str  # as recomputed: differs from ``hash`` when the record was altered
    record: AccessRecorded

    @property
    def intact(self) -> bool:
        return self.hash == self.digest


@dataclass(frozen=True, slots=True)
class BrokenLink:
    """Where the trail cannot be trusted, and why; ``kind`` is a stable code for tests and scripts:
    unreadable, altered, inserted, removed, prev_hash, unknown_anchor, missing_head, rewritten,
    truncated, backdated, genesis (P14); checkpoint (a checkpoint that does not verify) and
    published (a published digest not found) name the checkpoints topic instead."""

    partition: int
    offset: int
    chain: str | None
    seq: int | None
    kind: str
    what: str
    at: datetime = _LONG_AGO  # where it sits in time, to name the first one

    def line(self) -> str:
        if self.kind == "published":
            return f"published checkpoint: {self.what}"
        if self.kind == "checkpoint":
            return f"audit-checkpoints partition {self.partition} offset {self.offset}: {self.what}"
        if self.chain is None and self.seq is None and self.kind != "unreadable":
            return f"partition {self.partition} offset {self.offset}: {self.what}"
        chain = "?" if self.chain is None else self.chain
        seq = "?" if self.seq is None else str(self.seq)
        return f"partition {self.partition} offset {self.offset} (chain {chain}, seq {seq}): {self.what}"


@dataclass(frozen=True, slots=True)
class VerifyResult:
    records: int  # distinct records that decode
    chains: int
    oldest: datetime | None
    newest: datetime | None
    problems: tuple[BrokenLink, ...]  # the first broken link first
    duplicates: int = 0  # byte-identical copies of a record (a producer retry): counted once
    before_window: int = 0  # gaps and anchors explained by retention
    window_start: datetime | None = None  # None: no partition has lost its head
    accepted: tuple[AccessRecorded, ...] = ()  # what the chains vouch for, one per chain and seq
    checkpoints: int = 0  # signed by a trusted key
    latest: Checkpoint | None = None  # the newest of them: its digest is what gets published
    published: tuple[str, ...] = ()  # published digests found among them

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def first(self) -> BrokenLink | None:
        return self.problems[0] if self.problems else None


def _decode(partition: int, offset: int, raw: bytes) -> AuditEntry | BrokenLink:
    def broken(what: str, chain: Any = None, seq: Any = None) -> BrokenLink:
        return BrokenLink(
            partition,
            offset,
            chain if isinstance(chain, str) else None,
            seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
            "unreadable",
            what,
        )

    if not raw:
        return broken("an empty record (a tombstone) where an audit record should be")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return broken(f"not JSON ({exc}): a record was overwritten or written by something else")
    if not isinstance(data, dict):
        return broken(f"not an audit record (a JSON {type(data).__name__})")
    try:
        validator("audit_record")(data)
        record = AccessRecorded.from_dict(data)
    except fastjsonschema.JsonSchemaValueException as exc:
        return broken(f"not a valid audit record: {exc.message}", data.get("chain"), data.get("seq"))
    except InvalidRecord as exc:
        return broken(f"not a valid audit record: {exc}", data.get("chain"), data.get("seq"))
    return AuditEntry(
        partition,
        offset,
        data["chain"],
        data["seq"],
        data["prev_hash"],
        data["hash"],
        record_hash(data),
        record,
    )


def _located(link: BrokenLink, at: datetime) -> BrokenLink:
    return BrokenLink(link.partition, link.offset, link.chain, link.seq, link.kind, link.what, at)


def _link(entry: AuditEntry, kind: str, what: str) -> BrokenLink:
    return BrokenLink(entry.partition, entry.offset, entry.chain, entry.seq, kind, what, entry.record.at)


def _where(entry: AuditEntry) -> str:
    return f"partition {entry.partition} offset {entry.offset}"


def _short(digest: str) -> str:
    return digest if digest == GENESIS else digest[:12] + "..."


#: Problems that make a record's content untrustworthy: the report and the sample leave it out.
#: (After a removal or a dangling anchor the record named is genuine; what is missing is not. A
#: back-dated record is kept: its time is what is wrong, and the broken link says so. Every record
#: of a chain re-anchored on genesis is left out: nothing attests any of it.)
_SUSPECT = frozenset({"unreadable", "altered", "inserted", "prev_hash", "rewritten"})


@dataclass(frozen=True, slots=True)
class _Window:
    """What retention may have removed: see the module docstring."""

    start: datetime | None  # the newest first record of a partition whose lost head is excused
    gap_edge: datetime | None  # a gap after a record older than this may be expiry
    slack: timedelta


Bounds = Mapping[int, tuple[int, int]]


@dataclass(frozen=True, slots=True)
class _Decoded:
    entries: list[AuditEntry]
    unreadable: list[BrokenLink]
    by_partition: dict[int, dict[int, AuditEntry | BrokenLink]]  # partition -> offset -> item
    bounds: dict[int, tuple[int, int]]  # partition -> (first offset, end)


def _decode_all(records: Iterable[tuple[int, int, bytes]], bounds: Bounds | None) -> _Decoded:
    """Decode every record and place the unreadable ones in time. Without ``bounds`` (each
    partition's first offset and end, from Kafka) they are taken from the records."""
    by_partition: dict[int, dict[int, AuditEntry | BrokenLink]] = defaultdict(dict)
    for partition, offset, raw in records:
        by_partition[partition][offset] = _decode(partition, offset, raw)
    entries: list[AuditEntry] = []
    unreadable: list[BrokenLink] = []
    for items in by_partition.values():
        when = _LONG_AGO
        for offset in sorted(items):
            item = items[offset]
            if isinstance(item, AuditEntry):
                when = item.record.at
                entries.append(item)
            else:
                unreadable.append(_located(item, when))
    seen = {p: (min(items), max(items) + 1) for p, items in by_partition.items() if items}
    known = dict(bounds) if bounds is not None else {}
    for p, (first, end) in seen.items():
        start, stop = known.get(p, (first, end))
        known[p] = (min(start, first), max(stop, end))
    return _Decoded(entries, unreadable, dict(by_partition), known)


def _first_entry(items: Mapping[int, AuditEntry | BrokenLink]) -> AuditEntry | None:
    entries = [item for _, item in sorted(items.items()) if isinstance(item, AuditEntry)]
    return entries[0] if entries else None


def _marks(checkpoints: Iterable[Checkpoint], partition: int) -> list[tuple[Checkpoint, Mark]]:
    """Every record the checkpoints signed in ``partition``, with the checkpoint."""
    out = []
    for c in checkpoints:
        head = c.partition(partition)
        if head is not None:
            out += [(c, m) for m in (head.first, head.head) if m is not None]
    return out


def _heads(
    decoded: _Decoded, checkpoints: Sequence[Checkpoint], kept_since: datetime | None, slack: timedelta
) -> tuple[list[datetime], list[BrokenLink]]:
    """P14: a partition's lost head is retention only when a signed checkpoint shows the partition
    reached the offset before its first record, and that record older than the retention. Return
    the first records' times of the excused partitions and the problems of the others."""
    excused: list[datetime] = []
    problems: list[BrokenLink] = []
    for p, (start, _end) in sorted(decoded.bounds.items()):
        if start == 0:
            continue
        cut = f"missing head: records 0-{start - 1} of partition {p} are gone"
        reached = [(c, m) for c, m in _marks(checkpoints, p) if m.offset >= start - 1]
        if not reached:
            why = (
                f"{cut} and no signed checkpoint shows the partition reached offset {start - 1}: "
                "a cut of the partition's head, not retention"
            )
            problems.append(BrokenLink(p, start, None, None, "missing_head", why))
            continue
        checkpoint, mark = min(reached, key=lambda cm: (cm[1].offset, cm[0].signed_at))
        newest_gone = mark.at or checkpoint.signed_at  # at or after the last record removed
        if kept_since is not None and newest_gone > kept_since + slack:
            why = (
                f"{cut}, but the checkpoint signed {_time(checkpoint.signed_at)} shows offset "
                f"{mark.offset} written {_time(newest_gone)}, within the audit retention (kept since "
                f"{_time(kept_since)}): removed, not expired"
            )
            problems.append(BrokenLink(p, start, None, None, "missing_head", why))
            continue
        first = _first_entry(decoded.by_partition.get(p, {}))
        if first is not None:
            excused.append(first.record.at)
    return excused, problems


def _against_checkpoints(decoded: _Decoded, checkpoints: Sequence[Checkpoint]) -> list[BrokenLink]:
    """P14: every record a checkpoint signed that retention has not removed is still there, as signed."""
    problems: list[BrokenLink] = []
    seen: set[tuple[int, int, str]] = set()
    partitions = set(decoded.bounds) | {h.partition for c in checkpoints for h in c.partitions}
    for p in sorted(partitions):
        start, end = decoded.bounds.get(p, (0, 0))
        for checkpoint, mark in _marks(checkpoints, p):
            if mark.offset < start or (p, mark.offset, mark.hash) in seen:
                continue
            seen.add((p, mark.offset, mark.hash))
            signed = f"the checkpoint signed {_time(checkpoint.signed_at)}"
            when = mark.at or checkpoint.signed_at
            if mark.offset >= end:
                problems.append(
                    BrokenLink(
                        p,
                        mark.offset,
                        None,
                        None,
                        "truncated",
                        f"truncated: {signed} names offset {mark.offset} (hash {_short(mark.hash)}) but the "
                        f"partition now ends at offset {end - 1}: records were removed or the topic rebuilt",
                        when,
                    )
                )
                continue
            item = decoded.by_partition.get(p, {}).get(mark.offset)
            now_hash = item.hash if isinstance(item, AuditEntry) else None
            if isinstance(item, AuditEntry) and item.intact and item.hash == mark.hash:
                continue
            problems.append(
                BrokenLink(
                    p,
                    mark.offset,
                    item.chain if item is not None else None,
                    item.seq if item is not None else None,
                    "rewritten",
                    f"rewritten: {signed} says this offset holds hash {_short(mark.hash)}; it now holds "
                    f"{'no audit record' if now_hash is None else _short(now_hash)}: the record was replaced "
                    "after the checkpoint",
                    when,
                )
            )
    return problems


def _backdated(decoded: _Decoded, checkpoints: Sequence[Checkpoint], slack: timedelta) -> list[BrokenLink]:
    """P14: records are appended, so a record's time does not go back by more than the slack from
    the record before it in its partition, nor from a checkpoint signed before it was written."""
    problems: list[BrokenLink] = []
    for p, items in sorted(decoded.by_partition.items()):
        signed = sorted(
            (h.end, c.signed_at) for c in checkpoints if (h := c.partition(p)) is not None
        )  # a record at offset >= end was written after the checkpoint
        ends = [end for end, _ in signed]
        newest: list[datetime] = []
        for _, at in signed:
            newest.append(max(at, newest[-1]) if newest else at)
        before: AuditEntry | None = None
        for offset in sorted(items):
            entry = items[offset]
            if not isinstance(entry, AuditEntry):
                continue
            at = entry.record.at
            if before is not None and at < before.record.at - slack:
                problems.append(
                    _link(
                        entry,
                        "backdated",
                        f"back-dated: dated {_time(at)}, {_ago(before.record.at - at)} before the record "
                        f"before it ({_where(before)}, {_time(before.record.at)})",
                    )
                )
            else:
                i = bisect.bisect_right(ends, offset)
                if i and at < newest[i - 1] - slack:
                    problems.append(
                        _link(
                            entry,
                            "backdated",
                            f"back-dated: dated {_time(at)} but written after the checkpoint signed "
                            f"{_time(newest[i - 1])}",
                        )
                    )
            before = entry
    return problems


def _genesis(
    head: AuditEntry,
    decoded: _Decoded,
    checkpoints: Sequence[Checkpoint],
    slack: timedelta,
    oldest: AuditEntry,
) -> BrokenLink | None:
    """P14: "genesis" is the anchor of a chain begun on an empty topic, so everything else on the
    topic was written after the chain looked and found nothing: nothing is older than its first
    record by more than the slack, and no checkpoint signed before it counted records. Otherwise
    the chain was re-anchored on genesis mid-stream. (Dating the record earlier to hide that makes
    it back-dated. ``oldest`` is the oldest record not named back-dated already.)"""
    start, _end = decoded.bounds.get(head.partition, (0, 0))
    if head.offset > 0 and start > 0:
        return _link(
            head,
            "genesis",
            f"anchored on genesis at offset {head.offset}, after records 0-{start - 1} that are gone: "
            "a chain re-anchored on genesis mid-stream",
        )
    if oldest.record.at < head.record.at - slack:
        return _link(
            head,
            "genesis",
            f"anchored on genesis, but {_where(oldest)} ({_time(oldest.record.at)}) is older: the topic was "
            "not empty when this chain began, so it was re-anchored on genesis mid-stream",
        )
    counted = [c for c in checkpoints if c.records and c.signed_at < head.record.at - slack]
    if counted:
        first = min(counted, key=lambda c: c.signed_at)
        return _link(
            head,
            "genesis",
            f"anchored on genesis, but the checkpoint signed {_time(first.signed_at)} already counted "
            f"{first.records} audit records: a chain re-anchored on genesis mid-stream",
        )
    return None


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def _checkpoints(
    raw: Iterable[tuple[int, int, bytes]], trusted: Collection[str]
) -> tuple[list[Checkpoint], list[BrokenLink]]:
    """The checkpoints that verify with a trusted key, and a problem for each that does not."""
    good: list[Checkpoint] = []
    problems: list[BrokenLink] = []
    for partition, offset, value in sorted(raw):
        found = decode_checkpoint(value, trusted, (partition, offset))
        if isinstance(found, Checkpoint):
            good.append(found)
        else:
            problems.append(BrokenLink(partition, offset, None, None, "checkpoint", found))
    return good, problems


def _pick(chain: dict[int, list[AuditEntry]]) -> tuple[dict[int, AuditEntry], list[BrokenLink], int]:
    """One record per seq of a chain, the problems of the others, and the count of identical copies.

    Identical copies are producer retries. Of different records claiming one place, an intact one
    wins, preferably the one the next record links to; the other intact ones were inserted.
    """
    chosen: dict[int, AuditEntry] = {}
    problems: list[BrokenLink] = []
    duplicates = 0
    for seq, group in chain.items():
        distinct: dict[tuple[str, str], AuditEntry] = {}
        for entry in group:
            if (entry.hash, entry.digest) in distinct:
                duplicates += 1
            else:
                distinct[(entry.hash, entry.digest)] = entry
        candidates = list(distinct.values())
        valid = [e for e in candidates if e.intact]
        if not valid:
            chosen[seq] = candidates[0]  # named as altered already
            continue
        following = chain.get(seq + 1, [])
        linked = [e for e in valid if any(n.prev_hash == e.hash for n in following)]
        genuine = chosen[seq] = (linked or valid)[0]
        problems += [
            _link(
                other,
                "inserted",
                f"a second, different record claims this place in the chain (the other is at "
                f"{_where(genuine)}): a record was inserted or replaced",
            )
            for other in valid
            if other is not genuine
        ]
    return chosen, problems, duplicates


def _walk(chosen: dict[int, AuditEntry], known: set[str], window: _Window) -> tuple[list[BrokenLink], int]:
    """Check a chain's start (seq 0 and its anchor) and every link; return the problems and how
    many gaps or anchors retention explains."""
    problems: list[BrokenLink] = []
    before_window = 0
    order = sorted(chosen)
    head = chosen[order[0]]
    if order[0] > 0:
        if window.start is not None:
            before_window += 1
        else:
            problems.append(
                _link(
                    head,
                    "removed",
                    f"the chain starts at seq {order[0]}: seq 0-{order[0] - 1} missing "
                    f"({order[0]} record(s) removed)",
                )
            )
    elif head.prev_hash != GENESIS and head.prev_hash not in known:
        if window.start is not None and head.record.at <= window.start + window.slack:
            before_window += 1
        else:
            problems.append(
                _link(
                    head,
                    "unknown_anchor",
                    f"unknown anchor {_short(head.prev_hash)}: no record on the topic has that hash, "
                    "so the chain written before this one was removed",
                )
            )
    for a, b in pairwise(order):
        before, after = chosen[a], chosen[b]
        if b > a + 1:
            if window.gap_edge is not None and before.record.at < window.gap_edge + window.slack:
                before_window += 1
            else:
                missing = f"seq {a + 1}" if b == a + 2 else f"seq {a + 1}-{b - 1}"
                problems.append(
                    _link(
                        after,
                        "removed",
                        f"seq gap: seq {b} follows seq {a} ({_where(before)}); {missing} missing "
                        f"({b - a - 1} record(s) removed)",
                    )
                )
        elif after.prev_hash != before.hash:
            problems.append(
                _link(
                    after,
                    "prev_hash",
                    f"prev_hash mismatch: prev_hash {_short(after.prev_hash)} is not the hash of "
                    f"seq {a} ({_short(before.hash)} at {_where(before)}): this record or the one "
                    "before it was replaced",
                )
            )
    return problems, before_window


def verify_chain(
    records: Iterable[tuple[int, int, bytes]],
    *,
    kept_since: datetime | None = None,
    slack: timedelta = DEFAULT_SLACK,
    bounds: Bounds | None = None,
    checkpoints: Iterable[tuple[int, int, bytes]] = (),
    trusted: Collection[str] = frozenset(),
    published: Iterable[str] = (),
) -> VerifyResult:
    """Check the whole audit topic, given as (partition, offset, value) from each partition's first
    offset, in any order, against the signed checkpoints of its head (P14).

    ``bounds``: each partition's first offset and end as Kafka reports them (a partition retention
    or a cut emptied shows only there); without them they are taken from the records.
    ``checkpoints``: the records of the checkpoints topic; those not signed by one of the
    ``trusted`` public keys are broken links. ``published``: digests published earlier, each of
    which must be among the signed checkpoints. ``kept_since`` (now minus the audit retention)
    bounds what may have expired. ``slack`` allows for clock skew between writers and for the
    time between an action and its record. Every problem is a :class:`BrokenLink`; the first is the
    earliest in time (the record's ``at``; an unreadable record takes the time of the record before
    it in its partition; problems of the checkpoints and of a partition's head come first; of two
    problems at one record, its back-dating is named second).
    """
    signed, problems = _checkpoints(checkpoints, trusted)
    decoded = _decode_all(records, bounds)
    entries = decoded.entries
    problems += decoded.unreadable
    excused, lost = _heads(decoded, signed, kept_since, slack)
    backdated = _backdated(decoded, signed, slack)
    problems += lost + _against_checkpoints(decoded, signed) + backdated
    start = max(excused) if excused else None
    gap_edge = start if start is None or kept_since is None else min(start, kept_since)
    window = _Window(start, gap_edge, slack)
    problems += [
        _link(
            e,
            "altered",
            f"hash mismatch: the record was altered after it was written (stored hash "
            f"{_short(e.hash)}, its content hashes to {_short(e.digest)})",
        )
        for e in entries
        if not e.intact
    ]
    chains: dict[str, dict[int, list[AuditEntry]]] = defaultdict(lambda: defaultdict(list))
    for entry in sorted(entries, key=lambda e: (e.partition, e.offset)):
        chains[entry.chain][entry.seq].append(entry)
    known = {e.hash for e in entries}
    duplicates = before_window = 0
    kept: list[AuditEntry] = []
    forged_chains: set[str] = set()
    misdated = {(b.partition, b.offset) for b in backdated}
    dated = [e for e in entries if (e.partition, e.offset) not in misdated]
    oldest = min(dated, key=lambda e: (e.record.at, e.partition, e.offset), default=None)
    for name, chain in chains.items():
        chosen, inserted, copies = _pick(chain)
        broken, explained = _walk(chosen, known, window)
        first = chosen.get(0)
        if first is not None and first.intact and first.prev_hash == GENESIS:
            reanchored = _genesis(first, decoded, signed, slack, oldest or first)
            if reanchored is not None:
                broken.append(reanchored)
                forged_chains.add(name)  # nothing in it is attested
        problems += inserted + broken
        duplicates += copies
        before_window += explained
        kept += [chosen[seq] for seq in sorted(chosen)]
    found = {c.digest for c in signed}
    wanted = list(dict.fromkeys(d.lower() for d in published))
    problems += [
        BrokenLink(
            0,
            -1,
            None,
            None,
            "published",
            f"{digest} is not among the signed checkpoints on the audit-checkpoints topic: the "
            "checkpoints, and so perhaps the trail, were rewritten or removed after it was published",
        )
        for digest in wanted
        if digest not in found
    ]
    suspect = {(p.partition, p.offset) for p in problems if p.kind in _SUSPECT}
    times = [e.record.at for e in entries]
    return VerifyResult(
        records=len(entries) - duplicates,
        chains=len(chains),
        oldest=min(times, default=None),
        newest=max(times, default=None),
        problems=tuple(sorted(problems, key=lambda p: (p.at, p.partition, p.offset, p.kind == "backdated"))),
        duplicates=duplicates,
        before_window=before_window,
        window_start=window.start,
        accepted=tuple(
            e.record for e in kept if (e.partition, e.offset) not in suspect and e.chain not in forged_chains
        ),
        checkpoints=len(signed),
        latest=latest(signed),
        published=tuple(d for d in wanted if d in found),
    )


def _time(when: datetime | None) -> str:
    return "-" if when is None else when.astimezone(UTC).isoformat(timespec="seconds")


def format_verify(result: VerifyResult) -> list[str]:
    """The lines ``alpr audit verify`` prints."""
    if result.intact:
        lines = [
            f"audit trail intact: {result.records} records in {result.chains} chains "
            f"(oldest {_time(result.oldest)}, newest {_time(result.newest)})"
        ]
    else:
        first, rest = result.problems[0], result.problems[1:]
        lines = [f"AUDIT TRAIL BROKEN at {first.line()}"]
        if rest:
            lines.append(f"{len(rest)} further problem{'s' if len(rest) != 1 else ''}:")
            lines += [f"  {p.line()}" for p in rest[:_MAX_LISTED]]
            if len(rest) > _MAX_LISTED:
                lines.append(f"  ... and {len(rest) - _MAX_LISTED} more")
        lines.append(
            f"read {result.records} records in {result.chains} chains "
            f"(oldest {_time(result.oldest)}, newest {_time(result.newest)})"
        )
    if result.before_window:
        lines.append(
            f"{result.before_window} chain gap(s) or anchor(s) lie before the retained window "
            f"(starts {_time(result.window_start)}): expired by retention, not broken"
        )
    if result.duplicates:
        lines.append(f"{result.duplicates} identical copies of records (producer retries) counted once")
    if result.latest is None:
        lines.append(
            "no signed checkpoint: nothing attests the trail's head (P14); the worker signs one every "
            "ALPR_AUDIT_CHECKPOINT_S, or run 'alpr audit checkpoint'"
        )
    else:
        lines.append(f"{result.checkpoints} signed checkpoint(s); latest: {published_line(result.latest)}")
    lines += [f"published checkpoint {d} found, signed and matching" for d in result.published]
    return lines


# -- report (pure) --------------------------------------------------------------------------------


@dataclass(slots=True)
class Tally:
    accesses: int = 0
    refused: int = 0
    results: int = 0

    def add(self, record: AccessRecorded) -> None:
        self.accesses += 1
        self.refused += record.decision == "refused"
        self.results += record.result_count


@dataclass(frozen=True, slots=True)
class Report:
    """Who accessed what, and why, over a period (P15): the tables an auditor reads."""

    start: datetime
    end: datetime
    total: Tally
    by_user: dict[str, Tally] = field(default_factory=dict)
    by_agency: dict[str, Tally] = field(default_factory=dict)
    by_purpose: dict[str, Tally] = field(default_factory=dict)
    by_action: dict[str, Tally] = field(default_factory=dict)


def summarize(records: Iterable[AccessRecorded], start: datetime, end: datetime) -> Report:
    """Count the accesses whose ``at`` lies in [start, end]. Purposes are compared folded (case,
    spacing, URL encoding), so one purpose typed two ways is one row."""
    report = Report(start, end, Tally())
    for record in records:
        if not start <= record.at <= end:
            continue
        report.total.add(record)
        purpose = normalize_purpose(record.purpose) or "(none)"
        for table, key in (
            (report.by_user, record.user),
            (report.by_agency, record.agency or "(none)"),
            (report.by_purpose, purpose),
            (report.by_action, record.action),
        ):
            table.setdefault(key, Tally()).add(record)
    return report


def _table(title: str, rows: dict[str, Tally]) -> list[str]:
    width = max([len(title), *(len(k) for k in rows)])
    lines = [f"{title:<{width}}  {'accesses':>8}  {'refused':>7}  {'results':>8}"]
    for key, tally in sorted(rows.items(), key=lambda kv: (-kv[1].accesses, kv[0])):
        lines.append(f"{key:<{width}}  {tally.accesses:>8}  {tally.refused:>7}  {tally.results:>8}")
    return lines


def format_report(report: Report) -> list[str]:
    """The lines ``alpr audit report`` prints: a header, then one table per dimension."""
    total = report.total
    lines = [
        f"audit report {_time(report.start)} .. {_time(report.end)}: {total.accesses} accesses, "
        f"{total.refused} refused, {total.results} records returned"
    ]
    for title, rows in (
        ("user", report.by_user),
        ("agency", report.by_agency),
        ("purpose", report.by_purpose),
        ("action", report.by_action),
    ):
        lines += ["", *_table(title, rows)]
    return lines


# -- random sample (pure) ---------------------------------------------------------------------------


def is_search(record: AccessRecorded) -> bool:
    """Did the action read ALPR data? The known search actions, or a query naming a plate, a partial
    plate or a camera."""
    return record.action in SEARCH_ACTIONS or any(record.query.get(k) for k in _SEARCH_KEYS)


def missing_case_number(record: AccessRecorded) -> bool:
    """No case or incident number in the case number field nor in the purpose (P16, P23)."""
    return not case_numbers(record.case_number) and not case_numbers(record.purpose)


def months_before(now: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (the 31st becomes the month's last day)."""
    index = now.year * 12 + now.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    next_month = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=now.tzinfo)
    last_day = (next_month - timedelta(days=1)).day
    return now.replace(year=year, month=month, day=min(now.day, last_day))


def _stable(record: AccessRecorded) -> tuple[datetime, bytes]:
    return record.at, orjson.dumps(record.to_dict(), option=orjson.OPT_SORT_KEYS)


def draw_sample(
    records: Iterable[AccessRecorded], n: int, since: datetime, until: datetime, seed: int | None
) -> tuple[list[AccessRecorded], int]:
    """A uniform random sample of ``n`` searches that ran (refused ones returned nothing) with ``at``
    in [since, until], oldest first, and how many there were to draw from.

    With a seed the draw is reproducible (the population is put in a fixed order first), so an
    auditor can show how the sample was made; without one it comes from the OS's secure source,
    so nobody can predict which searches will be checked.
    """
    population = sorted(
        (r for r in records if is_search(r) and r.decision == "allowed" and since <= r.at <= until),
        key=_stable,
    )
    rng = secrets.SystemRandom() if seed is None else random.Random(seed)  # noqa: S311 - reproducible on purpose
    picked = rng.sample(population, min(max(n, 0), len(population)))
    return sorted(picked, key=_stable), len(population)


def _results(count: int) -> str:
    return f"{count} result" if count == 1 else f"{count} results"


def _flags(record: AccessRecorded) -> list[str]:
    flags = []
    if missing_case_number(record):
        flags.append("NO CASE OR INCIDENT NUMBER (P23)")
    if is_vague(record.purpose):
        flags.append("VAGUE PURPOSE (P23)")
    return flags


def format_sample(
    sample: Sequence[AccessRecorded], population: int, since: datetime, until: datetime, seed: int | None
) -> list[str]:
    """The lines ``alpr audit sample`` prints: one block per search, flagged lines marked."""
    drawn = "seed " + str(seed) if seed is not None else "no seed: not reproducible"
    lines = [
        f"random sample of {len(sample)} of {population} searches from {_time(since)} to {_time(until)} "
        f"({drawn})"
    ]
    for i, record in enumerate(sample, 1):
        who = (
            record.user + (f" #{record.badge}" if record.badge else "") + f" ({record.agency or 'no agency'})"
        )
        lines += [
            "",
            f"{i}. {_time(record.at)}  {who}  {record.action}, {_results(record.result_count)}",
            f"   purpose: {record.purpose or '-'}; crime type: {record.crime_type or '-'}; "
            f"case number: {record.case_number or '-'}",
        ]
        query = {k: v for k, v in record.query.items() if v not in (None, "", [], {})}
        if query:
            lines.append(f"   query: {orjson.dumps(query, option=orjson.OPT_SORT_KEYS).decode()}")
        lines += [f"   FLAG: {flag}" for flag in _flags(record)]
    missing = sum(missing_case_number(r) for r in sample)
    lines += [
        "",
        f"{missing} of {len(sample)} sampled searches have no case or incident number (P23): "
        "ask each user and their supervisor for the reason",
    ]
    return lines


# -- Kafka I/O and the commands ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trail:
    """The audit topic as read now, with each partition's bounds, and the checkpoints topic."""

    records: list[tuple[int, int, bytes]]  # (partition, offset, value) from each first offset
    bounds: dict[int, tuple[int, int]]  # partition -> (first offset, end)
    checkpoints: list[tuple[int, int, bytes]]


async def read_audit(settings: Settings) -> Trail:
    """Read the audit topic whole (a tombstone's value is empty), its partitions' bounds first (a
    partition emptied entirely shows only there), and every checkpoint."""
    topic = settings.topic("audit")
    records: list[tuple[int, int, bytes]] = []
    consumer = await started_reader(settings.kafka)
    try:
        partitions = await existing_partitions(consumer._client, topic)  # noqa: SLF001
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        bounds = {tp.partition: ends for tp, ends in (await log_ends(consumer, tps)).items()}
        await consumer.seek_to_beginning(*tps)
        await read_to_end(
            consumer, lambda tp, r: records.append((tp.partition, int(r.offset), r.value or b""))
        )
    finally:
        await consumer.stop()
    checkpoints = await read_checkpoints(settings, settings.topic("audit-checkpoints"))
    return Trail(records, bounds, checkpoints)


async def read_trail(settings: Settings) -> list[tuple[int, int, bytes]]:
    """Every record of the audit topic now, as (partition, offset, value)."""
    return (await read_audit(settings)).records


def check_trail(
    trail: Trail, settings: Settings, now: datetime, published: Iterable[str] = ()
) -> VerifyResult:
    """:func:`verify_chain` with this deployment's retention and trusted keys (P14)."""
    return verify_chain(
        trail.records,
        kept_since=now - timedelta(days=settings.profile.audit_retention_days),
        bounds=trail.bounds,
        checkpoints=trail.checkpoints,
        trusted=trusted_keys(settings),
        published=published,
    )


async def checked_trail(settings: Settings, now: datetime, published: Iterable[str] = ()) -> VerifyResult:
    """The audit trail read and checked against its signed checkpoints."""
    return check_trail(await read_audit(settings), settings, now, published)


_DIGEST = re.compile(r"\b[0-9a-fA-F]{64}\b")


def published_digests(text: str) -> list[str]:
    """The sha256 digests in published text: a bare digest, or lines copied from the transparency
    page or the annual report."""
    return [d.lower() for d in _DIGEST.findall(text)]


async def _audited(
    settings: Settings, by: Principal, now: datetime, action: str, query: dict[str, Any], count: int
) -> None:
    """The auditor's own access to the trail is on the trail too (P15): who, when, what, how many."""
    from streams.access.audit import record_access

    await record_access(settings, by.audit(now, action, query, count, purpose="audit"))


async def _checked(settings: Settings, now: datetime, published: Sequence[str] = ()) -> VerifyResult:
    """The trail read, then checked in a thread: a console keeps serving while the chains are walked."""
    trail = await read_audit(settings)
    return await asyncio.to_thread(check_trail, trail, settings, now, tuple(published))


@dataclass(frozen=True, slots=True)
class Sampled:
    """A random sample of searches (P23) and the trail it was drawn from."""

    trail: VerifyResult
    picked: list[AccessRecorded]
    population: int
    since: datetime
    until: datetime
    seed: int | None

    def lines(self) -> list[str]:
        return format_sample(self.picked, self.population, self.since, self.until, self.seed)


@dataclass(frozen=True, slots=True)
class Reported:
    """Accesses over a period (P15) and the trail they were counted from."""

    trail: VerifyResult
    report: Report

    def lines(self) -> list[str]:
        return format_report(self.report)


# -- the use cases: one each for every front end (alpr audit, the console's /audit page) -----------


async def verify(
    principal: Principal | None, settings: Settings, now: datetime, published: Sequence[str] = ()
) -> VerifyResult:
    """``alpr audit verify``: the chains held to the signed checkpoints and to every ``published``
    checkpoint digest (P14). The verification is itself audited with the auditor (P15)."""
    by = require(principal, "audit.read")
    result = await _checked(settings, now, published)
    query = {"intact": result.intact, "published": list(published)}
    await _audited(settings, by, now, "audit_verify", query, len(result.accepted))
    return result


async def sample(
    principal: Principal | None, settings: Settings, n: int, months: int, seed: int | None, now: datetime
) -> Sampled:
    """``alpr audit sample``: the periodic random audit of ``n`` searches of the last ``months``
    (P23). What was searched (plates) is in it, so the sample is itself an access, audited (P15)."""
    by = require(principal, "audit.read")
    result = await _checked(settings, now)
    since = months_before(now, months)
    picked, population = draw_sample(result.accepted, n, since, now, seed)
    query = {"n": n, "months": months, "seed": seed, "population": population}
    await _audited(settings, by, now, "audit_sample", query, len(picked))
    return Sampled(result, picked, population, since, now, seed)


async def report(
    principal: Principal | None, settings: Settings, start: datetime, end: datetime, now: datetime
) -> Reported:
    """``alpr audit report``: accesses in [start, end] by user, agency, purpose and action (P15),
    counted from the records the chain check accepts; audited with the auditor."""
    by = require(principal, "audit.read")
    result = await _checked(settings, now)
    made = summarize(result.accepted, start, end)
    period = {"from": start.isoformat(), "to": end.isoformat()}
    await _audited(settings, by, now, "audit_report", period, made.total.accesses)
    return Reported(result, made)


async def run_checkpoint(settings: Settings, by: Principal, public_key: bool) -> int:
    """``alpr audit checkpoint``: sign the audit trail's head now and print what to publish
    (P14); with ``public_key``, print the signing key's public half instead (it is published
    with the checkpoints, so that anyone can check them). The checkpoint is itself audited."""
    from streams.access.checkpoint import make_checkpoint, public_key_text, signing_key

    require(by, "audit.checkpoint")
    if public_key:
        print(public_key_text(signing_key(settings)))
        return 0
    made = await make_checkpoint(
        settings, settings.topic("audit"), settings.topic("audit-checkpoints"), datetime.now(UTC)
    )
    print(f"audit checkpoint {published_line(made)}")
    print(f"signed with key {made.key}")
    query = {"digest": made.digest, "records": made.records}
    await _audited(settings, by, datetime.now(UTC), "audit_checkpoint", query, made.records)
    return 0
