"""The alert lifecycle fold (P7-P9): every legal and illegal transition, duplicates, sightings, clocks."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from streams.alerts.lifecycle import (
    Actor,
    AlertConfirmed,
    AlertDispositioned,
    AlertRejected,
    AlertSighted,
    AlertStatusValidated,
    AlertVisuallyVerified,
    TransitionRefused,
    allowed_actions,
    evolve,
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


VERIFY = (AlertVisuallyVerified, {})
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
    from streams.codec import alert_to_dict, event_from_dict, event_to_dict
    from tests.unit.test_schemas import validator

    alert = raised()
    assert raised_from_dict(alert_to_dict(alert)).alert_id == alert.alert_id
    folded = evolve(None, raised_from_dict(alert_to_dict(alert)))
    for kind, kw in (VERIFY, VALIDATE, CONFIRM, REJECT, DISPOSE, SIGHT):
        event = ev(kind, alert, **kw)
        wire = event_to_dict(event)
        validator("alert_event").validate(wire)
        assert event_from_dict(wire) == event
    assert folded.raised.entry.key == alert.entry.key and folded.raised.read.plate == alert.read.plate
