"""Alert events. An alert is only the start: a person must confirm it before anyone acts (P7-P9).

Alert ids are deterministic (read id + entry key), so at-least-once delivery
never shows a dispatcher the same alert twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from streams.hotlists.model import HotlistEntry
from streams.matching.matcher import OCR_EQUIVALENT, PARTIAL, Match
from streams.reads.model import CAMERA, UNKNOWN, Read

__all__ = ["PERSON_LIST_TYPES", "UNVERIFIED", "AlertRaised", "alert_id_for", "format_age", "raise_alert"]

_ALERT_NAMESPACE = uuid.UUID("3f1c8a52-5e1b-4a0e-9a55-6a1f0c2d7b10")
#: P8: Alert (not visually verified) -> Tentative Hit -> Live Query Transaction -> Confirmed Hit.
UNVERIFIED = "unverified"

_P7_ADVISORY = (
    "ALERT ONLY - not grounds for a stop. Follow the vehicle if needed; before any action, "
    "visually verify the plate characters and state against the captured image, then confirm "
    "the entry is still current through CLETS/dispatch (P7)."
)
#: P7 for a read of the past (a late read, a retro-hunt find): nothing to follow.
_P7_PAST_ADVISORY = (
    "ALERT ONLY - not grounds for a stop. Before any action, visually verify the plate characters "
    "and state against the captured image, then confirm the entry is still current through "
    "CLETS/dispatch (P7)."
)
_LATE_ADVISORY = (
    "HISTORICAL READ: captured {age} before it arrived; the vehicle was there then, not necessarily "
    "now \u2014 do not follow on this alert. "
)
_OCR_ADVISORY = " Matched through OCR-equivalent characters: compare each character with extra care."
_PARTIAL_ADVISORY = " Partial-plate match: the listed plate is incomplete; many vehicles may fit."
_STATE_ADVISORY = " The read's state differs from the listed state."
_HISTORICAL_ADVISORY = (
    " HISTORICAL HIT: the read was captured before the entry was listed; the vehicle was there then,"
    " not necessarily now."
)
#: Issue 17: a read without a position is alerted; the alert says where it is not known, never 0, 0.
_UNKNOWN_POSITION_ADVISORY = (
    " POSITION UNKNOWN: the camera reported no position for this read (a mobile unit's may not);"
    " the camera id and capture time say which unit saw it and when."
)
_CAMERA_POSITION_ADVISORY = " Position: the fixed camera's registered position (the read reported none)."
_PERSON_ADVISORY = " Wanted-person entry: try to match the occupant to the entry's description (P10)."
PERSON_LIST_TYPES = frozenset({"wanted_person", "missing_person", "protection_order", "amber_alert"})


def alert_id_for(read_id: str, entry_key: str) -> str:
    return str(uuid.uuid5(_ALERT_NAMESPACE, f"{read_id}\x1f{entry_key}"))


def format_age(seconds: float) -> str:
    """An age as a dispatcher says it, two units at most: "40 s", "12 min", "3 h 12 min", "2 days 4 h"."""
    whole = max(0, int(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        text = f"{days} day" if days == 1 else f"{days} days"
        return f"{text} {hours} h" if hours else text
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min" if minutes else f"{secs} s"


@dataclass(frozen=True, slots=True)
class AlertRaised:
    """A read matched an active hot-list entry; status starts unverified (P7, P8)."""

    alert_id: str
    raised_at: datetime
    read: Read
    entry: HotlistEntry
    match_kind: str
    state_mismatch: bool
    status: str = UNVERIFIED
    historical: bool = False  # found by the retro-hunt: captured before the entry was listed
    #: A late read: how long before it arrived (the alert was raised) it was captured, set when
    #: that exceeded the profile's live-alert age; None: a live alert. Never followed on.
    captured_age_s: float | None = None

    @property
    def late(self) -> bool:
        return self.captured_age_s is not None

    @property
    def occupant_check_required(self) -> bool:
        return self.entry.list_type in PERSON_LIST_TYPES

    @property
    def advisory(self) -> str:
        if self.captured_age_s is not None:
            text = _LATE_ADVISORY.format(age=format_age(self.captured_age_s)) + _P7_PAST_ADVISORY
        else:
            text = _P7_PAST_ADVISORY if self.historical else _P7_ADVISORY
        if self.match_kind == OCR_EQUIVALENT:
            text += _OCR_ADVISORY
        elif self.match_kind == PARTIAL:
            text += _PARTIAL_ADVISORY
        if self.state_mismatch:
            text += _STATE_ADVISORY
        if self.historical:
            text += _HISTORICAL_ADVISORY
        if self.read.placed == UNKNOWN:
            text += _UNKNOWN_POSITION_ADVISORY
        elif self.read.placed == CAMERA:
            text += _CAMERA_POSITION_ADVISORY
        if self.occupant_check_required:
            text += _PERSON_ADVISORY
        return text


def raise_alert(
    read: Read,
    found: Match,
    now: datetime,
    *,
    live_max_age_s: float | None = None,
    historical: bool = False,
) -> AlertRaised:
    """The alert of ``found`` for ``read``, raised at ``now``, the read's arrival. A read captured
    more than ``live_max_age_s`` before it arrived is a late read: a HISTORICAL READ alert that
    carries its age and never says to follow the vehicle (None: no age check, the retro-hunt's
    finds are historical by nature)."""
    age = (now - read.captured_at).total_seconds()
    late = live_max_age_s is not None and age > live_max_age_s
    return AlertRaised(
        alert_id=alert_id_for(read.read_id, found.entry.key),
        raised_at=now,
        read=read,
        entry=found.entry,
        match_kind=found.kind,
        state_mismatch=found.state_mismatch,
        historical=historical,
        captured_age_s=age if late else None,
    )
