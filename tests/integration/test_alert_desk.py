"""Working alerts from the command line against a running worker (P7-P9): verification records the
evidence shown, the ticked boxes and each acknowledged flag; confirmation names the entering agency;
under the San José profile's separate validation, the validator does not record the confirmation."""

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
    produce,
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
def dee(desk) -> SignInUser:
    """A second dispatcher: the confirmation is recorded by someone other than the validator."""
    return asyncio.run(add_user(desk[1], "dee", "dispatcher", display="Dispatcher Dee", badge="D-102"))


@pytest.fixture(scope="module")
def ames(desk) -> SignInUser:
    return asyncio.run(add_user(desk[1], "ames", "auditor", display="Auditor Ames", badge="AU-1"))


#: P7: a verification that looked at the read text and ticked both boxes (the CLI's arguments).
TICKED = ("--characters-match", "--state-match")


async def raise_alert_for(
    settings, root, read_id: str, plate: str, rows, camera: str = "cam-00001", **read: object
) -> str:
    """Sync the rows, send one read of the plate (``read`` overrides its fields, e.g. its state or
    confidence) and return the alert it raised."""
    async with HotlistStore(settings) as store:
        await store.sync(
            "ncic", ncic_extract(root / f"{read_id}.txt", rows), None, datetime.now(UTC), force=True
        )
    await worker_follows(settings, ["hotlist", "hotlist-sources"])  # the worker holds the entry now
    await send_reads(
        settings,
        [
            read_dict(
                read_id=read_id,
                plate=plate,
                camera_id=camera,
                captured_at=datetime.now(UTC).isoformat(),
                **read,
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


def test_an_alert_is_worked_in_order_and_refusals_change_nothing(desk, lee, dee) -> None:
    """P7/P8 through the CLI: the evidence is printed before the verification, which needs both
    boxes ticked; the confirmation names the entering agency and, under separate validation, is
    not recorded by the person who validated. Every refusal writes nothing."""
    env, settings, root = desk
    alert_id = asyncio.run(raise_alert_for(settings, root, "desk-1", "7ABC123", NCIC_ROWS[:4]))

    early = alpr_as(env, lee, "alert", "validate", alert_id)
    assert early.returncode == 2 and "verify the plate against the image first" in early.stderr
    assert events_of(settings, alert_id) == []

    unticked = alpr_as(env, lee, "alert", "verify", alert_id, "--note", "looks right")
    assert unticked.returncode == 2 and "P7: not verified" in unticked.stderr
    assert "tick that the characters match and that the state matches" in unticked.stderr
    assert "EVIDENCE" in unticked.stdout and "plate as read   7ABC123" in unticked.stdout
    assert "state as read   CA" in unticked.stdout and "confidence      0.90" in unticked.stdout
    half = alpr_as(env, lee, "alert", "verify", alert_id, "--characters-match")
    assert half.returncode == 2 and "tick that the state matches" in half.stderr
    no_image = alpr_as(env, lee, "alert", "verify", alert_id, *TICKED, "--image-viewed")
    assert no_image.returncode == 2 and "this read has no captured image" in no_image.stderr
    assert events_of(settings, alert_id) == []

    steps = [
        (lee, ("verify", alert_id, *TICKED, "--note", "plate and state match"), "tentative hit"),
        (lee, ("validate", alert_id, "--priority", "urgent"), "live query"),
        (dee, ("confirm", alert_id, "--agency", "ca0431000"), "confirmed hit"),
        (
            dee,
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
    for who, args, status in steps:
        if args[0] == "confirm":
            alone = alpr_as(env, lee, "alert", *args)  # the validator: one person, the whole chain
            assert alone.returncode == 2, alone.stderr
            assert "P7/P8 separate validation: Dispatcher Lee (D-101) validated" in alone.stderr
            wrong = alpr_as(env, dee, "alert", "confirm", alert_id, "--agency", "x")
            assert wrong.returncode == 2 and "entering agency CA0431000" in wrong.stderr
            assert [e["event"] for e in events_of(settings, alert_id)][-1] == "AlertStatusValidated"
        result = alpr_as(env, who, "alert", *args)
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
    assert [e["by"]["user"] for e in events] == ["Dispatcher Lee"] * 2 + ["Dispatcher Dee"] * 2
    verified, confirmed = events[0], events[2]
    assert verified["evidence_shown"] == "read-text" and verified["acknowledged"] == []
    assert verified["characters_match"] is True and verified["state_match"] is True
    assert confirmed["confirming_agency"] == "CA0431000"  # the record carries the ORI
    again = alpr_as(env, lee, "alert", "verify", alert_id, *TICKED)
    assert again.returncode == 2 and "dispositioned" in again.stderr
    assert len(events_of(settings, alert_id)) == 4
    assert alert_id not in alpr_as(env, lee, "alert", "list", "--open").stdout


@pytest.mark.parametrize(
    ("read", "flag", "said"),
    [
        ({"plate_state": "NV"}, "state-mismatch", "state-mismatch (read NV, listed CA)"),
        ({"confidence": 0.4}, "low-confidence", "low-confidence (0.40, below 0.80)"),
    ],
)
def test_a_flag_must_be_acknowledged_by_name_with_a_note_p7(desk, lee, read, flag, said) -> None:
    """A flagged state mismatch or a read confidence of 0.4 (below the profile's 0.8): ticking
    the boxes is not enough; the flag is acknowledged by name, with a note."""
    env, settings, root = desk
    plate = "7FLAG" + ("01" if flag == "state-mismatch" else "02")
    rows = [
        *NCIC_ROWS[:4],
        f"V|V8000009{plate[-2:]}|CA0431000|{plate}|CA|2027|PC|||||||SJ-26-0049{plate[-2:]}|",
    ]
    alert_id = asyncio.run(raise_alert_for(settings, root, f"desk-{flag}", plate, rows, **read))
    refused = alpr_as(env, lee, "alert", "verify", alert_id, *TICKED, "--note", "matches")
    assert refused.returncode == 2 and f"P7: this alert is flagged {said}" in refused.stderr
    assert f"acknowledge {flag} by name" in refused.stderr
    assert f"FLAG            {said}: acknowledge with --ack {flag}" in refused.stdout
    no_note = alpr_as(env, lee, "alert", "verify", alert_id, *TICKED, "--ack", flag)
    assert no_note.returncode == 2 and "needs a note" in no_note.stderr
    assert events_of(settings, alert_id) == []
    assert "unverified" in alpr_as(env, lee, "alert", "list", "--open").stdout.split(alert_id)[1][:16]
    done = alpr_as(env, lee, "alert", "verify", alert_id, *TICKED, "--ack", flag, "--note", "image is clear")
    assert done.returncode == 0 and done.stdout.strip().endswith("tentative hit"), done.stderr
    [verified] = events_of(settings, alert_id)
    assert verified["acknowledged"] == [flag] and verified["note"] == "image is clear"


def test_a_verification_recorded_without_the_evidence_fields_still_folds(desk, lee, dee) -> None:
    """An alert history written before P7's fields existed replays: the CLI lists the alert as a
    Tentative Hit, and the next steps take it from there."""
    env, settings, root = desk
    rows = [*NCIC_ROWS[:4], "V|V800000990|CA0431000|7OLDV01|CA|2027|PC|||||||SJ-26-004990|"]
    alert_id = asyncio.run(raise_alert_for(settings, root, "desk-old", "7OLDV01", rows))
    records = asyncio.run(read_topic(settings.kafka, settings.topic("alerts")))
    [partition] = {r.partition for r in records if orjson.loads(r.value)["alert_id"] == alert_id}
    old = {
        "event": "AlertVisuallyVerified",
        "event_id": "recorded-before-p7-fields",
        "alert_id": alert_id,
        "at": datetime.now(UTC).isoformat(),
        "by": {"user": "Dispatcher Lee", "badge": "D-101"},
        "note": "",
    }
    asyncio.run(
        produce(settings.kafka, settings.topic("alerts"), [(alert_id.encode(), orjson.dumps(old), partition)])
    )
    listing = alpr_as(env, lee, "alert", "list", "--open")
    assert listing.returncode == 0 and f"{alert_id}  tentative_hit" in listing.stdout
    assert alpr_as(env, dee, "alert", "validate", alert_id).returncode == 0


def test_validation_rechecks_the_hot_list(desk, lee) -> None:
    """The entry was removed after the alert: validation is refused, 'do not act'."""
    env, settings, root = desk
    rows = [*NCIC_ROWS[:4], "L|L800000666|CA0431000|5GONE55|CA|2027|PC|||||||SJ-26-888|"]
    alert_id = asyncio.run(raise_alert_for(settings, root, "desk-2", "5GONE55", rows))
    assert alpr_as(env, lee, "alert", "verify", alert_id, *TICKED).returncode == 0
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
