"""The console's camera registry API (``/cameras``, ``/api/cameras``) through a real ``alpr console``
process on the embedded broker: administrators only (P21), the same P24 refusal and audit records as
``alpr camera``, the first ingest key shown once. Sites are samples/sensitive-sites.geojson."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import pytest

from streams.cameras.keys import KEY_PREFIX, key_digest
from tests.conftest import AlprProcess, make_env, settings_of, wait_for
from tests.integration.kafka_helpers import SignInUser, add_user, console_up, read_topic
from tests.integration.test_camera_cli import AIRPORT, CHURCH, SAMPLE, SOUTH_OF_CHURCH
from tests.integration.test_console import base, sign_in_once
from tests.unit.test_sites import destination

pytestmark = pytest.mark.integration

CLINIC = "Example Family Health Clinic (fictional) (reproductive health care facility)"
SOUTH_OF_CLINIC = destination(37.3318, -121.8939, 180, 80)  # 80 m south of the clinic (a point site)


@contextlib.contextmanager
def running_console(broker: Any, root: Any, **extra: str) -> Iterator[tuple[dict[str, str], Any, Any]]:
    """Fresh topics and a real ``alpr console`` process (no worker: the registry needs none)."""
    from streams.kafka.topics import create_topics

    env = make_env(broker, root, **extra)
    settings = settings_of(env)
    asyncio.run(create_topics(settings))
    process = AlprProcess(env, root / "console.log", "console")
    try:
        wait_for(lambda: console_up(env), 60, "the console")
        yield env, settings, root
    finally:
        process.stop()


@pytest.fixture(scope="module")
def console(broker, tmp_path_factory):
    with running_console(
        broker, tmp_path_factory.mktemp("console-cameras"), ALPR_SENSITIVE_SITES=str(SAMPLE)
    ) as running:
        yield running


@pytest.fixture(scope="module")
def people(console) -> dict[str, SignInUser]:
    settings = console[1]

    async def make() -> dict[str, SignInUser]:
        return {
            "ada": await add_user(settings, "ada", "administrator", display="Admin Ada", badge="A-1"),
            "lee": await add_user(settings, "lee", "dispatcher", display="Dispatcher Lee", badge="D-101"),
            "kim": await add_user(settings, "kim", "analyst", display="Det. Kim Tran", badge="A-7"),
            "aud": await add_user(settings, "aud", "auditor", display="Auditor Ray", badge="X-3"),
        }

    return asyncio.run(make())


@pytest.fixture(scope="module")
def tokens(console, people) -> dict[str, str]:
    """One sign-in (password + TOTP code, P18) per person for the module: a code is used once."""
    return {name: sign_in_once(console[0], user) for name, user in people.items()}


def session(env: dict[str, str], token: str | None) -> aiohttp.ClientSession:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return aiohttp.ClientSession(base(env), headers=headers)


async def state(settings) -> tuple[dict[str, dict], list[dict], dict[str, dict]]:
    """(cameras topic by id, camera audit records, camera-keys topic by id): what a change writes."""
    cameras = await read_topic(settings.kafka, settings.topic("cameras"))
    audit = await read_topic(settings.kafka, settings.topic("audit"))
    keys = await read_topic(settings.kafka, settings.topic("camera-keys"))
    changes = [orjson.loads(r.value) for r in audit]
    return (
        {r.key.decode(): orjson.loads(r.value) for r in cameras},
        [a for a in changes if a["action"].startswith("camera_")],
        {r.key.decode(): orjson.loads(r.value) for r in keys},
    )


def camera(camera_id: str, position: tuple[float, float], kind: str = "fixed", **extra: Any) -> dict:
    body = {"id": camera_id, "name": f"{camera_id} site", "agency": "SJPD", "kind": kind}
    return {**body, "lat": position[0], "lon": position[1], **extra}


async def test_only_administrators_may_use_the_camera_registry_p21(console, tokens) -> None:
    """P21 (access by role): without a session the API answers 401 and the page sends to sign-in;
    a dispatcher, an analyst and an auditor get 403 from the API and from the page, which says why,
    and their attempt to add a camera writes nothing; an administrator gets the page."""
    env, settings, _root = console
    before = await state(settings)
    async with session(env, None) as anonymous:
        async with anonymous.get("/api/cameras") as resp:
            assert resp.status == 401
        async with anonymous.post("/api/cameras", json=camera("cam-anon", AIRPORT, facing_deg=90)) as resp:
            assert resp.status == 401
        async with anonymous.get("/cameras", allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/login"
    for name, role in (("lee", "dispatcher"), ("kim", "analyst"), ("aud", "auditor")):
        async with session(env, tokens[name]) as other:
            async with other.get("/api/cameras") as resp:  # camera.view: analysts and auditors
                if role == "dispatcher":
                    assert resp.status == 403 and "P21" in (await resp.json())["error"]
                else:
                    assert resp.status == 200
            body = camera(f"cam-{name}", AIRPORT, facing_deg=90)
            async with other.post("/api/cameras", json=body) as resp:
                assert resp.status == 403 and f"the {role} role" in (await resp.json())["error"]
            async with other.post("/api/cameras/cam-x/retire", json={}) as resp:
                assert resp.status == 403
            async with other.get("/cameras") as resp:
                page = await resp.text()
                assert resp.status == 403
                assert f"P21: the {role} role may not administer cameras" in page
                assert "cameras.js" not in page  # the registry's page is not served
    async with session(env, tokens["ada"]) as admin:
        async with admin.get("/cameras") as resp:
            assert resp.status == 200 and 'id="camera-form"' in await resp.text()
            assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    assert await state(settings) == before


async def test_an_administrator_adds_changes_and_retires_cameras_and_each_change_is_audited(
    console, tokens
) -> None:
    """Issue 9 item 1 through the console: an administrator registers a fixed and a mobile camera,
    moves one, retires the other; the cameras topic holds each one's state and the audit trail names
    the administrator (name, badge, agency) for each change, as ``alpr camera`` does (P14, P15, P21).
    The first ingest key is in the answer once, and only its sha256 is stored."""
    env, settings, _root = console
    async with session(env, tokens["ada"]) as admin:
        body = camera("cam-api-1", AIRPORT, facing_deg=90, install_date="2025-06-30", name="Airport Blvd EB")
        async with admin.post("/api/cameras", json=body) as resp:
            assert resp.status == 201, await resp.text()
            added = await resp.json()
        assert added["camera"] == {
            "id": "cam-api-1",
            "name": "Airport Blvd EB",
            "agency": "SJPD",
            "kind": "fixed",
            "lat": AIRPORT[0],
            "lon": AIRPORT[1],
            "facing_deg": 90.0,
            "install_date": "2025-06-30",
            "status": "active",
            "retired_on": None,
        }
        key = added["ingest_key"]
        assert key.startswith(f"{KEY_PREFIX}cam-api-1.")
        # P24: a mobile camera's base inside a site's exclusion zone is refused; elsewhere it is not.
        async with admin.post("/api/cameras", json=camera("unit-api-7", SOUTH_OF_CHURCH, "mobile")) as resp:
            assert resp.status == 409 and "inside its exclusion zone" in (await resp.json())["error"]
        async with admin.post("/api/cameras", json=camera("unit-api-7", AIRPORT, "mobile")) as resp:
            assert resp.status == 201, await resp.text()

        async with admin.post(
            "/api/cameras/cam-api-1", json={"facing_deg": 270, "name": "Airport WB"}
        ) as resp:
            assert resp.status == 200, await resp.text()
            changed = await resp.json()
        assert changed["changes"] == {"name": ["Airport Blvd EB", "Airport WB"], "facing_deg": [90.0, 270.0]}
        async with admin.post("/api/cameras/unit-api-7/retire", json={}) as resp:
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["camera"]["status"] == "retired"

        async with admin.get("/api/cameras") as resp:
            listing = await resp.json()
        mine = {c["id"]: c for c in listing["cameras"] if c["id"] in ("cam-api-1", "unit-api-7")}
        assert (mine["cam-api-1"]["facing_deg"], mine["cam-api-1"]["status"]) == (270.0, "active")
        assert mine["unit-api-7"]["status"] == "retired" and mine["unit-api-7"]["retired_on"]
        assert {"agency_id": "SJPD", "name": "San José Police Department"} in listing["agencies"]

    cameras, audit, keys = await state(settings)
    assert cameras["cam-api-1"]["name"] == "Airport WB" and cameras["unit-api-7"]["status"] == "retired"
    assert keys["cam-api-1"]["sha256"] == key_digest(key) and key not in str(keys)  # the hash only
    mine = [a for a in audit if a["query"]["registered_camera"] in ("cam-api-1", "unit-api-7")]
    assert [
        (a["user"], a["badge"], a["agency"], a["action"], a["query"]["registered_camera"]) for a in mine
    ] == [
        ("ada", "A-1", "SJPD", "camera_add", "cam-api-1"),
        ("ada", "A-1", "SJPD", "camera_add", "unit-api-7"),
        ("ada", "A-1", "SJPD", "camera_update", "cam-api-1"),
        ("ada", "A-1", "SJPD", "camera_retire", "unit-api-7"),
    ]
    assert mine[0]["query"]["facing_deg"] == 90.0 and mine[0]["purpose"] == "camera registry"
    assert mine[2]["query"]["changes"]["facing_deg"] == [90.0, 270.0]
    assert key not in str(audit)  # the key itself is never written down


async def test_a_camera_facing_a_sensitive_site_is_refused_with_the_reason_and_nothing_changes_p24(
    console, tokens
) -> None:
    """P24: a fixed camera placed 80 m from a reproductive health care facility or 60 m from a place
    of religious observance, facing it, is refused (409) with the site, its kind and the distance in
    the CLI's words; so is moving a registered camera there. Nothing is written: no camera, no key,
    no audit record."""
    env, settings, _root = console
    async with session(env, tokens["ada"]) as admin:
        async with admin.post("/api/cameras", json=camera("cam-p24-ok", AIRPORT, facing_deg=0)) as resp:
            assert resp.status == 201, await resp.text()
        before = await state(settings)

        facing_clinic = camera("cam-p24-1", SOUTH_OF_CLINIC, facing_deg=0)
        async with admin.post("/api/cameras", json=facing_clinic) as resp:
            assert resp.status == 409
            assert (await resp.json())[
                "error"
            ] == f"camera cam-p24-1 would be 80 m from {CLINIC}, facing it (P24)"
        async with admin.post(
            "/api/cameras", json=camera("cam-p24-2", SOUTH_OF_CHURCH, facing_deg=10)
        ) as resp:
            assert resp.status == 409
            assert (await resp.json())[
                "error"
            ] == f"camera cam-p24-2 would be 60 m from {CHURCH}, facing it (P24)"
        move = {"lat": SOUTH_OF_CHURCH[0], "lon": SOUTH_OF_CHURCH[1]}
        async with admin.post("/api/cameras/cam-p24-ok", json=move) as resp:
            assert resp.status == 409
            assert (await resp.json())[
                "error"
            ] == f"camera cam-p24-ok would be 60 m from {CHURCH}, facing it (P24)"
        assert await state(settings) == before

        # the same camera facing away is allowed: the rule is about what it captures
        away = camera("cam-p24-1", SOUTH_OF_CLINIC, facing_deg=180)
        async with admin.post("/api/cameras", json=away) as resp:
            assert resp.status == 201, await resp.text()


async def test_bad_requests_are_refused_naming_the_problem_and_change_nothing(console, tokens) -> None:
    """Refusals say what to give instead and write nothing: missing or malformed fields, a fixed
    camera without a facing, an unknown agency or camera, a camera retired twice or its id reused,
    an unknown field to change, and a request that is not JSON (a cross-site form cannot send one)."""
    env, settings, _root = console
    async with session(env, tokens["ada"]) as admin:
        async with admin.post("/api/cameras", json=camera("cam-bad-0", AIRPORT, "mobile")) as resp:
            assert resp.status == 201
        async with admin.post("/api/cameras/cam-bad-0/retire", json={}) as resp:
            assert resp.status == 200
        before = await state(settings)
        cases = [
            ("/api/cameras", {**camera("cam-bad-1", AIRPORT), "lat": None}, 400, "lat: required"),
            (
                "/api/cameras",
                {**camera("cam-bad-1", AIRPORT), "lon": "east"},
                400,
                "lon: 'east' is not a number",
            ),
            ("/api/cameras", camera("cam-bad-1", AIRPORT), 400, "a fixed camera needs the compass bearing"),
            (
                "/api/cameras",
                camera("cam-bad-1", AIRPORT, kind="drone"),
                400,
                "kind 'drone': use fixed or mobile",
            ),
            (
                "/api/cameras",
                camera("cam-bad-1", AIRPORT, "mobile", install_date="30/06/2025"),
                400,
                "install_date: '30/06/2025' is not a date",
            ),
            (
                "/api/cameras",
                {**camera("cam-bad-1", AIRPORT, "mobile"), "agency": "NOPE"},
                404,
                "no agency NOPE",
            ),
            (
                "/api/cameras",
                camera("cam-bad-0", AIRPORT, "mobile"),
                400,
                "a retired camera's id is not reused",
            ),
            ("/api/cameras/cam-bad-0/retire", {}, 400, "camera cam-bad-0 was retired already"),
            ("/api/cameras/cam-404/retire", {}, 404, "no camera cam-404"),
            ("/api/cameras/cam-bad-0", {"kind": "fixed"}, 400, "kind cannot be changed"),
            ("/api/cameras", [1, 2], 400, "send a JSON object"),
        ]
        for path, body, status, message in cases:
            async with admin.post(path, json=body) as resp:
                answer = await resp.json()
                assert (resp.status, message in answer["error"]) == (status, True), (path, body, answer)
        async with admin.post("/api/cameras", data="id=cam-form&kind=mobile") as resp:
            assert resp.status == 415
    assert await state(settings) == before


async def test_a_camera_a_listed_site_puts_in_violation_is_shown_suspended_until_moved(
    console, tokens
) -> None:
    """P24: a fixed camera registered before the church was listed (its record written as it stood
    then) faces the church: the listing marks it ``suspended (P24: faces <site>)`` and the page has
    the place that names it; moving it to face away reinstates it (``reinstated``, audited)."""
    from streams.cameras.registry import Camera, encode_camera
    from tests.integration.kafka_helpers import produce

    env, settings, _root = console
    older = Camera("cam-old-church", "Church St NB", "SJPD", "fixed", *SOUTH_OF_CHURCH, facing_deg=0.0)
    await produce(
        settings.kafka, settings.topic("cameras"), [(b"cam-old-church", encode_camera(older), None)]
    )
    async with session(env, tokens["ada"]) as admin:
        async with admin.get("/api/cameras") as resp:
            shown = {c["id"]: c for c in (await resp.json())["cameras"]}
        church = CHURCH.removesuffix(" (place of religious observance)")
        assert shown["cam-old-church"]["suspended"] == f"suspended (P24: faces {church})"
        assert shown["cam-old-church"]["status"] == "active"
        assert all(c["suspended"] is None for i, c in shown.items() if i != "cam-old-church")
        async with admin.get("/cameras") as resp:
            assert 'id="camera-suspended"' in await resp.text()
        async with admin.post("/api/cameras/cam-old-church", json={"facing_deg": 180}) as resp:
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["reinstated"] is True
        async with admin.get("/api/cameras") as resp:
            shown = {c["id"]: c for c in (await resp.json())["cameras"]}
        assert shown["cam-old-church"]["suspended"] is None
    _cameras, audit, _keys = await state(settings)
    assert [a["action"] for a in audit if a["query"]["registered_camera"] == "cam-old-church"] == [
        "camera_reinstate"
    ]
