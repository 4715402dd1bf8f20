"""The alert lifecycle, event-sourced: a pure fold ``evolve(state, event) -> state`` (P7-P9).

Alert (unverified) -> Tentative Hit (visually verified) -> Live Query Transaction (entry
validated active through CLETS/dispatch) -> Confirmed Hit (confirmed by the entering agency)
-> dispositioned; or rejected (misread, wrong state, not the vehicle, entry no longer active)
at any step before confirmation. A transition out of order is refused and changes nothing.
Every event says who, when, and a note. Applying an event twice (at-least-once delivery)
changes nothing the second time.

:func:`evolve` folds what was recorded, as it was recorded: events written before a rule existed
(a verification without the evidence fields) still replay. :func:`check_step` decides whether a
person's *new* step may be recorded under the deployment's :class:`StepRules`; every front end
reaches it through the alert desk:

* P7 verify: says which evidence was shown (the read's image, or the plate text, state and
  confidence as read when there is no image to show), with both boxes ticked: the characters and
  the state on the evidence match the listed entry. A person who sees a mismatch rejects instead.
  Each flag the alert carries (state mismatch, OCR-equivalent or partial match, read confidence
  below the profile's threshold) is acknowledged by name, with a note.
* P8 confirm: the confirming agency is the entry's entering agency (its ORI; for a department
  entry without one, the home agency); the record carries it.
* P7/P8 separation of duties (profile ``separate_validation``): the person who validated the entry
  through CLETS may not also record the entering agency's confirmation, so no one person takes an
  alert from Alert to Confirmed Hit alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.alerts.model import AlertRaised
from streams.errors import AlprError
from streams.images.store import KINDS, REF_PREFIX, image_ref
from streams.matching.matcher import OCR_EQUIVALENT, PARTIAL
from streams.reads.model import Read

__all__ = [
    "CONFIRMATION_DEADLINES",
    "DISPOSITIONS",
    "EVIDENCE",
    "NOT_STEPS",
    "FLAGS",
    "REJECTION_REASONS",
    "STATES",
    "Actor",
    "AlertClaimed",
    "AlertConfirmed",
    "AlertDispositioned",
    "AlertEvent",
    "AlertImageShown",
    "AlertRejected",
    "AlertReleased",
    "AlertSighted",
    "AlertState",
    "AlertStatusValidated",
    "AlertVisuallyVerified",
    "Claim",
    "StepRules",
    "TransitionRefused",
    "ACTIONS",
    "alert_flags",
    "allowed_actions",
    "check_step",
    "claim_event",
    "claim_text",
    "evolve",
    "release_event",
    "flag_text",
    "step_fields",
    "stored_image",
]

UNVERIFIED, TENTATIVE_HIT, LIVE_QUERY, CONFIRMED_HIT = (
    "unverified",
    "tentative_hit",
    "live_query",
    "confirmed_hit",
)
REJECTED, DISPOSITIONED = "rejected", "dispositioned"
OPEN = frozenset({UNVERIFIED, TENTATIVE_HIT, LIVE_QUERY, CONFIRMED_HIT})
STATES = (UNVERIFIED, TENTATIVE_HIT, LIVE_QUERY, CONFIRMED_HIT, REJECTED, DISPOSITIONED)

#: In the order a form offers them (the most common first).
REJECTION_REASONS = (
    "misread",
    "wrong_state",
    "not_the_vehicle",
    "entry_no_longer_active",
    "not_confirmed_by_agency",
    "other",
)
DISPOSITIONS = (
    "arrest",
    "citation",
    "vehicle_recovered",
    "contact_without_action",
    "unfounded",
    "unable_to_locate",
    "other",
)
#: NCIC hit confirmation: the entering agency answers within 10 minutes (urgent) or 1 hour (routine).
CONFIRMATION_DEADLINES = {"urgent": timedelta(minutes=10), "routine": timedelta(hours=1)}


#: P7: what a verification was made against: the read's captured image, or (a read without an
#: image) the plate text, state and confidence as the camera read them.
EVIDENCE = ("image", "read-text")
#: P7: what an alert may be flagged with; each flag present must be acknowledged by this name.
FLAGS = ("state-mismatch", "ocr-equivalent", "partial", "low-confidence")
#: An NCIC/CLETS ORI: two letters (the state) and seven letters or digits, e.g. CA0431000.
_ORI = re.compile(r"[A-Z]{2}[A-Z0-9]{7}")


class TransitionRefused(AlprError):
    """The event does not fit the alert's current state; nothing changed."""


@dataclass(frozen=True, slots=True)
class Actor:
    user: str
    badge: str

    def label(self) -> str:
        return f"{self.user} ({self.badge})" if self.badge else self.user


@dataclass(frozen=True, slots=True)
class AlertEvent:
    event_id: str
    alert_id: str
    at: datetime
    by: Actor | None
    note: str = ""


@dataclass(frozen=True, slots=True)
class AlertSighted(AlertEvent):
    """The same plate and entry seen again within the dedup window (P9: "observed at ...")."""

    read_id: str = ""
    camera_id: str = ""
    captured_at: datetime | None = None
    plate: str = ""
    image_ref: str | None = None
    lat: float | None = None  # None: the read had no position (issue 17), never 0, 0
    lon: float | None = None


@dataclass(frozen=True, slots=True)
class AlertVisuallyVerified(AlertEvent):
    """Plate characters and state match the captured image: Tentative Hit (P7, P8).

    The fields say what the person was shown and what they checked, so that the record is
    evidence of a verification rather than a click. Events recorded before these fields existed
    fold with their defaults (nothing shown, nothing ticked): the history replays as it was."""

    evidence_shown: str = ""  # one of EVIDENCE
    characters_match: bool = False
    state_match: bool = False
    acknowledged: tuple[str, ...] = ()  # the alert's FLAGS the person acknowledged


@dataclass(frozen=True, slots=True)
class AlertRejected(AlertEvent):
    reason: str = "other"


@dataclass(frozen=True, slots=True)
class AlertStatusValidated(AlertEvent):
    """The entry is confirmed active through CLETS/dispatch: Live Query Transaction; the
    entering agency's confirmation is requested with a priority that sets its deadline."""

    priority: str = "routine"


@dataclass(frozen=True, slots=True)
class AlertConfirmed(AlertEvent):
    confirming_agency: str = ""  # the entering agency's ORI (P8)


@dataclass(frozen=True, slots=True)
class AlertDispositioned(AlertEvent):
    """The ultimate disposition (P9), e.g. "vehicle stopped, driver arrested for 211"."""

    disposition: str = "other"


@dataclass(frozen=True, slots=True)
class AlertClaimed(AlertEvent):
    """A person works the alert now ("being worked by ..."): it changes no status. Taking an alert
    another person holds names them (``taken_from``): the take-over is recorded with both names;
    ``stale`` says their claim had gone idle, so it was taken without the take-over warning."""

    taken_from: Actor | None = None
    stale: bool = False


@dataclass(frozen=True, slots=True)
class AlertReleased(AlertEvent):
    """The holder stops working the alert: anyone may claim it again."""


@dataclass(frozen=True, slots=True)
class Claim:
    """Who works an open alert, since when, and their last step on it (a claim idle longer than
    the deployment's ``claim_stale_minutes`` may be taken without the take-over warning)."""

    by: Actor
    since: datetime
    active_at: datetime
    taken_from: Actor | None = None

    def stale(self, now: datetime, after: timedelta) -> bool:
        return now - self.active_at > after


@dataclass(frozen=True, slots=True)
class AlertImageShown(AlertEvent):
    """A read's stored image was served to this person (P7: a visual verification of a read with a
    plate image is made by someone who was shown it). Changes no status; recorded once per person,
    read and kind, in any state (it is the record of what was seen)."""

    read_id: str = ""
    kind: str = "plate"  # one of streams.images.store.KINDS


#: Events that record something about an alert without being a step of its lifecycle: no
#: status changes, no step timing (metrics), nothing another agency's CAD needs (webhooks send
#: sightings and claims, not who was shown which image).
NOT_STEPS = (AlertSighted, AlertClaimed, AlertReleased, AlertImageShown)


@dataclass(frozen=True)
class AlertState:
    raised: AlertRaised
    status: str = UNVERIFIED
    history: tuple[AlertEvent, ...] = ()
    sightings: tuple[AlertSighted, ...] = ()
    last_seen: datetime | None = None
    confirmation_deadline: datetime | None = None
    rejection: str | None = None
    disposition: str | None = None
    applied: frozenset[str] = field(default_factory=frozenset)
    images_shown: tuple[AlertImageShown, ...] = ()  # who was shown which image (P7)
    claim: Claim | None = None  # who works the open alert; None when nobody does (or it closed)
    claim_log: tuple[AlertClaimed | AlertReleased, ...] = ()  # claims, take-overs and releases

    @property
    def alert_id(self) -> str:
        return self.raised.alert_id

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def image_shown_to(self, by: Actor, read_id: str, kind: str) -> bool:
        """Was this person shown this read's image of this kind (P7)?"""
        return any(
            _same_person(e.by, by) and e.read_id == read_id and e.kind == kind for e in self.images_shown
        )

    def time_left(self, now: datetime) -> timedelta | None:
        """Until the entering agency's confirmation is due (only while it is awaited)."""
        if self.status != LIVE_QUERY or self.confirmation_deadline is None:
            return None
        return self.confirmation_deadline - now

    def overdue(self, now: datetime) -> bool:
        left = self.time_left(now)
        return left is not None and left < timedelta(0)


_NEXT: dict[type[AlertEvent], tuple[frozenset[str], str]] = {
    AlertVisuallyVerified: (frozenset({UNVERIFIED}), TENTATIVE_HIT),
    AlertStatusValidated: (frozenset({TENTATIVE_HIT}), LIVE_QUERY),
    AlertConfirmed: (frozenset({LIVE_QUERY}), CONFIRMED_HIT),
    AlertRejected: (frozenset({UNVERIFIED, TENTATIVE_HIT, LIVE_QUERY}), REJECTED),
    AlertDispositioned: (frozenset({CONFIRMED_HIT}), DISPOSITIONED),
}
_WHAT = {
    AlertVisuallyVerified: "visually verify",
    AlertStatusValidated: "validate the status of",
    AlertConfirmed: "confirm",
    AlertRejected: "reject",
    AlertDispositioned: "record the disposition of",
}


def evolve(state: AlertState | None, event: AlertRaised | AlertEvent) -> AlertState:
    """Apply one event; raise :class:`TransitionRefused` (and change nothing) when it does not fit."""
    if isinstance(event, AlertRaised):
        if state is None:
            return AlertState(raised=event, last_seen=event.read.captured_at)
        if state.alert_id == event.alert_id:
            return state  # redelivered: the alert id is deterministic
        raise TransitionRefused(f"alert {state.alert_id} is not alert {event.alert_id}")
    if state is None:
        raise TransitionRefused(f"alert {event.alert_id} was never raised")
    if event.alert_id != state.alert_id:
        raise TransitionRefused(f"event for alert {event.alert_id} applied to alert {state.alert_id}")
    if event.event_id in state.applied:
        return state
    if isinstance(event, AlertClaimed | AlertReleased):
        return _evolve_claim(state, event)
    if isinstance(event, AlertImageShown):
        return _evolve_image_shown(state, event)
    if isinstance(event, AlertSighted):
        # Recorded in any state: a sighting that raced the alert's closing is kept, not lost; it
        # does not reopen the alert (the worker raises a new alert once it has seen the closing).
        seen = max(t for t in (state.last_seen, event.captured_at) if t is not None)
        return replace(
            state,
            sightings=(*state.sightings, event),
            history=(*state.history, event),
            applied=state.applied | {event.event_id},
            last_seen=seen,
        )
    allowed, target = _NEXT[type(event)]
    if state.status not in allowed:
        raise TransitionRefused(
            f"cannot {_WHAT[type(event)]} alert {state.alert_id}: {_who_did(state)}{_hint(state.status)}"
        )
    if event.by is None:
        raise TransitionRefused(f"{type(event).__name__} must say who did it (user and badge)")
    changes: dict[str, object] = {
        "status": target,
        "history": (*state.history, event),
        "applied": state.applied | {event.event_id},
    }
    if isinstance(event, AlertRejected):
        if event.reason not in REJECTION_REASONS:
            raise TransitionRefused(
                f"rejection reason {event.reason!r}: use one of {', '.join(REJECTION_REASONS)}"
            )
        changes["rejection"] = event.reason
    elif isinstance(event, AlertStatusValidated):
        if event.priority not in CONFIRMATION_DEADLINES:
            raise TransitionRefused(f"priority {event.priority!r}: use urgent or routine")
        changes["confirmation_deadline"] = event.at + CONFIRMATION_DEADLINES[event.priority]
    elif isinstance(event, AlertConfirmed):
        if not event.confirming_agency.strip():
            raise TransitionRefused("a confirmation names the confirming agency (its ORI)")
    elif isinstance(event, AlertDispositioned):
        if event.disposition not in DISPOSITIONS:
            raise TransitionRefused(
                f"disposition {event.disposition!r}: use one of {', '.join(DISPOSITIONS)}"
            )
        if not event.note.strip():
            raise TransitionRefused("a disposition needs a note saying what happened (P9)")
        changes["disposition"] = event.disposition
    changes["claim"] = _claim_after_step(state.claim, event, event.by, target)
    return replace(state, **changes)  # type: ignore[arg-type]


def _claim_after_step(claim: Claim | None, step: AlertEvent, by: Actor, status: str) -> Claim | None:
    """A person's step implicitly claims an alert nobody works, and keeps the holder's claim
    active; another person's step leaves the holder's claim as it is (taking it over is explicit).
    Closing the alert ends the claim."""
    if status not in OPEN:
        return None
    if claim is None:
        return Claim(by, step.at, step.at)
    if _same_person(claim.by, by):
        return replace(claim, active_at=max(claim.active_at, step.at))
    return claim


def _evolve_claim(state: AlertState, event: AlertClaimed | AlertReleased) -> AlertState:
    """Claims change no status. The fold checks each claim against the holder it finds, so of two
    people claiming at once only the first is applied, and a take-over applies only if it takes
    from the holder the person was shown."""
    if event.by is None:
        raise TransitionRefused(f"{type(event).__name__} must say who did it (user and badge)")
    held = state.claim
    if isinstance(event, AlertReleased):
        if held is None:
            raise TransitionRefused(f"nobody is working alert {state.alert_id}: there is nothing to release")
        if not _same_person(held.by, event.by):
            raise TransitionRefused(
                f"alert {state.alert_id} is {claim_text(held)}: only they release it (or take it over)"
            )
        claim = None
    else:
        if not state.is_open:
            raise TransitionRefused(
                f"cannot claim alert {state.alert_id}: {_who_did(state)}; a closed alert is not worked"
            )
        if held is None:
            if event.taken_from is not None:
                raise TransitionRefused(
                    f"alert {state.alert_id} is no longer worked by {event.taken_from.label()}: "
                    "claim it again"
                )
            claim = Claim(event.by, event.at, event.at)
        elif _same_person(held.by, event.by):
            claim = replace(held, active_at=max(held.active_at, event.at))  # the holder, again
        elif _same_person(held.by, event.taken_from):
            claim = Claim(event.by, event.at, event.at, held.by)
        else:
            raise TransitionRefused(f"alert {state.alert_id} is {claim_text(held)}: take it over to work it")
    return replace(
        state,
        claim=claim,
        claim_log=(*state.claim_log, event),
        applied=state.applied | {event.event_id},
    )


def claim_text(claim: Claim) -> str:
    """How a conflict answer (API and CLI) names the holder: "being worked by Dispatcher Ann
    (badge D-102) since 2026-12-05 14:02 UTC"."""
    badge = f" (badge {claim.by.badge})" if claim.by.badge else ""
    since = claim.since.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"being worked by {claim.by.user}{badge} since {since}"


def claim_event(
    state: AlertState,
    event_id: str,
    by: Actor,
    now: datetime,
    *,
    take_over: bool,
    stale_after: timedelta,
    note: str = "",
) -> AlertClaimed | None:
    """The claim a person asks for, or None when they already hold the alert (nothing to write).
    Raises :class:`TransitionRefused` when the alert is closed, or another person works it, their
    claim is not stale and the person did not ask to take it over: the answer says who holds it
    and since when."""
    held = state.claim
    if state.is_open and held is not None and _same_person(held.by, by):
        return None
    event = AlertClaimed(event_id, state.alert_id, now, by, note)
    if held is not None and state.is_open:
        stale = held.stale(now, stale_after)
        if not (take_over or stale):
            idle = int((now - held.active_at).total_seconds() // 60)
            raise TransitionRefused(
                f"alert {state.alert_id} is {claim_text(held)} (last step {idle} min ago): "
                "take it over to work it (the take-over is recorded with both names)"
            )
        event = replace(event, taken_from=held.by, stale=stale)
    evolve(state, event)  # refuses a claim on a closed alert, naming who closed it
    return event


def release_event(
    state: AlertState, event_id: str, by: Actor, now: datetime, note: str = ""
) -> AlertReleased:
    """The holder's release; raises :class:`TransitionRefused` when they do not hold the alert."""
    event = AlertReleased(event_id, state.alert_id, now, by, note)
    evolve(state, event)
    return event


def _evolve_image_shown(state: AlertState, event: AlertImageShown) -> AlertState:
    """P7: remember who was shown which image of which of the alert's reads; the status stays."""
    if event.by is None:
        raise TransitionRefused("AlertImageShown must say who was shown the image (user and badge)")
    if event.kind not in KINDS:
        raise TransitionRefused(f"image kind {event.kind!r}: use one of {', '.join(KINDS)}")
    reads = {state.raised.read.read_id, *(s.read_id for s in state.sightings)}
    if event.read_id not in reads:
        raise TransitionRefused(f"read {event.read_id!r} is not a read of alert {state.alert_id}")
    if state.image_shown_to(event.by, event.read_id, event.kind):
        return replace(state, applied=state.applied | {event.event_id})
    return replace(
        state,
        images_shown=(*state.images_shown, event),
        applied=state.applied | {event.event_id},
    )


def stored_image(read: Read) -> bool:
    """Are the read's images in the project's store (P7: then a verification is made against the
    plate image)? Only when its ``image_ref`` is the one recomputed from the read itself: a key that
    came over the wire is never trusted, and a ref that differs counts as no stored image."""
    return read.image_ref is not None and read.image_ref == image_ref(read.read_id, read.captured_at)


#: What the step that set an alert's status did, as a conflict answer says it.
_DONE = {
    AlertVisuallyVerified: "visually verified (Tentative Hit)",
    AlertStatusValidated: "validated through CLETS (Live Query)",
    AlertConfirmed: "recorded as confirmed (Confirmed Hit)",
    AlertRejected: "rejected",
    AlertDispositioned: "dispositioned",
}


def _who_did(state: AlertState) -> str:
    """Where the alert is and who put it there, from its history: a person whose step lost a race
    learns who acted and when ("already rejected (misread) by Officer A. Ruiz (badge 4411) at
    2026-12-05 14:02 UTC"), and can call them rather than act twice."""
    step = next((e for e in reversed(state.history) if not isinstance(e, AlertSighted)), None)
    if step is None:
        return f"it is {state.status.replace('_', ' ')}"
    done = _DONE[type(step)]
    detail = getattr(step, "reason", None) or getattr(step, "disposition", None)
    badge = f" (badge {step.by.badge})" if step.by is not None and step.by.badge else ""
    who = "" if step.by is None else f" by {step.by.user}{badge}"
    when = step.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"it was already {done}{f' ({detail})' if detail else ''}{who} at {when}"


def _hint(status: str) -> str:
    return {
        UNVERIFIED: "; verify the plate against the image first (P7)",
        TENTATIVE_HIT: "; validate the entry through CLETS/dispatch first (P7)",
        LIVE_QUERY: "; it awaits the entering agency's confirmation",
        REJECTED: "; a rejected alert is closed",
        DISPOSITIONED: "; its disposition is recorded, it is closed",
    }.get(status, "")


#: A person's steps by the name the CLI, the API and the console use, with the fields each takes.
ACTIONS: dict[str, tuple[type[AlertEvent], tuple[str, ...]]] = {
    "verify": (
        AlertVisuallyVerified,
        ("evidence_shown", "characters_match", "state_match", "acknowledged"),
    ),
    "validate": (AlertStatusValidated, ("priority",)),
    "confirm": (AlertConfirmed, ("confirming_agency",)),
    "disposition": (AlertDispositioned, ("disposition",)),
    "reject": (AlertRejected, ("reason",)),
}


def allowed_actions(state: AlertState) -> list[str]:
    """The steps that fit the alert's current state, in the order a dispatcher takes them."""
    return [name for name, (kind, _fields) in ACTIONS.items() if state.status in _NEXT[kind][0]]


@dataclass(frozen=True, slots=True)
class StepRules:
    """What a new step must satisfy beyond fitting the alert's state: the deployment's settings
    (the profile) and what the directory says about the entry."""

    #: P7: a read below this confidence is flagged "low-confidence" (profile ``low_confidence``).
    low_confidence: float
    #: P7/P8: the validator may not record the confirmation (profile ``separate_validation``).
    separate_validation: bool
    #: P8: who must confirm: the entry's ORI, or the home agency for a department entry without
    #: one; None when the entry names no agency (the confirmation then names an ORI).
    entering_agency: str | None


def alert_flags(raised: AlertRaised, low_confidence: float) -> tuple[str, ...]:
    """The flags a verification must acknowledge by name (P7), in :data:`FLAGS` order."""
    found = {
        "state-mismatch": raised.state_mismatch,
        "ocr-equivalent": raised.match_kind == OCR_EQUIVALENT,
        "partial": raised.match_kind == PARTIAL,
        "low-confidence": raised.read.confidence < low_confidence,
    }
    return tuple(flag for flag in FLAGS if found[flag])


def step_fields(action: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """A step's fields as the event holds them, from a form, JSON or the command line: the tick
    boxes are true or false (never a word that looks like one), acknowledgements a list of names,
    the other fields text. Raises :class:`TransitionRefused` naming the field that is wrong."""
    if action not in ACTIONS:
        raise TransitionRefused(f"unknown action {action!r}: use one of {', '.join(ACTIONS)}")
    names = ACTIONS[action][1]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise TransitionRefused(
            f"{action} takes no {', '.join(unknown)}" + (f"; it takes {', '.join(names)}" if names else "")
        )
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name in ("characters_match", "state_match"):
            if not isinstance(value, bool):
                raise TransitionRefused(f"{name} is true or false (a tick box), not {value!r}")
            out[name] = value
        elif name == "acknowledged":
            if isinstance(value, str) or not isinstance(value, list | tuple):
                raise TransitionRefused(f"acknowledged is a list of flag names ({', '.join(FLAGS)})")
            if not all(isinstance(v, str) for v in value):
                raise TransitionRefused(f"acknowledged holds flag names ({', '.join(FLAGS)})")
            out[name] = tuple(dict.fromkeys(v.strip().lower() for v in value))
        elif name == "confirming_agency":
            out[name] = str(value).strip().upper()
        else:
            out[name] = str(value)
    return out


def check_step(state: AlertState, event: AlertEvent, rules: StepRules) -> None:
    """Raise :class:`TransitionRefused` when a person's new step may not be recorded (P7, P8);
    the message says what is missing and what to do. Order and the fields every event needs are
    :func:`evolve`'s; this adds what the recorded history does not have to satisfy."""
    if isinstance(event, AlertVisuallyVerified):
        _check_image_shown(state, event)
        _check_verification(state.raised, event, rules)
    elif isinstance(event, AlertConfirmed):
        _check_confirmation(state, event, rules)


def _check_image_shown(state: AlertState, event: AlertVisuallyVerified) -> None:
    """P7: a read with a plate image in the project's store is verified against that image, by a
    person it was served to (the console shows it; ``alpr alert image`` writes it to a file). A
    vendor's image URL cannot be fetched for the person by the system: there the person attests
    (evidence_shown 'image', as before); a read without an image keeps the read-text path."""
    read = state.raised.read
    if not stored_image(read):
        return
    if (
        event.evidence_shown != "image"
        or event.by is None
        or not state.image_shown_to(event.by, read.read_id, "plate")
    ):
        raise TransitionRefused(
            "P7: open the plate image first: this read has a captured plate image, and a visual "
            "verification is made against it by the person who saw it (the console shows it in the "
            f"alert view; from a terminal: alpr alert image {state.alert_id} --kind plate --out FILE), "
            "then verify with evidence_shown 'image' (--image-viewed)"
        )


def _check_verification(raised: AlertRaised, event: AlertVisuallyVerified, rules: StepRules) -> None:
    read = raised.read
    if event.evidence_shown not in EVIDENCE:
        raise TransitionRefused(
            "P7: a visual verification says what it was made against: evidence_shown 'image' (the "
            "read's captured image) or 'read-text' (the plate, state and confidence as read). "
            "Look at the evidence first"
        )
    if event.evidence_shown == "image" and not (
        stored_image(read) or (read.image_ref and not read.image_ref.startswith(REF_PREFIX))
    ):
        raise TransitionRefused(
            "P7: this read has no captured image; verify against the plate text, state and "
            "confidence as read (evidence_shown 'read-text')"
        )
    unticked = [
        text
        for text, ticked in (
            ("the characters match", event.characters_match),
            ("the state matches", event.state_match),
        )
        if not ticked
    ]
    if unticked:
        raise TransitionRefused(
            f"P7: not verified: tick that {' and that '.join(unticked)} (the evidence against the "
            "listed entry). If they do not match, reject the alert (misread or wrong_state) instead"
        )
    unknown = [a for a in event.acknowledged if a not in FLAGS]
    if unknown:
        raise TransitionRefused(f"P7: no flag {', '.join(unknown)}: the flags are {', '.join(FLAGS)}")
    flags = alert_flags(raised, rules.low_confidence)
    missing = [f for f in flags if f not in event.acknowledged]
    if missing:
        said = ", ".join(flag_text(raised, f, rules.low_confidence) for f in flags)
        raise TransitionRefused(
            f"P7: this alert is flagged {said}: "
            f"acknowledge {', '.join(missing)} by name and say in the note why the plate is the listed one"
        )
    if flags and not event.note.strip():
        raise TransitionRefused(
            f"P7: a verification of an alert flagged {', '.join(flags)} needs a note saying why the "
            "plate is the listed one"
        )


def flag_text(raised: AlertRaised, flag: str, low_confidence: float) -> str:
    """A flag said with what raised it, e.g. "low-confidence (0.40, below 0.80)"."""
    read, entry = raised.read, raised.entry
    states = f"read {read.plate_state or '?'}, listed {entry.plate_state or '?'}"
    return {
        "state-mismatch": f"state-mismatch ({states})",
        "ocr-equivalent": f"ocr-equivalent (read {read.plate}, listed {entry.plate})",
        "partial": f"partial (listed {entry.plate})",
        "low-confidence": f"low-confidence ({read.confidence:.2f}, below {low_confidence:.2f})",
    }[flag]


def _check_confirmation(state: AlertState, event: AlertConfirmed, rules: StepRules) -> None:
    named = event.confirming_agency.strip().upper()
    expected = (rules.entering_agency or "").strip().upper()
    if expected and named != expected:
        raise TransitionRefused(
            f"P8: the confirmation comes from the entering agency {expected} (the entry's ORI), not "
            f"{event.confirming_agency!r}: confirm the hit with {expected} and record its ORI, or "
            "reject the alert (not_confirmed_by_agency)"
        )
    if not expected and not _ORI.fullmatch(named):
        raise TransitionRefused(
            f"P8: the entry names no entering agency, so the confirmation records the ORI of the "
            f"agency that confirmed it: two letters and seven letters or digits (e.g. CA0431000), "
            f"not {event.confirming_agency!r}"
        )
    if rules.separate_validation and event.by is not None:
        validations = [e for e in state.history if isinstance(e, AlertStatusValidated)]
        if validations and _same_person(validations[-1].by, event.by):
            raise TransitionRefused(
                f"P7/P8 separate validation: {event.by.label()} validated this alert through CLETS "
                f"at {validations[-1].at.isoformat(timespec='seconds')}; the entering agency's "
                "confirmation is recorded by another person"
            )


def _same_person(a: Actor | None, b: Actor | None) -> bool:
    """One person: the directory's display name and badge that every event records."""
    return a is not None and b is not None and (a.user, a.badge) == (b.user, b.badge)
