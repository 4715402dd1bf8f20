"""Working alerts from the command line against a running worker (P7-P9)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import orjson
import pytest

from streams.hotlists.service import HotlistStore
from tests.conftest import alpr
from tests.factories import read_dict
from tests.integration.kafka_helpers import (
    SignInUser,
    add_user,
    alerts_for,
    alpr_as,
    read_topic,
    running_worker,
    send_reads,
    wait_for_records,
)
from tests.integration.probes import worker_follows
from tests.integration.test_hotlists import NCIC_ROWS, ncic_extract
from tests.unit.test_schemas import validator

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def desk(broker, tmp_path_factory):
    with running_worker(broker, tmp_path_factory.mktemp("desk")) as running:
        yield running


@pytest.fixture(scope="module")
def lee(desk) -> SignInUser:
    return asyncio.run(add_user(desk[1], "lee", "dispatcher", display="Dispatcher Lee", badge="D-101"))


async def raise_alert_for(settings, root, read_id: str, plate: str, rows) -> str:
    async with HotlistStore(settings) as store:
        await store.sync(
            "ncic", ncic_extract(root / f"{read_id}.txt", rows), None, datetime.now(UTC), force=True
        )
    await worker_follows(settings, ["hotlist", "hotlist-sources"])  # the worker holds the entry now
    await send_reads(
        settings, [read_dict(read_id=read_id, plate=plate, captured_at=datetime.now(UTC).isoformat())]
    )
    values = await wait_for_records(
        settings.kafka, settings.topic("alerts"), lambda v: bool(alerts_for(v, {read_id}))
    )
    return alerts_for(values, {read_id})[0]["alert_id"]


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
    result = alpr(
        env,
        "hotlist",
        "sync",
        "--format",
        "ncic",
        "--force",
        "--from",
        str(ncic_extract(root / "without.txt", NCIC_ROWS[:4])),
    )
    assert result.returncode == 0, result.stderr
    refused = alpr_as(env, lee, "alert", "validate", alert_id)
    assert refused.returncode == 2 and "no longer active" in refused.stderr and "do not act" in refused.stderr
    assert [e["event"] for e in events_of(settings, alert_id)] == ["AlertVisuallyVerified"]
    rejected = alpr_as(env, lee, "alert", "reject", alert_id, "--reason", "entry_no_longer_active")
    assert rejected.returncode == 0 and rejected.stdout.strip().endswith("rejected")
