"""One exception root for the project, with a small tree.

Messages say what was wrong and what to do about it. Lower-level errors are
wrapped with ``raise ... from exc`` so the cause stays visible.
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "AlprError",
    "BrokerError",
    "ConfigError",
    "EntryRefused",
    "InvalidRecord",
    "JustificationRefused",
    "NotFound",
    "NotSignedIn",
    "PolicyViolation",
]


class AlprError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(AlprError):
    """A setting or profile is missing or malformed; the message names the variable."""


class InvalidRecord(AlprError):
    """A record failed to decode or validate.

    ``code`` is a short, stable reason code (used as a metric label and kept on the
    rejected topic); the message says what exactly was wrong.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def reason(self) -> str:
        return str(self)


class PolicyViolation(AlprError):
    """An action that the agency policy (docs/policy.md, P1-P28) does not allow."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{message} ({rule})")
        self.rule = rule


class EntryRefused(PolicyViolation):
    """A hot-list entry that may not be loaded; it never becomes active."""


class JustificationRefused(PolicyViolation):
    """A case number, crime type or reason that gives an auditor nothing to check (P2, P12, P16, P17)."""


class BrokerError(AlprError):
    """The Kafka broker could not be reached, started or stopped."""


class AccessDenied(AlprError):
    """The person may not do this (e.g. approve without a lieutenant's rank, remove another's entry)."""


class NotFound(AlprError):
    """The thing named does not exist."""


class NotSignedIn(AccessDenied):
    """Nobody is signed in, or the session has ended (expired, signed out, revoked)."""
