"""State ALPR laws as data: what the home agency's state allows (P11, P13, P15, P19, P24, P26).

The rules that come from law -- the retention caps, who may receive ALPR data, the immigration-use
and sensitive-site bans, the audit-trail fields and the reporting duties -- are those of the HOME
agency's state (``Profile.state``), read from ``streams/retention/laws/<state>.toml``. One file per
state keeps each statute's citation next to the numbers it sets, so that every refusal can name the
law that decides it ("P19 / Virginia Code 2.2-5517: ...").

A law file is the outer bound. The agency's policy (its profile) may narrow it -- San José keeps
reads 30 days where California sets no cap -- but never widen it: a profile keeping reads longer
than its state allows is refused when it is loaded, and sharing is decided here for every front end
(the directory, the webhooks, the console's agency scope). Where a statute is unclear the files read
it conservatively (in-state public law enforcement only); the agency confirms the details with its
counsel.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Any

from streams.errors import ConfigError

__all__ = [
    "AGENCY_TYPES",
    "AUDIT_RECORD_FIELDS",
    "NEVER_ELIGIBLE",
    "StateLaw",
    "known_states",
    "law_for",
]

#: Types an agency may have. Federal agencies and commercial or private entities are listed so that
#: a refusal can name them: no state law here lets them receive ALPR data (P19).
AGENCY_TYPES = frozenset(
    {
        "municipal_police",
        "county_sheriff",
        "state_law_enforcement",
        "district_attorney",
        "university_police",
        "federal",
        "commercial",
        "private",
    }
)
NEVER_ELIGIBLE = frozenset({"federal", "commercial", "private"})
_GROUPS = {
    "federal": "federal agencies",
    "commercial": "commercial entities",
    "private": "private entities",
}
#: Where each audit-trail field a law names is kept in the access record (P15,
#: streams/access/audit.py AccessRecorded): the plate, time window and cameras asked for are in
#: ``query`` (camera ids; their positions are in the camera registry). The cameras of the sightings
#: a search *returned* are not listed in the record: a Washington agency should confirm with counsel
#: whether the cameras asked for satisfy ESSB 6002's "camera location".
AUDIT_RECORD_FIELDS = {
    "time": "at",
    "data queried": "query",
    "camera location": "query",
    "user name": "user",
    "purpose": "purpose",
    "offense type": "crime_type",
    "case number": "case_number",
}


@dataclass(frozen=True, slots=True)
class StateLaw:
    """One state's ALPR law, as far as software can enforce it."""

    state: str  # two letters
    name: str  # "Washington"
    #: Short citation named in refusals and reports ("Washington ESSB 6002").
    citation: str
    #: The statutes and guidance the file rests on, each with what it says.
    statutes: tuple[str, ...]
    in_force: date
    #: P11/P13: the longest a read / a hit may be kept (None: no statewide cap, the agency's policy decides).
    read_retention_max_days: int | None
    hit_retention_max_days: int | None
    #: P19: agency types that may receive ALPR data (public law enforcement).
    recipient_types: frozenset[str]
    #: P19: only agencies of this state receive data.
    in_state_only: bool
    #: P5/P22: the statute itself bars use for immigration enforcement.
    immigration_use_banned: bool
    #: P24: the statute itself bars cameras at sensitive sites.
    sensitive_sites_banned: bool
    #: P15: the fields the statute requires in the audit trail of every query.
    audit_fields: tuple[str, ...]
    #: P26: the reports the statute (or, where none, the agency's policy) requires.
    reporting_duties: tuple[str, ...]

    def sharing_refusal(self, who: str, agency_type: str, agency_state: str) -> str | None:
        """Why ``who`` (an agency of this type and state) may never receive ALPR data under this
        law, naming the rule and the law; None when the law allows it (P19). Whether an agreement is
        on file is the directory's question, not the law's."""
        if agency_type not in self.recipient_types:
            group = _GROUPS.get(agency_type, f"{agency_type} agencies")
            return (
                f"P19 / {self.citation}: ALPR data is not shared with {group}: {who} is a {agency_type} "
                "agency or entity: it never receives ALPR data"
            )
        state = agency_state.strip().upper()
        if self.in_state_only and state != self.state:
            return (
                f"P19 / {self.citation}: ALPR data is not shared out of state: {who} is in {state}: "
                f"ALPR data goes to {self.name} agencies only"
            )
        return None

    def retention_refusal(self, read_days: int, hit_days: int | None) -> str | None:
        """Why a profile keeping reads ``read_days`` and hits ``hit_days`` (None: indefinitely)
        keeps data longer than this law allows (P11, P13); None when it does not."""
        problems = []
        cap = self.read_retention_max_days
        if cap is not None and read_days > cap:
            problems.append(f"read_retention_days {read_days} exceeds {self.citation}'s {cap}-day limit")
        cap = self.hit_retention_max_days
        if cap is not None and (hit_days is None or hit_days > cap):
            shown = "indefinite" if hit_days is None else str(hit_days)
            problems.append(f"hit_retention_days {shown} exceeds {self.citation}'s {cap}-day limit")
        if not problems:
            return None
        return "; ".join(problems) + " (P11, P13): set them to the limit or less"

    @property
    def retention_cap_text(self) -> str:
        """The read retention cap as people read it ("21 days (Washington ESSB 6002)")."""
        if self.read_retention_max_days is None:
            return f"no statewide cap ({self.citation}): the agency's policy sets it"
        return f"{self.read_retention_max_days} days ({self.citation})"


def known_states() -> tuple[str, ...]:
    """The states with a law file, sorted."""
    folder = resources.files("streams.retention").joinpath("laws")
    return tuple(
        sorted(p.name.removesuffix(".toml").upper() for p in folder.iterdir() if p.name.endswith(".toml"))
    )


@functools.cache
def law_for(state: str) -> StateLaw:
    """The ALPR law of ``state`` (two letters), from ``laws/<state>.toml``. An unknown state is
    refused with the known ones: the software cannot tell what its law allows."""
    code = state.strip().upper()
    path = resources.files("streams.retention").joinpath("laws").joinpath(f"{code.lower()}.toml")
    if not re.fullmatch(r"[A-Z]{2}", code) or not path.is_file():
        raise ConfigError(
            f"state {state[:16]!r} has no ALPR law profile: choose one of {', '.join(known_states())} "
            "(or add streams/retention/laws/<state>.toml with its statute)"
        )
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    try:
        return _law(code, data)
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigError(f"law file {code.lower()}.toml is malformed: {exc!r}") from exc


def _law(code: str, data: dict[str, Any]) -> StateLaw:
    if data["state"] != code:
        raise ValueError(f"state {data['state']!r} in the file of {code}")
    recipients = frozenset(str(t) for t in data["recipient_types"])
    if not recipients <= AGENCY_TYPES - NEVER_ELIGIBLE:
        raise ValueError(f"recipient_types {sorted(recipients)}: public law-enforcement types only")
    unknown = [f for f in data["audit_fields"] if f not in AUDIT_RECORD_FIELDS]
    if unknown:
        raise ValueError(f"audit_fields {unknown}: use {sorted(AUDIT_RECORD_FIELDS)}")
    in_force = data["in_force"]
    if not isinstance(in_force, date):
        raise TypeError("in_force must be a date (YYYY-MM-DD)")
    caps = [data.get(k) for k in ("read_retention_max_days", "hit_retention_max_days")]
    return StateLaw(
        state=code,
        name=str(data["name"]),
        citation=str(data["citation"]),
        statutes=tuple(str(s) for s in data["statutes"]),
        in_force=in_force,
        read_retention_max_days=None if caps[0] is None else int(caps[0]),
        hit_retention_max_days=None if caps[1] is None else int(caps[1]),
        recipient_types=recipients,
        in_state_only=bool(data["in_state_only"]),
        immigration_use_banned=bool(data["immigration_use_banned"]),
        sensitive_sites_banned=bool(data["sensitive_sites_banned"]),
        audit_fields=tuple(str(f) for f in data["audit_fields"]),
        reporting_duties=tuple(str(d) for d in data["reporting_duties"]),
    )
