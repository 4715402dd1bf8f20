"""Agency policy profiles and the arithmetic of "gone when older than".

Kafka deletes whole segments, checked every ``log.retention.check.interval.ms``,
so a record can live up to retention.ms + segment.ms + check interval. Topics
holding read data are sized so that sum stays within the agency's retention (P11).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources
from typing import Any

from streams.errors import ConfigError
from streams.retention.law import law_for

__all__ = ["Profile", "Timing", "load_profile", "max_record_age_ms", "retention_ms_within"]

DAY_MS = 24 * 3600 * 1000
HOUR_MS = 3600 * 1000
#: Apache Kafka's default log.retention.check.interval.ms; deploy/kafka sets it explicitly.
BROKER_RETENTION_CHECK_MS = 5 * 60 * 1000


@dataclass(frozen=True, slots=True)
class Timing:
    """How the broker keeps read data within the profile's retention, in milliseconds.

    Kafka deletes a segment once its *newest* record is older than ``retention.ms``, so a record
    lives up to (its arrival + the producers' clock skew) + retention.ms + segment.ms + the broker's
    check interval, whatever its own timestamp. A read arriving ``lateness`` after capture therefore
    only stays within the policy if ``lateness`` is bounded: reads up to ``read_lateness_ms`` late
    go to the reads topic (whose retention is shortened by that much), later ones to the
    reads-late topic (kept ``late_read_retention_ms``), and reads later than
    ``read_retention_ms - late_read_retention_ms`` are counted, never stored (P11).

    Real profiles use the defaults; the ``retention-test`` profile scales them down to seconds so
    the tests can watch the broker delete (its ``[timing]`` table).
    """

    read_retention_ms: int
    read_lateness_ms: int = DAY_MS
    late_read_retention_ms: int = DAY_MS
    read_segment_ms: int = HOUR_MS
    #: segment.ms of compacted topics: a closed segment is what the log cleaner compacts.
    compact_segment_ms: int = DAY_MS
    #: delete.retention.ms of compacted topics: how long a tombstone itself stays readable.
    tombstone_retention_ms: int = DAY_MS
    #: max.compaction.lag.ms of compacted topics: a replaced or deleted value (a released hold's
    #: read copy, a user's old password hash) is compacted away within this time.
    max_compaction_lag_ms: int = DAY_MS
    #: The broker's log.retention.check.interval.ms this profile counts on (alpr retention check
    #: compares it with the broker's).
    retention_check_ms: int = BROKER_RETENTION_CHECK_MS

    @property
    def late_reads_from_ms(self) -> int:
        """Reads at least this late (arrival - capture) go to the reads-late topic."""
        return self.read_lateness_ms

    @property
    def too_late_ms(self) -> int:
        """Reads at least this late cannot be kept within the retention: counted, not stored."""
        return self.read_retention_ms - self.late_read_retention_ms


@dataclass(frozen=True, slots=True)
class Profile:
    """One agency's retention and freshness settings, read from a data file."""

    name: str
    agency: str
    read_retention_days: int
    hit_retention_days: int | None  # None: kept indefinitely (Hayward, P13)
    audit_retention_days: int
    hotlist_max_staleness_hours: int
    dedup_window_minutes: int
    timing: Timing | None = None  # None: Timing(read_retention_ms=read_retention_days days)
    #: P16, P2, P12: the agency's case and incident number formats, as regular expressions matched
    #: against the whole (upper-cased, trimmed) value. A value matching none is refused.
    case_number_formats: tuple[str, ...] = (r"[A-Z]{1,4}-?\d{2}-\d{4,8}", r"\d{7}", r"\d{9}")
    #: P2, P16: purposes that are not a crime but justify an entry or a search.
    non_criminal_purposes: tuple[str, ...] = (
        "amber alert",
        "missing person",
        "endangered missing",
        "silver alert",
        "feather alert",
        "ebony alert",
        "stolen vehicle recovery",
    )
    #: P6: partial plates may be entered only for these major crimes (words or code sections).
    partial_plate_crimes: tuple[str, ...] = (
        "homicide",
        "murder",
        "187",
        "attempted murder",
        "robbery",
        "211",
        "carjacking",
        "215",
        "kidnapping",
        "207",
        "rape",
        "261",
        "sexual assault",
        "assault with a deadly weapon",
        "245",
        "shooting",
        "246",
        "hit and run",
        "20001",
        "arson",
        "451",
        "amber alert",
        "human trafficking",
        "236.1",
    )
    #: P12: an evidence hold must be renewed within this many days or it ends (with notice).
    hold_review_days: int = 90
    #: P17: a Commander's approval is valid from its date for this many days (never future-dated).
    commander_approval_max_days: int = 30
    #: Late reads: a read older than this on arrival raises a historical alert, never a live one.
    live_alert_max_age_minutes: int = 15
    #: P7: below this read confidence, "verify" needs an explicit acknowledgement.
    low_confidence: float = 0.8
    #: P7/P8: validation (CLETS query) and confirmation must be made by different people.
    separate_validation: bool = False
    #: The home agency's state (two letters): its ALPR law sets the sharing rule, retention caps
    #: and reporting duties (streams/retention/law.py); the agency's policy narrows them.
    state: str = "CA"
    #: The longest life of a department entry: a vendor entry that "never" expires is capped here.
    max_entry_days: int = 365

    def __post_init__(self) -> None:
        if self.read_retention_days < 1:
            raise ConfigError(f"profile {self.name}: read_retention_days must be at least 1")
        if self.audit_retention_days < 730:
            raise ConfigError(f"profile {self.name}: audit_retention_days must be at least 730 (P14)")
        if self.hold_review_days < 1 or self.commander_approval_max_days < 1:
            raise ConfigError(
                f"profile {self.name}: hold_review_days and commander_approval_max_days must be >= 1"
            )
        if not re.fullmatch(r"[A-Z]{2}", self.state):
            raise ConfigError(
                f"profile {self.name}: state must be a two-letter code such as CA, not {self.state!r}"
            )
        try:  # P11, P13: the agency's policy may narrow its state's law, never widen it
            law = law_for(self.state)
        except ConfigError as exc:
            raise ConfigError(f"profile {self.name}: {exc}") from exc
        refusal = law.retention_refusal(self.read_retention_days, self.hit_retention_days)
        if refusal is not None:
            raise ConfigError(f"profile {self.name}: {refusal}")
        if self.max_entry_days < 1:
            raise ConfigError(f"profile {self.name}: max_entry_days must be at least 1")
        if self.live_alert_max_age_minutes < 1:
            raise ConfigError(f"profile {self.name}: live_alert_max_age_minutes must be at least 1")
        if not 0.0 <= self.low_confidence <= 1.0:
            raise ConfigError(f"profile {self.name}: low_confidence must be between 0 and 1")
        for pattern in self.case_number_formats:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(
                    f"profile {self.name}: case_number_formats has a bad pattern {pattern!r}: {exc}"
                ) from exc
        if self.timing is None:
            object.__setattr__(self, "timing", Timing(self.read_retention_days * DAY_MS))
        t = self.broker
        if t.read_retention_ms > self.read_retention_days * DAY_MS:
            raise ConfigError(f"profile {self.name}: [timing] read_retention_ms exceeds read_retention_days")
        if t.read_lateness_ms + t.late_read_retention_ms >= t.read_retention_ms:
            raise ConfigError(
                f"profile {self.name}: read lateness ({t.read_lateness_ms} ms) plus the late-read "
                f"retention ({t.late_read_retention_ms} ms) must stay under the read retention "
                f"({t.read_retention_ms} ms)"
            )

    @property
    def broker(self) -> Timing:
        """The broker timing (never None after construction)."""
        assert self.timing is not None  # noqa: S101 - set in __post_init__
        return self.timing

    @property
    def read_retention_ms(self) -> int:
        return self.broker.read_retention_ms

    @property
    def read_retention(self) -> timedelta:
        """The read retention in the profile's own clock (the retention-test profile's: seconds)."""
        return timedelta(milliseconds=self.read_retention_ms)

    @property
    def hotlist_max_staleness_s(self) -> float:
        return self.hotlist_max_staleness_hours * 3600.0


def load_profile(name: str) -> Profile:
    """Load ``streams/retention/profiles/<name>.toml``."""
    folder = resources.files("streams.retention").joinpath("profiles")
    path = folder.joinpath(f"{name}.toml")
    if not path.is_file():
        known = sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))
        raise ConfigError(f"ALPR_PROFILE={name!r} is not a known profile; choose one of {known}")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    hit = data.get("hit_retention_days")
    try:
        days = int(data["read_retention_days"])
        timing = data.get("timing")
        return Profile(
            name=str(data["name"]),
            agency=str(data["agency"]),
            read_retention_days=days,
            hit_retention_days=None if hit in (None, "indefinite") else int(hit),
            audit_retention_days=int(data["audit_retention_days"]),
            hotlist_max_staleness_hours=int(data["hotlist_max_staleness_hours"]),
            dedup_window_minutes=int(data["dedup_window_minutes"]),
            timing=None
            if timing is None
            else Timing(**{"read_retention_ms": days * DAY_MS, **{k: int(v) for k, v in timing.items()}}),
            **_policy_fields(data),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigError(f"profile file {name}.toml is malformed: {exc!r}") from exc


_TUPLE_FIELDS = ("case_number_formats", "non_criminal_purposes", "partial_plate_crimes")
_INT_FIELDS = (
    "hold_review_days",
    "commander_approval_max_days",
    "live_alert_max_age_minutes",
    "max_entry_days",
)


def _policy_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The optional policy settings a profile file gives; absent ones keep the defaults."""
    out: dict[str, Any] = {}
    for key in _TUPLE_FIELDS:
        if key in data:
            value = data[key]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{key} must be a list of strings")
            out[key] = tuple(value)
    for key in _INT_FIELDS:
        if key in data:
            out[key] = int(data[key])
    if "low_confidence" in data:
        out["low_confidence"] = float(data["low_confidence"])
    if "state" in data:
        out["state"] = str(data["state"]).upper()
    if "separate_validation" in data:
        out["separate_validation"] = bool(data["separate_validation"])
    return out


def max_record_age_ms(retention_ms: int, segment_ms: int, check_ms: int = BROKER_RETENTION_CHECK_MS) -> int:
    """Worst-case age of a record on a delete-policy topic before the broker removes it."""
    return retention_ms + segment_ms + check_ms


def retention_ms_within(limit_ms: int, segment_ms: int, check_ms: int = BROKER_RETENTION_CHECK_MS) -> int:
    """The retention.ms that keeps the worst-case age within ``limit_ms``."""
    retention = limit_ms - segment_ms - check_ms
    if retention <= 0:
        raise ConfigError(
            f"segment.ms={segment_ms} plus the broker check interval {check_ms} ms already "
            f"exceed the limit of {limit_ms} ms; use smaller segments"
        )
    return retention
