"""Compact storage for millions of hot-list entries: what :class:`~streams.matching.matcher.HotlistIndex`
keeps per entry instead of a Python object.

A worker screening against the NCIC extract holds about 5 million entries. As ``HotlistEntry``
objects in dicts that is about 600 bytes each (3 GB); here each entry is its encoded bytes in an
append-only :class:`EntryStore` (a file: the page cache holds it, not the worker's heap) and
about 45 bytes of fixed-width arrays, and the full entry is decoded only for the 0.1 % of reads
that are candidates. The lookups (entry key -> slot, canonical key -> slots) are
open-addressing :class:`SlotTable` s of 64-bit hashes over ``array`` buffers, which a snapshot
writes and maps back as they are (:mod:`streams.matching.snapshot`).
"""

from __future__ import annotations

import os
import time
from array import array
from collections.abc import Callable
from hashlib import blake2b
from pathlib import Path

__all__ = ["EMPTY", "GONE", "EntryStore", "SlotTable", "hash64"]

EMPTY = -1  # a table position never used
GONE = -2  # a table position whose slot was removed (probing goes on past it)
MAX_LOAD = 0.7


def hash64(text: str) -> int:
    """A 64-bit hash that is the same in every process (``hash()`` is salted per process, and a
    snapshot outlives the process); never 0, which marks a free slot."""
    return int.from_bytes(blake2b(text.encode(), digest_size=8).digest(), "little") or 1


class SlotTable:
    """Open addressing (linear probing) from a 64-bit hash to a slot number.

    The table holds only slot numbers (4 bytes a position); each slot's hash is read from
    ``hashes`` (the index's per-slot array), so a probe compares hashes without a second copy.
    """

    def __init__(self, hashes: array[int], positions: array[int] | None = None, used: int = 0) -> None:
        self.hashes = hashes
        self.positions = positions if positions is not None else array("i", [EMPTY]) * 4096
        self.mask = len(self.positions) - 1
        self.used = used  # positions not EMPTY (live or GONE)

    def find(self, h: int, same: Callable[[int], bool]) -> int:
        """The position holding a slot with hash ``h`` that ``same`` accepts, or -1."""
        positions, hashes, mask = self.positions, self.hashes, self.mask
        i = h & mask
        while True:
            slot = positions[i]
            if slot == EMPTY:
                return -1
            if slot >= 0 and hashes[slot] == h and same(slot):
                return i
            i = (i + 1) & mask

    def insert(self, h: int, slot: int) -> None:
        if (self.used + 1) > MAX_LOAD * len(self.positions):
            self.resize()
        positions, mask = self.positions, self.mask
        i = h & mask
        while positions[i] >= 0:
            i = (i + 1) & mask
        if positions[i] == EMPTY:
            self.used += 1
        positions[i] = slot

    def delete(self, position: int) -> None:
        self.positions[position] = GONE

    def resize(self, at_least: int = 0) -> None:
        """Rebuild for ``at_least`` slots (default: twice the live ones), dropping removed ones."""
        live = [s for s in self.positions if s >= 0]
        size = _power_of_two(int(max(at_least, 2 * len(live)) / MAX_LOAD) + 1)
        positions = array("i", [EMPTY]) * size
        mask, hashes = size - 1, self.hashes
        for slot in live:
            i = hashes[slot] & mask
            while positions[i] != EMPTY:
                i = (i + 1) & mask
            positions[i] = slot
        self.positions, self.mask, self.used = positions, mask, len(live)


def _power_of_two(n: int) -> int:
    return 1 << max(4, (n - 1).bit_length())


class EntryStore:
    """An append-only file of encoded entries, read back by offset (``pread``).

    Appends collect in memory and go to the file a megabyte at a time; a read of what is not yet
    written comes from that buffer. Without a file (:meth:`in_memory`: ``alpr match``, replays,
    tests) everything stays in that buffer, still a few hundred bytes an entry; a worker keeps
    its store in a file under its state directory, so a snapshot can name it. A replaced or
    removed entry leaves its bytes behind: the index copies the live ones to a :meth:`sibling`
    when the dead ones outgrow them.
    """

    FLUSH_AT = 1 << 20
    #: The names of store files in a state directory (a new one per rebuild or compaction).
    FILES = "entries-*.bin"

    def __init__(self, fd: int | None, size: int, path: Path | None) -> None:
        self._fd = fd
        self._written = size
        self._pending = bytearray()
        self.path = path

    @classmethod
    def in_memory(cls) -> EntryStore:
        return cls(None, 0, None)

    @classmethod
    def create(cls, directory: Path) -> EntryStore:
        """A new, empty store file in ``directory`` (named by the time: never an existing one)."""
        return cls.open(directory / f"entries-{time.time_ns():x}.bin")

    def sibling(self) -> EntryStore:
        """A new, empty store of the same kind: in memory, or a file in the same directory. This
        one's file stays until a snapshot that no longer names it replaces the one that may."""
        return EntryStore.in_memory() if self.path is None else EntryStore.create(self.path.parent)

    @classmethod
    def open(cls, path: Path, size: int = 0) -> EntryStore:
        """The store at ``path``, cut to its first ``size`` bytes (what a snapshot covers)."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.ftruncate(fd, size)
        return cls(fd, size, path)

    @property
    def size(self) -> int:
        return self._written + len(self._pending)

    def append(self, data: bytes) -> int:
        offset = self.size
        self._pending += data
        if len(self._pending) >= self.FLUSH_AT and self._fd is not None:
            self.flush()
        return offset

    def read(self, offset: int, length: int) -> bytes:
        if offset >= self._written or self._fd is None:
            start = offset - self._written
            return bytes(self._pending[start : start + length])
        return os.pread(self._fd, length, offset)

    def flush(self) -> None:
        if self._pending and self._fd is not None:
            os.pwrite(self._fd, self._pending, self._written)
            self._written += len(self._pending)
            self._pending.clear()

    def sync(self) -> None:
        """Everything appended so far on disk (before a snapshot names this size)."""
        if self._fd is not None:
            self.flush()
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            self.flush()
            os.close(self._fd)
            self._fd = None
