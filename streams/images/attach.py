"""The images a camera posts with its reads: taken off the read, checked, stored, referenced.

A read posted to the ingest may carry ``plate_image`` and ``overview_image`` (standard base64 of a
JPEG or PNG). They never go to Kafka: the ingest takes them off before the schema check, refuses
the read (422, naming the field) when one is not a JPEG/PNG or too large, stores those of the
reads it accepts under the key derived from the read, and sets the read's ``image_ref``. A read
that is dropped (P24 exclusion zone) never has its images written; a read that Kafka does not
take (too late for the retention, P11, or not acknowledged) has its images deleted again. An image
stored by an ingest that then died before Kafka answered is removed by the retention sweep with
the reads of its day.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from streams.errors import InvalidRecord
from streams.images.render import overview_png, plate_png
from streams.images.store import REF_PREFIX, ImageStore, check_image, image_key
from streams.settings import Settings

__all__ = ["IMAGE_FIELDS", "forget_images", "store_images", "store_rendered", "take_images"]

log = logging.getLogger("alpr.images")
#: The read's field for each image kind.
IMAGE_FIELDS = {"plate_image": "plate", "overview_image": "overview"}
Images = dict[int, dict[str, bytes]]  # request index -> kind -> image bytes


def _limit(settings: Settings, kind: str) -> int:
    return settings.image_max_plate_bytes if kind == "plate" else settings.image_max_overview_bytes


def _decoded(field: str, kind: str, value: Any, limit: int) -> bytes:
    if not isinstance(value, str):
        raise InvalidRecord("image", f"{field} must be a string: the base64 of a JPEG or PNG")
    if len(value) > (limit + 2) // 3 * 4 + 4:  # larger than any base64 of an allowed image
        raise InvalidRecord(
            "image_size",
            f"{field}: the {kind} image is more than the {limit} bytes allowed: send a smaller one",
        )
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRecord(
            "image", f"{field} is not base64 (standard alphabet, padded): encode the image bytes"
        ) from exc
    try:
        check_image(kind, data, limit)
    except InvalidRecord as exc:
        raise InvalidRecord(exc.code, f"{field}: {exc}") from exc
    return data


def take_images(reads: list[Any], settings: Settings) -> tuple[Images, list[tuple[int, str]]]:
    """Take the image fields off every read; the images by request index, and (index, reason) of
    every read whose image may not be stored (its read is refused with the request)."""
    images: Images = {}
    refused: list[tuple[int, str]] = []
    for i, read in enumerate(reads):
        if not isinstance(read, dict):
            continue
        for field, kind in IMAGE_FIELDS.items():
            value = read.pop(field, None)
            if value is None:
                continue
            try:
                images.setdefault(i, {})[kind] = _decoded(field, kind, value, _limit(settings, kind))
            except InvalidRecord as exc:
                refused.append((i, str(exc)))
    return images, refused


async def store_images(store: ImageStore, reads: list[dict[str, Any]], images: Images) -> dict[int, str]:
    """Store the images of the reads listed (request index -> read) and point each read's
    ``image_ref`` at them; the key of each read stored. On a failure nothing stays stored."""
    stored: dict[int, str] = {}
    try:
        for i, kinds in images.items():
            read = reads[i]
            captured = datetime.fromisoformat(read["captured_at"])
            key = image_key(read["read_id"], captured)
            stored[i] = key
            for kind, data in kinds.items():
                await store.put(key, kind, data, captured)
            read["image_ref"] = REF_PREFIX + key
    except BaseException:
        await forget_images(store, stored.values())
        raise
    return stored


async def forget_images(store: ImageStore, keys: Iterable[str]) -> None:
    """Delete the images of reads that were not stored after all; a failure is logged (the
    retention sweep removes what is left with the reads of its day, P11)."""
    for key in set(keys):
        try:
            await store.delete(key)
        except Exception as exc:  # noqa: BLE001 - the caller's answer stands; the sweep finishes the job
            log.error("images %s not deleted (the retention sweep will remove them): %r", key, exc)


async def store_rendered(store: ImageStore, read: Mapping[str, Any]) -> None:
    """Store the demo's rendered images of a simulated read (streams/images/render.py) under the
    key its ``image_ref`` names: a plate crop of the text as read, an overview of the vehicle."""
    captured = datetime.fromisoformat(read["captured_at"])
    key = image_key(read["read_id"], captured)
    plate, state = read["plate"], read.get("plate_state")
    await store.put(key, "plate", plate_png(plate, state), captured)
    await store.put(key, "overview", overview_png(plate, state, read.get("vehicle_color")), captured)
