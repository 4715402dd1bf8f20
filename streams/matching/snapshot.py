"""A worker's hot-list snapshot: its compact index on disk, so a restart reads only the delta.

The hot-list topics stay the only source of truth. A snapshot is a cache the worker writes from
what it built off them: the compact index (:mod:`streams.matching.compact`), the partial entries,
the sources' refresh history, and the topic offsets it covers. On start the worker loads it and
reads the topics only from those offsets; a snapshot that does not fit is refused (and deleted)
and the index is rebuilt from the beginning of the topics:

- missing, truncated or corrupt (a BLAKE2b digest over the whole file);
- another format, other matching rules (OCR classes, substitutions: the canonical keys depend on
  them) or another version of the code that checks entries, another cluster or other topic names;
- offsets no longer on the topic (the log starts after them, or ends before them: the topic was
  recreated), or older than ``max_age_s`` (a tombstone written while the worker was down may
  already be compacted away after ``delete.retention.ms``).

Layout: ``MAGIC``, the header's length (4 bytes), the header (JSON), each array's bytes in the
header's order, the digest of all that. The entries themselves stay in the :class:`EntryStore`
file next to it, of which the snapshot covers the first ``store_size`` bytes.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import logging
import os
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from streams.codec import SCHEMA_DIR
from streams.hotlists.model import HotlistEntry
from streams.matching.compact import EntryStore
from streams.matching.matcher import HotlistIndex, MatchRules

__all__ = ["FORMAT", "SnapshotScope", "load_snapshot", "rules_digest", "write_snapshot"]

log = logging.getLogger(__name__)

MAGIC = b"ALPRHLS\n"
FORMAT = 1
SNAPSHOT_NAME = "hotlist.snapshot"
DIGEST_SIZE = 32

Positions = dict[tuple[str, int], int]


#: The code that decides what an index holds: decoding and checking entries, canonical keys, the
#: index and this format. (Not the whole package: a change elsewhere keeps the snapshots.)
DECIDING_MODULES = (
    "streams.codec",
    "streams.hotlists.model",
    "streams.hotlists.records",
    "streams.access.justification",
    "streams.access.purpose",
    "streams.matching.normalize",
    "streams.matching.compact",
    "streams.matching.matcher",
    "streams.matching.snapshot",
)


def rules_digest(rules: MatchRules) -> str:
    """What the index's content depends on besides the topics: the matching rules, and the code
    and schemas that decode and check entries (a rule added refuses entries an older worker kept).

    The code itself, not a declared version of the entry format and rules: a version bump is
    one more thing to forget, and a snapshot kept across a forgotten one would keep matching an
    entry a new rule (P1, P2, P5, P6) refuses; no rule may be missed for a faster start. So any
    upgrade that touches these modules rebuilds from the topics (a cold start, see
    :func:`~streams.hotlists.records.apply_hotlist_records`)."""
    described = json.dumps(
        [list(rules.ocr.classes), rules.max_substitutions, rules.refresh_span_s], separators=(",", ":")
    )
    digest = hashlib.blake2b(described.encode(), digest_size=16)
    for name in DECIDING_MODULES:
        digest.update(name.encode() + b"\0" + Path(str(importlib.import_module(name).__file__)).read_bytes())
    for schema in sorted(SCHEMA_DIR.glob("*.json")):
        digest.update(schema.name.encode() + b"\0" + schema.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class SnapshotScope:
    """What a snapshot must have been written under to be used: where it lives, the rules, the
    cluster and topics it was read from, and how old it may be."""

    directory: Path
    rules: str
    cluster: str
    topics: tuple[str, ...]
    max_age_s: float

    @property
    def path(self) -> Path:
        return self.directory / SNAPSHOT_NAME

    def new_store(self) -> EntryStore:
        """A fresh store for an index rebuilt from the topics (a refused snapshot is gone first)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        for old in self.directory.glob(EntryStore.FILES):
            old.unlink()
        return EntryStore.create(self.directory)


def _header(
    index: HotlistIndex, scope: SnapshotScope, positions: Positions, partial: bytes, refreshes: bytes
) -> dict[str, Any]:
    store = index.store
    if store.path is None:
        raise ValueError("a snapshot names its store: give the index SnapshotScope.new_store()")
    arrays = index.arrays()
    return {
        "format": FORMAT,
        "rules": scope.rules,
        "cluster": scope.cluster,
        "topics": list(scope.topics),
        "written_at": time.time(),
        "positions": [[topic, partition, offset] for (topic, partition), offset in sorted(positions.items())],
        "store": store.path.name,
        "store_size": store.size,
        "counters": index.counters(),
        "arrays": [[name, a.typecode, len(a) * a.itemsize] for name, a in arrays.items()],
        "canon": len(index.canon),
        "partial": len(partial),
        "refreshes": len(refreshes),
    }


def write_snapshot(index: HotlistIndex, scope: SnapshotScope, positions: Positions) -> Callable[[], None]:
    """Prepare a snapshot of ``index`` covering ``positions``; returns the blocking part (write,
    fsync, rename), which may run in a thread as long as nothing changes the index meanwhile
    (the hot-list view, its only writer, awaits it; screening only reads).

    The file appears whole or not at all: written beside, fsynced, then renamed over the old one.
    """
    index.store.flush()  # here, not in the thread: screening reads the store's buffer
    partial = msgspec.msgpack.encode(index.partial_entries)
    refreshes = msgspec.msgpack.encode(index.refreshes)
    header = json.dumps(_header(index, scope, positions, partial, refreshes)).encode()
    parts: list[bytes | memoryview] = [MAGIC, len(header).to_bytes(4, "little"), header]
    parts += [memoryview(a).cast("B") for a in index.arrays().values()]
    parts.append(memoryview(index.canon))
    parts += [partial, refreshes]
    store = index.store

    def write() -> None:
        try:
            _write(parts, store, scope)
        finally:
            parts.clear()  # let go of the arrays' buffers (they cannot grow while exported)

    return write


def _write(parts: list[bytes | memoryview], store: EntryStore, scope: SnapshotScope) -> None:
    store.sync()
    digest = hashlib.blake2b(digest_size=DIGEST_SIZE)
    scratch = scope.path.with_suffix(".writing")
    with open(os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
        for part in parts:
            digest.update(part)
            out.write(part)
        out.write(digest.digest())
        out.flush()
        os.fsync(out.fileno())
    os.replace(scratch, scope.path)
    directory = os.open(scope.directory, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    _drop_other_stores(scope.directory, store)


def _drop_other_stores(directory: Path, kept: EntryStore) -> None:
    """Delete the store files the snapshot does not name (one the index compacted away)."""
    for other in directory.glob(EntryStore.FILES):
        if other != kept.path:
            other.unlink(missing_ok=True)


class Refused(Exception):
    pass


def load_snapshot(
    index: HotlistIndex, scope: SnapshotScope, logs: dict[tuple[str, int], tuple[int, int]]
) -> Positions | None:
    """Fill ``index`` from the snapshot in ``scope`` and return the offsets to read the topics
    from; None (and the snapshot deleted) when there is none or it does not fit, see the module
    docstring. ``logs`` is each assigned partition's (log start, end) now."""
    try:
        return _load(index, scope, logs)
    except FileNotFoundError:
        return None
    except (Refused, ValueError, KeyError, TypeError, OSError, msgspec.DecodeError) as exc:
        log.warning("hot-list snapshot %s not used (%s); rebuilding from the topics", scope.path, exc)
        scope.path.unlink(missing_ok=True)
        return None


def _load(
    index: HotlistIndex, scope: SnapshotScope, logs: dict[tuple[str, int], tuple[int, int]]
) -> Positions:
    # Read into the arrays (not mapped: mapped pages would count in the worker's RSS while it
    # loads), hashing as it goes; nothing reaches the index unless the digest matches at the end.
    with io.FileIO(scope.path, "r") as handle:
        total = os.fstat(handle.fileno()).st_size
        digest = hashlib.blake2b(digest_size=DIGEST_SIZE)
        if total < len(MAGIC) + 4 + DIGEST_SIZE or _take(handle, len(MAGIC), digest) != MAGIC:
            raise Refused("not a hot-list snapshot, or truncated")
        size = int.from_bytes(_take(handle, 4, digest), "little")
        header = json.loads(_take(handle, size, digest))
        positions = _check(header, scope, logs)
        lengths = [length for _, _, length in header["arrays"]]
        lengths += [header["canon"], header["partial"], header["refreshes"]]
        if len(MAGIC) + 4 + size + sum(lengths) + DIGEST_SIZE != total:
            raise Refused("truncated: its size is not the one its header gives")
        arrays: dict[str, array[int]] = {}
        for name, typecode, length in header["arrays"]:
            arrays[name] = array(typecode, [0]) * (length // array(typecode).itemsize)
            _fill(handle, memoryview(arrays[name]).cast("B"), digest)
        canon = bytearray(header["canon"])
        _fill(handle, memoryview(canon), digest)
        partial = msgspec.msgpack.decode(_take(handle, header["partial"], digest), type=list[HotlistEntry])
        refreshes = msgspec.msgpack.decode(
            _take(handle, header["refreshes"], digest), type=dict[str, list[datetime]]
        )
        if handle.read() != digest.digest():
            raise Refused("corrupt: its digest does not match")
    store_path = scope.directory / str(header["store"])
    if store_path.stat().st_size < header["store_size"]:
        raise Refused(f"its entry store {store_path.name} is shorter than it covers")
    store = EntryStore.open(store_path, header["store_size"])
    index.restore(store, arrays, canon, header["counters"], partial, refreshes)
    _drop_other_stores(scope.directory, store)
    return positions


def _fill(handle: io.FileIO, into: memoryview, digest: hashlib.blake2b) -> None:
    done = 0
    while done < len(into):
        got = handle.readinto(into[done:])
        if not got:
            raise Refused("truncated")
        done += got
    digest.update(into)
    into.release()


def _take(handle: io.FileIO, size: int, digest: hashlib.blake2b) -> bytes:
    data = bytearray(size)
    _fill(handle, memoryview(data), digest)
    return bytes(data)


def _check(
    header: dict[str, Any], scope: SnapshotScope, logs: dict[tuple[str, int], tuple[int, int]]
) -> Positions:
    if header.get("format") != FORMAT:
        raise Refused(f"format {header.get('format')!r}, this worker reads {FORMAT}")
    if header["rules"] != scope.rules:
        raise Refused("written under other matching rules")
    if header["cluster"] != scope.cluster or tuple(header["topics"]) != scope.topics:
        raise Refused(f"written from cluster {header['cluster']!r} topics {header['topics']}")
    age = time.time() - float(header["written_at"])
    if not 0 <= age <= scope.max_age_s:
        raise Refused(f"{age:.0f} s old; tombstones may be gone after {scope.max_age_s:.0f} s")
    positions: Positions = {(str(t), int(p)): int(o) for t, p, o in header["positions"]}
    for tp, offset in positions.items():
        if tp not in logs:
            raise Refused(f"{tp[0]}[{tp[1]}] is no longer on the cluster")
        start, end = logs[tp]
        if not start <= offset <= end:
            raise Refused(f"{tp[0]}[{tp[1]}] offset {offset} is no longer on the topic ({start}..{end})")
    return positions
