"""What the queue and the alert view show a dispatcher (issue 18, item 3): where the vehicle was
seen last and when, full dates, the HISTORICAL READ marker of a late read (P7: never followed on),
cameras by name with their ids, NCIC vehicle codes in words (P7: the description the image is
compared with), and a refused step that says who acted first and when."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest

from streams.alerts.desk import AlertBoard
from streams.alerts.lifecycle import (
    Actor,
    AlertConfirmed,
    AlertDispositioned,
    AlertRejected,
    AlertSighted,
    AlertStatusValidated,
    AlertVisuallyVerified,
    TransitionRefused,
    evolve,
)
from streams.alerts.model import AlertRaised, raise_alert
from streams.alerts.usecases import closed_order
from streams.alerts.vehicle_codes import COLORS, MAKES, STYLES, decode, describe
from streams.codec import alert_to_dict, dumps, event_to_dict
from streams.console.views import alert_detail, alert_summary
from streams.matching.matcher import match
from tests.factories import NOW, make_entry, make_index, make_read

DAY = timedelta(hours=24)
NAMES = {"cam-00001": "Curtner Ave at Monterey Rd", "cam-00002": "Story Rd at King Rd"}
RUIZ = Actor("Officer A. Ruiz", "4411")


def state_for(**entry: object):
    listed = make_entry(**{"plate": "7ABC123", **entry})
    read = make_read(plate="7ABC123", captured_at=NOW - timedelta(minutes=10))
    [found] = match(make_index(listed), read)
    return evolve(None, raise_alert(read, found, NOW - timedelta(minutes=10)))


def sighted(state, camera_id: str, captured_at: datetime, n: int = 1) -> AlertSighted:
    return AlertSighted(
        f"s-{n}", state.alert_id, captured_at, None, read_id=f"r-s-{n}", camera_id=camera_id,
        captured_at=captured_at, plate="7ABC123", lat=37.3, lon=-121.8,
    )  # fmt: skip


def test_the_latest_sighting_is_shown_with_its_camera_name_and_age() -> None:
    state = state_for()
    later = evolve(state, sighted(state, "cam-00002", NOW - timedelta(minutes=3)))
    summary = alert_summary(later, NOW, NOW, DAY, NAMES)
    assert summary["last_seen_text"] == "last seen 3 min ago at Story Rd at King Rd (cam-00002)"
    assert (
        summary["latest"]["camera_id"] == "cam-00002"
        and summary["latest"]["position"] == "37.30000, -121.80000"
    )
    assert summary["camera"] == "Curtner Ave at Monterey Rd (cam-00001)"  # the first read's camera
    assert summary["last_seen_age_s"] == 180.0


def test_a_sighting_captured_before_the_newest_one_does_not_move_the_last_seen() -> None:
    state = state_for()
    state = evolve(state, sighted(state, "cam-00002", NOW - timedelta(minutes=3), 1))
    state = evolve(state, sighted(state, "cam-00009", NOW - timedelta(minutes=8), 2))  # arrived late
    summary = alert_summary(state, NOW, NOW, DAY, NAMES)
    assert summary["latest"]["camera_id"] == "cam-00002"


def test_without_sightings_the_read_is_the_latest_and_an_unnamed_camera_shows_its_id() -> None:
    summary = alert_summary(state_for(), NOW, NOW, DAY)
    assert summary["last_seen_text"] == "last seen 10 min ago at cam-00001"
    assert summary["camera"] == "cam-00001" and summary["camera_name"] is None


def test_dates_are_full_timestamps_with_a_zone_never_a_bare_time_of_day() -> None:
    summary = alert_detail(state_for(), NOW, NOW, DAY, camera_names=NAMES)
    for at in (
        summary["captured_at"],
        summary["raised_at"],
        summary["latest"]["captured_at"],
        summary["read"]["captured_at"],
    ):
        parsed = datetime.fromisoformat(at)
        assert parsed.tzinfo is not None and parsed.date() == NOW.date()


def test_a_late_read_is_marked_historical_read_and_a_live_one_is_not_p7() -> None:
    state = state_for()
    late = dataclasses.replace(
        state, raised=dataclasses.replace(state.raised, captured_age_s=11 * 86400 + 3600)
    )
    shown = alert_summary(late, NOW, NOW, DAY)
    assert shown["historical"] is True
    assert shown["historical_text"] == "HISTORICAL READ: captured 11 days 1 h before it arrived"
    retro = dataclasses.replace(state, raised=dataclasses.replace(state.raised, historical=True))
    assert alert_summary(retro, NOW, NOW, DAY)["historical_text"].startswith("HISTORICAL HIT")
    live = alert_summary(state, NOW, NOW, DAY)
    assert live["historical"] is False and live["historical_text"] is None


def test_the_detail_names_cameras_of_the_read_and_of_each_sighting() -> None:
    state = state_for()
    state = evolve(state, sighted(state, "cam-00002", NOW - timedelta(minutes=3)))
    detail = alert_detail(state, NOW, NOW, DAY, camera_names=NAMES)
    assert detail["read"]["camera"] == "Curtner Ave at Monterey Rd (cam-00001)"
    assert detail["read"]["camera_id"] == "cam-00001"
    assert detail["sighting_list"][0]["camera"] == "Story Rd at King Rd (cam-00002)"


def test_vehicle_codes_are_decoded_beside_the_code_and_unknown_codes_shown_as_sent_p7() -> None:
    vehicle = (("make", "TOYT"), ("model", "TAC"), ("style", "4D"), ("color", "BLK"), ("year", "2015"))
    detail = alert_detail(state_for(vehicle=vehicle), NOW, NOW, DAY)
    shown = {v["field"]: v["text"] for v in detail["entry"]["vehicle_decoded"]}
    assert shown == {
        "year": "2015",
        "color": "black (BLK)",
        "make": "Toyota (TOYT)",
        "model": "TAC",
        "style": "4-door sedan (4D)",
    }
    assert [v["field"] for v in detail["entry"]["vehicle_decoded"]] == [
        "year",
        "color",
        "make",
        "model",
        "style",
    ]
    assert detail["entry"]["vehicle"]["make"] == "TOYT"  # the codes as sent stay in the record


@pytest.mark.parametrize(
    ("field", "code", "text"),
    [
        ("make", "HOND", "Honda (HOND)"),
        ("make", "chev", "Chevrolet (chev)"),
        ("make", "ZZZZ", "ZZZZ"),  # unknown: as sent, never guessed
        ("color", "BLK/WHI", "black/white (BLK/WHI)"),
        ("color", "BLK/XXX", "BLK/XXX"),
        ("style", "PK", "pickup (PK)"),
        ("vin", "1HGCM82633A004352", "1HGCM82633A004352"),
        ("color", "  ", ""),
    ],
)
def test_decode(field: str, code: str, text: str) -> None:
    assert decode(field, code) == text


def test_the_tables_cover_the_common_codes() -> None:
    assert len(MAKES) >= 60 and len(COLORS) >= 25 and len(STYLES) >= 15
    assert describe({"make": "", "color": "RED"}) == [{"field": "color", "code": "RED", "text": "red (RED)"}]


def test_a_step_overtaken_by_another_persons_says_who_acted_and_when() -> None:
    """Two people at once: the second learns who rejected the alert, why, and when (UTC)."""
    state = state_for()
    at = datetime(2026, 12, 5, 14, 2, 31, tzinfo=NOW.tzinfo)
    rejected = evolve(state, AlertRejected("e-1", state.alert_id, at, RUIZ, "misread", reason="misread"))
    with pytest.raises(TransitionRefused) as info:
        evolve(rejected, AlertVisuallyVerified("e-2", state.alert_id, at, Actor("Dispatcher Lee", "D-101")))
    assert str(info.value) == (
        f"cannot visually verify alert {state.alert_id}: it was already rejected (misread) by "
        "Officer A. Ruiz (badge 4411) at 2026-12-05 14:02 UTC; a rejected alert is closed"
    )
    assert rejected.status == "rejected" and len(rejected.history) == 1  # the refusal changed nothing


def test_a_conflict_names_the_step_after_sightings_and_an_alert_nobody_touched_says_its_state() -> None:
    state = state_for()
    validate = AlertStatusValidated("e-0", state.alert_id, NOW, RUIZ, priority="urgent")
    with pytest.raises(TransitionRefused, match="it is unverified; verify the plate"):
        evolve(state, validate)
    verified = evolve(state, AlertVisuallyVerified("e-1", state.alert_id, NOW, RUIZ))
    verified = evolve(verified, sighted(verified, "cam-00002", NOW))  # a sighting is nobody's step
    with pytest.raises(
        TransitionRefused, match=r"already visually verified \(Tentative Hit\) by Officer A. Ruiz"
    ):
        evolve(verified, AlertVisuallyVerified("e-3", state.alert_id, NOW, RUIZ))


def test_the_board_follows_camera_names_from_the_cameras_topic() -> None:
    """The console names cameras as the cameras topic names them (the board already follows it for
    agency scope, P19): a rename shows at once; a tombstone or an unreadable record forgets the
    name, and the page shows the camera's id."""
    from streams.alerts.desk import AlertBoard
    from streams.cameras.registry import Camera, encode_camera

    board = AlertBoard()
    camera = Camera("cam-00001", "Curtner Ave at Monterey Rd", "SJPD", "mobile", 37.3, -121.8)
    board.apply_camera(b"cam-00001", encode_camera(camera))
    assert board.camera_names == {"cam-00001": "Curtner Ave at Monterey Rd"}
    renamed = Camera("cam-00001", "Story Rd at King Rd", "SJPD", "mobile", 37.3, -121.8)
    board.apply_camera(b"cam-00001", encode_camera(renamed))
    assert board.camera_names == {"cam-00001": "Story Rd at King Rd"}
    board.apply_camera(b"cam-00001", b'{"id": "cam-00001"}')  # unreadable
    assert board.camera_names == {}
    board.apply_camera(b"cam-00001", encode_camera(camera))
    board.apply_camera(b"cam-00001", None)  # tombstone
    assert board.camera_names == {} and board.camera_agency == {}


def dispositioned(state, at: datetime, disposition: str = "vehicle_recovered"):
    """The alert worked to its end: verified, validated, confirmed and dispositioned by Ruiz."""
    steps = [
        AlertVisuallyVerified("d-1", state.alert_id, at, RUIZ, "", evidence_shown="read-text",
                              characters_match=True, state_match=True),
        AlertStatusValidated("d-2", state.alert_id, at, RUIZ, "", priority="urgent"),
        AlertConfirmed("d-3", state.alert_id, at, RUIZ, "", confirming_agency="CA0431000"),
        AlertDispositioned("d-4", state.alert_id, at, RUIZ, "towed to the yard", disposition=disposition),
    ]  # fmt: skip
    for step in steps:
        state = evolve(state, step)
    return state


def test_a_closed_alert_says_its_outcome_who_closed_it_and_when_p9() -> None:
    """The closed-alerts view and its search show how each alert ended (P9: the disposition and
    who recorded it), and its history keeps every step with name, badge, time and note."""
    state = state_for(case_number="SJ-26-0042")
    at = NOW - timedelta(minutes=2)
    step = AlertRejected("e-1", state.alert_id, at, RUIZ, "frame hides a digit", reason="misread")
    rejected = evolve(state, step)
    summary = alert_summary(rejected, NOW, NOW, DAY)
    assert summary["closed"] == {
        "outcome": "rejected: misread",
        "by": {"user": "Officer A. Ruiz", "badge": "4411"},
        "at": at.isoformat(),
        "note": "frame hides a digit",
    }
    assert summary["case_number"] == "SJ-26-0042" and not summary["open"]

    done = alert_detail(dispositioned(state, at), NOW, NOW, DAY)
    assert done["closed"]["outcome"] == "vehicle recovered"
    assert [(e["event"], e["by"]["badge"], e["note"]) for e in done["history"]] == [
        ("AlertVisuallyVerified", "4411", ""),
        ("AlertStatusValidated", "4411", ""),
        ("AlertConfirmed", "4411", ""),
        ("AlertDispositioned", "4411", "towed to the yard"),
    ]


def test_an_open_alert_has_no_outcome() -> None:
    assert alert_summary(state_for(), NOW, NOW, DAY)["closed"] is None


def test_closed_alerts_are_listed_newest_closing_first() -> None:
    """The alert closed last comes first, whenever it was raised."""
    first, second = state_for(), state_for(plate="7ABC123", case_number="B")
    step = AlertRejected("e-1", first.alert_id, NOW - timedelta(hours=3), RUIZ, reason="misread")
    early = evolve(first, step)
    late = dispositioned(second, NOW - timedelta(minutes=1))
    rows = [alert_summary(s, NOW, NOW, DAY) for s in sorted((early, late), key=closed_order)]
    assert [r["closed"]["at"] for r in rows] == [
        (NOW - timedelta(minutes=1)).isoformat(),
        (NOW - timedelta(hours=3)).isoformat(),
    ]


def raised_at(minutes_ago: float, plate: str = "7ABC123", **entry: object):
    """An alert of ``plate`` on one listed entry, read and raised ``minutes_ago`` (synthetic)."""
    listed = make_entry(**{"plate": "7ABC123", "entry_id": "V1", **entry})
    at = NOW - timedelta(minutes=minutes_ago)
    read = make_read(plate=plate, captured_at=NOW)
    [found] = match(make_index(listed), read)  # matched as of now, read and raised back then
    return raise_alert(dataclasses.replace(read, captured_at=at), found, at)


def board_of(*records) -> AlertBoard:
    board = AlertBoard()
    for record in records:
        as_dict = alert_to_dict(record) if isinstance(record, AlertRaised) else event_to_dict(record)
        board.apply(0, dumps(as_dict))
    return board


def test_a_re_alert_names_the_earlier_outcome_of_the_same_plate_and_entry_in_the_last_24_h() -> None:
    """Recovered 2 min ago, seen again now: the new alert says so and links to the earlier one."""
    first, again = raised_at(30), raised_at(0)
    closed_at = NOW - timedelta(minutes=2)
    steps = dispositioned(evolve(None, first), closed_at).history
    board = board_of(first, *steps, again)
    earlier = board.earlier(board.get(again.alert_id))
    assert earlier is not None and earlier.alert_id == first.alert_id
    summary = alert_detail(board.get(again.alert_id), NOW, NOW, DAY, earlier=earlier)
    assert summary["earlier"] == {
        "alert_id": first.alert_id,
        "outcome": "vehicle recovered",
        "by": {"user": "Officer A. Ruiz", "badge": "4411"},
        "at": closed_at.isoformat(),
    }
    assert board.earlier(board.get(first.alert_id)) is None  # a closed alert is not its own earlier one


def test_no_earlier_link_past_24_h_for_another_entry_or_while_the_first_is_open() -> None:
    old = raised_at(26 * 60)
    old_rejected = AlertRejected("x-1", old.alert_id, NOW - timedelta(hours=25), RUIZ, reason="misread")
    other_entry = raised_at(20, entry_id="V2", case_number="C-2")
    rejected = AlertRejected("x-2", other_entry.alert_id, NOW - timedelta(minutes=10), RUIZ, reason="misread")
    still_open = raised_at(15)
    again = raised_at(0)
    board = board_of(old, old_rejected, other_entry, rejected, still_open, again)
    assert board.earlier(board.get(again.alert_id)) is None
    assert alert_summary(board.get(again.alert_id), NOW, NOW, DAY)["earlier"] is None
