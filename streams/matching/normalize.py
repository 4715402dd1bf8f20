"""Plate normalization and OCR-equivalence canonical keys.

A camera's OCR confuses shapes (0/O/D/Q, 1/I, 8/B, 5/S, 2/Z). Reads and
hot-list plates are mapped to one canonical key per equivalence class, so a
misread of a listed plate still reaches the exact check, which then says how
it matched.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from streams.errors import InvalidRecord

__all__ = [
    "MAX_PLATE_LEN",
    "OcrClasses",
    "differing_positions",
    "normalize_plate",
    "normalize_plates",
    "partition_for",
]

MAX_PLATE_LEN = 10
_STRIP = str.maketrans("", "", " -.\t")


def normalize_plate(text: str) -> str:
    """Upper-case, drop spaces, dashes and dots; refuse anything else that is not a letter or digit."""
    plate = text.upper()
    if not (plate.isalnum() and plate.isascii()):  # a plain plate (nearly every one) drops nothing
        plate = plate.translate(_STRIP)
    if not plate:
        raise InvalidRecord("bad_plate", f"plate {text!r} holds no letters or digits")
    if len(plate) > MAX_PLATE_LEN:
        raise InvalidRecord("bad_plate", f"plate {text!r} is longer than {MAX_PLATE_LEN} characters")
    if not (plate.isascii() and plate.isalnum()):
        raise InvalidRecord("bad_plate", f"plate {text!r} holds characters other than A-Z and 0-9")
    return plate


_PLATE_LINES = re.compile(rf"(?:[A-Z0-9]{{1,{MAX_PLATE_LEN}}}\n)*[A-Z0-9]{{1,{MAX_PLATE_LEN}}}")


def normalize_plates(texts: Sequence[str]) -> tuple[list[str], dict[int, InvalidRecord]]:
    """:func:`normalize_plate` over a batch, in one pass over the joined text when all are good;
    returns the plates ("" for a refused one) and each refused position's error."""
    joined = "\n".join(texts).upper().translate(_STRIP)
    plates = joined.split("\n")
    if len(plates) != len(texts):  # a plate with a line break in it: each plate on its own
        plates, wrong = [""] * len(texts), list(range(len(texts)))
    elif _PLATE_LINES.fullmatch(joined) is not None:
        return plates, {}
    else:  # only the refused ones are looked at again, for their message (issue 17)
        wrong = [
            i
            for i, p in enumerate(plates)
            if not (0 < len(p) <= MAX_PLATE_LEN and p.isalnum() and p.isascii())
        ]
    refused = {}
    for position in wrong:
        try:
            plates[position] = normalize_plate(texts[position])
        except InvalidRecord as exc:
            plates[position] = ""
            refused[position] = exc
    return plates, refused


@dataclass(frozen=True, slots=True)
class OcrClasses:
    """OCR-equivalence classes; the first character of each class is its representative."""

    classes: tuple[str, ...]
    _table: dict[int, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        table = {ord(ch): cls[0] for cls in self.classes for ch in cls}
        object.__setattr__(self, "_table", table)

    @classmethod
    def of(cls, classes: Iterable[str]) -> OcrClasses:
        return cls(tuple(c.upper() for c in classes))

    def canonical(self, normalized: str) -> str:
        """Canonical key of an already normalized plate."""
        return normalized.translate(self._table)

    def representative(self, ch: str) -> str:
        return self._table.get(ord(ch), ch)

    def equivalents(self, ch: str) -> str:
        """All characters the OCR may confuse with ``ch`` (including itself)."""
        for cls in self.classes:
            if ch in cls:
                return cls
        return ch


def differing_positions(a: str, b: str) -> int:
    """Number of positions where two equal-length strings differ."""
    return sum(1 for x, y in zip(a, b, strict=True) if x != y)


def partition_for(key: str, partitions: int) -> int:
    """Stable partition of a key; the same in every process (unlike Python's ``hash``)."""
    return zlib.crc32(key.encode()) % partitions
