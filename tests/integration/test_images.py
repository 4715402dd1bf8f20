"""A read's images through the real path (issue 18, item 1; P11, P12, P24): a camera key posts
reads with a plate crop and an overview to the real ``alpr ingest`` on the embedded broker; the
images land under the state directory, the read on Kafka carries ``image_ref`` and never the bytes;
an excluded read's image is never written; a bad image refuses the request with the field named.
The retention sweep (``alpr images sweep``, and the use case with a clock past the retention)
removes images past the read retention except a held read's, and a released hold's on the next
sweep; nobody and the wrong role are refused and nothing is deleted."""

from __future__ import annotations

import asyncio
import base64
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streams.access.principal import Principal
from streams.images.render import plate_png
from streams.images.store import image_key, image_ref, open_store
from streams.images.sweep import run_sweep
from streams.kafka.broker import free_port
from streams.retention.holds import HoldDesk
from tests.conftest import ROOT, alpr, settings_of
from tests.integration.kafka_helpers import alpr_as, audit_records
from tests.integration.test_ingest import a_read, post, stored
from tests.integration.test_sensitive_sites import AIRPORT, CLINIC, Ingest, at, everything

pytestmark = pytest.mark.integration

PLATE_LIMIT = 4096
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4
CASE = "SJ-26-004512"
DET = Principal("kim", "Det. Kim Tran", "SJPD", "analyst", badge="A-7")
SWEEPER = Principal("retention-test", "retention-test", "SJPD", "retention", kind="service")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.fixture()
def ingest(env_factory: Callable[..., dict[str, str]], tmp_path: Path) -> Iterator[Ingest]:
    sites = tmp_path / "sites.geojson"
    shutil.copy(ROOT / "samples" / "sensitive-sites.geojson", sites)
    env = env_factory(
        ALPR_INGEST_PORT=str(free_port()),
        ALPR_SENSITIVE_SITES=str(sites),
        ALPR_IMAGE_MAX_PLATE_BYTES=str(PLATE_LIMIT),
    )
    running = Ingest(env, tmp_path)
    yield running
    running.process.stop()


def image_dirs(env: dict[str, str]) -> set[str]:
    """The keys with images under the state directory now."""
    root = Path(env["ALPR_STATE_DIR"]) / "images"
    return {f"{p.parent.name}/{p.name}" for p in root.glob("*/*") if p.is_dir()} if root.exists() else set()


def test_images_ride_with_their_reads_and_go_with_the_retention_except_when_held(ingest: Ingest) -> None:
    env, settings = ingest.env, settings_of(ingest.env)
    key = ingest.camera("unit-1", "--kind", "mobile", *at(AIRPORT))
    png = plate_png("7IMG001", "CA")

    # A bad image refuses the whole request, naming the field; nothing is stored anywhere.
    svg = b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"
    refused = post(env, key, [a_read(read_id="r-fine", plate_image=b64(png)), a_read(plate_image=b64(svg))])
    assert refused.status == 422, refused.body
    [why] = refused.body["reads"]
    assert (
        why["index"] == 1
        and why["reason"].startswith("plate_image: ")
        and "not a JPEG or PNG" in why["reason"]
    )
    too_big = post(env, key, a_read(plate_image=b64(png + b"\0" * PLATE_LIMIT)))
    assert (
        too_big.status == 422
        and f"more than the {PLATE_LIMIT} bytes allowed" in too_big.body["reads"][0]["reason"]
    )
    not_b64 = post(env, key, a_read(overview_image="not base64!"))
    assert not_b64.status == 422 and "overview_image is not base64" in not_b64.body["reads"][0]["reason"]
    assert stored(env) == {} and image_dirs(env) == set()

    # Accepted reads: images stored under the key derived from the read; the excluded read's never.
    reads = [
        a_read(read_id="r-a", plate="7IMG001", plate_image=b64(png), overview_image=b64(JPEG)),
        a_read(read_id="r-b", plate="7IMG002", plate_image=b64(plate_png("7IMG002", "CA"))),
        a_read(read_id="r-clinic", plate="7IMG003", lat=CLINIC[0], lon=CLINIC[1], plate_image=b64(png)),
        a_read(read_id="r-plain", plate="7IMG004"),
    ]
    answer = post(env, key, reads)
    assert answer.status == 202 and answer.body["accepted"] == 3 and answer.body["excluded"] == 1, answer.body
    captured = {r["read_id"]: datetime.fromisoformat(r["captured_at"]) for r in reads}
    keys = {rid: image_key(rid, when) for rid, when in captured.items()}
    assert image_dirs(env) == {keys["r-a"], keys["r-b"]}  # P24: nothing of r-clinic
    store = open_store(settings)
    got = asyncio.run(store.get(keys["r-a"], "plate"))
    assert got is not None and got.data == png and got.content_type == "image/png"
    got = asyncio.run(store.get(keys["r-a"], "overview"))
    assert got is not None and got.data == JPEG and got.content_type == "image/jpeg"
    on_kafka = stored(env)
    assert set(on_kafka) == {"r-a", "r-b", "r-plain"}
    assert on_kafka["r-a"]["image_ref"] == image_ref("r-a", captured["r-a"]) == f"alpr-image:{keys['r-a']}"
    assert "image_ref" not in on_kafka["r-plain"]
    assert all("plate_image" not in r and "overview_image" not in r for r in on_kafka.values())
    assert b64(png)[:200].encode() not in everything(env, "reads")  # the bytes never go to Kafka

    # An old read's images (captured before the retention, as if left from a month ago).
    old = datetime.now(UTC) - settings.profile.read_retention - timedelta(hours=1)
    asyncio.run(store.put(image_key("r-old", old), "plate", png, old))
    before = image_dirs(env)

    # Nobody, the wrong role, and a timer in a person's session: refused, nothing deleted.
    nobody = alpr(env, "images", "sweep")
    assert nobody.returncode == 2 and "sign in first" in nobody.stderr, nobody.stderr
    officer = alpr_as(env, ingest.officer, "images", "sweep")
    assert officer.returncode == 2 and "officer role may not image.sweep" in officer.stderr, officer.stderr
    timer = alpr_as(env, ingest.admin, "images", "sweep", "--every", "1m")
    assert timer.returncode == 2 and "retention service account" in timer.stderr, timer.stderr
    assert image_dirs(env) == before

    # P11: the administrator's sweep now deletes only the old read's images, audited with counts.
    swept = alpr_as(env, ingest.admin, "images", "sweep")
    assert swept.returncode == 0, swept.stderr
    assert "images of 1 reads" in swept.stdout and "0 kept on evidence hold" in swept.stdout, swept.stdout
    assert image_dirs(env) == {keys["r-a"], keys["r-b"]}
    [audited] = [a for a in audit_records(settings) if a["action"] == "image_sweep"]
    assert (audited["user"], audited["result_count"], audited["query"]["deleted_objects"]) == ("ada", 1, 1)

    # P12: r-a goes on evidence hold; a sweep past the retention keeps it and removes r-b's.
    desk = HoldDesk(settings)
    now = datetime.now(UTC)

    async def hold() -> None:
        read = await desk.find_read("r-a", captured["r-a"], now)
        await desk.add([read], CASE, "robbery 211 PC", DET, now, query={"read_id": "r-a"},
                       crime_type="PC 211 robbery")  # fmt: skip

    asyncio.run(hold())
    later = now + settings.profile.read_retention + timedelta(days=1)
    result = asyncio.run(run_sweep(settings, later, SWEEPER))
    assert (result.deleted_reads, result.deleted_objects, result.kept_held) == (1, 1, 1)
    assert image_dirs(env) == {keys["r-a"]}

    # The hold released: the next sweep removes the images too.
    asyncio.run(desk.release("r-a", CASE, "case closed, evidence no longer needed", DET, now))
    result = asyncio.run(run_sweep(settings, later, SWEEPER))
    assert (result.deleted_reads, result.deleted_objects, result.kept_held) == (1, 2, 0)
    assert image_dirs(env) == set()
