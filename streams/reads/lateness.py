"""Where a read may be stored, and with which Kafka timestamp, so that none outlives P11.

The topics' retention is sized on a bound of lateness (streams/retention/policy.py, ``Timing``): a
read up to ``read_lateness_ms`` late goes to ``reads``, whose record timestamp is the capture time
of its earliest read (CreateTime: the broker refuses one older than the topic's
``message.timestamp.before.max.ms``); a read up to ``too_late_ms`` late goes to ``reads-late``,
stamped when sent (that topic keeps a record a day from its arrival); a later one cannot be kept
within the retention at all: it is counted, never stored.

Every limit is applied with a safety margin below the topic's bound: between the decision here and
the broker's append lie the batching window, retries and the difference between this host's clock
and the broker's. A record stamped at the edge would otherwise be refused by the broker, failing
its whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from streams.errors import InvalidRecord
from streams.reads.model import Read
from streams.retention.policy import Timing

if TYPE_CHECKING:
    from streams.settings import Settings

__all__ = [
    "LATE",
    "ON_TIME",
    "SENT_HEADER",
    "Lateness",
    "StoreBounds",
    "capture_ms",
    "capture_time_refusal",
    "check_capture_time",
    "margin_ms",
    "record_timestamp_ms",
    "storable",
    "too_late",
]

#: The topics (without prefix) a read is routed to.
ON_TIME = "reads"
LATE = "reads-late"
#: The header of a read record that says when the producer sent it (epoch ms, ASCII): its Kafka
#: timestamp is the capture time, and the worker's registry catch-up needs the time it was written.
SENT_HEADER = "sent-ms"
#: The largest margin kept under a topic's bound (real profiles: bounds of a day or more).
MAX_MARGIN_MS = 60_000


def margin_ms(limit_ms: int) -> int:
    """The safety margin under a bound of ``limit_ms``: a tenth of it, at most a minute."""
    return min(MAX_MARGIN_MS, limit_ms // 10)


def record_timestamp_ms(earliest_ms: int | None, now_ms: int, before_max_ms: int) -> int:
    """The Kafka timestamp of a record whose earliest read was captured at ``earliest_ms`` (None:
    no usable capture time, stamped now): never after now, and never so old that the broker
    (bound ``before_max_ms``) would refuse it by the time it arrives."""
    stamp = now_ms if earliest_ms is None else min(earliest_ms, now_ms)
    return max(stamp, now_ms - before_max_ms + margin_ms(before_max_ms))


def storable(source_ms: int, now_ms: int, before_max_ms: int) -> bool:
    """Whether a record derived from a source stamped ``source_ms`` (a rejection: the read's
    capture time; a candidate: the read's arrival) may still be written, stamped the same, to a
    topic of bound ``before_max_ms`` (P11). Half the producer's
    margin: a read the producer stamped at the edge leaves the worker half a margin to pass it on."""
    return now_ms - source_ms <= before_max_ms - margin_ms(before_max_ms) // 2


def capture_ms(read: Any) -> int | None:
    """A read's capture time in epoch milliseconds, or None when it has none that can be used
    (missing, not a date-time, no UTC offset): the worker rejects such a read with its reason."""
    captured = read.get("captured_at") if isinstance(read, dict) else getattr(read, "captured_at", None)
    if isinstance(captured, str):
        try:
            captured = datetime.fromisoformat(captured)
        except ValueError:
            return None
    if not isinstance(captured, datetime) or captured.tzinfo is None:
        return None
    return int(captured.timestamp() * 1000)


def _span(span: timedelta) -> str:
    """A retention as people say it: whole days in days, anything else in seconds."""
    if span.days and span == timedelta(days=span.days):
        return f"{span.days} days"
    return f"{span.total_seconds():g} s"


def check_capture_time(read: Read, now: datetime, max_skew: timedelta, retention: timedelta) -> None:
    """Refuse reads from the future (a wrong camera clock) and reads older than the retention (P11)."""
    error = capture_time_refusal(read.captured_at, now, max_skew, retention)
    if error is not None:
        raise error


def capture_time_refusal(
    captured: datetime, now: datetime, max_skew: timedelta, retention: timedelta
) -> InvalidRecord | None:
    """The error of a read captured at ``captured`` (:func:`check_capture_time`); None when it may be kept."""
    if captured > now + max_skew:
        return InvalidRecord(
            "future_timestamp",
            f"captured_at {captured.isoformat()} is more than {max_skew} ahead of the "
            "server clock; check the camera's clock",
        )
    if captured < now - retention:
        return InvalidRecord(
            "expired",
            f"captured_at {captured.isoformat()} is older than the read retention "
            f"({_span(retention)}); the read was not kept (P11)",
        )
    return None


def too_late(captured: int, now_ms: int, limit_ms: int) -> InvalidRecord:
    """The error of a read too late to be stored (P11); it names the capture time and the limit."""
    iso = datetime.fromtimestamp(captured / 1000, tz=UTC).isoformat(timespec="milliseconds")
    return InvalidRecord(
        "too_late",
        f"captured_at {iso} is {(now_ms - captured) / 1000:.0f} s old; a read that arrives more "
        f"than {limit_ms / 1000:.0f} s after its capture cannot be kept within the read retention: "
        "not stored (P11)",
    )


@dataclass(frozen=True, slots=True)
class Lateness:
    """The routing bounds of a profile: how late a read may arrive for ``reads`` (its topic's
    before.max.ms) and for ``reads-late``."""

    late_from_ms: int
    too_late_ms: int

    @classmethod
    def of(cls, timing: Timing) -> Lateness:
        return cls(timing.late_reads_from_ms, timing.too_late_ms)

    def route(self, captured: int | None, now_ms: int) -> str | None:
        """``reads``, ``reads-late``, or None (too late: not stored). A read without a usable
        capture time, or from the future, goes to ``reads``, where the worker rejects it or not."""
        if captured is None:
            return ON_TIME
        lateness = now_ms - captured
        if lateness <= self.late_from_ms - margin_ms(self.late_from_ms):
            return ON_TIME
        if lateness <= self.too_late_ms - margin_ms(self.too_late_ms):
            return LATE
        return None


@dataclass(frozen=True, slots=True)
class StoreBounds:
    """``message.timestamp.before.max.ms`` of reads-rejected and candidates (streams/kafka/topics.py):
    how old a rejected read's capture time, and a candidate's source arrival, may be for the record
    to be stored with that timestamp."""

    rejected_ms: int
    candidates_ms: int

    @classmethod
    def of(cls, settings: Settings) -> StoreBounds:
        from streams.kafka.topics import READ_DATA, topic_specs

        bound = {
            s.name: int(s.configs()["message.timestamp.before.max.ms"])
            for s in topic_specs(settings)
            if s.data_class == READ_DATA
        }
        return cls(bound["reads-rejected"], bound["candidates"])
