"""The public transparency page (``/transparency``, ``/transparency.json``) of a real ``alpr console``
over a real worker on the embedded broker: no sign-in, the figures right, the San José memo's
statement on SB 54 / SB 34 (P19), and no plate-level data whatever the topics hold."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime

import aiohttp
import orjson
import pytest

from streams.access.checkpoint import Checkpoint, decode_checkpoint, latest, trusted_keys
from streams.access.directory import Agency, DirectoryStore
from streams.cameras.registry import Camera, CameraStore
from tests.conftest import alpr
from tests.factories import read_dict
from tests.integration.kafka_helpers import (
    add_user,
    admin_principal,
    alerts_for,
    produce,
    read_topic,
    running_worker,
    send_reads,
    service_env,
    wait_for_records,
)
from tests.integration.test_camera_cli import AIRPORT, SAMPLE
from tests.integration.test_console import base, listed, sync_rows
from tests.integration.test_console_cameras import running_console

pytestmark = pytest.mark.integration

#: Recommendation (c) of the Police Chief's memo of Feb. 9 2026 (seeds/000_96c03df950862753.txt), verbatim.
MEMO_C = (
    "The San José Police Department only shares data with California law enforcement agencies subject "
    "to the California Values Act (Senate Bill 54, 2017) and Automated License Plate Recognition "
    "Systems: Use of Data (Senate Bill 34, 2015). These laws prohibit information sharing with federal "
    "immigration enforcement. Transmittal of Police Department Automated License Plate Reader data to "
    "federal agencies for immigration enforcement is illegal."
)
HOT = "7TRNS01"


async def public(env, path: str) -> tuple[int, dict[str, str], str]:
    """GET without any session or cookie."""
    async with aiohttp.ClientSession(base(env)) as anonymous:
        async with anonymous.get(path, allow_redirects=False) as resp:
            return resp.status, dict(resp.headers), await resp.text()


def assert_public_page(status: int, headers: dict[str, str], html: str) -> None:
    assert status == 200, html
    assert headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in headers["Content-Security-Policy"]  # the console's headers kept
    # the CSP forbids inline code: the page has none, so it renders as written
    assert "<script" not in html and "<style" not in html and "style=" not in html


def test_the_page_is_public_and_works_with_an_empty_registry(broker, tmp_path) -> None:
    """Issue 9 item 6: with nothing registered, synced or shared yet, both forms answer without a
    sign-in and say so: zero cameras, no hot list, no agency; the retention of the active profile
    (San José: reads and alerts 30 days, P11, P13; audit 731 days, P14) and the memo's statement
    (P19) are there from the start."""
    with running_console(broker, tmp_path) as (env, _settings, _root):
        status, headers, body = asyncio.run(public(env, "/transparency.json"))
        assert status == 200 and headers["Content-Type"].startswith("application/json"), body
        figures = orjson.loads(body)
        assert figures["cameras"] == {"active": 0, "fixed": 0, "mobile": 0, "retired": 0}
        assert (figures["hotlist_sources"], figures["shared_with"]) == ([], [])
        retention = figures["retention"]
        assert (retention["profile"], retention["read_days"], retention["alert_days"]) == ("san_jose", 30, 30)
        assert retention["audit_days"] == 731
        assert (
            figures["statement"]["text"] == MEMO_C and "recommendation (c)" in figures["statement"]["source"]
        )

        status, headers, html = asyncio.run(public(env, "/transparency"))
        assert_public_page(status, headers, html)
        assert '<span id="camera-count" class="figure">0</span> active cameras' in html
        assert "No hot list has been synchronized yet." in html
        assert "Data is not shared with any other agency." in html
        assert MEMO_C in html and "February 9, 2026" in html
        assert figures["audit_checkpoint"] is None and "No signed checkpoint of the audit trail yet." in html

        # P14: a checkpoint signed now is published on the page within its refresh interval
        made = alpr(service_env(env, "reporting"), "audit", "checkpoint")
        assert made.returncode == 0, made.stdout + made.stderr
        digest = made.stdout.split("sha256 ", 1)[1].split()[0]
        key = made.stdout.split("signed with key ", 1)[1].split()[0]
        deadline = time.monotonic() + 20
        while (figures["audit_checkpoint"] is None) and time.monotonic() < deadline:
            time.sleep(0.5)
            figures = orjson.loads(asyncio.run(public(env, "/transparency.json"))[2])
        mark = figures["audit_checkpoint"]
        assert mark is not None and mark["sha256"] == digest and mark["signed_by"] == key
        assert figures["audit_public_keys"] == [key]
        status, headers, html = asyncio.run(public(env, "/transparency"))
        assert f'<code id="checkpoint-digest">{digest}</code>' in html and f"<code>{key}</code>" in html


@pytest.fixture(scope="module")
def stack(broker, tmp_path_factory):
    with running_worker(
        broker, tmp_path_factory.mktemp("transparency"), console=True, ALPR_SENSITIVE_SITES=str(SAMPLE)
    ) as running:
        yield running


async def populate(settings, root) -> dict[str, set[str]]:
    """Cameras, agencies, a synced hot list and reads, one of which alerts. Returns what must never
    appear on the public page: every plate, read id, alert id, entry id, VIN and case number."""
    admin = await add_user(settings, "ada", "administrator", badge="A-1")
    directory = DirectoryStore(settings)
    now = datetime.now(UTC)
    sheriff = Agency(
        "CA0430000", "Santa Clara County Sheriff's Office", "county_sheriff", "CA", "signed", "2026-01-15"
    )
    await directory.add_agency(sheriff, admin_principal(), now)
    await directory.add_agency(
        Agency("CA0431200", "Milpitas Police Department", "municipal_police", "CA", "none"),
        admin_principal(),
        now,
    )
    # Written around the directory (which refuses them, P19): a public list of partners still leaves them out.
    smuggled = [
        Agency("ICE01", "U.S. Immigration and Customs Enforcement", "federal", "DC", "signed", "2026-02-01"),
        Agency("NV0020000", "Las Vegas Metropolitan Police Department", "municipal_police", "NV", "signed"),
        Agency("VEND1", "Plate Data Brokers Inc.", "commercial", "CA", "signed"),
    ]
    await produce(
        settings.kafka,
        directory.agencies_topic,
        [(a.agency_id.encode(), orjson.dumps(dataclasses.asdict(a)), None) for a in smuggled],
    )

    user = (await directory.load()).user(admin.name).principal()
    store = CameraStore(settings)
    lat, lon = AIRPORT
    for n, kind in enumerate(("fixed", "fixed", "fixed", "mobile", "mobile")):
        facing = 90.0 if kind == "fixed" else None
        await store.add(
            Camera(f"tr-cam-{n}", f"Airport {n}", "SJPD", kind, lat + n * 0.001, lon, facing), user, now
        )
    await store.retire("tr-cam-0", user, now)

    rows = listed(HOT, 901)
    await sync_rows(settings, root, rows)
    # captured after the sync: P4 is judged at capture time, from refreshes at or before it
    captured = datetime.now(UTC).isoformat()
    reads = [
        read_dict(read_id="tr-read-hit", plate=HOT, camera_id="tr-cam-1", captured_at=captured),
        read_dict(read_id="tr-read-miss", plate="8NOHIT8", camera_id="tr-cam-2", captured_at=captured),
    ]
    await send_reads(settings, reads)
    alerts = await wait_for_records(
        settings.kafka, settings.topic("alerts"), lambda v: bool(alerts_for(v, {"tr-read-hit"}))
    )
    fields = [row.split("|") for row in rows]
    return {
        "plates": {f[3] for f in fields} | {r["plate"] for r in reads},
        "entry data": {f[i] for f in fields for i in (1, 7, 13) if f[i]},
        "reads and alerts": {r["read_id"] for r in reads} | {a["alert_id"] for a in alerts},
    }


def test_the_figures_are_right_and_no_plate_level_data_is_shown_p19(stack) -> None:
    """The public page counts the active cameras by kind (4: 2 fixed, 2 mobile; the retired one is
    not active), names the hot list in use with its last sync time from the sources topic (no
    entries), and lists only the agency with a signed agreement: not the one without, and never a
    federal, out-of-state or commercial one even if its record reached the agencies topic (P19).
    Neither form carries any plate, read id, alert id, hot-list entry id, VIN or case number of the
    reads, alerts and entries the topics hold."""
    env, settings, root = stack
    secret = asyncio.run(populate(settings, root))
    [status_record] = asyncio.run(read_topic(settings.kafka, settings.topic("hotlist-sources")))
    last_success = orjson.loads(status_record.value)["last_success"]

    deadline = time.monotonic() + 20  # the figures are re-read at most every few seconds
    while True:
        status, _headers, body = asyncio.run(public(env, "/transparency.json"))
        assert status == 200, body
        figures = orjson.loads(body)
        ready = (
            figures["cameras"]["active"] == 4 and figures["hotlist_sources"] and figures["audit_checkpoint"]
        )
        if ready or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert figures["cameras"] == {"active": 4, "fixed": 2, "mobile": 2, "retired": 1}
    [ncic] = figures["hotlist_sources"]
    assert (ncic["source"], ncic["last_sync"], ncic["stale"]) == ("ncic", last_success, False)
    assert ncic["name"].startswith("NCIC")
    assert figures["shared_with"] == [
        {
            "agency_id": "CA0430000",
            "name": "Santa Clara County Sheriff's Office",
            "type": "county_sheriff",
            "agreement_date": "2026-01-15",
        }
    ]

    status, headers, html = asyncio.run(public(env, "/transparency"))
    assert_public_page(status, headers, html)
    assert '<span id="camera-count" class="figure">4</span> active cameras' in html
    assert (
        '<span id="camera-fixed">2</span> fixed' in html
        and '<span id="camera-mobile">2</span> mobile' in html
    )
    assert "30 days, then deleted (P11)" in html
    assert "Santa Clara County Sheriff&#x27;s Office (agreement of 2026-01-15)" in html
    for absent in ("Milpitas", "Immigration and Customs", "Las Vegas", "Plate Data Brokers"):
        assert absent not in html and absent not in body
    assert MEMO_C in html
    # P14: the worker signed the audit trail's head when it started; the page publishes the digest
    records = asyncio.run(read_topic(settings.kafka, settings.topic("audit-checkpoints")))
    signed = [decode_checkpoint(r.value, trusted_keys(settings)) for r in records]
    newest = latest(c for c in signed if isinstance(c, Checkpoint))
    assert newest is not None and figures["audit_checkpoint"]["sha256"] == newest.digest
    assert f'<code id="checkpoint-digest">{newest.digest}</code>' in html

    for kind, values in secret.items():
        for value in values:
            assert value not in body and value not in html, f"{kind}: {value} is on the public page"
    # and a camera's own identity is not published either: only counts
    assert "tr-cam-" not in body and "tr-cam-" not in html
