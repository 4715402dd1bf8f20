"""The plate as read beside the plate as listed, character by character (P7, issue 18 item 1).

A visual verification compares the characters on the image with the listed entry. An exact match
needs no help; an OCR-equivalent match (the camera read 8 where the entry says B) and a partial
match (the entry lists only some characters) are where people err, so the alert view marks each
position: the same character, an OCR-equivalent one (cameras confuse them: look at the image), a
position the listed pattern leaves open (a wildcard), or one that differs outright. The marking is
computed here, once, for every front end; the page only shows it (with text and a non-colour cue).
"""

from __future__ import annotations

import re
from itertools import zip_longest
from typing import Any

from streams.matching.matcher import PARTIAL
from streams.matching.normalize import OcrClasses

__all__ = ["MARKS", "plate_diff"]

#: What a position is: the same, OCR-equivalent, left open by a partial entry, different, or
#: present on one side only (plates of different lengths).
MARKS = ("same", "equivalent", "wildcard", "different", "missing")
_STRIP = str.maketrans("", "", " -.\t")


def _clean(text: str) -> str:
    return text.upper().translate(_STRIP)


def _position(read: str, listed: str, ocr: OcrClasses) -> dict[str, Any]:
    if listed in ("?", "*"):
        mark = "wildcard"
    elif not read or not listed:
        mark = "missing"
    elif read == listed:
        mark = "same"
    elif ocr.representative(read) == ocr.representative(listed):
        mark = "equivalent"
    else:
        mark = "different"
    return {"read": read, "listed": listed, "same": mark == "same", "mark": mark}


def _labelled(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each position said in words (the page's aria-label and tooltip): colour is never the only cue."""
    words = {
        "same": "same character",
        "equivalent": "OCR-equivalent: cameras confuse these, compare on the image",
        "wildcard": "not listed (partial plate): any character",
        "different": "differs",
        "missing": "only on one plate",
    }
    for number, item in enumerate(items, 1):
        read = item["read"] or "nothing"
        listed = item["listed"] or "nothing"
        item["label"] = f"position {number}: read {read}, listed {listed}: {words[item['mark']]}"
    return items


def _partial(read: str, pattern: str, ocr: OcrClasses) -> list[dict[str, Any]] | None:
    """Align a read with a partial pattern (``?`` one character, ``*`` any run) over canonical
    keys, as the matcher does; None when it does not fit (then positions are compared in order)."""
    parts = [ch for ch in pattern if ch.isalnum() or ch in "?*"]
    regex = "".join(
        "(.)" if t == "?" else "(.*)" if t == "*" else "(" + re.escape(ocr.representative(t)) + ")"
        for t in parts
    )
    found = re.fullmatch(regex, ocr.canonical(read))
    if found is None:
        return None
    items: list[dict[str, Any]] = []
    for number, part in enumerate(parts, 1):
        start, end = found.span(number)
        if part == "*" and end - start != 1:
            # a run: one position per character read, or one empty position when it took none
            items.extend(_position(ch, "*", ocr) for ch in read[start:end] or [""])
        else:
            items.append(_position(read[start:end], part, ocr))
    return items


def plate_diff(read_plate: str, listed_plate: str, match_kind: str, ocr: OcrClasses) -> list[dict[str, Any]]:
    """The read and the listed plate position by position: ``{"read": "8", "listed": "B", "same":
    false, "mark": "equivalent", "label": "position 3: read 8, listed B: OCR-equivalent: ..."}``."""
    read, listed = _clean(read_plate), _clean(listed_plate)
    items = _partial(read, listed, ocr) if match_kind == PARTIAL else None
    if items is None:
        items = [_position(r, ch, ocr) for r, ch in zip_longest(read, listed, fillvalue="")]
    return _labelled(items)
