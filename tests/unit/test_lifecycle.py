"""The alert lifecycle fold (P7-P9): every legal and illegal transition, duplicates, sightings, clocks;
and the step rules a person's new step must satisfy (P7 evidence, ticks and flags; P8 the entering
agency; separate validation)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import orjson
import pytest

from streams.alerts.lifecycle import (
    Actor,
    AlertConfirmed,
    AlertDispositioned,
    AlertRejected,
    AlertSighted,
    AlertStatusValidated,
    AlertVisuallyVerified,
    StepRules,
    TransitionRefused,
    alert_flags,
    allowed_actions,
    check_step,
    evolve,
    step_fields,
)
from streams.alerts.model import raise_alert
from streams.matching.matcher import match
from tests.factories import NOW, make_entry, make_index, make_read

DISPATCHER = Actor("Dispatcher Lee", "D-101")
_ids = itertools.count()


def raised(read_id: str = "r-1"):
    read = make_read(read_id=read_id, plate="7ABC123", captured_at=NOW)
    [found] = match(make_index(make_entry(plate="7ABC123", entry_id="V1")), read)
    return raise_alert(read, found, NOW)


def ev(kind, alert, minutes: float = 1, **kw):
    kw.setdefault("by", DISPATCHER)
    return kind(f"e{next(_ids)}", alert.alert_id, NOW + timedelta(minutes=minutes), **kw)


VERIFY = (
    AlertVisuallyVerified,
    {"evidence_shown": "read-text", "characters_match": True, "state_match": True},
)
VALIDATE = (AlertStatusValidated, {"priority": "urgent"})
CONFIRM = (AlertConfirmed, {"confirming_agency": "CA0431000"})
REJECT = (AlertRejected, {"reason": "misread"})
DISPOSE = (
    AlertDispositioned,
    {"disposition": "arrest", "note": "stopped at Curtner/Malone, driver arrested for 211"},
)
SIGHT = (
    AlertSighted,
    {"by": None, "captured_at": NOW + timedelta(minutes=1), "plate": "7ABC123", "image_ref": "img/2"},
)


def state_after(*steps):
    alert = raised()
    state = evolve(None, alert)
    for kind, kw in steps:
        state = evolve(state, ev(kind, alert, **kw))
    return alert, state


def test_happy_path_p8() -> None:
    alert, state = state_after(VERIFY, VALIDATE, CONFIRM, DISPOSE)
    assert state.status == "dispositioned" and state.disposition == "arrest"
    assert [type(e).__name__ for e in state.history] == [
        "AlertVisuallyVerified",
        "AlertStatusValidated",
        "AlertConfirmed",
        "AlertDispositioned",
    ]
    assert all(e.by == DISPATCHER for e in state.history)
    assert not state.is_open


# state reached by a path -> the steps that may follow it
PATHS = {
    "unverified": ((), [VERIFY, REJECT, SIGHT]),
    "tentative_hit": ((VERIFY,), [VALIDATE, REJECT, SIGHT]),
    "live_query": ((VERIFY, VALIDATE), [CONFIRM, REJECT, SIGHT]),
    "confirmed_hit": ((VERIFY, VALIDATE, CONFIRM), [DISPOSE, SIGHT]),
    "rejected": ((REJECT,), [SIGHT]),  # a sighting that raced the closing is kept, not lost
    "dispositioned": ((VERIFY, VALIDATE, CONFIRM, DISPOSE), [SIGHT]),
}
ALL = [VERIFY, VALIDATE, CONFIRM, REJECT, DISPOSE, SIGHT]


def _key(step) -> str:
    return step[0].__name__


@pytest.mark.parametrize("status", list(PATHS))
@pytest.mark.parametrize("step", ALL, ids=_key)
def test_every_transition(status, step) -> None:
    path, allowed = PATHS[status]
    alert, state = state_after(*path)
    assert state.status == status
    allowed_names = {_key(s) for s in allowed}
    if _key(step) in allowed_names:
        after = evolve(state, ev(step[0], alert, **step[1]))
        assert after is not state
        if step is SIGHT:
            assert after.status == status and len(after.sightings) == 1  # a sighting never reopens
    else:
        with pytest.raises(TransitionRefused) as info:
            evolve(state, ev(step[0], alert, **step[1]))
        assert state.alert_id in str(info.value) or "alert" in str(info.value)


def test_refusal_says_why_and_changes_nothing() -> None:
    alert, state = state_after()
    with pytest.raises(TransitionRefused, match="verify the plate against the image first"):
        evolve(state, ev(*VALIDATE[:1], alert, **VALIDATE[1]))
    assert state.status == "unverified" and state.history == ()


def test_the_same_event_twice_applies_once() -> None:
    alert, state = state_after()
    verify = ev(AlertVisuallyVerified, alert)
    once = evolve(state, verify)
    assert evolve(once, verify) is once
    assert evolve(once, alert) is once  # AlertRaised redelivered


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ((AlertVisuallyVerified, {"by": None}), "who did it"),
        ((AlertRejected, {"reason": "bored"}), "rejection reason"),
    ],
)
def test_bad_fields_are_refused(step, message) -> None:
    alert, state = state_after()
    with pytest.raises(TransitionRefused, match=message):
        evolve(state, ev(step[0], alert, **step[1]))


def test_validation_needs_a_known_priority_and_confirmation_an_agency() -> None:
    alert, state = state_after(VERIFY)
    with pytest.raises(TransitionRefused, match="urgent or routine"):
        evolve(state, ev(AlertStatusValidated, alert, priority="asap"))
    alert, state = state_after(VERIFY, VALIDATE)
    with pytest.raises(TransitionRefused, match="confirming agency"):
        evolve(state, ev(AlertConfirmed, alert, confirming_agency=" "))


def test_disposition_needs_a_known_outcome_and_a_note_p9() -> None:
    alert, state = state_after(VERIFY, VALIDATE, CONFIRM)
    with pytest.raises(TransitionRefused, match="disposition 'party'"):
        evolve(state, ev(AlertDispositioned, alert, disposition="party", note="x"))
    with pytest.raises(TransitionRefused, match="note"):
        evolve(state, ev(AlertDispositioned, alert, disposition="arrest", note=""))


def test_events_of_another_alert_are_refused() -> None:
    _, state = state_after()
    other = raised("r-2")
    with pytest.raises(TransitionRefused):
        evolve(state, ev(AlertVisuallyVerified, other))
    with pytest.raises(TransitionRefused):
        evolve(state, other)
    with pytest.raises(TransitionRefused, match="never raised"):
        evolve(None, ev(AlertVisuallyVerified, other))


def test_confirmation_clock_urgent_and_routine() -> None:
    alert, state = state_after(VERIFY)
    urgent = evolve(state, ev(AlertStatusValidated, alert, minutes=2, priority="urgent"))
    assert urgent.time_left(NOW + timedelta(minutes=5)) == timedelta(minutes=7)
    assert not urgent.overdue(NOW + timedelta(minutes=12))
    assert urgent.overdue(NOW + timedelta(minutes=12, seconds=1))
    routine = evolve(state, ev(AlertStatusValidated, alert, minutes=2, priority="routine"))
    assert routine.time_left(NOW + timedelta(minutes=2)) == timedelta(hours=1)
    confirmed = evolve(urgent, ev(*CONFIRM[:1], alert, **CONFIRM[1]))
    assert confirmed.time_left(NOW + timedelta(hours=5)) is None and not confirmed.overdue(
        NOW + timedelta(hours=5)
    )
    assert state.time_left(NOW) is None  # no clock before the entry is validated


def test_sightings_extend_last_seen_p9() -> None:
    alert, state = state_after()
    seen = evolve(
        state, ev(AlertSighted, alert, by=None, camera_id="cam-2", captured_at=NOW + timedelta(minutes=4))
    )
    assert len(seen.sightings) == 1 and seen.last_seen == NOW + timedelta(minutes=4)
    assert seen.status == "unverified"


def test_allowed_actions_follow_the_state() -> None:
    for status, (path, allowed) in PATHS.items():
        _, state = state_after(*path)
        expected = {
            "VisuallyVerified": "verify",
            "Rejected": "reject",
            "StatusValidated": "validate",
            "Confirmed": "confirm",
            "Dispositioned": "disposition",
        }
        names = {expected[_key(s).removeprefix("Alert")] for s in allowed if s is not SIGHT}
        assert set(allowed_actions(state)) == names, status


def test_events_and_raised_alerts_survive_the_wire() -> None:
    from streams.codec import alert_from_dict as raised_from_dict
    from streams.codec import alert_to_dict, dumps, event_from_dict, event_to_dict
    from tests.unit.test_schemas import validator

    alert = raised()
    assert raised_from_dict(alert_to_dict(alert)).alert_id == alert.alert_id
    folded = evolve(None, raised_from_dict(alert_to_dict(alert)))
    for kind, kw in (VERIFY, VALIDATE, CONFIRM, REJECT, DISPOSE, SIGHT):
        event = ev(kind, alert, **kw)
        wire = event_to_dict(event)
        validator("alert_event").validate(orjson.loads(dumps(wire)))
        assert event_from_dict(wire) == event
    assert folded.raised.entry.key == alert.entry.key and folded.raised.read.plate == alert.read.plate


# -- step rules: what a person's new step must satisfy (P7, P8) ------------------------------

RULES = StepRules(low_confidence=0.8, separate_validation=True, entering_agency="CA0431000")
KIM = Actor("Det. Kim Tran", "A-7")
TICKED = {"evidence_shown": "read-text", "characters_match": True, "state_match": True}


def flagged(**read_overrides):
    """An alert whose read differs from the entry as the overrides say (state, confidence, image)."""
    read = make_read(read_id="r-flag", plate="7ABC123", captured_at=NOW, **read_overrides)
    [found] = match(make_index(make_entry(plate="7ABC123", entry_id="V9", ori="CA0431000")), read)
    alert = raise_alert(read, found, NOW)
    return alert, evolve(None, alert)


def check_verify(state, alert, **kw):
    check_step(state, ev(AlertVisuallyVerified, alert, **kw), RULES)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"characters_match": True, "state_match": True}, "what it was made against"),
        ({**TICKED, "evidence_shown": "glanced"}, "evidence_shown 'image'"),
        ({**TICKED, "evidence_shown": "image"}, "this read has no captured image"),
        ({**TICKED, "characters_match": False}, "tick that the characters match"),
        ({**TICKED, "state_match": False}, "tick that the state matches"),
        ({"evidence_shown": "read-text"}, "the characters match and that the state matches"),
        ({**TICKED, "acknowledged": ("looks-fine",)}, "no flag looks-fine"),
    ],
)
def test_p7_verify_needs_evidence_shown_and_both_boxes_ticked(fields, message) -> None:
    alert, state = flagged()
    with pytest.raises(TransitionRefused, match=message) as info:
        check_verify(state, alert, **fields)
    assert str(info.value).startswith("P7")
    check_verify(state, alert, **TICKED)  # shown and ticked: allowed


def test_p7_verify_against_the_image_when_the_read_has_one() -> None:
    alert, state = flagged(image_ref="https://cams.example/r-flag.jpg")
    check_verify(state, alert, **{**TICKED, "evidence_shown": "image"})


def test_p7_a_flagged_state_mismatch_must_be_acknowledged_with_a_note() -> None:
    alert, state = flagged(plate_state="NV")
    assert alert.state_mismatch and alert_flags(alert, 0.8) == ("state-mismatch",)
    with pytest.raises(TransitionRefused, match=r"state-mismatch \(read NV, listed CA\).*acknowledge"):
        check_verify(state, alert, **TICKED, note="plate matches")
    with pytest.raises(TransitionRefused, match="needs a note"):
        check_verify(state, alert, **TICKED, acknowledged=("state-mismatch",))
    check_verify(state, alert, **TICKED, acknowledged=("state-mismatch",), note="image shows a CA plate")


def test_p7_low_confidence_must_be_acknowledged() -> None:
    alert, state = flagged(confidence=0.4)
    with pytest.raises(
        TransitionRefused, match=r"low-confidence \(0.40, below 0.80\).*low-confidence by name"
    ):
        check_verify(state, alert, **TICKED, note="ok")
    check_verify(state, alert, **TICKED, acknowledged=("low-confidence",), note="image is sharp")
    at_threshold, state = flagged(confidence=0.8)
    assert alert_flags(at_threshold, 0.8) == ()  # below the threshold only


def test_p7_ocr_equivalent_and_partial_matches_are_flags() -> None:
    read = make_read(read_id="r-ocr", plate="7A8C123", captured_at=NOW)
    [ocr] = match(make_index(make_entry(plate="7ABC123", entry_id="V10")), read)
    assert alert_flags(raise_alert(read, ocr, NOW), 0.8) == ("ocr-equivalent",)
    [partial] = match(make_index(make_entry(plate="7A?C123", entry_id="V11")), read)
    assert "partial" in alert_flags(raise_alert(read, partial, NOW), 0.8)


def confirming(agency: str, rules: StepRules = RULES, validator: Actor = KIM, by: Actor = DISPATCHER):
    alert, state = state_after(VERIFY)
    state = evolve(state, ev(AlertStatusValidated, alert, by=validator, priority="urgent"))
    check_step(state, ev(AlertConfirmed, alert, by=by, confirming_agency=agency), rules)


def test_p8_confirm_names_the_entering_agency() -> None:
    with pytest.raises(
        TransitionRefused, match="P8: the confirmation comes from the entering agency CA0431000"
    ):
        confirming("x")
    with pytest.raises(TransitionRefused, match="CA0431000"):
        confirming("CA0430000")  # another agency's ORI
    confirming("CA0431000")
    confirming(step_fields("confirm", {"confirming_agency": " ca0431000 "})["confirming_agency"])


def test_p8_an_entry_without_an_entering_agency_takes_an_ori() -> None:
    unknown = StepRules(0.8, True, None)
    with pytest.raises(TransitionRefused, match="names no entering agency.*e.g. CA0431000"):
        confirming("x", unknown)
    confirming("CA0439900", unknown)


def test_p7_p8_separate_validation_the_validator_does_not_confirm() -> None:
    with pytest.raises(TransitionRefused, match=r"separate validation: Dispatcher Lee \(D-101\) validated"):
        confirming("CA0431000", validator=DISPATCHER, by=DISPATCHER)  # one person, the whole chain
    confirming("CA0431000", validator=KIM, by=DISPATCHER)
    confirming("CA0431000", StepRules(0.8, False, "CA0431000"), validator=DISPATCHER, by=DISPATCHER)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"characters_match": "true"}, "true or false"),
        ({"state_match": 1}, "true or false"),
        ({"acknowledged": "low-confidence"}, "a list of flag names"),
        ({"acknowledged": [3]}, "flag names"),
        ({"priority": "urgent"}, "verify takes no priority"),
    ],
)
def test_step_fields_are_typed_as_a_form_sends_them(raw, message) -> None:
    with pytest.raises(TransitionRefused, match=message):
        step_fields("verify", raw)
    assert step_fields("verify", {"acknowledged": ["Low-Confidence ", "low-confidence"]}) == {
        "acknowledged": ("low-confidence",)
    }


def test_a_verification_recorded_before_the_evidence_fields_still_folds() -> None:
    """Alert histories written before P7's fields existed replay: the fold takes what was recorded."""
    from streams.codec import event_from_dict

    alert, state = state_after()
    old = {
        "event": "AlertVisuallyVerified",
        "event_id": "old-1",
        "alert_id": alert.alert_id,
        "at": (NOW + timedelta(minutes=1)).isoformat(),
        "by": {"user": "Dispatcher Lee", "badge": "D-101"},
        "note": "",
    }
    event = event_from_dict(old)
    assert (
        isinstance(event, AlertVisuallyVerified) and event.evidence_shown == "" and not event.characters_match
    )
    assert evolve(state, event).status == "tentative_hit"
    with pytest.raises(TransitionRefused, match="P7"):
        check_step(state, event, RULES)  # as a new command it would be refused


def test_p8_the_entering_agency_comes_from_the_ori_else_the_home_agency() -> None:
    """A department (local) entry without an ORI is confirmed by the home agency of the directory;
    an external entry without one names no agency (the confirmation then records an ORI)."""
    from streams.access.directory import Agency, Directory
    from streams.alerts.usecases import entering_agency, step_rules
    from streams.settings import Settings
    from tests.factories import local_entry

    home = Agency("SJPD", "San José Police Department", "municipal_police", "CA", "home")
    sheriff = Agency("CA0430000", "Santa Clara County Sheriff", "county_sheriff", "CA", "signed")
    directory = Directory(users={}, agencies={"CA0430000": sheriff, "SJPD": home})
    read = make_read(read_id="r-agency", plate="7ABC123", captured_at=NOW)

    def alert_for(entry):
        [found] = match(make_index(entry), read)
        return raise_alert(read, found, NOW)

    assert entering_agency(alert_for(make_entry(entry_id="V20", ori="CA0431000")), directory) == "CA0431000"
    assert entering_agency(alert_for(local_entry(entry_id="L21")), directory) == "SJPD"
    assert entering_agency(alert_for(make_entry(entry_id="V22")), directory) is None
    rules = step_rules(Settings(), alert_for(local_entry(entry_id="L23")), directory)
    assert rules == StepRules(low_confidence=0.8, separate_validation=True, entering_agency="SJPD")
