"""Who acts: a signed-in person or a service account, with a role and an agency (P18, P21).

Every use case takes a :class:`Principal` and checks it against the one permission table
(:mod:`streams.access.permissions`). Names, badges and ranks come from the directory when the
principal signs in, never from what a caller types: nobody can act as someone else by wording.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from streams.access.audit import AccessRecorded

__all__ = ["Principal"]


@dataclass(frozen=True, slots=True)
class Principal:
    name: str  # the directory user name, or the service account's name
    display: str
    agency: str
    role: str
    kind: Literal["user", "service"] = "user"
    badge: str | None = None
    rank: str | None = None
    assignment: str | None = None
    session: str | None = None  # the session's id (never its token), for the audit trail

    @property
    def label(self) -> str:
        """How the principal is named in messages and logs."""
        badge = f", badge {self.badge}" if self.badge else ""
        return f"{self.name} ({self.role}, {self.agency}{badge})"

    def audit(
        self,
        now: datetime,
        action: str,
        query: dict[str, Any] | None = None,
        result_count: int = 0,
        *,
        case_number: str | None = None,
        purpose: str | None = None,
        decision: str = "allowed",
        reason: str | None = None,
        crime_type: str | None = None,
    ) -> AccessRecorded:
        """The audit record of an act of this principal (P15): who, of which agency, when, what."""
        return AccessRecorded(
            now,
            self.name,
            action,
            case_number,
            purpose,
            dict(query or {}),
            result_count,
            decision=decision,
            badge=self.badge,
            reason=reason,
            agency=self.agency,
            crime_type=crime_type,
        )
