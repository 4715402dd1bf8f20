"""The one grammar of camera ids (issue 17, item 1), for the registry, the reads, the ingest and the console.

Real vendors name cameras with inner spaces (``BXH9904 SPD2020627MDC``: a unit and its device), so
an id is 1-64 characters: ASCII letters, digits, ``.``, ``_``, ``:``, ``-`` and single spaces
between them, beginning with a letter or digit and ending with no space. Refused: leading or
trailing blanks, two spaces in a row, tabs and every other control character, ``/`` (an id becomes
a URL path segment and a file name) and anything longer than 64 characters.

:data:`CAMERA_ID_PATTERN` is written as JSON Schema (ECMA 262) and Python both read it alike, and is
the ``pattern`` of ``camera_id`` in schemas/read.json and of ``id`` in schemas/camera.json
(tests/unit/test_read_positions.py checks that the schemas say exactly this).
"""

from __future__ import annotations

import re

from streams.errors import InvalidRecord

__all__ = [
    "CAMERA_ID",
    "CAMERA_ID_PATTERN",
    "CAMERA_ID_RULE",
    "MAX_CAMERA_ID",
    "camera_id_problem",
    "check_camera_id",
]

MAX_CAMERA_ID = 64
#: A letter or digit, then up to 63 characters, each a letter, digit, '.', '_', ':', '-', or a
#: space followed by one of those (so no double space and no trailing space).
#: It ends with "nothing follows" rather than "$", which Python (and so the jsonschema and
#: fastjsonschema validators) would also match before a final newline.
CAMERA_ID_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9._:-]| (?=[A-Za-z0-9._:-])){0,63}(?![\s\S])"
CAMERA_ID = re.compile(CAMERA_ID_PATTERN)
#: The grammar in words, the message of every refusal.
CAMERA_ID_RULE = (
    "a camera id is 1-64 characters: letters, digits, '.', '_', ':', '-' and single spaces between "
    "them, beginning with a letter or digit (e.g. 'cam-00004', 'BXH9904 SPD2020627MDC')"
)


def camera_id_problem(value: object) -> str | None:
    """What is wrong with a camera id, in the grammar's own words; None when it is one."""
    if isinstance(value, str) and CAMERA_ID.fullmatch(value):
        return None
    return f"camera id {value!r} breaks the id grammar: {CAMERA_ID_RULE}"


def check_camera_id(value: object) -> str:
    """The id, if it is one; otherwise :class:`InvalidRecord` (``bad_camera_id``) stating the grammar."""
    problem = camera_id_problem(value)
    if problem is not None:
        raise InvalidRecord("bad_camera_id", problem)
    assert isinstance(value, str)  # noqa: S101 - camera_id_problem accepted it
    return value
