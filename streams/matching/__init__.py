"""Plate normalization and matching: pure, shared by the stream and ``alpr match``."""

from streams.matching.matcher import (
    EXACT,
    OCR_EQUIVALENT,
    PARTIAL,
    HotlistIndex,
    Match,
    MatchRules,
    Screened,
    confirm,
    entry_in_force,
    match,
    screen,
)
from streams.matching.normalize import OcrClasses, normalize_plate, partition_for

__all__ = [
    "EXACT",
    "OCR_EQUIVALENT",
    "PARTIAL",
    "HotlistIndex",
    "Match",
    "MatchRules",
    "OcrClasses",
    "Screened",
    "confirm",
    "entry_in_force",
    "match",
    "normalize_plate",
    "partition_for",
    "screen",
]
