"""What the console and the CAD API show of an alert: plain dicts from an :class:`AlertState`.

One shape for the live queue, the alert view, the JSON API and the webhook, so a CAD system and
a dispatcher see the same thing. The match is said plainly (P7: an alert alone is not grounds for
a stop; OCR-equivalent and partial matches need extra care; P10: match the occupant).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from streams.alerts.desk import closing_step, outcome_text
from streams.alerts.lifecycle import (
    CONFIRMATION_DEADLINES,
    DISPOSITIONS,
    REJECTION_REASONS,
    AlertEvent,
    AlertSighted,
    AlertState,
    alert_flags,
    allowed_actions,
    flag_text,
    stored_image,
)
from streams.alerts.model import PERSON_LIST_TYPES, AlertRaised, format_age
from streams.alerts.plate_diff import plate_diff
from streams.alerts.vehicle_codes import describe
from streams.cameras.registry import Camera
from streams.codec import event_to_dict
from streams.console.maps import alert_map
from streams.matching.matcher import EXACT, OCR_EQUIVALENT, PARTIAL, source_stale
from streams.matching.normalize import OcrClasses
from streams.reads.model import POSITION_UNKNOWN
from streams.settings import DEFAULT_OCR_CLASSES

__all__ = [
    "BANNER",
    "alert_detail",
    "alert_summary",
    "camera_label",
    "claim_view",
    "closing",
    "historical_text",
    "latest_sighting",
    "queue_key",
    "shown_image",
    "stored_images",
]

BANNER = "An alert alone is not grounds for a stop (P7)"  # its rule id links to /policy#P7
OCCUPANT_REMINDER = (
    "Wanted-person entry: before acting, try to match the occupant to the entry's description (P10)."
)
_KIND_TEXT = {
    EXACT: "Exact match",
    OCR_EQUIVALENT: "OCR-equivalent match: characters that cameras confuse differ; compare each one",
    PARTIAL: "Partial-plate match: the listed plate is incomplete; many vehicles may fit",
}
_URGENCY = {"amber_alert": 0, "missing_person": 0, "wanted_person": 0, "protection_order": 1}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def match_notes(
    state: AlertState, fresh_at: datetime | None, max_staleness: timedelta, now: datetime
) -> list[str]:
    """The match, said plainly: kind, state mismatch, and a source that has gone stale since (P4)."""
    raised = state.raised
    notes = [_KIND_TEXT.get(raised.match_kind, raised.match_kind)]
    if raised.state_mismatch:
        notes.append(
            f"State mismatch: read {raised.read.plate_state or '?'}, listed {raised.entry.plate_state or '?'}"
        )
    if raised.historical:
        notes.append(
            "Historical hit: captured before the entry was listed (retro-hunt); the vehicle may be gone"
        )
    if raised.captured_age_s is not None:
        notes.append(
            f"Historical read: captured {format_age(raised.captured_age_s)} before it arrived; "
            "do not follow on this alert"
        )
    # P4 concerns shared data only: a department entry has no feed to go stale.
    if raised.entry.is_shared and source_stale(fresh_at, now, max_staleness.total_seconds()):
        age = "never refreshed" if fresh_at is None else f"last refreshed {fresh_at.isoformat()}"
        notes.append(f"Stale source: {raised.entry.source} {age}; confirm the entry before acting (P4)")
    return notes


def camera_label(camera_id: str, names: Mapping[str, str]) -> str:
    """A camera as a dispatcher knows it: its registered name, the id kept beside it
    ("Curtner Ave at Monterey Rd (cam-00004)"); a camera the registry does not name, by its id."""
    name = names.get(camera_id)
    return f"{name} ({camera_id})" if name and name != camera_id else camera_id


def historical_text(raised: AlertRaised) -> str | None:
    """The marker of an alert on a read of the past (None: a live alert): a late read or a
    retro-hunt find says where the vehicle was then, not where it is now; nobody follows on it (P7)."""
    if raised.captured_age_s is not None:
        return f"HISTORICAL READ: captured {format_age(raised.captured_age_s)} before it arrived"
    if raised.historical:
        return "HISTORICAL HIT: captured before the entry was listed (retro-hunt)"
    return None


def latest_sighting(state: AlertState, names: Mapping[str, str]) -> dict[str, Any]:
    """Where the vehicle was seen last ("where is it now"): the newest capture among the alert's
    read and its sightings, with the camera's name."""
    read = state.raised.read
    latest: dict[str, Any] = {
        "camera_id": read.camera_id,
        "captured_at": read.captured_at,
        "lat": read.lat,
        "lon": read.lon,
        "position": read.where,
    }
    for seen in state.sightings:
        if seen.captured_at is not None and seen.captured_at > latest["captured_at"]:
            where = (
                POSITION_UNKNOWN
                if seen.lat is None or seen.lon is None
                else f"{seen.lat:.5f}, {seen.lon:.5f}"
            )
            latest = {
                "camera_id": seen.camera_id,
                "captured_at": seen.captured_at,
                "lat": seen.lat,
                "lon": seen.lon,
                "position": where,
            }
    return {
        **latest,
        "captured_at": latest["captured_at"].isoformat(),
        "camera_name": names.get(latest["camera_id"]),
        "camera": camera_label(latest["camera_id"], names),
    }


def closing(state: AlertState) -> dict[str, Any] | None:
    """How a closed alert ended, for the closed-alerts view and its search: the outcome in words
    ("rejected: misread", "vehicle recovered"), who closed it (name and badge, P9) and when; None
    for an open alert."""
    event = closing_step(state)
    if event is None:
        return None
    by = event.by
    return {
        "outcome": outcome_text(event),
        "by": None if by is None else {"user": by.user, "badge": by.badge},
        "at": event.at.isoformat(),
        "note": event.note,
    }


def claim_view(state: AlertState, now: datetime, stale_after: timedelta | None) -> dict[str, Any] | None:
    """Who works the alert ("being worked by Dispatcher Ann (badge D-102) since 14:02"), whom they
    took it over from, and whether the claim is stale (no step for ``stale_after``, the setting
    ``claim_stale_minutes``: anyone may take it without the take-over warning); None: nobody."""
    claim = state.claim
    if claim is None:
        return None
    return {
        "user": claim.by.user,
        "badge": claim.by.badge,
        "since": claim.since.isoformat(),
        "active_at": claim.active_at.isoformat(),
        "idle_s": (now - claim.active_at).total_seconds(),
        "stale_after_s": None if stale_after is None else stale_after.total_seconds(),
        "stale": stale_after is not None and claim.stale(now, stale_after),
        "taken_from": None
        if claim.taken_from is None
        else {"user": claim.taken_from.user, "badge": claim.taken_from.badge},
    }


def alert_summary(
    state: AlertState,
    now: datetime,
    fresh_at: datetime | None,
    max_staleness: timedelta,
    camera_names: Mapping[str, str] | None = None,
    earlier: AlertState | None = None,
    *,
    claim_stale_after: timedelta | None = None,
) -> dict[str, Any]:
    """One row of the live queue. ``camera_names`` (camera id -> registered name) lets the row
    name cameras as people know them; the ids stay beside the names. ``earlier`` is the alert of
    the same plate and entry closed in the last 24 h (streams.alerts.desk.AlertBoard.earlier),
    given only when the viewer may see it (P19, P20): the row then says how it ended and links
    to it. ``claim`` says who works the alert (:func:`claim_view`)."""
    names = camera_names or {}
    before = None if earlier is None else closing(earlier)
    raised, read, entry = state.raised, state.raised.read, state.raised.entry
    left = state.time_left(now)
    latest = latest_sighting(state, names)
    seen_age = (now - datetime.fromisoformat(latest["captured_at"])).total_seconds()
    return {
        "alert_id": state.alert_id,
        "status": state.status,
        "open": state.is_open,
        "raised_at": raised.raised_at.isoformat(),
        "last_seen": _iso(state.last_seen),
        "plate_read": read.plate,
        "plate_state_read": read.plate_state,
        "plate_listed": entry.plate,
        "list_type": entry.list_type,
        "reason": entry.reason,
        "case_number": entry.case_number,
        "closed": closing(state),
        "claim": claim_view(state, now, claim_stale_after),
        "earlier": None
        if earlier is None or before is None
        else {"alert_id": earlier.alert_id, **{k: before[k] for k in ("outcome", "by", "at")}},
        "camera_id": read.camera_id,
        "camera_name": names.get(read.camera_id),
        "camera": camera_label(read.camera_id, names),
        "captured_at": read.captured_at.isoformat(),
        "position": read.where,  # "position unknown" for a read without one, never "0, 0"
        "historical": historical_text(raised) is not None,
        "historical_text": historical_text(raised),
        "latest": latest,
        "last_seen_age_s": seen_age,
        "last_seen_text": f"last seen {format_age(seen_age)} ago at {latest['camera']}",
        "match_kind": raised.match_kind,
        "state_mismatch": raised.state_mismatch,
        "match_notes": match_notes(state, fresh_at, max_staleness, now),
        "sightings": len(state.sightings),
        "urgency": _URGENCY.get(entry.list_type, 2),
        "confirmation_deadline": _iso(state.confirmation_deadline),
        "seconds_left": None if left is None else left.total_seconds(),
        "overdue": state.overdue(now),
        "actions": allowed_actions(state),
    }


def _event(event: AlertEvent) -> dict[str, Any]:
    out = event_to_dict(event)
    out.pop("alert_id", None)
    return out


def shown_image(image_ref: str | None) -> str | None:
    """The read's image as a page may load it (an http or https address), else None: the
    verification is then made against the read text (P7)."""
    return image_ref if image_ref and image_ref.lower().startswith(("https://", "http://")) else None


def stored_images(state: AlertState) -> dict[str, Any]:
    """Where the page loads the read's images from the project's store (same origin, through the
    audited endpoint streams.console.images), or None each: ``image_required`` says a verification
    must be made against the plate image (P7: the server refuses it until the image was served to
    the person, streams.alerts.lifecycle). ``images_shown``: who was shown which image, when."""
    base = f"/api/alerts/{quote(state.alert_id, safe='')}/images/"
    stored = stored_image(state.raised.read)
    return {
        "plate_image": base + "plate" if stored else None,
        "overview_image": base + "overview" if stored else None,
        "image_required": stored,
        "images_shown": [
            {
                "by": None if e.by is None else {"user": e.by.user, "badge": e.by.badge},
                "at": e.at.isoformat(),
                "read_id": e.read_id,
                "kind": e.kind,
            }
            for e in state.images_shown
        ],
    }


def alert_detail(
    state: AlertState,
    now: datetime,
    fresh_at: datetime | None,
    max_staleness: timedelta,
    *,
    low_confidence: float = 0.8,
    entering_agency: str | None = None,
    camera_names: Mapping[str, str] | None = None,
    earlier: AlertState | None = None,
    cameras: Mapping[str, Camera] | None = None,
    claim_stale_after: timedelta | None = None,
    ocr_classes: tuple[str, ...] = DEFAULT_OCR_CLASSES,
) -> dict[str, Any]:
    """The alert view: the read, the matching entry, the match, its history and sightings, and
    what a verification must acknowledge (P7) and whose confirmation counts (P8).

    ``low_confidence`` is the profile's threshold and ``entering_agency`` the agency that must
    confirm (streams.alerts.usecases.entering_agency); the console passes both, and the
    registry's ``camera_names`` and the ``earlier`` closed alert in scope. The vehicle is
    described in words beside its NCIC codes, so that it can be compared with the image (P7).
    ``cameras`` (the registry, streams.alerts.desk.AlertBoard.cameras) places the read's camera
    on the ``map`` (streams.console.maps.alert_map), beside the trail of sightings."""
    names = camera_names or {}
    raised, read, entry = state.raised, state.raised.read, state.raised.entry
    flags = alert_flags(raised, low_confidence)
    return {
        **alert_summary(
            state, now, fresh_at, max_staleness, names, earlier, claim_stale_after=claim_stale_after
        ),
        "banner": BANNER,
        "advisory": raised.advisory,
        "occupant_reminder": OCCUPANT_REMINDER if entry.list_type in PERSON_LIST_TYPES else None,
        "read": {
            "read_id": read.read_id,
            "plate": read.plate,
            "plate_state": read.plate_state,
            "confidence": read.confidence,
            "image_ref": read.image_ref,
            "camera_id": read.camera_id,
            "camera_name": names.get(read.camera_id),
            "camera": camera_label(read.camera_id, names),
            "lat": read.lat,
            "lon": read.lon,
            "position": read.where,
            "position_source": read.placed,
            "captured_at": read.captured_at.isoformat(),
        },
        "entry": {
            "key": entry.key,
            "source": entry.source,
            "entry_id": entry.entry_id,
            "plate": entry.plate,
            "plate_state": entry.plate_state,
            "list_type": entry.list_type,
            "reason": entry.reason,
            "case_number": entry.case_number,
            "entering_agency": entering_agency or entry.ori,
            "vehicle": dict(entry.vehicle),
            "vehicle_decoded": describe(dict(entry.vehicle)),
        },
        # P7: the read and the listed plate position by position (OCR-equivalent characters and a
        # partial entry's open positions marked), for the comparison with the plate image
        "plate_diff": plate_diff(read.plate, entry.plate, raised.match_kind, OcrClasses.of(ocr_classes)),
        "verification": {
            "image_url": shown_image(read.image_ref),
            **stored_images(state),
            "flags": [{"flag": f, "text": flag_text(raised, f, low_confidence)} for f in flags],
        },
        "rejection": state.rejection,
        "disposition": state.disposition,
        # the steps and the claims (who worked it, took it over, released it), in time order
        "history": [
            _event(e)
            for e in sorted(
                (*(e for e in state.history if not isinstance(e, AlertSighted)), *state.claim_log),
                key=lambda e: e.at,
            )
        ],
        "sighting_list": [
            {**_event(e), "camera_name": names.get(e.camera_id), "camera": camera_label(e.camera_id, names)}
            for e in state.sightings
        ],
        "map": alert_map(state, cameras or {}, lambda camera_id: camera_label(camera_id, names)),
        "choices": {
            "reason": list(REJECTION_REASONS),
            "priority": list(CONFIRMATION_DEADLINES),
            "disposition": list(DISPOSITIONS),
        },
    }


def queue_key(summary: dict[str, Any]) -> tuple[Any, ...]:
    """Most urgent first: overdue, then the nearest confirmation deadline, then person and AMBER
    entries, then the newest."""
    left = summary["seconds_left"]
    return (
        not summary["overdue"],
        float("inf") if left is None else left,
        summary["urgency"],
        -datetime.fromisoformat(summary["raised_at"]).timestamp(),
    )
