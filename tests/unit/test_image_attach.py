"""The ingest's part (issue 18, item 1): images taken off the reads and checked before the schema
check, stored only when asked, undone when the store fails half-way."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest

from streams.images.attach import store_images, take_images
from streams.images.store import LocalImageStore, image_key
from streams.settings import Settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 32
WHEN = "2026-12-05T11:00:00+00:00"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_images_are_taken_off_every_read_and_bad_ones_named() -> None:
    settings = Settings(image_max_plate_bytes=1024, image_max_overview_bytes=2048)
    reads = [
        {"read_id": "a", "plate_image": b64(PNG), "overview_image": b64(JPEG)},
        {"read_id": "b", "plate_image": None},
        {"read_id": "c", "overview_image": b64(b"<html><script>x</script></html>")},
        {"read_id": "d", "plate_image": 42},
        {"read_id": "e", "plate_image": "%%%"},
        {"read_id": "f", "overview_image": b64(JPEG + b"\0" * 2048)},
        "not a read",
    ]
    images, refused = take_images(reads, settings)
    assert images == {0: {"plate": PNG, "overview": JPEG}}
    assert all("plate_image" not in r and "overview_image" not in r for r in reads if isinstance(r, dict))
    reasons = dict(refused)
    assert set(reasons) == {2, 3, 4, 5}
    assert reasons[2].startswith("overview_image: ") and "not a JPEG or PNG" in reasons[2]
    assert reasons[3] == "plate_image must be a string: the base64 of a JPEG or PNG"
    assert reasons[4].startswith("plate_image is not base64")
    assert reasons[5].startswith("overview_image: ") and "more than the 2048 bytes allowed" in reasons[5]


async def test_stored_images_name_the_read_and_a_failure_leaves_nothing(tmp_path: Path) -> None:
    store = LocalImageStore(tmp_path / "images", 1024, 1024)
    reads = [{"read_id": "a", "captured_at": WHEN}, {"read_id": "b", "captured_at": WHEN}]
    keys = await store_images(store, reads, {0: {"plate": PNG}})
    when = datetime.fromisoformat(WHEN).astimezone(UTC)
    assert keys == {0: image_key("a", when)} and reads[0]["image_ref"] == f"alpr-image:{keys[0]}"
    assert "image_ref" not in reads[1]

    class Failing(LocalImageStore):
        async def put(self, key: str, kind: str, data: bytes, captured_at: datetime) -> None:
            if kind == "overview":
                raise OSError("disk full")
            await super().put(key, kind, data, captured_at)

    failing = Failing(tmp_path / "other", 1024, 1024)
    with pytest.raises(OSError, match="disk full"):
        await store_images(failing, reads, {1: {"plate": PNG, "overview": JPEG}})
    assert await failing.get(image_key("b", when), "plate") is None  # the plate written first is gone
