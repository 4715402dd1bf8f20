"""The dispatch console and the CAD API, as real processes (worker + console) on the embedded broker."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import aiohttp
import pytest

from streams.kafka.broker import free_port
from tests.factories import read_dict
from tests.integration.kafka_helpers import (
    CONSOLE_USER,
    metric,
    read_topic,
    running_worker,
    send_reads,
)
from tests.integration.test_alert_desk import raise_alert_for
from tests.integration.test_hotlists import NCIC_ROWS, ncic_extract

pytestmark = pytest.mark.integration

WEBHOOK_SECRET = "test-webhook-secret"  # noqa: S105 - a test fixture


class Receiver(BaseHTTPRequestHandler):
    """A CAD system's webhook endpoint: keeps what it was sent."""

    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def console(broker, receiver, tmp_path_factory):
    root = tmp_path_factory.mktemp("console")
    hooks = root / "webhooks.toml"
    hooks.write_text(
        "[[webhook]]\n"
        'agency = "SJPD"\n'
        f'url = "http://127.0.0.1:{receiver.server_address[1]}/alpr"\n'
        'secret_env = "ALPR_TEST_WEBHOOK_SECRET"\n'
        'cameras = ["sj-*"]\n'
    )
    with running_worker(
        broker,
        root,
        console=True,
        ALPR_WEBHOOKS=str(hooks),
        ALPR_TEST_WEBHOOK_SECRET=WEBHOOK_SECRET,
    ) as running:
        yield running


def base(env) -> str:
    return f"http://127.0.0.1:{env['ALPR_CONSOLE_PORT']}"


async def signed_in(env) -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(base(env), cookie_jar=aiohttp.CookieJar(unsafe=True))  # an IP host
    name, password, _display, _badge = CONSOLE_USER
    async with session.post("/api/session", json={"user": name, "password": password}) as resp:
        assert resp.status == 200, await resp.text()
    return session


async def next_event(stream: aiohttp.StreamReader, timeout: float) -> tuple[str, dict]:
    """The next server-sent event (keep-alive comments skipped)."""
    kind, data = "", ""
    while True:
        line = (await asyncio.wait_for(stream.readline(), timeout)).decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif line == "" and kind:
            return kind, json.loads(data)


async def transition(session: aiohttp.ClientSession, alert_id: str, **body: str) -> tuple[int, dict]:
    async with session.post(f"/api/alerts/{alert_id}/transitions", json=body) as resp:
        return resp.status, await resp.json()


def listed(plate: str, n: int) -> list[str]:
    """The first sample NCIC rows and one stolen vehicle with this plate (each test its own plate, so
    one test's alert is not another's sighting)."""
    return [*NCIC_ROWS[:4], f"V|V80000{n:04d}|CA0431000|{plate}|CA|2027|PC|||||||SJ-26-{n:04d}|"]


async def sync_rows(settings, root, rows: list[str]) -> None:
    """Sync the NCIC feed to exactly these rows (forced) and give the worker a moment."""
    from streams.hotlists.service import HotlistStore

    async with HotlistStore(settings) as store:
        path = ncic_extract(root / f"ncic-{time.monotonic_ns()}.txt", rows)
        await store.sync("ncic", path, None, datetime.now(UTC), force=True)
    await asyncio.sleep(1)


async def events_of(settings, alert_id: str) -> list[dict]:
    records = await read_topic(settings.bootstrap_servers, settings.topic("alerts"))
    values = [json.loads(r.value) for r in records]
    return [v for v in values if v["alert_id"] == alert_id and v["event"] != "AlertRaised"]


async def test_a_listed_plate_reaches_the_live_queue_within_2_s(console) -> None:
    """Pushed, not polled: the queue's event stream carries the alert within 2 s of the read being
    produced (P7: and it arrives unverified)."""
    env, settings, root = console
    async with await signed_in(env) as session:
        await sync_rows(settings, root, listed("7LIVE01", 1))
        async with session.get("/api/events") as events:
            assert events.headers["Content-Type"].startswith("text/event-stream")
            kind, snapshot = await next_event(events.content, 10)
            assert kind == "snapshot" and "alerts" in snapshot
            read = read_dict(read_id="live-1", plate="7LIVE01", camera_id="sj-0001")
            read["captured_at"] = datetime.now(UTC).isoformat()
            started = time.monotonic()
            await send_reads(settings, [read])
            while True:
                kind, alert = await next_event(events.content, 5)
                if kind == "alert" and alert["plate_read"] == "7LIVE01":
                    break
            elapsed = time.monotonic() - started
    print(f"read produced -> alert in the live queue: {elapsed * 1000:.0f} ms")
    assert elapsed < 2.0
    assert alert["status"] == "unverified" and alert["actions"] == ["verify", "reject"]


async def test_an_alert_is_worked_through_the_api_and_refusals_change_nothing(console) -> None:
    env, settings, root = console
    alert_id = await raise_alert_for(settings, root, "api-1", "7APIW01", listed("7APIW01", 2))
    async with await signed_in(env) as session:
        status, body = await transition(session, alert_id, action="confirm", confirming_agency="CA0431000")
        assert status == 409 and "visually verify" not in body["error"] and "unverified" in body["error"]
        assert await events_of(settings, alert_id) == []  # a refused command writes nothing

        steps = [
            ({"action": "verify", "note": "plate and state match the image"}, "tentative_hit"),
            ({"action": "validate", "priority": "urgent"}, "live_query"),
            ({"action": "confirm", "confirming_agency": "CA0431000"}, "confirmed_hit"),
            (
                {"action": "disposition", "disposition": "arrest", "note": "stopped, 211 arrest"},
                "dispositioned",
            ),
        ]
        for body_in, expected in steps:
            status, body = await transition(session, alert_id, **body_in)
            assert status == 200, body
            assert body["status"] == expected
            if expected == "live_query":
                assert 590 < body["seconds_left"] <= 600 and not body["overdue"]  # urgent: 10 minutes
        assert body["banner"] == "An alert alone is not grounds for a stop"
        assert [e["by"] for e in body["history"]] == [{"user": "Dispatcher Lee", "badge": "D-101"}] * 4

        async with session.get(f"/api/alerts/{alert_id}") as resp:
            assert (await resp.json())["disposition"] == "arrest"
        async with session.get("/api/alerts") as resp:
            assert alert_id not in {a["alert_id"] for a in (await resp.json())["alerts"]}  # closed
    assert [e["event"] for e in await events_of(settings, alert_id)] == [
        "AlertVisuallyVerified",
        "AlertStatusValidated",
        "AlertConfirmed",
        "AlertDispositioned",
    ]
    text = metrics_text(env)
    assert 'alpr_alert_step_seconds_count{step="dispositioned"}' in text
    assert float(sample(text, 'alpr_alerts{state="dispositioned"}')) >= 1


def metrics_text(env) -> str:
    import urllib.request

    with urllib.request.urlopen(base(env) + "/metrics", timeout=5) as resp:
        return resp.read().decode()


def sample(text: str, name: str) -> str:
    return next(line.split()[-1] for line in text.splitlines() if line.startswith(name + " "))


async def test_validation_is_refused_when_the_entry_left_the_hot_list(console) -> None:
    env, settings, root = console
    rows = [*NCIC_ROWS[:4], "L|L800000777|CA0431000|5GONE77|CA|2027|PC|||||||SJ-26-889|"]
    alert_id = await raise_alert_for(settings, root, "api-2", "5GONE77", rows)
    async with await signed_in(env) as session:
        assert (await transition(session, alert_id, action="verify"))[0] == 200
        await sync_rows(settings, root, NCIC_ROWS[:4])
        status, body = await transition(session, alert_id, action="validate", priority="routine")
        assert status == 409 and "no longer active" in body["error"] and "do not act" in body["error"]
        async with session.get(f"/api/alerts/{alert_id}") as resp:
            assert (await resp.json())["status"] == "tentative_hit"
        status, body = await transition(session, alert_id, action="reject", reason="entry_no_longer_active")
        assert status == 200 and body["status"] == "rejected"
    text = metrics_text(env)
    assert (
        float(sample(text, 'alpr_alert_rejections_total{match_kind="exact",reason="entry_no_longer_active"}'))
        >= 1
    )


async def test_the_same_plate_again_adds_a_sighting_until_the_alert_is_closed(console) -> None:
    """P9: alerted at Curtner/Monterey, observed at Curtner/Malone: one alert, one sighting; once a
    dispatcher has rejected it, the plate's next read raises a new alert."""
    env, settings, root = console
    alert_id = await raise_alert_for(settings, root, "seen-1", "6SEEN88", listed("6SEEN88", 4))
    now = datetime.now(UTC)
    again = read_dict(read_id="seen-2", plate="6SEEN88", camera_id="curtner-malone")
    again["captured_at"] = (now + timedelta(seconds=30)).isoformat()
    await send_reads(settings, [again])
    async with await signed_in(env) as session:
        detail = await poll_alert(session, alert_id, lambda d: d["sightings"] == 1)
        assert detail["sighting_list"][0]["camera_id"] == "curtner-malone"
        assert (await transition(session, alert_id, action="reject", reason="misread"))[0] == 200
        await asyncio.sleep(1)  # the worker hears of the closing
        third = read_dict(
            read_id="seen-3", plate="6SEEN88", captured_at=(now + timedelta(seconds=60)).isoformat()
        )
        await send_reads(settings, [third])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            async with session.get("/api/alerts") as resp:
                fresh = [a for a in (await resp.json())["alerts"] if a["plate_read"] == "6SEEN88"]
            if fresh:
                break
            await asyncio.sleep(0.3)
        assert [a["alert_id"] != alert_id for a in fresh] == [True]
        async with session.get(f"/api/alerts/{alert_id}") as resp:
            assert (await resp.json())["sightings"] == 1
    assert (metric(env, "alpr_alert_sightings_total") or 0) >= 1


async def poll_alert(session, alert_id: str, done, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        async with session.get(f"/api/alerts/{alert_id}") as resp:
            detail = await resp.json()
        if resp.status == 200 and done(detail):
            return detail
        assert time.monotonic() < deadline, detail
        await asyncio.sleep(0.3)


async def test_requests_without_a_session_or_not_json_are_refused(console) -> None:
    env, _settings, _root = console
    async with aiohttp.ClientSession(base(env)) as anonymous:
        async with anonymous.get("/api/alerts") as resp:
            assert resp.status == 401 and "sign in" in (await resp.json())["error"]
        async with anonymous.get("/", allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/login"
        async with anonymous.post(
            "/api/session", json={"user": "lee", "password": "wrong password!"}
        ) as resp:
            assert resp.status == 401 and "wrong user name or password" in (await resp.json())["error"]
        async with anonymous.get("/api/alerts", headers={"Authorization": "Bearer forged"}) as resp:
            assert resp.status == 401
    async with await signed_in(env) as session:
        # a cross-site form can only send form encodings: state changes need JSON
        async with session.post("/api/alerts/x/transitions", data="action=verify") as resp:
            assert resp.status == 415
        async with session.post("/api/alerts/no-such-alert/transitions", json={"action": "verify"}) as resp:
            assert resp.status == 404
        async with session.post("/api/alerts/x/transitions", json={"action": "approve"}) as resp:
            assert resp.status == 400 and "verify" in (await resp.json())["error"]
        async with session.get("/") as resp:
            assert resp.status == 200 and "default-src 'self'" in resp.headers["Content-Security-Policy"]


async def test_a_cad_system_uses_a_bearer_token_and_receives_signed_webhooks(console, receiver) -> None:
    env, settings, root = console
    name, password, _display, _badge = CONSOLE_USER
    async with aiohttp.ClientSession(base(env)) as cad:
        async with cad.post("/api/session", json={"user": name, "password": password}) as resp:
            token = (await resp.json())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        read = read_dict(read_id="hook-1", plate="8HOOK01", camera_id="sj-0042")
        read["captured_at"] = datetime.now(UTC).isoformat()
        await sync_rows(settings, root, listed("8HOOK01", 3))
        await send_reads(settings, [read])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            async with cad.get("/api/alerts", headers=headers) as resp:
                assert resp.status == 200
                mine = [a for a in (await resp.json())["alerts"] if a["camera_id"] == "sj-0042"]
            if mine:
                break
            await asyncio.sleep(0.3)
        [alert] = mine
        async with cad.post(
            f"/api/alerts/{alert['alert_id']}/transitions", json={"action": "verify"}, headers=headers
        ) as resp:
            assert resp.status == 200
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        delivered = [
            (h, json.loads(b)) for h, b in Receiver.received if json.loads(b)["alert_id"] == alert["alert_id"]
        ]
        if len(delivered) >= 2:
            break
        await asyncio.sleep(0.3)
    assert [body["event"] for _h, body in delivered] == ["AlertRaised", "AlertVisuallyVerified"]
    for headers_in, raw in [
        (h, b) for h, b in Receiver.received if json.loads(b)["alert_id"] == alert["alert_id"]
    ]:
        expected = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        assert headers_in["X-ALPR-Signature"] == expected
        assert json.loads(raw)["agency"] == "SJPD"
    # only the agency's cameras: alerts read by cameras outside "sj-*" are not sent
    raised = [json.loads(b) for _h, b in Receiver.received if json.loads(b)["event"] == "AlertRaised"]
    assert raised and all(body["camera_id"].startswith("sj-") for body in raised)
