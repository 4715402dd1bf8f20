"""The one purpose classifier behind every front end, on the real broker (P5, P19, P22).

A hot-list sync drops the entries whose reason serves immigration enforcement however it is spelled
(a Cyrillic "І", an ERO administrative warrant) and loads the rest; the hot-list HTTP endpoint
refuses such an entry with 422 naming the term and writes nothing; a console search whose purpose
or case field names immigration is refused and audited, returning no data, while a crime
investigation that names ICE as the impersonated identity is answered; an agency named for
immigration enforcement cannot be added to the directory.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from streams.access.directory import DirectoryStore
from tests.conftest import alpr, settings_of
from tests.factories import read_dict
from tests.integration.kafka_helpers import add_user, alpr_as, feed_env, running_worker, send_reads
from tests.integration.test_console import audit_of, sign_in_once, signed_in
from tests.integration.test_hotlist_http import ENTRY, http, served  # noqa: F401 - the fixture
from tests.integration.test_hotlists import Cast, current_keys, entry_events, pending_keys

pytestmark = pytest.mark.integration

CYRILLIC_I = "\u0406"


def _entry(entry_id: str, plate: str, reason: str, case: str = "SJ-26-004512") -> dict[str, object]:
    return {
        "source": "ncic",
        "entry_id": entry_id,
        "plate": plate,
        "plate_state": "CA",
        "list_type": "felony_vehicle",
        "reason": reason,
        "case_number": case,
    }


def test_p5_a_sync_drops_immigration_entries_however_spelled_and_loads_the_rest(topics_env, tmp_path) -> None:
    """P5 through ``alpr hotlist sync --format ndjson``: the Cyrillic "Іmmigration" reason and the
    ERO administrative warrant are dropped (the refusal names the term as written); the robbery
    entry and the ICE-impersonation entry (a crime against the public) load."""
    feed = tmp_path / "feed.ndjson"
    rows = [
        _entry("F-ROB-1", "7ROB211", "PC 211 robbery suspect vehicle"),
        _entry("F-IMM-1", "7IMM001", f"{CYRILLIC_I}mmigration violator, locate"),
        _entry("F-ERO-1", "7ERO205", "Removable alien, ERO administrative warrant I-205"),
        _entry("F-ICE-1", "7ICE538", "PC 538d suspects impersonating ICE officers, robbery series"),
    ]
    feed.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    result = alpr(feed_env(topics_env), "hotlist", "sync", "--format", "ndjson", "--from", str(feed))
    assert result.returncode == 0, result.stderr
    assert "(P5)" in result.stderr
    assert f"'{CYRILLIC_I}mmigration'" in result.stderr  # as the feed wrote it
    assert "ncic:F-ERO-1" in result.stderr and "'I-205'" in result.stderr
    assert current_keys(topics_env) == {"ncic:F-ROB-1", "ncic:F-ICE-1"}
    assert {key for _, key in entry_events(topics_env)} == {"ncic:F-ROB-1", "ncic:F-ICE-1"}


def test_p5_the_http_endpoint_refuses_an_ice_ero_entry_naming_the_term(served) -> None:  # noqa: F811
    """P5 through ``alpr hotlist serve``: "ICE-ERO removal target" is refused with 422 naming 'ICE';
    nothing is pending, nothing active; the same entry for a robbery is accepted."""
    people, base, _ = served
    assert isinstance(people, Cast)
    entry = {**ENTRY, "entry_id": "HTTP-ICE", "plate": "8ICE001", "reason": "ICE-ERO removal target"}
    status, body = http("POST", f"{base}/entries", entry, token=people.tokens["reyes"])
    assert status == 422, body
    assert body.get("rule") == "P5" and "'ICE'" in body["error"]
    assert pending_keys(people.env) == set() and current_keys(people.env) == set()
    ok = {**ENTRY, "entry_id": "HTTP-ROB", "plate": "8ROB211", "reason": "PC 211 robbery suspect vehicle"}
    status, body = http("POST", f"{base}/entries", ok, token=people.tokens["reyes"])
    assert status == 202, body
    assert pending_keys(people.env) == {"local:HTTP-ROB"}


def test_p19_an_agency_named_for_immigration_enforcement_cannot_be_added(topics_env) -> None:
    """P19 through ``alpr agency add``: "ICE ERO San Francisco Field Office" is refused whatever its
    type; the directory is unchanged. A California sheriff is added by the same command."""
    settings = settings_of(topics_env)
    admin = asyncio.run(add_user(settings, "dir-admin", "administrator", badge="ADM-7"))
    before = set(asyncio.run(DirectoryStore(settings).load()).agencies)
    refused = alpr_as(
        topics_env, admin, "agency", "add", "CA0380000",
        "--name", "ICE ERO San Francisco Field Office", "--type", "state_law_enforcement",
        "--agreement", "signed", "--agreement-date", "2026-01-15",
    )  # fmt: skip
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "(P19)" in refused.stderr and "'ICE'" in refused.stderr
    assert set(asyncio.run(DirectoryStore(settings).load()).agencies) == before
    added = alpr_as(
        topics_env, admin, "agency", "add", "CA0430000",
        "--name", "Santa Clara County Sheriff", "--type", "county_sheriff",
        "--agreement", "signed", "--agreement-date", "2026-01-15",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert set(asyncio.run(DirectoryStore(settings).load()).agencies) == before | {"CA0430000"}


@pytest.fixture()
def console(broker, tmp_path):
    with running_worker(broker, tmp_path, console=True) as running:
        yield running


async def test_p22_console_search_refuses_immigration_purposes_and_allows_an_impersonation_case(
    console,
) -> None:
    """P22 through POST /api/search, signed in as an analyst: the purpose "Inmigración" and the case
    field "ERO-26-000001" are refused (403, the term named, no sightings, each refusal audited) while
    "Anaheim PD ICE Impersonation series" with a case number and a crime type returns the reads."""
    env, settings, _ = console
    kim = await add_user(settings, "kim", "analyst", display="Det. Kim Tran", badge="A-7")
    now = datetime.now(UTC)
    await send_reads(
        settings,
        [
            read_dict(
                read_id=f"p22-{n}", plate="6PURP22", camera_id="cam-00001",
                captured_at=(now - timedelta(minutes=n)).isoformat(),
            )
            for n in (3, 6)
        ],
    )  # fmt: skip
    window = {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(minutes=1)).isoformat()}
    allowed = {
        "purpose": "Anaheim PD ICE Impersonation series",
        "crime_type": "PC 538d impersonating a peace officer",
        "case_number": "SJ-26-004512",
        "plate": "6PURP22",
    }
    token = sign_in_once(env, kim)
    async with await signed_in(env, token) as session:
        deadline = time.monotonic() + 30
        while True:  # the reads are searchable once the worker has taken them
            async with session.post("/api/search", json={**window, **allowed}) as resp:
                assert resp.status == 200, await resp.text()
                found = await resp.json()
            if found["count"] == 2 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert found["count"] == 2 and {s["read_id"] for s in found["sightings"]} == {"p22-3", "p22-6"}

        for field, value, term in (
            ("purpose", "Inmigraci\u00f3n", "Inmigraci\u00f3n"),
            ("case_number", "ERO-26-000001", "ERO"),
            ("purpose", f"{CYRILLIC_I}mmigration enforcement", f"{CYRILLIC_I}mmigration"),
        ):
            async with session.post("/api/search", json={**window, **allowed, field: value}) as resp:
                status, body = resp.status, await resp.json()
            assert status == 403, (field, value, body)
            assert "P22" in body["error"] and repr(term) in body["error"], body
            assert "sightings" not in body and "count" not in body
    searches = await audit_of(settings, "kim", "search")
    assert [a["decision"] for a in searches][-3:] == ["refused"] * 3
    assert all("P22" in (a["reason"] or "") for a in searches[-3:])
    assert any(a["decision"] == "allowed" and a["result_count"] == 2 for a in searches)
