"""Working alerts from the command line against a running worker (P7-P9)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import orjson
import pytest

from streams.access.directory import Agency, DirectoryStore
from streams.hotlists.service import HotlistStore
from tests.conftest import alpr
from tests.factories import read_dict
from tests.integration.kafka_helpers import (
    SignInUser,
    add_user,
    admin_principal,
    alerts_for,
    alpr_as,
    ensure_home,
    read_topic,
    register_cameras,
    running_worker,
    send_reads,
    wait_for_records,
)
from tests.integration.probes import worker_follows
from tests.integration.test_hotlists import NCIC_ROWS, ncic_extract
from tests.unit.test_schemas import validator

pytestmark = pytest.mark.integration


SHERIFF = Agency("CA0430000", "Santa Clara County Sheriff", "county_sheriff", "CA", "signed", "2026-01-15")


@pytest.fixture(scope="module")
def desk(broker, tmp_path_factory):
    root = tmp_path_factory.mktemp("desk")
    with running_worker(broker, root) as running:
        settings = running[1]

        async def setup() -> None:
            await ensure_home(settings)
            await DirectoryStore(settings).add_agency(SHERIFF, admin_principal(), datetime.now(UTC))
            await register_cameras(settings, {"cam-00001": "SJPD", "sc-0001": SHERIFF.agency_id})

        asyncio.run(setup())
        yield running


@pytest.fixture(scope="module")
def lee(desk) -> SignInUser:
    return asyncio.run(add_user(desk[1], "lee", "dispatcher", display="Dispatcher Lee", badge="D-101"))


@pytest.fixture(scope="module")
def ames(desk) -> SignInUser:
    return asyncio.run(add_user(desk[1], "ames", "auditor", display="Auditor Ames", badge="AU-1"))


async def raise_alert_for(settings, root, read_id: str, plate: str, rows, camera: str = "cam-00001") -> str:
    async with HotlistStore(settings) as store:
        await store.sync(
            "ncic", ncic_extract(root / f"{read_id}.txt", rows), None, datetime.now(UTC), force=True
        )
    await worker_follows(settings, ["hotlist", "hotlist-sources"])  # the worker holds the entry now
    await send_reads(
        settings,
        [
            read_dict(
                read_id=read_id, plate=plate, camera_id=camera, captured_at=datetime.now(UTC).isoformat()
            )
        ],
    )
    values = await wait_for_records(
        settings.kafka, settings.topic("alerts"), lambda v: bool(alerts_for(v, {read_id}))
    )
    return alerts_for(values, {read_id})[0]["alert_id"]


async def sync_exactly(settings, path, rows) -> None:
    """The NCIC feed now holds exactly these rows (forced), and the worker has applied it."""
    async with HotlistStore(settings) as store:
        await store.sync("ncic", ncic_extract(path, rows), None, datetime.now(UTC), force=True)
    await worker_follows(settings, ["hotlist", "hotlist-sources"])


def events_of(settings, alert_id: str) -> list[dict]:
    records = asyncio.run(read_topic(settings.kafka, settings.topic("alerts")))
    values = [orjson.loads(r.value) for r in records]
    return [v for v in values if v["alert_id"] == alert_id and v["event"] != "AlertRaised"]


def test_an_alert_is_worked_in_order_and_refusals_change_nothing(desk, lee) -> None:
    env, settings, root = desk
    alert_id = asyncio.run(raise_alert_for(settings, root, "desk-1", "7ABC123", NCIC_ROWS[:4]))

    early = alpr_as(env, lee, "alert", "validate", alert_id)
    assert early.returncode == 2 and "verify the plate against the image first" in early.stderr
    assert events_of(settings, alert_id) == []

    steps = [
        (("verify", alert_id, "--note", "plate and state match image"), "tentative hit"),
        (("validate", alert_id, "--priority", "urgent"), "live query"),
        (("confirm", alert_id, "--agency", "CA0431000"), "confirmed hit"),
        (
            (
                "disposition",
                alert_id,
                "--outcome",
                "arrest",
                "--note",
                "stopped at Curtner/Malone, 211 arrest",
            ),
            "dispositioned",
        ),
    ]
    for args, status in steps:
        result = alpr_as(env, lee, "alert", *args)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().endswith(status)
        if args[0] == "validate":
            listing = alpr_as(env, lee, "alert", "list", "--open").stdout
            assert alert_id in listing and "confirm within 0:0" in listing  # urgent: 10 minutes
    events = events_of(settings, alert_id)
    assert [e["event"] for e in events] == [
        "AlertVisuallyVerified",
        "AlertStatusValidated",
        "AlertConfirmed",
        "AlertDispositioned",
    ]
    for event in events:
        validator("alert_event").validate(event)
        assert event["by"] == {"user": "Dispatcher Lee", "badge": "D-101"}
    again = alpr_as(env, lee, "alert", "verify", alert_id)
    assert again.returncode == 2 and "dispositioned" in again.stderr
    assert len(events_of(settings, alert_id)) == 4
    assert alert_id not in alpr_as(env, lee, "alert", "list", "--open").stdout


def test_validation_rechecks_the_hot_list(desk, lee) -> None:
    """The entry was removed after the alert: validation is refused, 'do not act'."""
    env, settings, root = desk
    rows = [*NCIC_ROWS[:4], "L|L800000666|CA0431000|5GONE55|CA|2027|PC|||||||SJ-26-888|"]
    alert_id = asyncio.run(raise_alert_for(settings, root, "desk-2", "5GONE55", rows))
    assert alpr_as(env, lee, "alert", "verify", alert_id).returncode == 0
    asyncio.run(sync_exactly(settings, root / "without.txt", NCIC_ROWS[:4]))
    refused = alpr_as(env, lee, "alert", "validate", alert_id)
    assert refused.returncode == 2 and "no longer active" in refused.stderr and "do not act" in refused.stderr
    assert [e["event"] for e in events_of(settings, alert_id)] == ["AlertVisuallyVerified"]
    rejected = alpr_as(env, lee, "alert", "reject", alert_id, "--reason", "entry_no_longer_active")
    assert rejected.returncode == 0 and rejected.stdout.strip().endswith("rejected")


def audit_of(settings, user: str) -> list[dict]:
    records = asyncio.run(read_topic(settings.kafka, settings.topic("audit")))
    return [r for r in (orjson.loads(x.value) for x in records) if r["user"] == user]


def test_unsigned_and_wrong_role_commands_are_refused_and_change_nothing_p18_p21(desk, ames) -> None:
    """No session: refused before anything is read; an auditor may not list or work alerts (P21)."""
    env, settings, root = desk
    rows = [*NCIC_ROWS[:4], "V|V800000901|CA0431000|7ROLE09|CA|2027|PC|||||||SJ-26-901|"]
    alert_id = asyncio.run(raise_alert_for(settings, root, "desk-role", "7ROLE09", rows))
    nobody = {**env, "ALPR_SESSION_FILE": str(root / "no-session")}
    for args in (("alert", "list"), ("alert", "verify", alert_id), ("alerts", "--timeout", "1")):
        result = alpr(nobody, *args)
        assert result.returncode != 0 and "alpr login" in result.stderr, result.stderr
        assert alert_id not in result.stdout
        refused = alpr_as(env, ames, *args)
        assert refused.returncode != 0 and "P21: the auditor role may not alert." in refused.stderr
        assert alert_id not in refused.stdout
    assert events_of(settings, alert_id) == []


def test_the_cli_sees_and_works_only_its_agencys_alerts_and_every_view_is_audited_p15_p19(desk, lee) -> None:
    """An alert of the sheriff's camera is not listed for a San José dispatcher and cannot be
    worked (answered as a missing alert, P20); ``alpr alerts`` and ``alpr alert list`` write access
    records naming what they showed (P15)."""
    env, settings, root = desk
    rows = [
        *NCIC_ROWS[:4],
        "V|V800000902|CA0431000|7SCOP09|CA|2027|PC|||||||SJ-26-902|",
        "V|V800000903|CA0431000|7OURS09|CA|2027|PC|||||||SJ-26-903|",
    ]
    theirs = asyncio.run(raise_alert_for(settings, root, "desk-sc", "7SCOP09", rows, camera="sc-0001"))
    ours = asyncio.run(raise_alert_for(settings, root, "desk-sj", "7OURS09", rows))
    listing = alpr_as(env, lee, "alert", "list")
    assert listing.returncode == 0 and ours in listing.stdout and theirs not in listing.stdout
    refused = alpr_as(env, lee, "alert", "verify", theirs)
    assert refused.returncode != 0 and f"no alert {theirs}" in refused.stderr
    assert events_of(settings, theirs) == []
    tail = alpr_as(env, lee, "alerts", "--timeout", "2")
    assert tail.returncode == 0 and ours in tail.stdout and theirs not in tail.stdout
    records = audit_of(settings, "lee")
    listed_ids = {i for r in records if r["action"] == "alert_list" for i in r["query"]["alerts"]}
    tailed = {i for r in records if r["action"] == "alert_tail" for i in r["query"]["alerts"]}
    assert ours in listed_ids and ours in tailed and theirs not in listed_ids | tailed
    assert all(r["agency"] == "SJPD" and r["badge"] == "D-101" for r in records)
    assert any(r["decision"] == "refused" and r["query"].get("alert") == theirs for r in records)
