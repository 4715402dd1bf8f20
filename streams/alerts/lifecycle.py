"""The alert lifecycle, event-sourced: a pure fold ``evolve(state, event) -> state`` (P7-P9).

Alert (unverified) -> Tentative Hit (visually verified) -> Live Query Transaction (entry
validated active through CLETS/dispatch) -> Confirmed Hit (confirmed by the entering agency)
-> dispositioned; or rejected (misread, wrong state, not the vehicle, entry no longer active)
at any step before confirmation. A transition out of order is refused and changes nothing.
Every event says who, when, and a note. Applying an event twice (at-least-once delivery)
changes nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from streams.alerts.model import AlertRaised
from streams.errors import AlprError

__all__ = [
    "CONFIRMATION_DEADLINES",
    "DISPOSITIONS",
    "REJECTION_REASONS",
    "STATES",
    "Actor",
    "AlertConfirmed",
    "AlertDispositioned",
    "AlertEvent",
    "AlertRejected",
    "AlertSighted",
    "AlertState",
    "AlertStatusValidated",
    "AlertVisuallyVerified",
    "TransitionRefused",
    "ACTIONS",
    "allowed_actions",
    "evolve",
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


class TransitionRefused(AlprError):
    """The event does not fit the alert's current state; nothing changed."""


@dataclass(frozen=True, slots=True)
class Actor:
    user: str
    badge: str


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
    lat: float = 0.0
    lon: float = 0.0


@dataclass(frozen=True, slots=True)
class AlertVisuallyVerified(AlertEvent):
    """Plate characters and state match the captured image: Tentative Hit (P7, P8)."""


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
    confirming_agency: str = ""


@dataclass(frozen=True, slots=True)
class AlertDispositioned(AlertEvent):
    """The ultimate disposition (P9), e.g. "vehicle stopped, driver arrested for 211"."""

    disposition: str = "other"


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

    @property
    def alert_id(self) -> str:
        return self.raised.alert_id

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

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
            f"cannot {_WHAT[type(event)]} alert {state.alert_id}: it is {state.status.replace('_', ' ')}"
            f"{_hint(state.status)}"
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
    return replace(state, **changes)  # type: ignore[arg-type]


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
    "verify": (AlertVisuallyVerified, ()),
    "validate": (AlertStatusValidated, ("priority",)),
    "confirm": (AlertConfirmed, ("confirming_agency",)),
    "disposition": (AlertDispositioned, ("disposition",)),
    "reject": (AlertRejected, ("reason",)),
}


def allowed_actions(state: AlertState) -> list[str]:
    """The steps that fit the alert's current state, in the order a dispatcher takes them."""
    return [name for name, (kind, _fields) in ACTIONS.items() if state.status in _NEXT[kind][0]]
