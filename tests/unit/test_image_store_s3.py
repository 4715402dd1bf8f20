"""The S3 image store against a real S3-compatible HTTP server (moto's, started here)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3  # the test extra (pyproject.toml) installs boto3 and moto[server]: never skipped
import moto.server as moto_server
import pytest

from streams.errors import InvalidRecord
from streams.images.store import S3ImageStore, image_key, open_store
from streams.settings import Settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 64
T0 = datetime(2026, 3, 1, 12, 0, 0, 500_000, tzinfo=UTC)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def settings(endpoint: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Settings:
    # the standard AWS chain: the store never sees these, boto3 reads them from the environment
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    bucket = f"alpr-test-{request.node.name.lower().replace('_', '-')[:40]}"
    client: Any = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    return Settings.from_env(
        {
            "ALPR_IMAGES": "s3",
            "ALPR_IMAGES_S3_BUCKET": bucket,
            "ALPR_IMAGES_S3_ENDPOINT": endpoint,
            "ALPR_IMAGES_S3_REGION": "us-east-1",
            "ALPR_IMAGE_MAX_PLATE_BYTES": "1024",
        }
    )


async def test_put_get_delete_through_the_s3_api(settings: Settings, endpoint: str) -> None:
    images = open_store(settings)
    assert isinstance(images, S3ImageStore)
    key = image_key("r-1", T0)
    await images.put(key, "plate", PNG, T0)
    await images.put(key, "overview", JPEG, T0)
    got = await images.get(key, "plate")
    assert got is not None and (got.data, got.content_type) == (PNG, "image/png")
    raw: Any = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    head = raw.head_object(Bucket=settings.images_s3_bucket, Key=f"alpr-images/{key}/overview")
    assert head["ContentType"] == "image/jpeg"
    assert head["Metadata"]["captured-at"] == T0.isoformat()
    assert await images.get(image_key("r-2", T0), "plate") is None
    assert await images.delete(key) == 2
    assert await images.get(key, "overview") is None
    assert raw.list_objects_v2(Bucket=settings.images_s3_bucket).get("KeyCount") == 0
    assert await images.delete(key) == 0


async def test_refused_images_and_keys_never_reach_the_bucket(settings: Settings, endpoint: str) -> None:
    images = open_store(settings)
    with pytest.raises(InvalidRecord, match="not a JPEG or PNG"):
        await images.put(image_key("r-1", T0), "plate", b"<svg/>", T0)
    with pytest.raises(InvalidRecord, match="more than the 1024 bytes allowed"):
        await images.put(image_key("r-1", T0), "plate", PNG + b"\0" * 1024, T0)
    with pytest.raises(InvalidRecord, match="not an image key"):
        await images.put("../" + image_key("r-1", T0), "plate", PNG, T0)
    raw: Any = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    assert raw.list_objects_v2(Bucket=settings.images_s3_bucket).get("KeyCount") == 0


async def test_older_than_reads_the_capture_time_from_metadata(settings: Settings) -> None:
    """P11: exact to the microsecond, across day prefixes."""
    images = open_store(settings)
    moments = [T0 - timedelta(days=2), T0 - timedelta(microseconds=1), T0, T0 + timedelta(days=1)]
    keys = [image_key(f"r-{i}", m) for i, m in enumerate(moments)]
    for key, moment in zip(keys, moments, strict=True):
        await images.put(key, "plate", PNG, moment)
    listed = [item async for item in images.older_than(T0)]
    assert sorted(listed) == sorted([(keys[0], moments[0]), (keys[1], moments[1])])
    assert len([item async for item in images.older_than(T0 + timedelta(days=2))]) == 4
