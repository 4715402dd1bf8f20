"""The administrator's pages in the console (issue 18, item 6): users, agencies and sensitive sites
through a real ``alpr console`` process on the embedded broker, with the same use cases, refusals
and audit records as ``alpr user``, ``alpr agency`` and ``alpr camera sites`` (P18, P19, P21, P24).

The sites file is a copy of samples/sensitive-sites.geojson in the test's own folder: the console
changes it as ``alpr camera sites add|remove`` does."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.integration.kafka_helpers import SignInUser, add_user, admin_principal, read_topic
from tests.integration.test_camera_cli import AIRPORT, SAMPLE
from tests.integration.test_console import base, sign_in_once
from tests.integration.test_console_cameras import running_console
from tests.unit.test_sites import destination

pytestmark = pytest.mark.integration

#: 80 m east of a fixed camera at the airport that faces east: a new site there suspends it (P24).
EAST_OF_AIRPORT = destination(AIRPORT[0], AIRPORT[1], 90, 80)
#: Every endpoint of the administrator's pages that changes something, with a body it accepts.
CHANGES: list[tuple[str, dict[str, Any]]] = [
    (
        "/api/users",
        {
            "name": "intruder",
            "password": "a-long-enough-password",
            "display": "Intruder",
            "badge": "Z-9",
            "agency": "SJPD",
            "role": "administrator",
        },
    ),
    ("/api/users/lee/role", {"role": "administrator"}),
    ("/api/users/ada/active", {"active": False}),
    ("/api/users/lee/training", {"course": "ALPR user training", "completed": "2026-10-01"}),
    ("/api/agencies", {"agency_id": "XPD", "name": "X PD", "type": "municipal_police"}),
    (
        "/api/sites",
        {"id": "site-x", "name": "X", "category": "religious_observance", "lat": 37.3, "lon": -121.9},
    ),
    ("/api/sites/site-clinic-1/remove", {"reinstate": True}),
]


@pytest.fixture(scope="module")
def console(broker, tmp_path_factory) -> Iterator[tuple[dict[str, str], Any, Path]]:
    root = tmp_path_factory.mktemp("console-admin")
    sites = root / "sensitive-sites.geojson"
    shutil.copyfile(SAMPLE, sites)
    with running_console(broker, root, ALPR_SENSITIVE_SITES=str(sites)) as (env, settings, _root):
        yield env, settings, sites


@pytest.fixture(scope="module")
def people(console) -> dict[str, SignInUser]:
    settings = console[1]

    async def make() -> dict[str, SignInUser]:
        return {
            "ada": await add_user(settings, "ada", "administrator", display="Admin Ada", badge="A-1"),
            "lee": await add_user(settings, "lee", "dispatcher", display="Dispatcher Lee", badge="D-101"),
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


async def audit(settings) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in await read_topic(settings.kafka, settings.topic("audit"))]


async def directory_state(settings) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The users and agencies topics, latest value per key: what a directory change writes."""
    users = await read_topic(settings.kafka, settings.topic("users"))
    agencies = await read_topic(settings.kafka, settings.topic("agencies"))
    return {r.key.decode(): r.value for r in users}, {r.key.decode(): r.value for r in agencies}


async def test_every_administrator_endpoint_refuses_no_session_and_other_roles_p21(console, tokens) -> None:
    """P21: without a session every endpoint answers 401 and the page sends to sign-in; a dispatcher
    gets 403 everywhere (the page says why), an auditor may list users and sites (directory.view,
    camera.view) but change nothing. Nothing changes: the directory, the sites file and the audit
    trail hold no successful change by them."""
    env, settings, sites = console
    before = (await directory_state(settings), sites.read_bytes())
    seen = {orjson.dumps(a) for a in await audit(settings)}
    async with session(env, None) as anonymous:
        for path, body in CHANGES:
            async with anonymous.post(path, json=body) as resp:
                assert resp.status == 401, path
        for path in ("/api/directory", "/api/sites"):
            async with anonymous.get(path) as resp:
                assert resp.status == 401, path
        async with anonymous.get("/admin", allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/login"
        async with anonymous.get("/home", allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/login"
    for name, role in (("lee", "dispatcher"), ("aud", "auditor")):
        async with session(env, tokens[name]) as other:
            for path, body in CHANGES:
                async with other.post(path, json=body) as resp:
                    assert resp.status == 403, path
                    assert f"P21: the {role} role may not" in (await resp.json())["error"]
            for path in ("/api/directory", "/api/sites"):
                async with other.get(path) as resp:
                    assert resp.status == (403 if role == "dispatcher" else 200), path
            async with other.get("/admin") as resp:
                page = await resp.text()
                if role == "dispatcher":
                    assert resp.status == 403 and "P21: the dispatcher role may not" in page
                    assert "admin.js" not in page
                else:
                    assert resp.status == 200 and "admin.js" in page
    # a cross-site form cannot send a change: the guard wants JSON
    async with session(env, tokens["ada"]) as admin:
        async with admin.post("/api/users", data="name=intruder&role=administrator") as resp:
            assert resp.status == 415
    assert (await directory_state(settings), sites.read_bytes()) == before
    new = [a for a in await audit(settings) if orjson.dumps(a) not in seen]
    assert not [a for a in new if a["decision"] == "allowed" and a["user"] in ("lee", "aud")], new


async def test_an_administrator_adds_a_user_who_signs_in_then_changes_the_role_and_disables_them(
    console, tokens
) -> None:
    """``alpr user add|train|role|disable`` through the page's API: the new user signs in with the
    authenticator secret shown once (P18), their role change and disabling end their sessions, and
    each change is audited with the administrator (P15, P21). The password is never sent back, and
    neither it nor the secret is written to the log or the trail."""
    env, settings, _sites = console
    password = "a-long-enough-password"  # noqa: S105 - a test user's, synthetic
    body = {
        "name": "newby",
        "password": password,
        "display": "Officer Newby",
        "badge": "O-77",
        "agency": "SJPD",
        "role": "officer",
        "rank": "officer",
        "assignment": "Patrol Division",
        "course": "ALPR user training",
        "completed": "2026-11-02",
    }
    async with session(env, tokens["ada"]) as admin:
        async with admin.post("/api/users", json=body) as resp:
            assert resp.status == 201, await resp.text()
            added = await resp.json()
        assert added["user"]["training"] == [{"course": "ALPR user training", "completed": "2026-11-02"}]
        assert (added["user"]["role"], added["user"]["assignment"]) == ("officer", "Patrol Division")
        secret = added["totp_secret"]
        assert password not in str(added) and "password_hash" not in str(added)
        async with admin.post("/api/users", json=body) as resp:  # the name is taken
            assert resp.status == 400 and "exists already" in (await resp.json())["error"]
        async with admin.post("/api/users", json={**body, "name": "short", "password": "short"}) as resp:
            assert resp.status == 400 and "12 to" in (await resp.json())["error"]
        async with admin.get("/api/directory") as resp:
            listing = await resp.json()
        assert "totp_secret" not in str(listing) and "password_hash" not in str(listing)
        assert {"agency_id": "SJPD"}.items() <= listing["agencies"][0].items()

    newby = SignInUser("newby", password, secret, "Officer Newby", "O-77")
    token = sign_in_once(env, newby)  # the secret shown is the one the directory checks (P18)
    async with session(env, token) as signed:
        async with signed.get("/api/me") as resp:
            assert (await resp.json())["role"] == "officer"

    async with session(env, tokens["ada"]) as admin:
        async with admin.post("/api/users/newby/role", json={"role": "analyst"}) as resp:
            assert resp.status == 200 and (await resp.json())["user"]["role"] == "analyst"
        async with admin.post("/api/users/ada/role", json={"role": "dispatcher"}) as resp:
            assert resp.status == 403 and "their own role" in (await resp.json())["error"]
        async with admin.post("/api/users/newby/active", json={"active": "no"}) as resp:
            assert resp.status == 400
        async with admin.post("/api/users/nobody/active", json={"active": False}) as resp:
            assert resp.status == 404
    async with session(env, token) as signed:  # P18: the role change ended the session
        async with signed.get("/api/me") as resp:
            assert resp.status == 401
    token = sign_in_once(env, newby)
    async with session(env, tokens["ada"]) as admin:
        async with admin.post("/api/users/newby/active", json={"active": False}) as resp:
            assert resp.status == 200 and (await resp.json())["user"]["active"] is False
    async with session(env, token) as signed:
        async with signed.get("/api/me") as resp:
            assert resp.status == 401

    trail = [a for a in await audit(settings) if a["query"].get("user") == "newby"]
    assert [(a["user"], a["badge"], a["action"]) for a in trail] == [
        ("ada", "A-1", "user_add"),
        ("ada", "A-1", "user_training"),
        ("ada", "A-1", "user_role"),
        ("ada", "A-1", "user_disable"),
    ]
    assert password not in str(await audit(settings)) and secret not in str(await audit(settings))
    log = (Path(env["ALPR_STATE_DIR"]).parent / "console.log").read_text(encoding="utf-8")
    assert password not in log and secret not in log


async def test_an_administrator_adds_agencies_the_home_states_law_allows_p19(console, tokens) -> None:
    env, settings, _sites = console
    async with session(env, tokens["ada"]) as admin:
        body = {
            "agency_id": "SCCSO",
            "name": "Santa Clara County Sheriff (fictional)",
            "type": "county_sheriff",
            "agreement": "signed",
            "agreement_date": "2026-01-15",
        }
        async with admin.post("/api/agencies", json=body) as resp:
            assert resp.status == 201, await resp.text()
            assert (await resp.json())["agency"]["state"] == settings.profile.state
        federal = {"agency_id": "FEDX", "name": "Federal office", "type": "federal", "agreement": "signed"}
        async with admin.post("/api/agencies", json=federal) as resp:
            assert resp.status == 409 and "P19" in (await resp.json())["error"]
        async with admin.get("/api/directory") as resp:
            ids = [a["agency_id"] for a in (await resp.json())["agencies"]]
    assert "SCCSO" in ids and "FEDX" not in ids
    actions = [(a["user"], a["action"], a["query"].get("agency")) for a in await audit(settings)]
    assert ("ada", "agency_add", "SCCSO") in actions and ("ada", "agency_add", "FEDX") not in actions


async def test_a_new_sensitive_site_suspends_the_fixed_camera_facing_it_and_removal_asks_first_p24(
    console, tokens
) -> None:
    """``alpr camera sites add|remove`` through the page's API: a site added 80 m in front of a fixed
    camera suspends it (named in the answer, audited per camera); removing the site would reinstate
    it, so it is refused until confirmed; a site that breaks the file's rules is refused, and
    nothing is written."""
    env, settings, sites = console
    from datetime import UTC, datetime

    from streams.cameras.registry import Camera, CameraStore

    fixed = Camera("cam-airport-e", "Airport Blvd EB", "SJPD", "fixed", AIRPORT[0], AIRPORT[1], 90.0)
    await CameraStore(settings).add(fixed, admin_principal(), datetime.now(UTC))
    site = {
        "id": "site-new-1",
        "name": "Airport Chapel (fictional)",
        "category": "religious_observance",
        "lat": EAST_OF_AIRPORT[0],
        "lon": EAST_OF_AIRPORT[1],
    }
    async with session(env, tokens["ada"]) as admin:
        async with admin.post("/api/sites", json={**site, "category": "shopping"}) as resp:
            assert resp.status == 400 and "category" in (await resp.json())["error"]
        async with admin.post("/api/sites", json=site) as resp:
            assert resp.status == 201, await resp.text()
            added = await resp.json()
        assert added["site"]["label"] == "place of religious observance"
        assert [line.split(" is ")[0] for line in added["suspended"]] == [
            "camera cam-airport-e (Airport Blvd EB)"
        ]
        async with admin.get("/api/sites") as resp:
            assert "site-new-1" in [s["id"] for s in (await resp.json())["sites"]]
        async with admin.get("/api/cameras") as resp:
            shown = {c["id"]: c for c in (await resp.json())["cameras"]}
        assert "P24" in shown["cam-airport-e"]["suspended"]

        async with admin.post("/api/sites/site-new-1/remove", json={}) as resp:
            assert resp.status == 400 and "would reinstate" in (await resp.json())["error"]
        assert "site-new-1" in sites.read_text(encoding="utf-8")
        async with admin.post("/api/sites/site-new-1/remove", json={"reinstate": True}) as resp:
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["reinstated"] == ["cam-airport-e"]
        async with admin.post("/api/sites/site-new-1/remove", json={"reinstate": True}) as resp:
            assert resp.status == 400 and "no site" in (await resp.json())["error"]
    assert "site-new-1" not in sites.read_text(encoding="utf-8")
    trail = [
        (a["user"], a["action"])
        for a in await audit(settings)
        if a["query"].get("sensitive_site") == "site-new-1"
    ]
    assert trail == [
        ("ada", "sensitive_site_add"),
        ("ada", "camera_suspend"),
        ("ada", "sensitive_site_remove"),
        ("ada", "camera_reinstate"),
    ]
