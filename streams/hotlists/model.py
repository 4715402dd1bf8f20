"""Hot-list entries and the rules that decide whether one may be loaded at all.

An entry that breaks a rule is refused with :class:`EntryRefused`: it never
becomes active and never matches (P1, P2, P5, P6). The department-entry rules
(P2: the case number in one of the agency's formats, a reason naming a presumed
crime or a listed purpose, a real assignment; P6: partial plates only for the
agency's major crimes) come from the agency's profile; callers without one (the
matcher) use :data:`streams.access.justification.GENERIC`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import msgspec

from streams.access.justification import (
    GENERIC,
    check_assignment,
    check_case_number,
    check_reason,
    is_major_crime,
)
from streams.access.purpose import IMMIGRATION, classify_fields
from streams.errors import EntryRefused, JustificationRefused
from streams.retention.policy import Profile

__all__ = [
    "APPROVING_RANKS",
    "IMMIGRATION_LIST_TYPES",
    "LIST_TYPES",
    "LOCAL_SOURCE",
    "SOURCES",
    "HotlistEntry",
    "Person",
    "approving_rank",
    "check_entry",
    "missing_p2_fields",
]

#: P1: NCIC, CLETS, the CA Stolen Vehicle System and its extracts, department (local) lists.
SOURCES = frozenset({"ncic", "clets", "svs", "sfr", "slr", "local"})
LOCAL_SOURCE = "local"
LIST_TYPES = frozenset(
    {
        "stolen_vehicle",
        "stolen_plate",
        "felony_vehicle",
        "wanted_person",
        "missing_person",
        "amber_alert",
        "protection_order",
        "gang",
        "sex_offender",
        "bolo",
        "other",
    }
)
#: P5: never loaded, never enabled. The schema lets these through so the refusal is explicit.
IMMIGRATION_LIST_TYPES = frozenset({"immigration_violator", "immigration"})
#: P2: "approval of a lieutenant" -- that rank or above. The same set as the directory's
#: (streams.access.directory.APPROVING_RANKS, where ranks come from; a unit test keeps them equal).
APPROVING_RANKS = frozenset(
    {"lieutenant", "captain", "commander", "deputy chief", "assistant chief", "chief"}
)
MIN_KNOWN_PARTIAL_CHARS = 3


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    badge: str
    assignment: str | None = None
    rank: str | None = None


class HotlistEntry(msgspec.Struct, frozen=True):
    """One hot-list entry. ``plate`` is normalized; it is a partial pattern when it holds ``?`` or ``*``.

    A frozen struct rather than a frozen dataclass: a full sync of the NCIC extract makes a million,
    and a struct is made in a sixth of the time (a frozen dataclass sets each field through
    ``object.__setattr__``). Change one with :func:`msgspec.structs.replace`."""

    source: str
    entry_id: str
    plate: str
    plate_state: str | None
    list_type: str
    reason: str
    case_number: str | None = None
    effective_at: datetime | None = None
    expires_at: datetime | None = None
    synced_at: datetime | None = None
    entered_by: Person | None = None
    approved_by: Person | None = None
    ori: str | None = None  # originating agency (NCIC ORI): who confirms a hit (P8)
    vehicle: tuple[tuple[str, str], ...] = ()  # description for visual verification, e.g. (("make", "HOND"),)

    @property
    def key(self) -> str:
        """Entry key: unique across sources."""
        return f"{self.source}:{self.entry_id}"

    @property
    def is_partial(self) -> bool:
        return "?" in self.plate or "*" in self.plate

    @property
    def is_shared(self) -> bool:
        """Shared (external) data is subject to the 24-hour refresh rule (P4)."""
        return self.source != LOCAL_SOURCE


def approving_rank(rank: str | None) -> bool:
    """Lieutenant or above (P2); ``deputy_chief`` and ``Deputy Chief`` name the same rank."""
    return " ".join((rank or "").replace("_", " ").lower().split()) in APPROVING_RANKS


def check_entry(entry: HotlistEntry, *, require_p2: bool = True, profile: Profile | None = None) -> None:
    """Raise :class:`EntryRefused` naming the rule the entry breaks.

    ``require_p2=False`` lets a department entry lack P2 fields, for entries that wait for
    completion and approval (see :func:`missing_p2_fields`); the fields it has must still be
    valid. ``profile`` is the agency's (its case-number formats, purposes and major crimes);
    without one, :data:`~streams.access.justification.GENERIC`.
    """
    rules = profile or GENERIC
    if entry.list_type in IMMIGRATION_LIST_TYPES:
        raise EntryRefused(
            "P5",
            f"entry {entry.key}: hot lists may never serve immigration enforcement (list type "
            f"{entry.list_type!r}); this entry cannot be loaded or enabled",
        )
    found = classify_fields(entry.reason, entry.case_number)
    if found is not None and found.topic == IMMIGRATION:
        raise EntryRefused(
            "P5",
            f"entry {entry.key}: hot lists may never serve immigration enforcement (the entry names "
            f"{found.term!r}); this entry cannot be loaded or enabled",
        )
    if found is not None:
        raise EntryRefused(
            "P22",
            f"entry {entry.key}: hot lists may not serve the investigation of reproductive health care "
            f"(the entry names {found.term!r})",
        )
    if entry.source not in SOURCES:
        raise EntryRefused(
            "P1", f"entry {entry.key}: unknown source {entry.source!r}; use one of {sorted(SOURCES)}"
        )
    if entry.list_type not in LIST_TYPES:
        raise EntryRefused(
            "P1", f"entry {entry.key}: unknown list_type {entry.list_type!r}; use one of {sorted(LIST_TYPES)}"
        )
    if entry.source == LOCAL_SOURCE:
        _check_p2_values(entry, rules)  # before P6: a reason that names nothing says so first
    if entry.is_partial:
        known = sum(1 for ch in entry.plate if ch not in "?*")
        if known < MIN_KNOWN_PARTIAL_CHARS:
            raise EntryRefused(
                "P6",
                f"entry {entry.key}: partial plate {entry.plate!r} has {known} known characters; "
                f"at least {MIN_KNOWN_PARTIAL_CHARS} are needed or it would alert on nearly every read",
            )
        if entry.source == LOCAL_SOURCE and not is_major_crime(entry.reason, rules):
            raise EntryRefused(
                "P6",
                f"entry {entry.key}: a partial plate may be entered only for a major crime, and the "
                f"reason {entry.reason[:80]!r} names none; the major crimes are: "
                f"{', '.join(rules.partial_plate_crimes)}",
            )
    if (
        entry.expires_at is not None
        and entry.effective_at is not None
        and entry.expires_at <= entry.effective_at
    ):
        raise EntryRefused("P3", f"entry {entry.key}: expires_at is not after effective_at")
    if entry.source == LOCAL_SOURCE and require_p2:
        missing = missing_p2_fields(entry)
        if missing:
            raise EntryRefused(
                "P2",
                f"local entry {entry.key} is missing {', '.join(missing)}; a department entry needs the "
                "entering member's name, badge and assignment, a case number, a synopsis naming the "
                "presumed crime, and a lieutenant's approval",
            )


def _check_p2_values(entry: HotlistEntry, rules: Profile) -> None:
    """P2: the department-entry fields that are there must mean something: a case number in one of
    the agency's formats (not "-" or a plate), a reason naming a presumed crime or a listed purpose
    (not "."), the entering member's real assignment (not "xyz"). Absent ones are
    :func:`missing_p2_fields`' business."""
    try:
        if (entry.case_number or "").strip():
            check_case_number(entry.case_number, rules, rule="P2")
        if len(entry.reason.strip()) >= 1:
            check_reason(entry.reason, rules, rule="P2")
        if entry.entered_by is not None and (entry.entered_by.assignment or "").strip():
            check_assignment(entry.entered_by.assignment)
    except JustificationRefused as exc:
        raise EntryRefused(exc.rule, f"entry {entry.key}: {str(exc).removesuffix(f' ({exc.rule})')}") from exc


def missing_p2_fields(entry: HotlistEntry) -> list[str]:
    """What a department entry still lacks before it may become active (P2); empty when complete."""
    missing: list[str] = []
    by = entry.entered_by
    if by is None:
        missing.append("entered_by")
    else:
        missing += [
            f"entered_by.{f}" for f in ("name", "badge", "assignment") if not (getattr(by, f) or "").strip()
        ]
    if not (entry.case_number or "").strip():
        missing.append("case_number")
    if len(entry.reason.strip()) < 3:
        missing.append("reason (synopsis of the presumed crime)")
    ok = entry.approved_by
    if ok is None or not ok.name.strip() or not ok.badge.strip():
        missing.append("approved_by (lieutenant's approval)")
    elif not approving_rank(ok.rank):
        missing.append(f"approved_by.rank of lieutenant or above (got {ok.rank!r})")
    return missing
