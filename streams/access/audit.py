"""The audit trail: every access to ALPR data, on the audit topic (kept >= 2 years, P14, P15).

One record per action (a hold placed or released, a replay, ...) with who, when, what was asked
(the plate or other data elements), why (purpose, crime type, case number), how many records it
touched and the decision. Keyed by user. Written before the command reports success: an action
whose audit record cannot be written fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streams.codec import dumps, validator
from streams.kafka.log import TopicWriter
from streams.settings import Settings

__all__ = ["AccessRecorded", "record_access"]


@dataclass(frozen=True, slots=True)
class AccessRecorded:
    at: datetime
    user: str
    action: str  # e.g. hold_add, hold_release, replay, retro_hunt
    case_number: str | None
    purpose: str | None
    query: dict[str, Any] = field(default_factory=dict)  # the plate or other data elements asked for
    result_count: int = 0
    decision: str = "allowed"
    badge: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": "AccessRecorded",
            "at": self.at.isoformat(),
            "user": self.user,
            "badge": self.badge,
            "action": self.action,
            "case_number": self.case_number,
            "purpose": self.purpose,
            "reason": self.reason,
            "query": self.query,
            "result_count": self.result_count,
            "decision": self.decision,
        }


async def record_access(
    settings: Settings, record: AccessRecorded, writer: TopicWriter | None = None
) -> None:
    """Append the record to the audit topic and wait until Kafka has it."""
    data = record.to_dict()
    validator("audit_record")(data)
    own = writer is None
    out = writer or TopicWriter(settings.bootstrap_servers)
    if own:
        await out.start()
    try:
        await out.write(settings.topic("audit"), record.user.encode(), dumps(data))
        await out.flush()
    finally:
        if own:
            await out.stop()
