"""Who may search ALPR data, and why (P15-P17, P19-P22): one pure decision for every search path
(the console's search page, the API, ``alpr replay`` and holds).

The decision is taken before any data is read, from the request and the directory alone, so a
refusal can say nothing about whether matching data exists (P20): every refused request gets the
same kind of answer, naming only the rule it broke.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from streams.access.audit import AccessRecorded
from streams.access.directory import NEVER_ELIGIBLE, Directory
from streams.access.permissions import may
from streams.access.principal import Principal
from streams.access.purpose import forbidden_purpose

__all__ = ["ALLOWED", "Decision", "Justification", "access_record", "authorize"]


@dataclass(frozen=True, slots=True)
class Justification:
    """Why a search is made (P15, P16), and for whom (P17)."""

    purpose: str
    crime_type: str
    case_number: str
    on_behalf_of: str | None = None  # an agency id, when searching for another agency
    commander: str | None = None  # P17: the Commander who approved it in advance
    approved_on: date | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str = ""  # the rule a refusal broke; never anything about the data

    @property
    def decision(self) -> str:
        return "allowed" if self.allowed else "refused"


ALLOWED = Decision(True)


def access_record(
    now: datetime,
    user: Principal,
    action: str,
    why: Justification,
    query: dict[str, Any],
    result_count: int,
    decision: Decision = ALLOWED,
) -> AccessRecorded:
    """The audit record of a justified request (P15): who and from which agency, what was asked,
    why, how many records it returned, and the decision with the rule a refusal broke."""
    return AccessRecorded(
        now,
        user.name,
        action,
        why.case_number or None,
        why.purpose or None,
        query,
        result_count,
        decision=decision.decision,
        badge=user.badge,
        reason=decision.reason or None,
        agency=user.agency,
        crime_type=why.crime_type or None,
    )


def _refused(reason: str) -> Decision:
    return Decision(False, reason)


def authorize(user: Principal, action: str, why: Justification, directory: Directory) -> Decision:
    """May this user make this search (``search``, ``replay``, ``hold``) for this reason?"""
    person = directory.users.get(user.name) if user.kind == "user" else None
    if user.kind != "user" or person is None or not person.active:
        return _refused("P21: searches are made by signed-in, active people")
    if not person.trained:
        return _refused("P21: the required ALPR training is not on record for this user")
    if not may(user, action):
        return _refused(f"P21: the {user.role} role may not {action}")
    agency = directory.agency(user.agency)
    if agency is None or agency.type in NEVER_ELIGIBLE or agency.state.upper() != "CA":
        return _refused("P19: the user's agency is not eligible to receive ALPR data")
    if not agency.has_access:
        return _refused(f"P19: no sharing agreement with {agency.name} is on file")
    missing = [
        name
        for name, value in (
            ("purpose", why.purpose),
            ("crime type", why.crime_type),
            ("case number", why.case_number),
        )
        if not value.strip()
    ]
    if missing:
        return _refused(
            "P15/P16: a search needs a purpose, a crime type and a case number "
            f"(missing: {', '.join(missing)})"
        )
    forbidden = forbidden_purpose(f"{why.purpose} {why.crime_type}")
    if forbidden:
        return _refused(forbidden)
    if why.on_behalf_of and why.on_behalf_of != user.agency:
        other = directory.agency(why.on_behalf_of)
        if other is None or other.type in NEVER_ELIGIBLE or other.state.upper() != "CA":
            return _refused("P19: the requesting agency is not eligible to receive ALPR data")
        if not other.has_access and not (why.commander and why.commander.strip() and why.approved_on):
            return _refused(
                f"P17: {other.name} has no access of its own; "
                "a Commander's prior approval (name and date) is needed"
            )
    return ALLOWED
