"""The demo's synthetic images (issue 18, item 1): PNGs that decode, differ per plate, and are
stored only for reads the producer takes (P24: an excluded read's images are never written)."""

from __future__ import annotations

import asyncio
import struct
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

from streams.errors import InvalidRecord
from streams.images.render import OVERVIEW_SIZE, PLATE_SIZE, overview_png, plate_png
from streams.images.store import LocalImageStore, image_key, key_of_ref, sniff
from streams.matching.normalize import OcrClasses
from streams.reads.simulator import PICTURED_EVERY, CameraFeed, run_feed
from streams.settings import DEFAULT_OCR_CLASSES
from tests.conftest import ROOT


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the RGB rows of an unfiltered 8-bit RGB PNG, read with zlib alone."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + length
    width, height, depth, color, _c, _f, _i = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, color) == (8, 2)
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = 1 + 3 * width
    assert len(raw) == stride * height
    rows = [raw[i * stride : (i + 1) * stride] for i in range(height)]
    assert all(row[0] == 0 for row in rows)  # filter "none" on every row
    return width, height, [row[1:] for row in rows]


def dark_pixels(rows: list[bytes]) -> int:
    return sum(1 for row in rows for i in range(0, len(row), 3) if sum(row[i : i + 3]) < 200)


def test_a_plate_crop_decodes_at_its_size_with_dark_characters_on_a_light_plate() -> None:
    width, height, rows = decode_png(plate_png("7SIM123", "CA"))
    assert (width, height) == PLATE_SIZE
    middle = rows[height // 2 + 10]  # through the characters
    pixels = [sum(middle[i : i + 3]) for i in range(0, len(middle), 3)]
    assert max(pixels) > 600 and min(pixels) < 200  # light plate, dark ink
    assert dark_pixels(rows) > 2000  # the characters are large, not specks
    assert sniff(plate_png("7SIM123", "CA")) == "image/png"


def test_the_demo_images_are_kept_as_test_artifacts_for_a_look() -> None:
    """Not a check of pixels: the rendered crop and overview, saved where the browser tests keep
    their screenshots, so a reviewer sees what a dispatcher is shown."""
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "images-plate-crop.png").write_bytes(plate_png("7SIM123", "CA"))
    (artifacts / "images-overview.png").write_bytes(overview_png("7SIM123", "CA", "RED"))
    assert decode_png((artifacts / "images-plate-crop.png").read_bytes())[:2] == PLATE_SIZE


def test_different_plates_give_different_images_and_the_same_plate_the_same() -> None:
    a, b = plate_png("7SIM123", "CA"), plate_png("7SIM128", "CA")
    assert a != b and decode_png(a)[2] != decode_png(b)[2]
    assert plate_png("7SIM123", "CA") == a
    assert plate_png("7SIM123", "NV") != a  # the state is shown too
    w, h, rows = decode_png(overview_png("7SIM123", "CA", "RED"))
    assert (w, h) == OVERVIEW_SIZE and dark_pixels(rows) > 0
    assert overview_png("7SIM123", "CA", "BLU") != overview_png("7SIM123", "CA", "RED")


class FakeProducer:
    """Takes reads like the ReadProducer, refusing those captured inside a zone (plate ending in 'X')."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.refused: list[dict[str, Any]] = []

    async def send(self, read: dict[str, Any]) -> asyncio.Future[None]:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if read["plate"].endswith("X"):
            self.refused.append(dict(read))
            waiter.set_exception(InvalidRecord("sensitive_site", "inside a zone (P24)"))
        else:
            self.sent.append(dict(read))
            waiter.set_result(None)
        return waiter

    async def flush(self) -> None:
        return None


async def test_the_feed_stores_images_of_listed_reads_and_a_share_of_the_others(tmp_path: Path) -> None:
    listed: list[tuple[str, str | None]] = [("7SIM001", "CA"), ("7SIM00X", "CA")]
    feed = CameraFeed(2, 0.9, listed, OcrClasses.of(DEFAULT_OCR_CLASSES), seed=3, unplaced_rate=0.0)
    images = LocalImageStore(tmp_path / "images", 512 * 1024, 4 * 1024 * 1024)
    producer = FakeProducer()
    sent = await run_feed(producer, feed, rate=400.0, duration=0.3, images=images)  # type: ignore[arg-type]
    assert sent > PICTURED_EVERY
    pictured = [r for r in producer.sent if r.get("image_ref")]
    assert pictured and len(pictured) < len(producer.sent)
    for read in pictured:
        key = key_of_ref(read["image_ref"])
        assert key is not None
        plate = await images.get(key, "plate")
        assert plate is not None and plate.data == plate_png(read["plate"], read["plate_state"])
        assert await images.get(key, "overview") is not None
    stored = {p.parent.name for p in (tmp_path / "images").rglob("plate.*")}
    assert len(stored) == len({key_of_ref(r["image_ref"]) for r in pictured})  # no excluded read's (P24)
    for read in producer.sent:
        if read["plate"] in {"7SIM001"}:
            assert read.get("image_ref"), "a listed vehicle's read always carries images"
    refused_pictured = [r for r in producer.refused if r.get("image_ref")]
    assert refused_pictured, "the test must see a pictured read refused"
    for read in refused_pictured:  # P24: its images were never written
        key = image_key(read["read_id"], datetime.fromisoformat(read["captured_at"]))
        assert not (tmp_path / "images" / key).exists()
