"""The image store: key grammar, no path traversal, atomic 0600 writes, exact retention listing (P11)."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from streams.errors import ConfigError, InvalidRecord
from streams.images.store import (
    REF_PREFIX,
    LocalImageStore,
    check_image,
    image_key,
    image_ref,
    key_of_ref,
    open_store,
    sniff,
)
from streams.settings import Settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 64
T0 = datetime(2026, 3, 1, 23, 59, 59, 250_000, tzinfo=UTC)


def store(tmp_path: Path) -> LocalImageStore:
    return LocalImageStore(tmp_path / "images", max_plate_bytes=1024, max_overview_bytes=4096)


def test_key_is_the_utc_capture_day_and_a_hash_of_the_read_id() -> None:
    local = datetime(2026, 3, 2, 1, 0, tzinfo=UTC).astimezone(ZoneInfo("America/Los_Angeles"))
    key = image_key("cam-00001:42", local)
    day, digest = key.split("/")
    assert day == "2026-03-02"  # the UTC day, not the local one (2026-03-01 in California)
    assert len(digest) == 40 and all(c in "0123456789abcdef" for c in digest)
    assert image_key("cam-00001:43", local) != key
    assert image_ref("cam-00001:42", local) == REF_PREFIX + key
    assert key_of_ref(image_ref("cam-00001:42", local)) == key
    assert key_of_ref("https://vendor.example/img/1.jpg") is None
    assert key_of_ref(REF_PREFIX + "../../etc/passwd") is None
    with pytest.raises(ValueError, match="timezone-aware"):
        image_key("r", datetime(2026, 3, 2))  # noqa: DTZ001


def test_only_jpeg_and_png_by_magic_within_the_size_limit() -> None:
    assert sniff(PNG) == "image/png" and sniff(JPEG) == "image/jpeg"
    for bad in (b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"<html>", b"GIF89a", b""):
        assert sniff(bad) is None
        with pytest.raises(InvalidRecord, match="not a JPEG or PNG"):
            check_image("plate", bad, 1024)
    with pytest.raises(InvalidRecord, match="more than the 100 bytes allowed"):
        check_image("overview", PNG + b"\0" * 100, 100)
    with pytest.raises(InvalidRecord, match="not an image kind"):
        check_image("thumbnail", PNG, 1024)


@pytest.mark.parametrize(
    "key",
    [
        "../2026-03-01/" + "a" * 40,
        "2026-03-01/" + "a" * 39,
        "2026-03-01/" + "A" * 40,
        "2026-13-01/" + "a" * 40,
        "2026-03-01/" + "a" * 40 + "/..",
        "/etc/passwd",
        "2026-03-01\\" + "a" * 40,
        "",
    ],
)
async def test_a_key_outside_the_grammar_is_refused_and_nothing_is_written(tmp_path: Path, key: str) -> None:
    images = store(tmp_path)
    with pytest.raises(InvalidRecord, match="not an image key"):
        await images.put(key, "plate", PNG, T0)
    with pytest.raises(InvalidRecord, match="not an image key"):
        await images.get(key, "plate")
    with pytest.raises(InvalidRecord, match="not an image key"):
        await images.delete(key)
    assert not (tmp_path / "images").exists() or not any((tmp_path / "images").rglob("*"))


async def test_put_get_delete_round_trip_with_private_permissions(tmp_path: Path) -> None:
    images = store(tmp_path)
    key = image_key("r-1", T0)
    await images.put(key, "plate", PNG, T0)
    await images.put(key, "overview", JPEG, T0)
    plate, overview = await images.get(key, "plate"), await images.get(key, "overview")
    assert plate is not None and (plate.data, plate.content_type) == (PNG, "image/png")
    assert overview is not None and overview.content_type == "image/jpeg"
    files = sorted(p for p in (tmp_path / "images").rglob("*") if p.is_file())
    assert [p.name.split(".")[0] for p in files] == ["overview", "plate"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    for folder in (tmp_path / "images", files[0].parent.parent, files[0].parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert await images.get(image_key("r-2", T0), "plate") is None
    assert await images.delete(key) == 2
    assert await images.get(key, "plate") is None
    assert await images.delete(key) == 0
    assert list((tmp_path / "images").iterdir()) == []  # the day's folder went with its last read


async def test_refused_images_leave_nothing(tmp_path: Path) -> None:
    images = store(tmp_path)
    key = image_key("r-1", T0)
    with pytest.raises(InvalidRecord, match="not a JPEG or PNG"):
        await images.put(key, "plate", b"<svg onload=alert(1)>", T0)
    with pytest.raises(InvalidRecord, match="more than the 1024 bytes allowed"):
        await images.put(key, "plate", PNG + b"\0" * 1024, T0)
    await images.put(key, "overview", PNG + b"\0" * 2048, T0)  # overview has its own, larger limit
    assert await images.get(key, "plate") is None


async def test_write_is_atomic_a_failed_write_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = store(tmp_path)
    key = image_key("r-1", T0)
    await images.put(key, "plate", PNG, T0)

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("streams.images.store.os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        await images.put(key, "plate", JPEG, T0 + timedelta(seconds=1))
    monkeypatch.undo()
    folder = tmp_path / "images" / key
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []  # no temp file left
    kept = await images.get(key, "plate")
    assert kept is not None and kept.data == PNG  # the earlier image, whole


async def test_a_second_put_of_a_kind_replaces_it(tmp_path: Path) -> None:
    images = store(tmp_path)
    key = image_key("r-1", T0)
    await images.put(key, "plate", PNG, T0)
    await images.put(key, "plate", JPEG, T0 + timedelta(seconds=3))
    got = await images.get(key, "plate")
    assert got is not None and got.data == JPEG
    assert len(list((tmp_path / "images" / key).iterdir())) == 1


async def test_older_than_is_exact_to_the_microsecond_across_days(tmp_path: Path) -> None:
    """P11: the sweep lists what was captured strictly before the cutoff, no sooner."""
    images = store(tmp_path)
    moments = [T0 - timedelta(days=2), T0 - timedelta(microseconds=1), T0, T0 + timedelta(seconds=1)]
    keys = [image_key(f"r-{i}", m) for i, m in enumerate(moments)]
    for key, moment in zip(keys, moments, strict=True):
        await images.put(key, "plate", PNG, moment)
    listed = [item async for item in images.older_than(T0)]
    assert sorted(listed) == sorted([(keys[0], moments[0]), (keys[1], moments[1])])
    assert [item async for item in images.older_than(T0 - timedelta(days=3))] == []
    everything = [key async for key, _ in images.older_than(T0 + timedelta(days=1))]
    assert sorted(everything) == sorted(keys)
    assert [item async for item in store(tmp_path / "none").older_than(T0)] == []


def test_open_store_reads_the_settings(tmp_path: Path) -> None:
    local = open_store(Settings(state_dir=tmp_path))
    assert isinstance(local, LocalImageStore) and local.root == tmp_path / "images"
    with pytest.raises(ConfigError, match="ALPR_IMAGES_S3_BUCKET"):
        Settings.from_env({"ALPR_IMAGES": "s3"})
    with pytest.raises(ConfigError, match="ALPR_IMAGES='ftp'"):
        Settings.from_env({"ALPR_IMAGES": "ftp"})
    settings = Settings.from_env(
        {"ALPR_IMAGES": "s3", "ALPR_IMAGES_S3_BUCKET": "b", "ALPR_IMAGES_S3_REGION": "us-west-1"}
    )
    assert (settings.image_max_plate_bytes, settings.image_max_overview_bytes) == (
        512 * 1024,
        4 * 1024 * 1024,
    )
