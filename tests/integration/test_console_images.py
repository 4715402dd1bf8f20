"""An alert's images through the real console and the real CLI, over a real worker and broker
(issue 18, item 1; P7, P15, P19-P21).

* ``GET /api/alerts/{id}/images/plate`` serves the stored bytes with their type, ``nosniff``,
  ``no-store`` and ``inline``; each serving is audited (who, which alert, read and kind, P15) and
  the first one to a person writes one ``AlertImageShown`` on the alerts topic.
* Refusals: no session 401, a role without ``alert.view`` 403, an alert of another agency's camera
  404 in the words of a missing alert (P20); none of them writes a shown event or an audit record
  of an image served.
* P7: a verification of a read with a stored plate image is refused (409, nothing written) until
  the image was served to the person verifying; then it is accepted. The same from a terminal:
  ``alpr alert verify --image-viewed`` is refused until ``alpr alert image`` wrote the image to a
  file (mode 0600).
"""

from __future__ import annotations

import asyncio
import os
import stat
import struct
import zlib
from datetime import UTC, datetime

import aiohttp
import pytest

from streams.access.directory import Agency, DirectoryStore
from streams.images.store import image_key, image_ref, open_store
from tests.factories import read_dict
from tests.integration.kafka_helpers import (
    SignInUser,
    add_user,
    admin_principal,
    alerts_for,
    alpr_as,
    ensure_home,
    register_cameras,
    running_worker,
    send_reads,
    wait_for_records,
)
from tests.integration.test_console import (
    audit_records,
    base,
    events_of,
    listed,
    sign_in_once,
    signed_in,
    sync_rows,
    transition,
)

pytestmark = pytest.mark.integration

SHERIFF = Agency("CA0430000", "Santa Clara County Sheriff", "county_sheriff", "CA", "signed", "2026-01-15")
CAMERA, SHERIFF_CAMERA = "img-0001", "img-sc-01"
#: P7: the verification of a read with a stored image: made against the image, both boxes ticked.
AGAINST_IMAGE = {"action": "verify", "evidence_shown": "image", "characters_match": True, "state_match": True}


def png(width: int = 24, height: int = 12, shade: int = 40) -> bytes:
    """A small grey PNG (synthetic: no plate data), made with zlib and struct."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes([(shade + x) % 256 for x in range(width)]) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def raise_with_image(
    settings, root, read_id: str, plate: str, n: int, *, overview: bytes | None = None, camera: str = CAMERA
) -> tuple[str, bytes]:
    """Store a plate crop (and an overview) for a read as the ingest does, send the read with its
    ``alpr-image:`` ref, and return the alert it raised and the crop's bytes."""
    captured = datetime.now(UTC)
    crop = png(shade=n % 200)
    store = open_store(settings)
    await store.put(image_key(read_id, captured), "plate", crop, captured)
    if overview is not None:
        await store.put(image_key(read_id, captured), "overview", overview, captured)
    await sync_rows(settings, root, listed(plate, n))
    read = read_dict(
        read_id=read_id,
        plate=plate,
        camera_id=camera,
        captured_at=captured.isoformat(),
        image_ref=image_ref(read_id, captured),
    )
    await send_reads(settings, [read])
    values = await wait_for_records(
        settings.kafka, settings.topic("alerts"), lambda v: bool(alerts_for(v, {read_id}))
    )
    return alerts_for(values, {read_id})[0]["alert_id"], crop


@pytest.fixture(scope="module")
def console(broker, tmp_path_factory):
    root = tmp_path_factory.mktemp("console-images")
    with running_worker(broker, root, console=True) as running:
        settings = running[1]

        async def setup() -> None:
            await ensure_home(settings)
            await DirectoryStore(settings).add_agency(SHERIFF, admin_principal(), datetime.now(UTC))
            await register_cameras(settings, {CAMERA: "SJPD", SHERIFF_CAMERA: SHERIFF.agency_id})

        asyncio.run(setup())
        yield running


@pytest.fixture(scope="module")
def people(console) -> dict[str, SignInUser]:
    settings = console[1]

    async def make() -> dict[str, SignInUser]:
        return {
            "lee": await add_user(settings, "ilee", "dispatcher", display="Dispatcher Lee", badge="D-101"),
            "roy": await add_user(settings, "iroy", "dispatcher", display="Dispatcher Roy", badge="D-103"),
            "cli": await add_user(settings, "icli", "dispatcher", display="Dispatcher Cy", badge="D-105"),
            "adm": await add_user(settings, "iadm", "administrator", display="Admin Ada", badge="AD-1"),
        }

    return asyncio.run(make())


@pytest.fixture(scope="module")
def tokens(console, people) -> dict[str, str]:
    """One console session per person for the module (a TOTP code signs in once)."""
    return {name: sign_in_once(console[0], people[name]) for name in ("lee", "roy", "adm")}


async def shown_events(settings, alert_id: str) -> list[dict]:
    return [e for e in await events_of(settings, alert_id) if e["event"] == "AlertImageShown"]


async def images_served(settings, user: str, alert_id: str) -> list[dict]:
    return [
        a
        for a in await audit_records(settings)
        if a["user"] == user and a["action"] == "alert_image" and alert_id in a["query"].get("alerts", [])
    ]


async def test_the_plate_crop_is_served_with_its_type_audited_and_recorded_as_shown_once(
    console, tokens
) -> None:
    env, settings, root = console
    overview = png(64, 32, 90)
    alert_id, crop = await raise_with_image(settings, root, "img-served-1", "7IMGS01", 901, overview=overview)
    async with await signed_in(env, tokens["lee"]) as session:
        for _ in range(2):  # a reload: served and audited again, recorded as shown once
            async with session.get(f"/api/alerts/{alert_id}/images/plate") as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"] == "image/png"
                assert resp.headers["X-Content-Type-Options"] == "nosniff"
                assert resp.headers["Cache-Control"] == "no-store"
                assert resp.headers["Content-Disposition"] == "inline"
                assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
                assert await resp.read() == crop
        async with session.get(f"/api/alerts/{alert_id}/images/overview") as resp:
            assert resp.status == 200 and await resp.read() == overview
        async with session.get(f"/api/alerts/{alert_id}/images/thumbnail") as resp:
            assert resp.status == 400 and "plate, overview" in (await resp.json())["error"]
        async with session.get(f"/api/alerts/{alert_id}/images/plate?read=not-a-read-of-it") as resp:
            assert resp.status == 404
        async with session.get(f"/api/alerts/{alert_id}") as resp:
            detail = await resp.json()
    assert detail["verification"]["plate_image"] == f"/api/alerts/{alert_id}/images/plate"
    assert detail["verification"]["image_required"] is True
    assert [(s["by"]["user"], s["kind"]) for s in detail["verification"]["images_shown"]] == [
        ("Dispatcher Lee", "plate"),
        ("Dispatcher Lee", "overview"),
    ]

    shown = await shown_events(settings, alert_id)
    assert [(e["by"], e["read_id"], e["kind"]) for e in shown] == [
        ({"user": "Dispatcher Lee", "badge": "D-101"}, "img-served-1", "plate"),
        ({"user": "Dispatcher Lee", "badge": "D-101"}, "img-served-1", "overview"),
    ]
    served = await images_served(settings, "ilee", alert_id)
    assert len(served) == 3  # the crop twice, the overview once (P15: every serving)
    assert {(a["query"]["read"], a["query"]["kind"]) for a in served} == {
        ("img-served-1", "plate"),
        ("img-served-1", "overview"),
    }
    assert all(a["query"]["plates"] == ["7IMGS01"] and a["badge"] == "D-101" for a in served)


async def test_refusals_serve_nothing_and_record_nothing_p19_p20_p21(console, tokens) -> None:
    env, settings, root = console
    alert_id, _crop = await raise_with_image(settings, root, "img-refused-1", "7IMGR01", 902)
    theirs, _crop = await raise_with_image(
        settings, root, "img-refused-2", "7IMGR02", 905, camera=SHERIFF_CAMERA
    )
    url = f"/api/alerts/{alert_id}/images/plate"
    async with aiohttp.ClientSession(base(env)) as anonymous, anonymous.get(url) as resp:
        assert resp.status == 401 and resp.content_type == "application/json"
    async with await signed_in(env, tokens["adm"]) as session, session.get(url) as resp:
        assert resp.status == 403 and "alert.view" in (await resp.json())["error"]
    # Lee is of SJPD: the sheriff's camera is not in its scope (P19)
    async with await signed_in(env, tokens["lee"]) as session:
        async with session.get(f"/api/alerts/{theirs}/images/plate") as resp:
            out_of_scope = (resp.status, await resp.json())
        async with session.get("/api/alerts/no-such-alert/images/plate") as resp:
            missing = (resp.status, await resp.json())
    assert out_of_scope == (404, {"error": f"no alert {theirs}"})  # P20: as if there were none
    assert missing == (404, {"error": "no alert no-such-alert"})

    for alert in (alert_id, theirs):
        assert await shown_events(settings, alert) == []
    assert await images_served(settings, "iadm", alert_id) == []
    assert await images_served(settings, "ilee", theirs) == []


async def test_p7_verify_is_refused_until_the_plate_image_was_served_to_the_person(console, tokens) -> None:
    env, settings, root = console
    alert_id, _crop = await raise_with_image(settings, root, "img-verify-1", "7IMGV01", 903)
    async with await signed_in(env, tokens["roy"]) as mine, await signed_in(env, tokens["lee"]) as other:
        for body in (AGAINST_IMAGE, {**AGAINST_IMAGE, "evidence_shown": "read-text"}):
            status, answer = await transition(mine, alert_id, **body)
            assert status == 409 and "P7: open the plate image first" in answer["error"], answer
        async with other.get(f"/api/alerts/{alert_id}/images/plate") as resp:
            assert resp.status == 200  # Lee saw it; Roy still has not
        status, answer = await transition(mine, alert_id, **AGAINST_IMAGE)
        assert status == 409 and "P7: open the plate image first" in answer["error"]
        assert [e["event"] for e in await events_of(settings, alert_id)] == ["AlertImageShown"]

        async with mine.get(f"/api/alerts/{alert_id}/images/plate") as resp:
            assert resp.status == 200
        status, answer = await transition(mine, alert_id, **AGAINST_IMAGE)
        assert status == 200 and answer["status"] == "tentative_hit", answer
    verified = [e for e in await events_of(settings, alert_id) if e["event"] == "AlertVisuallyVerified"]
    assert len(verified) == 1 and verified[0]["evidence_shown"] == "image"
    assert verified[0]["by"] == {"user": "Dispatcher Roy", "badge": "D-103"}


def test_p7_from_a_terminal_the_image_is_written_to_a_file_before_verify_is_accepted(
    console, people, tmp_path
) -> None:
    env, settings, root = console
    cy = people["cli"]
    alert_id, crop = asyncio.run(raise_with_image(settings, root, "img-cli-1", "7IMGC01", 904))
    ticked = ("--characters-match", "--state-match", "--image-viewed")

    refused = alpr_as(env, cy, "alert", "verify", alert_id, *ticked)
    assert refused.returncode != 0 and "P7: open the plate image first" in refused.stderr
    assert "alpr alert image" in refused.stderr and "Traceback" not in refused.stderr
    assert asyncio.run(events_of(settings, alert_id)) == []

    out = tmp_path / "plate.png"
    written = alpr_as(env, cy, "alert", "image", alert_id, "--kind", "plate", "--out", str(out))
    assert written.returncode == 0, written.stderr
    assert out.read_bytes() == crop and stat.S_IMODE(os.stat(out).st_mode) == 0o600
    again = alpr_as(env, cy, "alert", "image", alert_id, "--out", str(out))
    assert again.returncode != 0 and "exists" in again.stderr  # never overwritten
    assert len(asyncio.run(images_served(settings, "icli", alert_id))) == 1

    accepted = alpr_as(env, cy, "alert", "verify", alert_id, *ticked)
    assert accepted.returncode == 0, accepted.stderr
    assert "tentative hit" in accepted.stdout
    assert [e["event"] for e in asyncio.run(events_of(settings, alert_id))] == [
        "AlertImageShown",
        "AlertVisuallyVerified",
    ]
