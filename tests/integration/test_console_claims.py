"""Who works an alert, and the closed alerts a page at a time (issue 18, item 4), through a real
worker and console on the embedded broker, and the CLI as a subprocess.

``POST /api/alerts/{id}/claim`` / ``/release`` and ``alpr alert claim|release`` are one use case:
``alert.act`` (P21), agency scope with an alert out of scope answered like a missing one (P19,
P20), every claim audited (P15), every claim an event on the alerts topic that the live queue
pushes to every console. A claim on an alert another person works is refused (409) with who and
since when, unless it is an explicit take-over, recorded with both names; a person's step claims
an alert nobody works. Each refusal writes no event. The Closed tab's API pages newest closing
first with a cursor, searches all closed alerts, and audits the page shown.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import aiohttp
import pytest

from tests.conftest import alpr
from tests.integration.kafka_helpers import (
    SignInUser,
    add_user,
    alpr_as,
    audit_records,
    ensure_home,
    read_topic,
    register_cameras,
    running_worker,
    wait_for_records,
)
from tests.integration.test_console import (
    VERIFIED,
    base,
    listed,
    next_event,
    raise_at,
    sign_in_once,
    signed_in,
    sync_rows,
    transition,
)

pytestmark = pytest.mark.integration

OTHER = "CA0439999"  # another agency: its camera's alerts are its own (P19)
CAMERAS = {"cl-0001": "SJPD", "cl-0002": "SJPD", "cl-other": OTHER}
PLATES = {  # synthetic plates, each test its own
    "claim": "7CLA001",
    "step": "7CLA002",
    "closed": "7CLA003",
    "scope": "7CLA004",
    "roles": "7CLA005",
    "cli": "7CLA006",
    **{f"page{n}": f"7PGE00{n}" for n in range(1, 4)},
}


@pytest.fixture(scope="module")
def stack(broker, tmp_path_factory):
    root = tmp_path_factory.mktemp("console-claims")
    with running_worker(broker, root, console=True) as running:
        settings = running[1]

        async def setup() -> None:
            from streams.access.directory import Agency, DirectoryStore
            from tests.integration.kafka_helpers import admin_principal

            await ensure_home(settings)
            other = Agency(OTHER, "Example County Sheriff (fictional)", "county_sheriff", "CA", "signed")
            await DirectoryStore(settings).add_agency(other, admin_principal(), datetime.now(UTC))
            await register_cameras(settings, CAMERAS)
            rows = listed(PLATES["claim"], 701)
            rows += [listed(plate, 702 + i)[-1] for i, plate in enumerate(list(PLATES.values())[1:])]
            await sync_rows(settings, root, rows)

        asyncio.run(setup())
        yield running


@pytest.fixture(scope="module")
def people(stack) -> dict[str, SignInUser]:
    settings = stack[1]

    async def make() -> dict[str, SignInUser]:
        return {
            "ann": await add_user(settings, "ann", "dispatcher", display="Dispatcher Ann", badge="D-102"),
            "lee": await add_user(settings, "lee", "dispatcher", display="Dispatcher Lee", badge="D-101"),
            "ada": await add_user(settings, "ada", "administrator", display="Admin Ada", badge="AD-1"),
            "aud": await add_user(settings, "aud", "auditor", display="Auditor Ray", badge="AU-1"),
            "cli-ann": await add_user(settings, "cliann", "dispatcher", display="Officer Cy", badge="O-7"),
            "cli-lee": await add_user(settings, "clilee", "officer", display="Officer Di", badge="O-8"),
        }

    return asyncio.run(make())


@pytest.fixture(scope="module")
def tokens(stack, people) -> dict[str, str]:
    """One sign-in per person for the module (a TOTP code signs in once)."""
    return {name: sign_in_once(stack[0], people[name]) for name in ("ann", "lee", "ada", "aud")}


async def claim(
    session: aiohttp.ClientSession, alert_id: str, what: str = "claim", **body
) -> tuple[int, dict]:
    async with session.post(f"/api/alerts/{alert_id}/{what}", json=body) as resp:
        return resp.status, await resp.json()


async def claim_events(settings, alert_id: str) -> list[dict]:
    records = await read_topic(settings.kafka, settings.topic("alerts"))
    values = [json.loads(r.value) for r in records]
    return [
        v for v in values if v["alert_id"] == alert_id and v["event"] in ("AlertClaimed", "AlertReleased")
    ]


async def test_claim_conflict_take_over_and_release_pushed_live_and_audited_p15(stack, tokens) -> None:
    """Ann works the alert; Lee's claim is refused naming her and since when; Lee takes it over
    (both names recorded); Ann may not release it now, Lee may. Ann's console is told of each
    change live, without asking."""
    env, settings, _root = stack
    alert_id = await raise_at(settings, "claim-1", PLATES["claim"], "cl-0001")
    async with await signed_in(env, tokens["ann"]) as ann, await signed_in(env, tokens["lee"]) as lee:
        async with ann.get("/api/events") as stream:
            assert (await next_event(stream.content, 10))[0] == "snapshot"
            status, body = await claim(ann, alert_id)
            assert status == 200, body
            assert body["claim"]["user"] == "Dispatcher Ann" and body["claim"]["badge"] == "D-102"
            assert body["status"] == "unverified"  # a claim changes no status

            status, body = await claim(lee, alert_id)
            assert status == 409
            assert f"alert {alert_id} is being worked by Dispatcher Ann (badge D-102) since " in body["error"]
            assert "take it over" in body["error"]
            assert len(await claim_events(settings, alert_id)) == 1  # the refusal wrote nothing

            status, body = await claim(lee, alert_id, take_over=True)
            assert status == 200, body
            assert body["claim"]["user"] == "Dispatcher Lee"
            assert body["claim"]["taken_from"] == {"user": "Dispatcher Ann", "badge": "D-102"}
            # pushed to Ann's console: the row now says Lee works it
            while True:
                kind, row = await next_event(stream.content, 10)
                assert kind == "alert", kind
                if row["alert_id"] == alert_id and (row["claim"] or {}).get("user") == "Dispatcher Lee":
                    break

        status, body = await claim(ann, alert_id, "release")
        assert status == 409 and "being worked by Dispatcher Lee (badge D-101)" in body["error"]
        status, body = await claim(lee, alert_id, "release")
        assert status == 200 and body["claim"] is None
        history = [
            (h["event"], h["by"]["user"], (h.get("taken_from") or {}).get("user")) for h in body["history"]
        ]
        assert history == [
            ("AlertClaimed", "Dispatcher Ann", None),
            ("AlertClaimed", "Dispatcher Lee", "Dispatcher Ann"),
            ("AlertReleased", "Dispatcher Lee", None),
        ]

    events = await claim_events(settings, alert_id)
    assert [(e["event"], e["by"]["user"]) for e in events] == [
        ("AlertClaimed", "Dispatcher Ann"),
        ("AlertClaimed", "Dispatcher Lee"),
        ("AlertReleased", "Dispatcher Lee"),
    ]
    assert events[1]["taken_from"] == {"user": "Dispatcher Ann", "badge": "D-102"}

    def audited(values: list[dict]) -> bool:
        claims = [v for v in values if v["action"] in ("alert_claim", "alert_release")]
        return {(v["user"], v["action"]) for v in claims if alert_id in v["query"]["alerts"]} >= {
            ("ann", "alert_claim"),
            ("lee", "alert_claim"),
            ("lee", "alert_release"),
        } and any(v["query"].get("taken_from") == "Dispatcher Ann (D-102)" for v in claims)

    await wait_for_records(settings.kafka, settings.topic("audit"), audited)


async def test_a_step_claims_an_alert_nobody_works_without_a_claim_event(stack, tokens) -> None:
    env, settings, _root = stack
    alert_id = await raise_at(settings, "claim-step", PLATES["step"], "cl-0001")
    async with await signed_in(env, tokens["lee"]) as lee:
        status, body = await transition(lee, alert_id, **VERIFIED)
        assert status == 200 and body["claim"]["user"] == "Dispatcher Lee"
    async with await signed_in(env, tokens["ann"]) as ann:
        status, body = await claim(ann, alert_id)
        assert status == 409 and "being worked by Dispatcher Lee (badge D-101)" in body["error"]
    assert await claim_events(settings, alert_id) == []


async def test_a_closed_alert_is_not_claimed(stack, tokens) -> None:
    env, settings, _root = stack
    alert_id = await raise_at(settings, "claim-closed", PLATES["closed"], "cl-0001")
    async with await signed_in(env, tokens["ann"]) as ann:
        status, _body = await transition(ann, alert_id, action="reject", reason="misread", note="")
        assert status == 200
        status, body = await claim(ann, alert_id)
        assert status == 409
        assert "already rejected (misread) by Dispatcher Ann (badge D-102)" in body["error"]
        assert "a closed alert is not worked" in body["error"]
    assert await claim_events(settings, alert_id) == []


async def test_refusals_not_signed_in_wrong_role_other_agency_write_nothing_p19_p20_p21(
    stack, tokens
) -> None:
    """401 with no session; 403 for an administrator and an auditor (no ``alert.act``); 404 for an
    alert of another agency, in the very words of a missing one. None writes an event."""
    env, settings, _root = stack
    ours = await raise_at(settings, "claim-roles", PLATES["roles"], "cl-0002")
    theirs = await raise_at(settings, "claim-scope", PLATES["scope"], "cl-other")
    async with aiohttp.ClientSession(base(env)) as nobody:
        for what in ("claim", "release"):
            status, body = await claim(nobody, ours, what)
            assert status == 401 and PLATES["roles"] not in json.dumps(body)
    for role in ("ada", "aud"):
        async with await signed_in(env, tokens[role]) as session:
            for what in ("claim", "release"):
                status, body = await claim(session, ours, what)
                assert status == 403 and "P21" in body["error"] and "alert.act" in body["error"], body
    async with await signed_in(env, tokens["ann"]) as ann:
        status, body = await claim(ann, theirs, take_over=True)
        assert (status, body["error"]) == (404, f"no alert {theirs}")
        status, missing = await claim(ann, "0000-no-such-alert")
        assert status == 404 and missing["error"] == "no alert 0000-no-such-alert"
        status, body = await claim(ann, ours, take_over="yes")
        assert status == 400 and "take_over" in body["error"]
    assert await claim_events(settings, ours) == [] and await claim_events(settings, theirs) == []


def test_the_cli_claims_takes_over_and_releases_in_the_consoles_words(stack, people) -> None:
    env, settings, _root = stack
    alert_id = asyncio.run(raise_at(settings, "claim-cli", PLATES["cli"], "cl-0001"))
    first = alpr_as(env, people["cli-ann"], "alert", "claim", alert_id)
    assert first.returncode == 0, first.stderr
    assert f"{alert_id}: being worked by Officer Cy (badge O-7) since " in first.stdout
    refused = alpr_as(env, people["cli-lee"], "alert", "claim", alert_id)
    assert refused.returncode != 0
    assert f"alert {alert_id} is being worked by Officer Cy (badge O-7) since " in refused.stderr
    assert "take it over" in refused.stderr and "Traceback" not in refused.stderr
    taken = alpr_as(env, people["cli-lee"], "alert", "claim", alert_id, "--take-over")
    assert taken.returncode == 0, taken.stderr
    assert (
        "being worked by Officer Di (badge O-8)" in taken.stdout
        and "taken over from Officer Cy" in taken.stdout
    )
    not_theirs = alpr_as(env, people["cli-ann"], "alert", "release", alert_id)
    assert not_theirs.returncode != 0 and "only they release it" in not_theirs.stderr
    released = alpr_as(env, people["cli-lee"], "alert", "release", alert_id)
    assert released.returncode == 0 and "released; nobody is working it" in released.stdout
    events = asyncio.run(claim_events(settings, alert_id))
    assert [(e["event"], e["by"]["user"]) for e in events] == [
        ("AlertClaimed", "Officer Cy"),
        ("AlertClaimed", "Officer Di"),
        ("AlertReleased", "Officer Di"),
    ]
    unsigned = alpr({**env, "ALPR_SESSION_FILE": str(_root / "no-session")}, "alert", "claim", alert_id)
    assert unsigned.returncode != 0 and "alpr login" in unsigned.stderr


async def test_the_closed_list_pages_newest_closing_first_searches_and_audits_the_page_p15(
    stack, tokens
) -> None:
    env, settings, _root = stack
    ids = []
    async with await signed_in(env, tokens["ann"]) as ann:
        for n in (1, 2, 3):
            alert_id = await raise_at(settings, f"page-{n}", PLATES[f"page{n}"], "cl-0002")
            status, _body = await transition(ann, alert_id, action="reject", reason="misread", note="")
            assert status == 200
            ids.append(alert_id)
        newest_first = ids[::-1]

        async def page(**query: str) -> tuple[int, dict]:
            async with ann.get("/api/alerts", params={"state": "closed", **query}) as resp:
                return resp.status, await resp.json()

        status, first = await page(q="7pge", limit="2")
        assert status == 200 and [a["alert_id"] for a in first["alerts"]] == newest_first[:2]
        assert first["older"] == newest_first[1]
        status, second = await page(q="7pge", limit="2", older=first["older"])
        assert [a["alert_id"] for a in second["alerts"]] == newest_first[2:] and second["older"] is None
        status, one = await page(q="7PGE002 misread")
        assert [a["alert_id"] for a in one["alerts"]] == [ids[1]]
        status, everything = await page()
        assert status == 200 and set(ids) <= {a["alert_id"] for a in everything["alerts"]}
        assert (await page(limit="0"))[0] == 400 and (await page(limit="many"))[0] == 400
        status, body = await page(older="0000-no-such-alert")
        assert status == 400 and "start again from the newest" in body["error"]
        assert (await page(q="x" * 101))[0] == 400

    records = await asyncio.to_thread(audit_records, settings)
    pages = [
        r["query"]["alerts"]
        for r in records
        if r["user"] == "ann" and r["action"] == "alert_list" and r["query"].get("q") == "7pge"
    ]
    assert pages == [newest_first[:2], newest_first[2:]]  # each page audited with what it showed
