"""Evidence holds that mean something and are reviewed (P12, P16, P22, P11), through the real
`alpr` command and Apache Kafka: a hold needs a real case number, a crime type and a reason naming
the crime; each case carries a review date that `alpr hold renew` moves on; the review sweep
(`alpr hold review`, lapse_unreviewed) ends an unrenewed case with a notice on the audit trail."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from streams.access.principal import Principal
from streams.codec import dumps, read_from_dict
from streams.errors import NotFound, PolicyViolation
from streams.kafka.log import TopicWriter
from streams.retention.holds import HoldDesk, lapse_unreviewed
from tests.conftest import alpr, settings_of
from tests.factories import read_dict
from tests.integration.kafka_helpers import (
    SignInUser,
    add_user,
    alpr_as,
    audit_records,
    read_topic,
    send_reads,
    service_env,
)

pytestmark = pytest.mark.integration

CASE = "SJ-26-004512"
CRIME = ("--crime-type", "PC 211 robbery")
REASON = ("--reason", "robbery 211 PC suspect vehicle")
#: The sweep in-process: a retention service account, as `alpr hold review` runs it.
SWEEPER = Principal("retention-test", "retention-test", "SJPD", "retention", kind="service")
DET = Principal("kim", "Det. Kim Tran", "SJPD", "analyst", badge="A-7")


@pytest.fixture()
def env(topics_env):
    return topics_env


@pytest.fixture()
def kim(env) -> SignInUser:
    """An analyst (may hold), trained, of the home agency."""
    return asyncio.run(add_user(settings_of(env), "kim", "analyst", display="Det. Kim Tran", badge="A-7"))


def _holds_state(settings) -> list[tuple[bytes, bytes | None]]:
    records = asyncio.run(read_topic(settings.kafka, settings.topic("evidence-holds")))
    return [(r.key, r.value) for r in records]


def _new_audit(settings, before: list[dict]) -> list[dict]:
    seen = {a["hash"] for a in before}
    return [a for a in audit_records(settings) if a["hash"] not in seen and a["action"] != "sign_in"]


def _stored_cases(settings, read_id: str) -> list[dict]:
    held = asyncio.run(HoldDesk(settings).holds()).get(read_id)
    return list(held.cases) if held else []


def test_junk_case_numbers_and_reasons_hold_nothing_p12_p16_p22(env, kim) -> None:
    """P12/P16: a hold on "N/A", "123" or "-", for the reason "keep" or "test", or with a crime type
    naming no crime, would keep a read past the retention on nothing an auditor can check: refused
    with the expected format, audited once as refused, and nothing is held. P22: a reason naming
    immigration enforcement is refused."""
    settings = settings_of(env)
    now = datetime.now(UTC)
    asyncio.run(
        send_reads(settings, [read_dict(read_id="j-1", plate="5JUNK55", captured_at=now.isoformat())])
    )
    holds_before = _holds_state(settings)
    attempts = [
        (("--case", "N/A", *REASON, *CRIME), "SJ-26-"),
        (("--case", "123", *REASON, *CRIME), "SJ-26-"),
        (("--case", "-", *REASON, *CRIME), "SJ-26-"),
        (("--case", CASE, "--reason", "keep", *CRIME), "'keep' says nothing"),
        (("--case", CASE, "--reason", "test", *CRIME), "'test' says nothing"),
        (("--case", CASE, *REASON, "--crime-type", "."), "crime type"),
        (("--case", CASE, "--reason", "robbery 211 PC, held for an ICE removal case", *CRIME), "P22"),
    ]
    for args, expected in attempts:
        audit_before = audit_records(settings)
        refused = alpr_as(env, kim, "hold", "add", "--read-id", "j-1", *args)
        assert refused.returncode == 2, (args, refused.stdout, refused.stderr)
        assert expected in refused.stderr, (args, refused.stderr)
        assert "held" not in refused.stdout
        new = _new_audit(settings, audit_before)
        assert [(a["decision"], a["user"]) for a in new] == [("refused", "kim")], (args, new)
    assert _holds_state(settings) == holds_before  # nothing was held


def test_the_hold_use_case_itself_refuses_junk_whoever_calls_it_p12_p22(env) -> None:
    """P12, P22: HoldDesk.add and add_by_plate (not only the CLI's search rules) refuse a junk case
    number, a crime type naming no crime and a reason naming immigration enforcement, audit the
    refusal as hold_add, and hold nothing."""
    from streams.errors import JustificationRefused

    settings = settings_of(env)
    now = datetime.now(UTC)
    asyncio.run(
        send_reads(settings, [read_dict(read_id="u-1", plate="5USEC55", captured_at=now.isoformat())])
    )
    desk = HoldDesk(settings)
    read = asyncio.run(desk.find_read("u-1", now - timedelta(minutes=5), now))
    holds_before, audit_before = _holds_state(settings), audit_records(settings)
    refused = [
        ("N/A", "robbery 211 PC", "PC 211 robbery", "P12"),
        (CASE, "robbery 211 PC", "keep", "P12"),
        (CASE, "for ICE removal", "PC 211 robbery", "P22"),
    ]
    for case, reason, crime, rule in refused:
        with pytest.raises(JustificationRefused) as caught:
            asyncio.run(desk.add([read], case, reason, DET, now, query={"read_id": "u-1"}, crime_type=crime))
        assert caught.value.rule == rule, (case, reason, crime, str(caught.value))
    with pytest.raises(JustificationRefused, match="SJ-26-"):
        asyncio.run(
            desk.add_by_plate(
                "5USEC55", now - timedelta(hours=1), now, "-", "robbery 211 PC", DET, now, crime_type="PC 211"
            )
        )
    assert _holds_state(settings) == holds_before
    new = _new_audit(settings, audit_before)
    assert [(a["action"], a["decision"], a["user"]) for a in new] == [("hold_add", "refused", "kim")] * 4


def test_a_hold_gets_a_review_date_that_renew_moves_on_p12(env, kim) -> None:
    """P12: a valid hold is placed with review_due = placed + hold_review_days (90 at San José);
    `alpr hold list` shows it; `alpr hold renew` (justified, audited) moves it on. A renewal with a
    junk reason, or for a case that does not hold the read, changes nothing."""
    settings = settings_of(env)
    now = datetime.now(UTC)
    asyncio.run(
        send_reads(settings, [read_dict(read_id="v-1", plate="5VALD55", captured_at=now.isoformat())])
    )
    placed = alpr_as(env, kim, "hold", "add", "--read-id", "v-1", "--case", CASE, *REASON, *CRIME)
    assert placed.returncode == 0, placed.stderr
    assert f"held 1 reads for case {CASE}: v-1" in placed.stdout
    (case,) = _stored_cases(settings, "v-1")
    held_at, due = datetime.fromisoformat(case["held_at"]), datetime.fromisoformat(case["review_due"])
    assert due - held_at == timedelta(days=settings.profile.hold_review_days) == timedelta(days=90)
    assert case["crime_type"] == "PC 211 robbery" and case["held_by"] == "kim"
    assert f"review due {due.date().isoformat()}" in placed.stdout
    listing = alpr_as(env, kim, "hold", "list").stdout
    assert f"{CASE} (kim: robbery 211 PC suspect vehicle; review due {due.date().isoformat()})" in listing
    assert "REVIEW DUE" not in listing  # 90 days away: not flagged

    state, audit_before = _holds_state(settings), audit_records(settings)
    junk = alpr_as(env, kim, "hold", "renew", "--read-id", "v-1", "--case", CASE, "--reason", "keep")
    assert junk.returncode == 2 and "'keep' says nothing" in junk.stderr, junk.stderr
    other = alpr_as(env, kim, "hold", "renew", "--read-id", "v-1", "--case", "SJ-26-009999", *REASON)
    assert other.returncode == 2 and "not held for case SJ-26-009999" in other.stderr, other.stderr
    assert _holds_state(settings) == state  # neither renewal changed anything
    assert [a["decision"] for a in _new_audit(settings, audit_before)] == ["refused"]  # the junk reason

    renewed = alpr_as(
        env, kim, "hold", "renew", "--read-id", "v-1", "--case", CASE,
        "--reason", "robbery 211 PC: trial set for March",
    )  # fmt: skip
    assert renewed.returncode == 0, renewed.stderr
    (case,) = _stored_cases(settings, "v-1")
    moved = datetime.fromisoformat(case["review_due"])
    assert moved > due and case["renewed_by"] == "kim"
    assert moved - datetime.fromisoformat(case["renewed_at"]) == timedelta(days=90)
    assert case["held_at"] == held_at.isoformat()  # when it was placed stays on record
    (record,) = [
        a for a in audit_records(settings) if a["action"] == "hold_renew" and a["decision"] == "allowed"
    ]
    assert (record["user"], record["badge"], record["case_number"], record["decision"]) == (
        "kim",
        "A-7",
        CASE,
        "allowed",
    )
    assert record["query"] == {"read_id": "v-1", "review_due": moved.isoformat(), "was_due": due.isoformat()}


def test_an_unrenewed_hold_lapses_with_notice_and_a_renewed_one_stays_p12_p11(env, kim) -> None:
    """P12: the sweep ends each case whose review date passed: the read held for two cases, one
    renewed on day 60, loses the other on day 91 (its record keeps the renewed case); a read held for
    one unrenewed case gets a tombstone (compaction removes the copy, P11). Each lapse writes a
    hold_lapsed notice naming the case, who placed it and that review lapsed; `alpr hold list`
    shows it. A renewal after the review date is refused: the hold has ended."""
    settings = settings_of(env)
    now = datetime.now(UTC)
    reads = [
        read_dict(read_id="l-1", plate="5LAPS55", captured_at=(now - timedelta(hours=2)).isoformat()),
        read_dict(read_id="l-2", plate="5LAPS55", captured_at=(now - timedelta(hours=1)).isoformat()),
    ]
    asyncio.run(send_reads(settings, reads))
    desk = HoldDesk(settings)

    async def place() -> None:
        for rid in ("l-1", "l-2"):
            read = await desk.find_read(rid, now - timedelta(hours=3), now)
            await desk.add([read], CASE, "robbery 211 PC", DET, now, query={"read_id": rid},
                           crime_type="PC 211 robbery")  # fmt: skip
        l1 = (await desk.holds())["l-1"].read
        await desk.add([l1], "SJ-26-004513", "carjacking 215 PC", DET, now, query={},
                       crime_type="PC 215 carjacking")  # fmt: skip
        day60 = now + timedelta(days=60)
        await desk.renew("l-1", "SJ-26-004513", "carjacking 215 PC: trial pending", DET, day60)

    asyncio.run(place())
    assert asyncio.run(lapse_unreviewed(settings, now + timedelta(days=89), SWEEPER)) == []
    with pytest.raises(PolicyViolation, match="lapsed on"):  # due on day 90, not swept yet
        asyncio.run(desk.renew("l-2", CASE, "robbery 211 PC", DET, now + timedelta(days=90, hours=1)))

    lapses = asyncio.run(lapse_unreviewed(settings, now + timedelta(days=91), SWEEPER))
    assert sorted((x.read_id, x.case_number, x.held_by, x.gone) for x in lapses) == [
        ("l-1", CASE, "kim", False),
        ("l-2", CASE, "kim", True),
    ]
    holds = asyncio.run(desk.holds())
    assert list(holds) == ["l-1"] and [c["case_number"] for c in holds["l-1"].cases] == ["SJ-26-004513"]
    records = asyncio.run(read_topic(settings.kafka, settings.topic("evidence-holds")))
    assert any(r.key == b"l-2" and r.value is None for r in records)  # the tombstone
    assert asyncio.run(lapse_unreviewed(settings, now + timedelta(days=92), SWEEPER)) == []  # once

    notices = [a for a in audit_records(settings) if a["action"] == "hold_lapsed"]
    assert len(notices) == 2
    for notice in notices:
        assert notice["user"] == "retention-test" and notice["case_number"] == CASE
        assert notice["query"]["held_by"] == "kim" and "P12 review lapsed" in notice["reason"]
    with pytest.raises(NotFound):  # the lapsed case no longer holds the read
        asyncio.run(desk.renew("l-2", CASE, "robbery 211 PC", DET, now + timedelta(days=92)))

    listing = alpr_as(env, kim, "hold", "list")
    assert listing.returncode == 0, listing.stderr
    assert "1 held reads" in listing.stdout and "SJ-26-004513" in listing.stdout
    assert f"l-2 case {CASE} (held by kim on {now.date().isoformat()}" in listing.stdout
    assert "2 holds lapsed in the last 30 d" in listing.stdout


def _legacy_hold(read_id: str, captured: datetime, held_at: datetime) -> tuple[bytes, bytes]:
    """A hold as stored before reviews existed: no review_due, no crime type."""
    read = read_dict(read_id=read_id, plate="4OLD044", captured_at=captured.isoformat())
    read_from_dict(read)  # a valid read
    case = {"case_number": "N/A", "reason": "keep", "held_by": "old-det", "held_at": held_at.isoformat()}
    return read_id.encode(), dumps({"read": read, "cases": [case], "alerts": []})


async def _store(settings, holds: list[tuple[bytes, bytes]]) -> None:
    """Write hold records as the project's writer does (its partition for each key)."""
    writer = TopicWriter(settings.kafka)
    await writer.start()
    try:
        for key, value in holds:
            await writer.write(settings.topic("evidence-holds"), key, value)
        await writer.flush()
    finally:
        await writer.stop()


def test_the_review_sweep_cli_ends_an_old_hold_placed_before_reviews_p12_p11(env, kim) -> None:
    """P12: a hold stored before reviews (no review_due) is due hold_review_days after it was placed.
    `alpr hold list` flags the one due within 14 days; `alpr hold review`, run by the retention
    service account, ends the one whose review passed: tombstone (its read is past the retention, so
    it is gone for good, P11) and a notice; the other stays."""
    settings = settings_of(env)
    now = datetime.now(UTC)
    lapsing = _legacy_hold("old-1", now - timedelta(days=101), now - timedelta(days=100))
    soon = _legacy_hold("old-2", now - timedelta(days=81), now - timedelta(days=80))
    asyncio.run(_store(settings, [lapsing, soon]))

    listing = alpr_as(env, kim, "hold", "list").stdout
    assert "review due" in listing and "REVIEW DUE in 9 d" in listing  # old-2: due on day 90
    assert "2 hold cases due for review within 14 d" in listing  # old-1 is past due

    swept = alpr(service_env(env, "retention"), "hold", "review")
    assert swept.returncode == 0, swept.stderr
    assert "lapsed: old-1 case N/A (held by old-det" in swept.stdout
    assert "no case holds it now" in swept.stdout
    assert "review sweep: 1 hold cases lapsed" in swept.stdout
    assert list(asyncio.run(HoldDesk(settings).holds())) == ["old-2"]
    records = asyncio.run(read_topic(settings.kafka, settings.topic("evidence-holds")))
    assert any(r.key == b"old-1" and r.value is None for r in records)  # the tombstone
    (notice,) = [a for a in audit_records(settings) if a["action"] == "hold_lapsed"]
    assert notice["user"].startswith("retention-") and notice["query"]["held_by"] == "old-det"
    assert notice["query"]["review_due"] == (now - timedelta(days=10)).isoformat()
    again = alpr(service_env(env, "retention"), "hold", "review")
    assert "review sweep: 0 hold cases lapsed" in again.stdout
    assert "1 holds lapsed in the last 30 d" in alpr_as(env, kim, "hold", "list").stdout


def test_renew_and_review_refuse_nobody_and_the_wrong_role_and_change_nothing(env, kim) -> None:
    """P18, P21: renew and review without a session, and as a dispatcher, are refused; the review
    sweep is not an analyst's (hold.review: administrators and the retention service); its timer
    (--every) is not run in a person's session. Nothing changes, nothing but refusals is audited."""
    settings = settings_of(env)
    now = datetime.now(UTC)
    lapsing = _legacy_hold("old-3", now - timedelta(days=101), now - timedelta(days=100))
    asyncio.run(_store(settings, [lapsing]))
    lee = asyncio.run(add_user(settings, "lee", "dispatcher", badge="D-4"))
    ada = asyncio.run(add_user(settings, "ada", "administrator", badge="ADM-2"))
    holds_before, audit_before = _holds_state(settings), audit_records(settings)
    renew = ("hold", "renew", "--read-id", "old-3", "--case", CASE, *REASON)
    for command in (renew, ("hold", "review")):
        nobody = alpr(env, *command)
        assert nobody.returncode == 2 and "sign in first" in nobody.stderr, (command, nobody.stderr)
        dispatcher = alpr_as(env, lee, *command)
        assert dispatcher.returncode == 2 and "dispatcher role may not" in dispatcher.stderr, command
    analyst = alpr_as(env, kim, "hold", "review")
    assert analyst.returncode == 2 and "analyst role may not hold.review" in analyst.stderr
    timer = alpr_as(env, ada, "hold", "review", "--every", "1h")
    assert timer.returncode == 2 and "retention service account" in timer.stderr, timer.stderr
    assert _holds_state(settings) == holds_before
    assert all(a["decision"] == "refused" for a in _new_audit(settings, audit_before))

    swept = alpr_as(env, ada, "hold", "review")  # an administrator may sweep on demand
    assert swept.returncode == 0 and "review sweep: 1 hold cases lapsed" in swept.stdout, swept.stderr
    assert asyncio.run(HoldDesk(settings).holds()) == {}
