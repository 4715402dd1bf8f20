"""Who may search ALPR data, and why (P15-P17, P19-P22): one pure decision for every search path
(the console's search page, the API, ``alpr replay`` and holds).

The decision is taken before any data is read, from the request and the directory alone, so a
refusal can say nothing about whether matching data exists (P20): every refused request gets the
same kind of answer, naming only the rule it broke.

A justification must mean something (P16): the case number has one of the formats of the agency
whose case it is (:func:`case_profile`: ours from the deployment's profile, another agency's from
the profile shipped for it, else the generic formats), the crime type names a presumed crime and
the purpose says something an auditor can check (:mod:`streams.access.justification`); the case
field is scanned for immigration and reproductive-care terms like the purpose (P22). A search for
another agency names it; one without access of its own needs a Commander's prior approval (P17):
a directory user of Commander rank or above in the searcher's agency, active, dated neither in the
future nor longer ago than the profile's ``commander_approval_max_days``. The access record of
every search carries the agency served, the Commander and the date.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

from streams.access.audit import AccessRecorded
from streams.access.directory import APPROVING_RANKS, Agency, Directory
from streams.access.justification import (
    GENERIC,
    check_case_number,
    check_crime_type,
    check_purpose,
    rule_first,
)
from streams.access.permissions import may
from streams.access.principal import Principal
from streams.access.purpose import forbidden_purpose
from streams.errors import JustificationRefused
from streams.retention.policy import Profile, load_profile

__all__ = [
    "ALLOWED",
    "COMMAND_RANKS",
    "Decision",
    "Justification",
    "access_record",
    "authorize",
    "case_profile",
]

#: P17: the ranks whose approval lets a user search for an agency without access of its own:
#: Commander and above (lieutenants and captains approve hot-list entries, P2, not this).
COMMAND_RANKS = frozenset({"commander", "deputy chief", "assistant chief", "chief"})
assert COMMAND_RANKS <= APPROVING_RANKS  # noqa: S101 - the two rank lists must not drift apart
#: The case-number formats of an agency with no profile of its own (the Profile's defaults).
GENERIC_CASE_FORMATS: tuple[str, ...] = GENERIC.case_number_formats


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
        on_behalf_of=why.on_behalf_of or None,
        commander=why.commander or None,
        approved_on=why.approved_on,
    )


def _refused(reason: str) -> Decision:
    return Decision(False, reason)


def _fold(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(plain.lower().replace("_", " ").split())


@lru_cache(maxsize=1)
def _agency_profiles() -> dict[str, Profile]:
    """Every shipped profile, by its agency's folded name and by its own name ("oakland")."""
    folder = resources.files("streams.retention").joinpath("profiles")
    found: dict[str, Profile] = {}
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".toml"):
            profile = load_profile(item.name.removesuffix(".toml"))
            found[_fold(profile.agency)] = profile
            found.setdefault(_fold(profile.name), profile)
    return found


def case_profile(agency: Agency | None, home: Profile) -> Profile:
    """Whose case-number formats a justification is judged by (P16): the agency whose case it is.

    Our own department (agreement "home") uses the deployment's profile; another agency uses the
    profile shipped for it, found by its name ("Oakland Police Department", or the profile name
    "oakland" as the first words of the agency's name); any other agency the generic formats
    (:data:`GENERIC_CASE_FORMATS`: letters-YY-serial, 7 or 9 digits), since we cannot know its own.
    """
    if agency is None or agency.agreement == "home":
        return home
    profiles = _agency_profiles()
    name = _fold(agency.name)
    match = profiles.get(name) or next(
        (p for key, p in profiles.items() if name.startswith(f"{key} ") and key == _fold(p.name)), None
    )
    if match is not None:
        return dataclasses.replace(home, agency=agency.name, case_number_formats=match.case_number_formats)
    return dataclasses.replace(home, agency=agency.name, case_number_formats=GENERIC_CASE_FORMATS)


def _check_commander(
    user: Principal, why: Justification, directory: Directory, profile: Profile, today: date
) -> str:
    """P17: the approving Commander is a directory user of Commander rank or above, active, of the
    searching user's agency; the approval is dated, not in the future, not older than the profile's
    ``commander_approval_max_days``. Returns a refusal or an empty string."""
    name = (why.commander or "").strip()
    if not name or why.approved_on is None:
        return "P17: a Commander's prior approval needs the Commander's user name and the approval date"
    commander = directory.users.get(name.lower())
    if commander is None or not commander.active or commander.agency != user.agency:
        return (
            f"P17: {name[:40]!r} is not an active user of your agency in the directory; "
            "name the approving Commander by user name"
        )
    if (commander.rank or "") not in COMMAND_RANKS:
        return (
            f"P17: {commander.name} ({commander.rank or 'no rank'}) may not approve this; "
            "the approval must come from a commander, deputy chief, assistant chief or chief"
        )
    if why.approved_on > today:
        return (
            f"P17: the approval date {why.approved_on.isoformat()} is in the future; "
            "give the date the Commander approved"
        )
    oldest = today - timedelta(days=profile.commander_approval_max_days)
    if why.approved_on < oldest:
        return (
            f"P17: the approval of {why.approved_on.isoformat()} is older than "
            f"{profile.commander_approval_max_days} days; ask the Commander for a new approval"
        )
    return ""


def authorize(
    user: Principal, action: str, why: Justification, directory: Directory, profile: Profile, now: datetime
) -> Decision:
    """May this user make this search (``search``, ``replay``, ``hold``) for this reason?

    ``profile`` is the deployment's (its formats judge our own case numbers, its
    ``commander_approval_max_days`` the age of a P17 approval); ``now`` dates the approval.
    """
    person = directory.users.get(user.name) if user.kind == "user" else None
    if user.kind != "user" or person is None or not person.active:
        return _refused("P21: searches are made by signed-in, active people")
    if not person.trained:
        return _refused("P21: the required ALPR training is not on record for this user")
    if not may(user, action):
        return _refused(f"P21: the {user.role} role may not {action}")
    refusal = directory.law_refusal(user.agency)  # P19: by the home state's law
    if refusal is not None:
        return _refused(refusal)
    agency = directory.agencies[user.agency]
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
    forbidden = forbidden_purpose(why.purpose, why.crime_type, why.case_number)
    if forbidden:
        return _refused(forbidden)
    served = agency
    if why.on_behalf_of and why.on_behalf_of != user.agency:
        refusal = directory.law_refusal(why.on_behalf_of)
        if refusal is not None:
            return _refused(refusal.replace("P19: ", "P19: the requesting agency: ", 1))
        served = directory.agencies[why.on_behalf_of]
    try:  # P16: the case is the served agency's, in its formats; crime type and purpose say something
        check_case_number(why.case_number, case_profile(served, profile))
        check_crime_type(why.crime_type, profile)
        check_purpose(why.purpose, profile)
    except JustificationRefused as exc:
        return _refused(rule_first(exc))
    if served is not agency and (why.commander or why.approved_on or not served.has_access):
        refusal = _check_commander(user, why, directory, profile, now.date())
        if refusal and not served.has_access:
            return _refused(refusal.replace("P17: ", f"P17: {served.name} has no access of its own; ", 1))
        if refusal:
            return _refused(refusal)
    elif why.commander or why.approved_on:
        return _refused(
            "P17: a Commander's approval is given for a search on behalf of another agency; name it"
        )
    return ALLOWED
