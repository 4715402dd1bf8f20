"""Every role has a home (issue 18, item 6) through a real ``alpr console`` on the embedded broker:
the lieutenant's approval queue (P2) and the auditor's tools (P14, P15, P23) are the use cases
``alpr hotlist pending|approve`` and ``alpr audit verify|sample|report`` call, with their refusals
and audit records; every endpoint refuses no session (401) and other roles (403), changing nothing."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
import pytest

from streams.access.directory import DirectoryStore
from streams.hotlists import usecases
from streams.hotlists.model import HotlistEntry
from tests.integration.kafka_helpers import (
    SignInUser,
    add_user,
    admin_principal,
    ensure_home,
    produce,
    read_topic,
)
from tests.integration.test_camera_cli import SAMPLE
from tests.integration.test_console import base, sign_in_once
from tests.integration.test_console_cameras import running_console

pytestmark = pytest.mark.integration

#: The lieutenant's and the auditor's endpoints, each with what it needs (P21).
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/approvals", None),
    ("GET", "/api/approvals/count", None),
    ("POST", "/api/approvals/local:ROLE-1/approve", {}),
    ("POST", "/api/approvals/local:ROLE-1/reject", {"note": "duplicate of another entry"}),
    ("GET", "/api/audit/verify", None),
    ("GET", "/api/audit/sample?n=5", None),
    ("GET", "/api/audit/report?from=2026-01-01&to=2027-01-01", None),
]


@pytest.fixture(scope="module")
def console(broker, tmp_path_factory) -> Iterator[tuple[dict[str, str], Any]]:
    root = tmp_path_factory.mktemp("console-roles")
    sites = root / "sensitive-sites.geojson"
    shutil.copyfile(SAMPLE, sites)
    with running_console(broker, root, ALPR_SENSITIVE_SITES=str(sites)) as (env, settings, _root):
        yield env, settings


async def add_member(settings, name: str, role: str, rank: str, badge: str, display: str) -> SignInUser:
    """A sworn member with a rank and an assignment (P2: recorded on the entries they make)."""
    store = DirectoryStore(settings)
    now = datetime.now(UTC)
    await ensure_home(settings)
    password = f"correct-horse-battery-{len(name)}-staple"
    user, secret = await store.add_user(
        name,
        password,
        display=display,
        badge=badge,
        agency="SJPD",
        role=role,
        by=admin_principal(),
        now=now,
        rank=rank,
        assignment="Patrol Division, District 4",
    )
    await store.record_training(name, "ALPR user training", "2026-10-01", admin_principal(), now)
    return SignInUser(name, password, secret, user.display, user.badge)


@pytest.fixture(scope="module")
def people(console) -> dict[str, SignInUser]:
    settings = console[1]

    async def make() -> dict[str, SignInUser]:
        return {
            "ofc": await add_member(settings, "ofc", "officer", "officer", "O-21", "Officer Pat Reyes"),
            "lt1": await add_member(settings, "lt1", "lieutenant", "lieutenant", "L-5", "Lt. Dana Cho"),
            "lt2": await add_member(settings, "lt2", "lieutenant", "lieutenant", "L-6", "Lt. Sam Ortiz"),
            "ada": await add_user(settings, "ada", "administrator", display="Admin Ada", badge="A-1"),
            "lee": await add_user(settings, "lee", "dispatcher", display="Dispatcher Lee", badge="D-101"),
            "aud": await add_user(settings, "aud", "auditor", display="Auditor Ray", badge="X-3"),
        }

    return asyncio.run(make())


@pytest.fixture(scope="module")
def tokens(console, people) -> dict[str, str]:
    return {name: sign_in_once(console[0], user) for name, user in people.items()}


def session(env: dict[str, str], token: str | None) -> aiohttp.ClientSession:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return aiohttp.ClientSession(base(env), headers=headers)


async def audit(settings) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in await read_topic(settings.kafka, settings.topic("audit"))]


async def propose(settings, name: str, entry_id: str, plate: str) -> str:
    """``alpr hotlist add`` as the directory user ``name``: a pending department entry (P2)."""
    who = (await DirectoryStore(settings).load()).user(name).principal()
    draft = HotlistEntry(
        source="local",
        entry_id=entry_id,
        plate=plate,
        plate_state="CA",
        list_type="bolo",
        reason="PC 211 robbery: vehicle seen leaving the scene",
        case_number="SJ-26-004512",
    )
    await usecases.propose(who, settings, draft, "cli", datetime.now(UTC))
    return draft.key


async def pending_keys(settings) -> set[str]:
    """The keys of the pending department entries now (the latest record of each key)."""
    latest = {
        r.key.decode(): r.value for r in await read_topic(settings.kafka, settings.topic("hotlist-pending"))
    }
    return {key for key, value in latest.items() if value}


async def test_each_role_has_a_home_and_the_pages_it_may_not_use_say_why_p21(console, tokens) -> None:
    """``/home`` for everyone signed in; ``/approvals`` for those who may review department entries,
    ``/audit`` for auditors, ``/admin`` for who may see the directory; others get 403 saying why."""
    env, _settings = console
    allowed = {
        "ofc": {"/approvals"},
        "lt1": {"/approvals"},
        "ada": {"/admin"},
        "aud": {"/admin", "/audit"},
        "lee": set(),
    }
    for name, pages in allowed.items():
        async with session(env, tokens[name]) as signed:
            async with signed.get("/home") as resp:
                assert resp.status == 200 and 'id="home-links"' in await resp.text()
            for page in ("/approvals", "/audit", "/admin"):
                async with signed.get(page) as resp:
                    text = await resp.text()
                    if page in pages:
                        assert resp.status == 200, (name, page)
                    else:
                        assert resp.status == 403 and "P21: the" in text, (name, page)
            async with signed.get("/static/nav.js") as resp:
                assert resp.status == 200 and "alert.view" in await resp.text()


async def test_the_lieutenant_approves_another_members_entry_never_their_own_p2(console, tokens) -> None:
    """The queue shows who entered each entry (name, badge, assignment), its case number and synopsis
    (P2); viewing it is audited (P15). A lieutenant's own entry is refused with the reason, audited
    as refused, and stays pending; another lieutenant's approval makes it active and is audited."""
    env, settings = console
    other = await propose(settings, "ofc", "ROLE-1", "7ROLE01")
    own = await propose(settings, "lt2", "ROLE-2", "7ROLE02")
    async with session(env, tokens["lt2"]) as lieutenant:
        async with lieutenant.get("/api/approvals/count") as resp:
            assert (await resp.json())["pending"] == 2
        async with lieutenant.get("/api/approvals") as resp:
            rows = {r["key"]: r for r in (await resp.json())["pending"]}
        entered = rows[other]
        assert entered["entered_by"] == {
            "name": "Officer Pat Reyes",
            "badge": "O-21",
            "assignment": "Patrol Division, District 4",
            "rank": "officer",
        }
        assert (entered["case_number"], entered["plate"]) == ("SJ-26-004512", "7ROLE01")
        assert entered["synopsis"] == "PC 211 robbery: vehicle seen leaving the scene"
        assert entered["missing"] == []
        async with lieutenant.post(f"/api/approvals/{own}/approve", json={}) as resp:
            assert resp.status == 403
            assert "cannot approve their own entry" in (await resp.json())["error"]
    async with session(env, tokens["lt1"]) as lieutenant:
        async with lieutenant.post(f"/api/approvals/{other}/approve", json={}) as resp:
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["approved_by"] == "Lt. Dana Cho"
        async with lieutenant.post(f"/api/approvals/{other}/approve", json={}) as resp:
            assert resp.status == 404  # approved already: no longer pending
        async with lieutenant.get("/api/approvals/count") as resp:
            assert (await resp.json())["pending"] == 1
    assert await pending_keys(settings) == {own}
    active = await read_topic(settings.kafka, settings.topic("hotlist"))
    assert other in {r.key.decode() for r in active if r.value}
    trail = sorted(  # the audit topic's partitions are read one after another: no order across them
        (a["user"], a["action"], a["decision"])
        for a in await audit(settings)
        if a["action"] in ("hotlist_approve", "hotlist_pending")
    )
    assert trail == sorted(
        [
            ("lt2", "hotlist_pending", "allowed"),
            ("lt2", "hotlist_approve", "refused"),
            ("lt1", "hotlist_approve", "allowed"),
        ]
    )


async def test_a_lieutenant_rejects_another_members_entry_with_a_note_p2(console, tokens) -> None:
    """``alpr hotlist reject`` through the page's API: no session 401; a dispatcher and an officer
    403 (P21); the entering lieutenant 403 (P2); no note or one an auditor cannot check 409. None of
    them changes anything: both entries stay pending and no rejection is audited as allowed. Then
    another lieutenant rejects it with a note: no longer pending, never active, audited with the
    note; rejecting it again finds nothing pending (404)."""
    env, settings = console
    other = await propose(settings, "ofc", "ROLE-R1", "7ROLR01")
    own = await propose(settings, "lt2", "ROLE-R2", "7ROLR02")
    note = {"note": "duplicate of entry ROLE-1 for the same vehicle"}
    path = f"/api/approvals/{other}/reject"
    async with session(env, None) as anonymous:
        async with anonymous.post(path, json=note) as resp:
            assert resp.status == 401
    for name in ("lee", "ofc"):
        async with session(env, tokens[name]) as signed:
            async with signed.post(path, json=note) as resp:
                assert resp.status == 403 and "P21" in (await resp.json())["error"], name
    async with session(env, tokens["lt2"]) as entering:
        async with entering.post(f"/api/approvals/{own}/reject", json=note) as resp:
            assert resp.status == 403 and "cannot reject their own entry" in (await resp.json())["error"]
    async with session(env, tokens["lt1"]) as lieutenant:
        for body in ({}, {"note": "  "}, {"note": "n/a"}):
            async with lieutenant.post(path, json=body) as resp:
                assert resp.status == 409, body
                error = (await resp.json())["error"]
                assert error.startswith("the rejection note") and error.endswith("(P2)"), error
        assert {other, own} <= await pending_keys(settings)
        rejections = [a for a in await audit(settings) if a["action"] == "hotlist_reject"]
        assert rejections and {a["decision"] for a in rejections} == {"refused"}

        async with lieutenant.post(path, json=note) as resp:
            assert resp.status == 200, await resp.text()
            answer = await resp.json()
        assert (answer["plate"], answer["rejected_by"], answer["badge"]) == ("7ROLR01", "Lt. Dana Cho", "L-5")
        async with lieutenant.post(path, json=note) as resp:
            assert resp.status == 404  # rejected already: no longer pending
    pending = await pending_keys(settings)
    assert other not in pending and own in pending
    active = await read_topic(settings.kafka, settings.topic("hotlist"))
    assert other not in {r.key.decode() for r in active if r.value}
    [done] = [
        a for a in await audit(settings) if a["action"] == "hotlist_reject" and a["decision"] == "allowed"
    ]
    assert (done["user"], done["reason"], done["query"]["entry_key"]) == ("lt1", note["note"], other)


async def test_the_auditor_verifies_samples_and_reports_and_each_use_is_audited_p14_p15(
    console, tokens
) -> None:
    env, settings = console
    async with session(env, tokens["aud"]) as auditor:
        async with auditor.get("/api/audit/verify") as resp:
            assert resp.status == 200, await resp.text()
            verified = await resp.json()
        assert verified["intact"] is True and verified["problems"] == []
        assert verified["records"] > 0 and verified["chains"] >= 1
        assert verified["lines"][0].startswith("audit trail intact:")
        async with auditor.get("/api/audit/sample?n=3&months=1&seed=7") as resp:
            assert resp.status == 200, await resp.text()
            sampled = await resp.json()
        assert sampled["lines"][0].startswith("random sample of") and "seed 7" in sampled["lines"][0]
        async with auditor.get("/api/audit/sample?n=0") as resp:
            assert resp.status == 400 and "n: give 1 to" in (await resp.json())["error"]
        today = datetime.now(UTC).date()
        period = f"from={today - timedelta(days=1)}&to={today + timedelta(days=1)}"
        async with auditor.get(f"/api/audit/report?{period}") as resp:
            assert resp.status == 200, await resp.text()
            reported = await resp.json()
        assert reported["accesses"] > 0 and reported["lines"][0].startswith("audit report")
        assert any(line.startswith("user ") for line in reported["lines"])
        async with auditor.get("/api/audit/report?from=yesterday&to=today") as resp:
            assert resp.status == 400 and "is not a date" in (await resp.json())["error"]
    mine = [(a["action"], a["purpose"]) for a in await audit(settings) if a["user"] == "aud"]
    assert sorted(m for m in mine if m[0].startswith("audit_")) == [
        ("audit_report", "audit"),
        ("audit_sample", "audit"),
        ("audit_verify", "audit"),
    ]


async def test_approval_and_audit_endpoints_refuse_no_session_and_other_roles_p21(console, tokens) -> None:
    """No session: 401. A dispatcher may use none of them; an administrator neither (no alert or
    hot-list review, no audit.read); an officer may see the queue but not approve (P2: a lieutenant),
    an auditor may not see it. Nothing changes and nothing is audited as allowed."""
    env, settings = console
    await propose(settings, "ofc", "ROLE-9", "7ROLE09")
    before_pending = await pending_keys(settings)
    seen = {orjson.dumps(a) for a in await audit(settings)}
    may = {
        "lee": set(),
        "ada": set(),
        "aud": {
            "/api/audit/verify",
            "/api/audit/sample?n=5",
            "/api/audit/report?from=2026-01-01&to=2027-01-01",
        },
        "ofc": {"/api/approvals", "/api/approvals/count"},
    }
    async with session(env, None) as anonymous:
        for method, path, body in ENDPOINTS:
            async with anonymous.request(method, path, json=body) as resp:
                assert resp.status == 401, path
    refused: dict[str, set[str]] = {}
    for name, paths in may.items():
        async with session(env, tokens[name]) as signed:
            for method, path, body in ENDPOINTS:
                if path in paths:
                    continue
                async with signed.request(method, path, json=body) as resp:
                    assert resp.status == 403, (name, path)
                    assert "P21" in (await resp.json())["error"]
                    refused.setdefault(name, set()).add(path)
    assert "/api/approvals/local:ROLE-1/approve" in refused["ofc"]
    assert "/api/approvals/local:ROLE-1/reject" in refused["ofc"]
    assert await pending_keys(settings) == before_pending
    new = [a for a in await audit(settings) if orjson.dumps(a) not in seen]
    assert new and not [a for a in new if a["decision"] == "allowed"], new


async def test_a_broken_audit_chain_is_shown_plainly_with_where_it_breaks_p14(console, tokens) -> None:
    """A record that is not an audit record, written straight to the topic (as a tamperer could),
    makes the verification answer 'broken' and name the partition and offset (last in this module:
    the trail stays broken)."""
    env, settings = console
    await produce(settings.kafka, settings.topic("audit"), [(None, b"not an audit record", 0)])
    async with session(env, tokens["aud"]) as auditor:
        async with auditor.get("/api/audit/verify") as resp:
            assert resp.status == 200, await resp.text()
            verified = await resp.json()
    assert verified["intact"] is False and verified["problem_count"] >= 1
    assert verified["lines"][0].startswith("AUDIT TRAIL BROKEN at partition 0 offset")
    assert "unreadable" in [p["kind"] for p in verified["problems"]]
