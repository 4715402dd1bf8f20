"""Webhooks under P19 on a real broker: recipients set only by a signed-in administrator, only
eligible agencies, only their cameras; delivery signed, in order, audited (P15), and stopped for an
agency whose agreement ended."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiohttp import web

from streams.access.directory import Agency, DirectoryStore
from streams.alerts.desk import AlertDesk
from streams.alerts.lifecycle import Actor
from streams.console.webhooks import WebhookRunner, add_webhook, list_webhooks, remove_webhook
from streams.errors import AccessDenied, ConfigError, NotSignedIn, PolicyViolation
from streams.kafka.broker import free_port
from streams.settings import Settings
from tests.conftest import settings_of
from tests.integration.kafka_helpers import add_user, admin_principal, ensure_home, produce, read_topic

pytestmark = pytest.mark.integration

SECRET = "webhook-test-secret"  # noqa: S105 - a test fixture
SECRET_ENV = "ALPR_TEST_WEBHOOK_SECRET"  # noqa: S105 - the name of a variable
OAKLAND = Agency("OPD", "Oakland Police Department", "municipal_police", "CA", "signed", "2026-03-01")
FREMONT = Agency("FPD", "Fremont Police Department", "municipal_police", "CA", "none")
# The directory's use cases never write these (P19); forged onto the agencies topic, as an attacker
# with write access or an old version might have, to show that the webhook checks on its own.
FORGED = (
    Agency("ICE1", "A federal immigration agency", "federal", "CA", "signed"),
    Agency("VEND", "A plate-data vendor", "commercial", "CA", "signed"),
    Agency("RPD", "Reno Police Department", "municipal_police", "NV", "signed"),
)


async def ensure_webhooks_topic(settings: Settings) -> None:
    """The compacted webhooks topic (created by create_topics once topics.py declares it)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(**settings.kafka.options())
    await admin.start()
    try:
        if settings.topic("webhooks") not in await admin.list_topics():
            await admin.create_topics(
                [NewTopic(settings.topic("webhooks"), 1, 1, topic_configs={"cleanup.policy": "compact"})]
            )
    finally:
        await admin.close()


async def forge_agencies(settings: Settings, agencies: tuple[Agency, ...]) -> None:
    records = []
    for agency in agencies:
        data = {**dataclasses.asdict(agency), "shares_with": list(agency.shares_with)}
        records.append((agency.agency_id.encode(), orjson.dumps(data), None))
    await produce(settings.kafka, settings.topic("agencies"), records)


async def register_cameras(settings: Settings, owners: dict[str, str]) -> None:
    from streams.cameras.registry import Camera, encode_camera

    await produce(
        settings.kafka,
        settings.topic("cameras"),
        [
            (
                cid.encode(),
                encode_camera(Camera(cid, f"camera {cid}", agency, "mobile", 37.33, -121.89)),
                None,
            )
            for cid, agency in owners.items()
        ],
    )


async def world(env: dict[str, str]) -> Settings:
    """Home SJPD (sharing with nobody), Oakland with an agreement, Fremont without, the forged
    ineligible ones, and cameras of SJPD and Oakland."""
    settings = settings_of(env)
    await ensure_webhooks_topic(settings)
    await ensure_home(settings)
    store = DirectoryStore(settings)
    for agency in (OAKLAND, FREMONT):
        await store.add_agency(agency, admin_principal(), datetime.now(UTC))
    await forge_agencies(settings, FORGED)
    await register_cameras(settings, {"sj-0001": "SJPD", "sj-0002": "SJPD", "oak-01": "OPD"})
    return settings


async def webhook_state(settings: Settings) -> tuple[int, list[dict[str, Any]]]:
    """How many records the webhooks topic holds, and the audit records of webhook changes."""
    hooks = await read_topic(settings.kafka, settings.topic("webhooks"))
    audit = [json.loads(r.value) for r in await read_topic(settings.kafka, settings.topic("audit"))]
    return len(hooks), [a for a in audit if a["action"].startswith("webhook_")]


def url(port: int, path: str = "/alpr") -> str:
    return f"http://127.0.0.1:{port}{path}"


async def test_only_an_eligible_agency_may_receive_alerts_and_a_refusal_writes_nothing_p19(
    topics_env,
) -> None:
    settings = await world(topics_env)
    admin, now = admin_principal(), datetime.now(UTC)
    before = await webhook_state(settings)
    for agency, why in (
        ("ICE1", "federal"),
        ("VEND", "commercial"),
        ("RPD", "California agencies only"),
        ("FPD", "no sharing agreement"),
        ("NOBODY", "no agency 'NOBODY' in the directory"),
    ):
        with pytest.raises(PolicyViolation, match=why) as refused:
            await add_webhook(settings, admin, agency, "https://cad.example/alpr", SECRET_ENV, ["*"], now)
        assert refused.value.rule == "P19" and "nothing was written" in str(refused.value)
    # an eligible agency, but "*" reaches SJPD's cameras, which do not share with Oakland
    with pytest.raises(PolicyViolation, match="'\\*' matches cameras of SJPD, which do not share with OPD"):
        await add_webhook(settings, admin, "OPD", "https://cad.opd.example/", SECRET_ENV, ["*"], now)
    with pytest.raises(PolicyViolation, match="P19"):
        await add_webhook(
            settings, admin, "OPD", "https://cad.opd.example/", SECRET_ENV, ["oak-*", "sj-*"], now
        )
    for bad in (
        "http://127.0.0.1.evil.example/alpr",
        "http://localhost@attacker.example/alpr",
        "https://cad:pw@cad.opd.example/alpr",
        "http://cad.opd.example/alpr",
    ):
        with pytest.raises(ConfigError):
            await add_webhook(settings, admin, "OPD", bad, SECRET_ENV, ["oak-*"], now)
    assert await webhook_state(settings) == before == (0, [])
    assert await list_webhooks(settings, admin) == []
    # what is allowed: Oakland's own cameras; the change is audited with the actor (P15)
    hook = await add_webhook(settings, admin, "OPD", "https://cad.opd.example/", SECRET_ENV, ["oak-*"], now)
    assert await list_webhooks(settings, admin) == [hook]
    count, audit = await webhook_state(settings)
    assert count == 1
    [added] = audit
    assert (added["user"], added["agency"], added["badge"], added["action"]) == (
        "tests-admin",
        "SJPD",
        "ADM-1",
        "webhook_add",
    )
    assert added["query"]["agency"] == "OPD" and added["query"]["cameras"] == ["oak-*"]
    assert SECRET not in json.dumps(added)


def run_cli(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *argv: str) -> int:
    """``alpr`` in this process, with the webhook commands (streams/cli/__init__.py may not list
    them yet), in ``env``; returns its exit status."""
    import streams.cli as cli
    from streams.cli.webhooks import register

    for key in [k for k in __import__("os").environ if k.startswith("ALPR_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    build = cli.build_parser

    def with_webhooks() -> Any:
        parser = build()
        sub = next(a for a in parser._actions if a.dest == "command")  # noqa: SLF001
        register(sub)  # type: ignore[arg-type]
        return parser

    if not any(getattr(a, "choices", None) and "webhook" in a.choices for a in build()._actions):  # noqa: SLF001
        monkeypatch.setattr(cli, "build_parser", with_webhooks)
    return cli.main(list(argv))


def test_unauthenticated_and_wrong_role_cli_calls_are_refused_and_change_nothing(
    topics_env, monkeypatch, capsys, tmp_path
) -> None:
    from streams.access.authn import Authenticator
    from streams.cli.common import save_session

    settings = asyncio.run(world(topics_env))
    now = datetime.now(UTC)

    async def people() -> dict[str, Any]:
        admin = await add_user(settings, "ada", "administrator", badge="ADM-2")
        lee = await add_user(settings, "lee", "dispatcher", badge="D-101")
        lt = await add_user(settings, "ray", "lieutenant", badge="L-3", rank="lieutenant")
        cad = await DirectoryStore(settings).add_service("cad-gw", "cad", "SJPD", admin_principal(), now)
        sessions = {}
        async with Authenticator(settings) as auth:
            for user in (admin, lee, lt):
                code = user.fresh_code()  # the code of the clock's step now, checked at that time
                signed = await auth.sign_in(
                    user.name, user.password, code, source="cli:test", channel="cli", now=datetime.now(UTC)
                )
                path = tmp_path / f"session-{user.name}"
                save_session(
                    dataclasses.replace(settings, session_file=path),
                    signed.token,
                    user.name,
                    signed.expires_at,
                )
                sessions[user.name] = {**topics_env, "ALPR_SESSION_FILE": str(path)}
        sessions["cad"] = {
            **topics_env,
            "ALPR_SERVICE_TOKEN": cad,
            "ALPR_SESSION_FILE": str(tmp_path / "none"),
        }
        sessions["nobody"] = {**topics_env, "ALPR_SESSION_FILE": str(tmp_path / "none")}
        return sessions

    sessions = asyncio.run(people())
    add = ("webhook", "add", "--agency", "SJPD", "--url", "https://cad.sjpd.example/alpr")
    add += ("--secret-env", SECRET_ENV, "--camera", "sj-*")
    # the administrator sets one up first, so that a refused remove has something to leave alone
    assert run_cli(monkeypatch, sessions["ada"], *add) == 0
    assert "SJPD receives the alerts of sj-*" in capsys.readouterr().out
    before = asyncio.run(webhook_state(settings))
    assert before[0] == 1 and len(before[1]) == 1
    for who, message in (
        ("nobody", "sign in first"),
        ("lee", "the dispatcher role may not webhook.admin"),
        ("ray", "the lieutenant role may not webhook.admin"),
        ("cad", "the cad role may not webhook.admin"),
    ):
        for argv in (
            ("webhook", "add", "--agency", "OPD", "--url", "https://cad.opd.example/", "--secret-env", "X")
            + ("--camera", "oak-*"),
            ("webhook", "remove", "--agency", "SJPD"),
            ("webhook", "list"),
        ):
            assert run_cli(monkeypatch, sessions[who], *argv) == 2, (who, argv)
            captured = capsys.readouterr()
            assert message in captured.err and "cad.sjpd.example" not in captured.out, (who, argv)
    assert asyncio.run(webhook_state(settings)) == before
    # the administrator lists and removes; each change audited
    assert run_cli(monkeypatch, sessions["ada"], "webhook", "list") == 0
    listed = capsys.readouterr().out
    assert "https://cad.sjpd.example/alpr" in listed and SECRET_ENV in listed
    assert run_cli(monkeypatch, sessions["ada"], "webhook", "remove", "--agency", "SJPD") == 0
    assert asyncio.run(list_webhooks(settings, admin_principal())) == []
    _count, audit = asyncio.run(webhook_state(settings))
    assert [(a["action"], a["user"], a["badge"]) for a in audit] == [
        ("webhook_add", "ada", "ADM-2"),
        ("webhook_remove", "ada", "ADM-2"),
    ]


async def test_use_cases_refuse_nobody_and_wrong_roles_and_change_nothing(topics_env) -> None:
    from streams.access.principal import Principal

    settings = await world(topics_env)
    now = datetime.now(UTC)
    await add_webhook(
        settings, admin_principal(), "SJPD", "https://cad.sjpd.example/", SECRET_ENV, ["sj-*"], now
    )
    before = await webhook_state(settings)
    for who in (None, Principal("lee", "Lee", "SJPD", "dispatcher"), Principal("x", "x", "OPD", "external")):
        with pytest.raises((NotSignedIn, AccessDenied)):
            await add_webhook(settings, who, "OPD", "https://cad.opd.example/", SECRET_ENV, ["oak-*"], now)
        with pytest.raises((NotSignedIn, AccessDenied)):
            await remove_webhook(settings, who, "SJPD", now)
        with pytest.raises((NotSignedIn, AccessDenied)):
            await list_webhooks(settings, who)
    assert await webhook_state(settings) == before


class Receiver:
    """A CAD system's webhook endpoint (aiohttp, on this machine): keeps what it was sent."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.arrived = asyncio.Condition()
        self.port = free_port()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        async with self.arrived:
            self.received.append((request.path, dict(request.headers), body))
            self.arrived.notify_all()
        return web.Response(status=204)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [json.loads(b) for p, _h, b in self.received if p == path]

    async def wait(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(predicate), timeout)


@pytest.fixture()
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/{path:.*}", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", found.port).start()
    yield found
    await runner.cleanup()


async def write_alert(settings: Settings, camera: str, plate: str) -> str:
    """An alert of ``camera`` on partition 0 of the alerts topic (one partition: one order)."""
    from streams.alerts.model import raise_alert
    from streams.codec import alert_to_dict, dumps
    from streams.kafka.log import TopicWriter
    from streams.matching.matcher import match
    from tests.factories import make_entry, make_index, make_read

    now = datetime.now(UTC)
    read = make_read(plate=plate, camera_id=camera, captured_at=now)
    [found] = match(make_index(make_entry(plate=plate, synced_at=now - timedelta(minutes=5))), read)
    alert = raise_alert(read, found, now)
    writer = TopicWriter(settings.kafka)
    await writer.start()
    try:
        await writer.write(settings.topic("alerts"), alert.alert_id.encode(), dumps(alert_to_dict(alert)), 0)
        await writer.flush()
    finally:
        await writer.stop()
    return alert.alert_id


class Running:
    """The console's parts that webhooks need: a desk following the alerts, and the runner."""

    def __init__(self, settings: Settings) -> None:
        self.desk = AlertDesk(settings)
        self.runner = WebhookRunner(settings, self.desk.board, env={SECRET_ENV: SECRET})
        self.tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Running:
        await self.desk.__aenter__()
        self.tasks = [asyncio.create_task(self.desk.follow()), asyncio.create_task(self.runner.run())]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.desk.__aexit__(None, None, None)

    async def handled(self, webhook_id: str, records_on_partition_0: int, timeout: float = 30.0) -> None:
        """Wait until the webhook has handled (delivered or skipped) that many alert records."""
        for task in self.tasks:
            if task.done():
                task.result()
        async with self.runner.progress:
            await asyncio.wait_for(
                self.runner.progress.wait_for(
                    lambda: self.runner.positions.get((webhook_id, 0), 0) >= records_on_partition_0
                ),
                timeout,
            )


async def deliveries_audited(settings: Settings) -> list[dict[str, Any]]:
    audit = [json.loads(r.value) for r in await read_topic(settings.kafka, settings.topic("audit"))]
    return [a for a in audit if a["action"] == "webhook_delivery"]


async def test_a_delivery_is_signed_in_order_only_of_the_agencys_cameras_and_audited_p15(
    topics_env, receiver
) -> None:
    settings = await world(topics_env)
    admin = admin_principal()
    hook = await add_webhook(
        settings, admin, "SJPD", url(receiver.port, "/sjpd"), SECRET_ENV, ["sj-*"], datetime.now(UTC)
    )
    async with Running(settings) as running:
        first = await write_alert(settings, "sj-0001", "8HOOK01")
        await write_alert(settings, "oak-01", "8HOOK02")  # Oakland's camera: not SJPD's webhook's
        third = await write_alert(settings, "sj-0002", "8HOOK03")
        await running.desk.transition(first, "verify", Actor("lee", "D-101"), datetime.now(UTC))
        await receiver.wait(lambda: len(receiver.received) >= 3)
        await running.handled(hook.webhook_id, 4)
    delivered = receiver.bodies("/sjpd")
    assert [(b["event"], b["alert_id"]) for b in delivered] == [
        ("AlertRaised", first),
        ("AlertRaised", third),
        ("AlertVisuallyVerified", first),
    ]
    assert all(b["agency"] == "SJPD" for b in delivered)
    for _path, headers, raw in receiver.received:
        assert (
            headers["X-ALPR-Signature"]
            == "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        )
        assert headers["X-ALPR-Event-Id"] == (json.loads(raw).get("event_id") or json.loads(raw)["alert_id"])
    audited = await deliveries_audited(settings)
    assert [(a["query"]["alert_id"], a["query"]["plate"], a["query"]["event"]) for a in audited] == [
        (first, "8HOOK01", "AlertRaised"),
        (third, "8HOOK03", "AlertRaised"),
        (first, "8HOOK01", "AlertVisuallyVerified"),
    ]
    for record in audited:
        assert (record["user"], record["agency"], record["result_count"]) == ("webhook:SJPD", "SJPD", 1)
        assert record["query"]["webhook"] == hook.webhook_id and record["purpose"]
        assert SECRET not in json.dumps(record)


async def test_an_agency_whose_agreement_ended_receives_nothing_more_p19(topics_env, receiver) -> None:
    settings = await world(topics_env)
    admin = admin_principal()
    hook = await add_webhook(
        settings, admin, "OPD", url(receiver.port, "/opd"), SECRET_ENV, ["oak-*"], datetime.now(UTC)
    )
    async with Running(settings) as running:
        before = await write_alert(settings, "oak-01", "8OAK001")
        await receiver.wait(lambda: len(receiver.bodies("/opd")) == 1)
        await DirectoryStore(settings).add_agency(
            dataclasses.replace(OAKLAND, agreement="none"), admin, datetime.now(UTC)
        )
        after = await write_alert(settings, "oak-01", "8OAK002")
        await running.handled(hook.webhook_id, 2)  # the second record was looked at, and skipped
        # the agreement is signed again: only what is written from then on goes out
        await DirectoryStore(settings).add_agency(OAKLAND, admin, datetime.now(UTC))
        again = await write_alert(settings, "oak-01", "8OAK003")
        await receiver.wait(lambda: len(receiver.bodies("/opd")) == 2)
        await running.handled(hook.webhook_id, 3)
    assert [b["alert_id"] for b in receiver.bodies("/opd")] == [before, again]
    assert after not in {a["query"]["alert_id"] for a in await deliveries_audited(settings)}
    assert [a["query"]["plate"] for a in await deliveries_audited(settings)] == ["8OAK001", "8OAK003"]


async def test_a_removed_webhook_receives_nothing_more(topics_env, receiver) -> None:
    settings = await world(topics_env)
    admin = admin_principal()
    hook = await add_webhook(
        settings, admin, "SJPD", url(receiver.port, "/sjpd"), SECRET_ENV, ["sj-*"], datetime.now(UTC)
    )
    async with Running(settings) as running:
        await write_alert(settings, "sj-0001", "8RMV001")
        await receiver.wait(lambda: len(receiver.received) == 1)
        await running.handled(hook.webhook_id, 1)
        await remove_webhook(settings, admin, "SJPD", datetime.now(UTC))
        replacement = await add_webhook(
            settings, admin, "SJPD", url(receiver.port, "/new"), SECRET_ENV, ["sj-0002"], datetime.now(UTC)
        )
        await write_alert(settings, "sj-0001", "8RMV002")  # the new webhook does not name sj-0001
        last = await write_alert(settings, "sj-0002", "8RMV003")
        await receiver.wait(lambda: len(receiver.received) == 2)
        await running.handled(replacement.webhook_id, 3)
    assert receiver.bodies("/sjpd")[0]["plate_read"] == "8RMV001" and len(receiver.bodies("/sjpd")) == 1
    assert [b["alert_id"] for b in receiver.bodies("/new")] == [last]
