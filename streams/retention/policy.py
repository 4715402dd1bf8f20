"""Agency policy profiles and the arithmetic of "gone when older than".

Kafka deletes whole segments, checked every ``log.retention.check.interval.ms``,
so a record can live up to retention.ms + segment.ms + check interval. Topics
holding read data are sized so that sum stays within the agency's retention (P11).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources

from streams.errors import ConfigError

__all__ = ["Profile", "load_profile", "max_record_age_ms", "retention_ms_within"]

DAY_MS = 24 * 3600 * 1000
HOUR_MS = 3600 * 1000
#: Apache Kafka's default log.retention.check.interval.ms; deploy/kafka sets it explicitly.
BROKER_RETENTION_CHECK_MS = 5 * 60 * 1000


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

    def __post_init__(self) -> None:
        if self.read_retention_days < 1:
            raise ConfigError(f"profile {self.name}: read_retention_days must be at least 1")
        if self.audit_retention_days < 730:
            raise ConfigError(f"profile {self.name}: audit_retention_days must be at least 730 (P14)")

    @property
    def read_retention_ms(self) -> int:
        return self.read_retention_days * DAY_MS

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
        return Profile(
            name=str(data["name"]),
            agency=str(data["agency"]),
            read_retention_days=int(data["read_retention_days"]),
            hit_retention_days=None if hit in (None, "indefinite") else int(hit),
            audit_retention_days=int(data["audit_retention_days"]),
            hotlist_max_staleness_hours=int(data["hotlist_max_staleness_hours"]),
            dedup_window_minutes=int(data["dedup_window_minutes"]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigError(f"profile file {name}.toml is malformed: {exc!r}") from exc


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
