"""The ingest app's images when Kafka does not take every read (issue 18, item 1; P11): images of
reads Kafka did not acknowledge, or refused as too late to keep, are deleted again; those of the
reads it has stay. The app is the real one (aiohttp test server); Kafka is a stand-in sink."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from streams.cameras.ingest import NotStored, create_ingest
from streams.cameras.keys import Admitted
from streams.cameras.registry import Camera
from streams.images.render import plate_png
from streams.images.store import LocalImageStore, image_key
from streams.settings import Settings

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
CAMERA = Camera("unit-1", "Unit 1", "SJPD", "mobile", 37.36, -121.93)


class Credentials:
    def check(self, presented: str | None) -> Admitted:
        return Admitted(CAMERA, None)  # type: ignore[arg-type]

    async def refresh(self) -> None:
        return None


class Sink:
    """Kafka's answer, as the ReadSink reports it: acknowledged all, some, or refused some as late."""

    ready = True

    def __init__(self, outcome: str) -> None:
        self.outcome = outcome

    async def write(self, reads: list[dict[str, Any]]) -> list[tuple[int, str]]:
        if self.outcome == "unacknowledged":
            raise NotStored("Kafka did not acknowledge the reads within 10 s", acknowledged=[0])
        if self.outcome == "too_late":
            return [(1, "captured_at ... not stored (P11)")]
        return []


def reads() -> list[dict[str, Any]]:
    return [
        {
            "read_id": f"r-{i}",
            "captured_at": (NOW - timedelta(seconds=1)).isoformat(),
            "plate": f"7SIM00{i}",
            "plate_state": "CA",
            "confidence": 0.9,
            "plate_image": base64.b64encode(plate_png(f"7SIM00{i}", "CA")).decode(),
        }
        for i in range(2)
    ]


async def post(tmp_path: Path, outcome: str) -> tuple[int, set[str]]:
    """The answer's status and the read ids whose images are stored afterwards."""
    store = LocalImageStore(tmp_path / outcome, 512 * 1024, 1024 * 1024)
    app = create_ingest(Settings(), Credentials(), Sink(outcome), lambda: NOW, images=store)  # type: ignore[arg-type]
    async with TestClient(TestServer(app)) as client:
        answer = await client.post("/v1/reads", json=reads(), headers={"Authorization": "Bearer k"})
        status = answer.status
    kept = set()
    for read in reads():
        if await store.get(image_key(read["read_id"], datetime.fromisoformat(read["captured_at"])), "plate"):
            kept.add(read["read_id"])
    return status, kept


async def test_all_acknowledged_keeps_every_image(tmp_path: Path) -> None:
    assert await post(tmp_path, "ok") == (202, {"r-0", "r-1"})


async def test_images_of_reads_kafka_did_not_acknowledge_are_deleted(tmp_path: Path) -> None:
    assert await post(tmp_path, "unacknowledged") == (503, {"r-0"})


async def test_images_of_reads_too_late_to_keep_are_deleted_p11(tmp_path: Path) -> None:
    assert await post(tmp_path, "too_late") == (202, {"r-0"})
