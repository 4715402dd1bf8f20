"""Who works an alert (issue 18, item 4): claims and releases folded into the alert's state.

A claim changes no status; a person's step implicitly claims an alert nobody works; another
person's claim is taken only explicitly (a take-over, recorded with both names) unless it is stale;
a closed alert is not claimed and closing ends the claim; only the holder releases; the same event
twice changes nothing (at-least-once delivery); a conflict says who works the alert and since when.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import orjson
import pytest

from streams.alerts.lifecycle import (
    Actor,
    AlertClaimed,
    AlertRejected,
    AlertReleased,
    AlertStatusValidated,
    AlertVisuallyVerified,
    TransitionRefused,
    claim_event,
    evolve,
    release_event,
)
from streams.alerts.model import raise_alert
from streams.codec import dumps, event_from_dict, event_to_dict
from streams.console.views import alert_detail, alert_summary
from streams.matching.matcher import match
from tests.factories import NOW, make_entry, make_index, make_read

ANN = Actor("Dispatcher Ann", "D-102")
LEE = Actor("Dispatcher Lee", "D-101")
STALE = timedelta(minutes=15)
_ids = itertools.count()


def opened():
    read = make_read(read_id="r-claim", plate="7CLM001", captured_at=NOW)
    [found] = match(make_index(make_entry(plate="7CLM001", entry_id="V9")), read)
    return evolve(None, raise_alert(read, found, NOW))


def at(minutes: float):
    return NOW + timedelta(minutes=minutes)


def claimed(state, by: Actor, minutes: float, **kw):
    return evolve(state, AlertClaimed(f"c{next(_ids)}", state.alert_id, at(minutes), by, **kw))


def verify(state, by: Actor, minutes: float):
    fields = {"evidence_shown": "read-text", "characters_match": True, "state_match": True}
    return evolve(state, AlertVisuallyVerified(f"v{next(_ids)}", state.alert_id, at(minutes), by, **fields))


def test_a_claim_names_who_works_the_alert_and_changes_no_status() -> None:
    state = claimed(opened(), ANN, 2)
    assert state.status == "unverified" and state.history == ()
    assert state.claim is not None and state.claim.by == ANN and state.claim.since == at(2)
    summary = alert_summary(state, at(3), NOW, timedelta(hours=24), claim_stale_after=STALE)
    assert summary["claim"]["user"] == "Dispatcher Ann" and summary["claim"]["badge"] == "D-102"
    assert summary["claim"]["since"] == at(2).isoformat() and summary["claim"]["stale"] is False
    assert alert_summary(opened(), NOW, NOW, timedelta(hours=24))["claim"] is None


def test_the_same_claim_twice_applies_once_at_least_once_delivery() -> None:
    state = opened()
    event = AlertClaimed("c-dup", state.alert_id, at(2), ANN)
    once = evolve(state, event)
    assert evolve(once, event) is once
    release = AlertReleased("r-dup", state.alert_id, at(3), ANN)
    released = evolve(once, release)
    assert evolve(released, release) is released and released.claim is None
    assert len(released.claim_log) == 2


def test_a_step_implicitly_claims_an_alert_nobody_works_and_keeps_the_holders_claim_active() -> None:
    state = verify(opened(), LEE, 2)
    assert state.claim is not None and state.claim.by == LEE and state.claim.since == at(2)
    validated = evolve(
        state, AlertStatusValidated(f"s{next(_ids)}", state.alert_id, at(20), LEE, priority="urgent")
    )
    assert validated.claim is not None and validated.claim.since == at(2)
    assert validated.claim.active_at == at(20)  # the holder's step: the claim is not idle
    assert not validated.claim.stale(at(30), STALE)


def test_another_persons_step_does_not_take_the_claim() -> None:
    """Taking over is explicit: Lee's step on the alert Ann works leaves it hers (P7/P8 separate
    validation still lets a second person record a step)."""
    state = verify(claimed(opened(), ANN, 2), LEE, 3)
    assert state.status == "tentative_hit" and state.claim is not None and state.claim.by == ANN
    assert state.claim.active_at == at(2)


def test_a_claim_on_an_alert_someone_works_is_refused_with_who_and_since_when() -> None:
    state = claimed(opened(), ANN, 2)
    with pytest.raises(TransitionRefused) as info:
        claim_event(state, "c-x", LEE, at(5), take_over=False, stale_after=STALE)
    assert str(info.value) == (
        f"alert {state.alert_id} is being worked by Dispatcher Ann (badge D-102) since "
        "2026-11-23 12:02 UTC (last step 3 min ago): take it over to work it (the take-over is "
        "recorded with both names)"
    )
    # and the fold refuses a plain claim that raced it: the first claim stands
    with pytest.raises(TransitionRefused, match="being worked by Dispatcher Ann .badge D-102. since"):
        claimed(state, LEE, 5)


def test_a_take_over_is_recorded_with_both_names() -> None:
    state = claimed(opened(), ANN, 2)
    event = claim_event(state, "c-take", LEE, at(5), take_over=True, stale_after=STALE)
    assert event is not None and event.taken_from == ANN and event.by == LEE and not event.stale
    after = evolve(state, event)
    assert after.claim is not None and after.claim.by == LEE and after.claim.taken_from == ANN
    wire = event_to_dict(event)
    assert wire["by"] == {"user": "Dispatcher Lee", "badge": "D-101"}
    assert wire["taken_from"] == {"user": "Dispatcher Ann", "badge": "D-102"}
    detail = alert_detail(after, at(6), NOW, timedelta(hours=24), claim_stale_after=STALE)
    assert detail["claim"]["taken_from"] == {"user": "Dispatcher Ann", "badge": "D-102"}
    assert [h["event"] for h in detail["history"]] == ["AlertClaimed", "AlertClaimed"]


def test_a_take_over_of_a_holder_who_changed_meanwhile_is_refused() -> None:
    """The form said Ann; Roy took it over first: Lee's take-over of Ann's claim is not applied."""
    roy = Actor("Dispatcher Roy", "D-103")
    state = claimed(opened(), ANN, 2)
    take = claim_event(state, "c-lee", LEE, at(5), take_over=True, stale_after=STALE)
    state = claimed(state, roy, 4, taken_from=ANN)
    with pytest.raises(TransitionRefused, match="being worked by Dispatcher Roy"):
        evolve(state, take)


def test_a_stale_claim_is_taken_without_the_warning() -> None:
    state = claimed(opened(), ANN, 2)
    assert state.claim is not None and state.claim.stale(at(17.1), STALE)
    summary = alert_summary(state, at(18), NOW, timedelta(hours=24), claim_stale_after=STALE)
    assert summary["claim"]["stale"] is True
    event = claim_event(state, "c-stale", LEE, at(18), take_over=False, stale_after=STALE)
    assert event is not None and event.stale and event.taken_from == ANN
    assert evolve(state, event).claim.by == LEE  # type: ignore[union-attr]


def test_the_holder_claiming_again_writes_nothing() -> None:
    state = claimed(opened(), ANN, 2)
    assert claim_event(state, "c-again", ANN, at(3), take_over=False, stale_after=STALE) is None


def test_a_closed_alert_is_not_claimed_and_closing_ends_the_claim() -> None:
    state = claimed(opened(), ANN, 2)
    closed = evolve(state, AlertRejected("rej", state.alert_id, at(3), LEE, reason="misread"))
    assert closed.claim is None
    with pytest.raises(TransitionRefused) as info:
        claim_event(closed, "c-closed", ANN, at(4), take_over=False, stale_after=STALE)
    assert "already rejected (misread) by Dispatcher Lee (badge D-101)" in str(info.value)
    assert "a closed alert is not worked" in str(info.value)


def test_only_the_holder_releases() -> None:
    state = claimed(opened(), ANN, 2)
    with pytest.raises(TransitionRefused, match="being worked by Dispatcher Ann .* only they release it"):
        release_event(state, "rel-x", LEE, at(3))
    released = evolve(state, release_event(state, "rel", ANN, at(3)))
    assert released.claim is None
    with pytest.raises(TransitionRefused, match="nobody is working alert"):
        release_event(released, "rel-2", ANN, at(4))
    assert claimed(released, LEE, 5).claim.by == LEE  # type: ignore[union-attr]


def test_claim_events_round_trip_and_fit_the_schema() -> None:
    from tests.unit.test_schemas import validator

    state = opened()
    for event in (
        AlertClaimed("c-1", state.alert_id, at(1), ANN),
        AlertClaimed("c-2", state.alert_id, at(2), LEE, taken_from=ANN, stale=True),
        AlertReleased("c-3", state.alert_id, at(3), LEE),
    ):
        wire = event_to_dict(event)
        validator("alert_event").validate(orjson.loads(dumps(wire)))
        assert event_from_dict(orjson.loads(dumps(wire))) == event
