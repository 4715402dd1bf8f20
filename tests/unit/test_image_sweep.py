"""The images' retention sweep (P11, P12): gone with the read, kept while the read is held."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streams.access.principal import Principal
from streams.errors import AccessDenied, NotSignedIn
from streams.images.store import LocalImageStore, image_key
from streams.images.sweep import run_sweep, sweep
from streams.settings import Settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


async def stored(tmp_path: Path, reads: dict[str, datetime]) -> tuple[Settings, LocalImageStore]:
    settings = Settings(state_dir=tmp_path)
    images = LocalImageStore(tmp_path / "images", 1024, 1024)
    for read_id, captured in reads.items():
        await images.put(image_key(read_id, captured), "plate", PNG, captured)
        await images.put(image_key(read_id, captured), "overview", PNG, captured)
    return settings, images


async def test_p11_images_past_the_retention_go_to_the_second(tmp_path: Path) -> None:
    retention = Settings().profile.read_retention
    cutoff = NOW - retention
    reads = {
        "old": cutoff - timedelta(days=3),
        "just-due": cutoff - timedelta(seconds=1),
        "at-cutoff": cutoff,
        "young": NOW - timedelta(hours=1),
    }
    settings, images = await stored(tmp_path, reads)
    result = await sweep(settings, images, NOW, held=set())
    assert (result.deleted_reads, result.deleted_objects, result.kept_held) == (2, 4, 0)
    assert result.cutoff == cutoff
    for read_id, captured in reads.items():
        present = await images.get(image_key(read_id, captured), "plate") is not None
        assert present == (read_id in {"at-cutoff", "young"}), read_id
    again = await sweep(settings, images, NOW, held=set())
    assert (again.deleted_reads, again.kept_held) == (0, 0)


async def test_p11_a_repeating_sweep_takes_what_would_pass_the_retention_before_its_next_run(
    tmp_path: Path,
) -> None:
    """Swept every minute, an image 30 s short of the retention goes now: at the next sweep it
    would have been kept 30 s too long."""
    cutoff = NOW - Settings().profile.read_retention
    reads = {"due-in-30s": cutoff + timedelta(seconds=30), "due-in-2min": cutoff + timedelta(minutes=2)}
    settings, images = await stored(tmp_path, reads)
    result = await sweep(settings, images, NOW, held=set(), ahead=timedelta(minutes=1))
    assert result.deleted_reads == 1 and result.cutoff == cutoff + timedelta(minutes=1)
    assert await images.get(image_key("due-in-30s", reads["due-in-30s"]), "plate") is None
    assert await images.get(image_key("due-in-2min", reads["due-in-2min"]), "plate") is not None


async def test_p12_a_held_read_keeps_its_images_until_the_hold_is_released(tmp_path: Path) -> None:
    due = NOW - Settings().profile.read_retention - timedelta(days=1)
    settings, images = await stored(tmp_path, {"held": due, "free": due})
    first = await sweep(settings, images, NOW, held={"held", "some-other-read"})
    assert (first.deleted_reads, first.kept_held) == (1, 1)
    assert await images.get(image_key("held", due), "plate") is not None
    assert await images.get(image_key("free", due), "plate") is None
    released = await sweep(settings, images, NOW, held=set())  # the hold released since
    assert (released.deleted_reads, released.kept_held) == (1, 0)
    assert await images.get(image_key("held", due), "overview") is None


@pytest.mark.parametrize("principal", [None, Principal("d1", "Dee One", "SJPD", "dispatcher", badge="1")])
async def test_p21_only_the_retention_role_or_an_administrator_may_sweep(
    tmp_path: Path, principal: Principal | None
) -> None:
    due = NOW - timedelta(days=400)
    settings, images = await stored(tmp_path, {"r": due})
    with pytest.raises(AccessDenied if principal else NotSignedIn):
        await run_sweep(settings, NOW, principal, images)  # type: ignore[arg-type]
    assert await images.get(image_key("r", due), "plate") is not None  # nothing deleted
