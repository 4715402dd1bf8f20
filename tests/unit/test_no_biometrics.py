"""P25 and P28: only what is in public view (a plate, a vehicle, where and when), never a face or any
biometric. No record shape the project stores has room for one: every object of every schema
lists its properties and refuses any other (``additionalProperties: false``), and no property is
named for a face, a body or a voice. A read that arrives with such a field is refused whole, by
the same check the ingest and the worker use, so it is never stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.cameras.ingest import check_reads
from tests.conftest import ROOT
from tests.factories import NOW, read_dict
from tests.unit.test_ingest_reads import RETENTION, SKEW

SCHEMAS = sorted((ROOT / "schemas").rglob("*.json"))
#: Names of fields that would carry biometric or occupant data (P28) or data outside public view (P25).
BIOMETRIC = re.compile(
    r"face|facial|biometric|fingerprint|iris|retina|gait|voice|embedding|occupant_(?:image|photo|crop)"
    r"|driver_(?:image|photo|crop|name|license)|person_(?:image|crop)|cabin|interior",
    re.IGNORECASE,
)


def _objects(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object schema inside ``node`` with a path naming it."""
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            yield where, node
        for key, value in node.items():
            yield from _objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _objects(value, f"{where}/{i}")


def test_the_schemas_are_found() -> None:
    assert len(SCHEMAS) >= 14, SCHEMAS


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: str(Path(p).relative_to(ROOT)))
def test_p25_p28_no_schema_can_carry_a_face_or_a_biometric(path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    objects = list(_objects(doc, path.name))
    assert objects, f"{path.name} describes no object"
    for where, obj in objects:
        if "properties" not in obj:
            continue  # a free-form map by design (e.g. vehicle descriptors): checked by its values' schema
        if obj.get("type") == "object":  # not an if/then condition, which constrains an object defined above
            assert obj.get("additionalProperties") is False, f"{where} accepts fields it does not list (P28)"
        named = [name for name in obj["properties"] if BIOMETRIC.search(name)]
        assert not named, f"{where} has fields {named} that could carry biometric or occupant data (P28)"


@pytest.mark.parametrize("field", ["face_embedding", "driver_image", "occupant_crop", "voiceprint"])
def test_p28_a_read_carrying_a_biometric_field_is_refused_whole(field: str) -> None:
    read = {**read_dict(), field: "AAAA"}
    refused = dict(check_reads([read_dict(), read], NOW, SKEW, RETENTION))
    assert list(refused) == [1], refused
    assert field in refused[1]
