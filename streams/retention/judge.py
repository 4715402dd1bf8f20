"""One topic's live configs judged against the profile: the rules of ``alpr retention check``.

A config the broker does not report takes Apache Kafka 4's default, because that is what the
broker applies. Read data is judged from its *capture*: its Kafka timestamp is the capture time
(CreateTime), the broker refuses records older than ``message.timestamp.before.max.ms`` or further
ahead than ``message.timestamp.after.max.ms``, and deletes a segment once its newest record is
``retention.ms`` old, checked every ``log.retention.check.interval.ms``. So a read can live
``before + after + retention.ms + segment.ms + check interval`` after capture, and that sum must
stay within the read retention (P11; the arithmetic of streams.retention.policy.Timing).
Compacted topics that hold read copies (evidence holds) or credentials (users, camera keys) must
bound ``max.compaction.lag.ms``, or a released hold's read or a replaced secret stays readable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from streams.errors import ConfigError
from streams.kafka.topics import AGGREGATES, READ_DATA, TopicSpec, topic_specs
from streams.retention.policy import DAY_MS, HOUR_MS, max_record_age_ms, retention_ms_within
from streams.settings import Settings

__all__ = ["INTERNAL", "NO_RULE", "OTHER", "Verdict", "assess", "classify", "duration"]

INTERNAL = "internal"
OTHER = "other"
#: Classes that no retention rule applies to: they are never a failure.
NO_RULE = frozenset({INTERNAL, OTHER})

#: Java's Long.MAX_VALUE: Kafka's "no limit" for durations.
LONG_MAX = 2**63 - 1
#: Apache Kafka 4's topic defaults, which apply when a broker reports no value.
KAFKA_DEFAULT_RETENTION_MS = 7 * DAY_MS
KAFKA_DEFAULT_SEGMENT_MS = 7 * DAY_MS
KAFKA_DEFAULT_CLEANUP = "delete"
KAFKA_DEFAULT_TIMESTAMP_TYPE = "CreateTime"
KAFKA_DEFAULT_BEFORE_MAX_MS = LONG_MAX
KAFKA_DEFAULT_AFTER_MAX_MS = 3_600_000  # one hour since Kafka 4.0 (KIP-937)
KAFKA_DEFAULT_MAX_COMPACTION_LAG_MS = LONG_MAX
#: P14: audit trails are kept at least two years, whatever the profile says.
AUDIT_MIN_DAYS = 730
#: P26: the aggregates (counts, no plates: not read data) must outlive the year the annual report
#: covers and the year before it, for comparison.
AGGREGATES_MIN_DAYS = 731
#: Compacted topics whose replaced or deleted values must not linger: what they hold, the rules.
LINGERING = {
    "evidence-holds": ("a released hold's read copy", "P11, P12"),
    "users": ("a replaced password hash or authenticator secret", "P18"),
    "camera-keys": ("a replaced camera key hash", "P18"),
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """One topic judged against the profile.

    ``retention_ms``/``segment_ms`` are None when unknown (the topic is missing or the broker holds
    something that is not a number); ``worst_case_ms`` is None when records are kept forever (for
    read data: counted from capture, and None also when the broker accepts reads of any age).
    ``oldest_age_ms``: the age of the oldest read found on the topic (read data only).
    """

    name: str
    data_class: str
    cleanup: str
    retention_ms: int | None
    segment_ms: int | None
    worst_case_ms: int | None
    ok: bool
    problem: str = ""
    oldest_age_ms: int | None = None

    @property
    def ours(self) -> bool:
        return self.data_class not in NO_RULE


def classify(topic_name: str, settings: Settings) -> str:
    """The data class a topic holds, which decides the rule it is judged by.

    Faust changelog and repartition topics of our app derive from reads, so they are read data: a
    compacted changelog keyed by plate would keep reads forever.
    """
    for spec in topic_specs(settings):
        if settings.topic(spec.name) == topic_name:
            return spec.data_class
    if topic_name.startswith(f"{settings.app_id}-") and topic_name.endswith(("-changelog", "-repartition")):
        return READ_DATA
    if topic_name.startswith("__"):
        return INTERNAL
    return OTHER


def duration(ms: int, *, short: bool = False) -> str:
    """A duration a reader can take in: days for days, else hours, minutes or seconds."""
    for unit, size, abbrev in (("days", DAY_MS, "d"), ("hours", HOUR_MS, "h"), ("minutes", 60_000, "min")):
        if abs(ms) >= size:
            return f"{ms / size:.1f} {abbrev if short else unit}"
    return f"{ms / 1000:.1f} s"


def _policies(cleanup: str) -> frozenset[str]:
    parts = frozenset(p.strip().strip("[]").strip().lower() for p in cleanup.split(","))
    return (parts - {""}) or frozenset({KAFKA_DEFAULT_CLEANUP})


def _ms(configs: Mapping[str, str], key: str, default: int) -> int | None:
    raw = configs.get(key)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw.strip())
    except ValueError:
        return None


def _lateness(configs: Mapping[str, str]) -> int | None:
    """How far a stored read's timestamp can lie from its arrival (before + after bounds), or
    None when the broker does not bound it: LogAppendTime, or no before.max.ms."""
    kind = configs.get("message.timestamp.type", KAFKA_DEFAULT_TIMESTAMP_TYPE).strip()
    before = _ms(configs, "message.timestamp.before.max.ms", KAFKA_DEFAULT_BEFORE_MAX_MS)
    after = _ms(configs, "message.timestamp.after.max.ms", KAFKA_DEFAULT_AFTER_MAX_MS)
    if kind != "CreateTime" or before is None or after is None or before >= LONG_MAX:
        return None
    return before + min(after, LONG_MAX // 2)


def _declared(name: str, settings: Settings) -> TopicSpec:
    """The declaration a read-data topic should follow (an undeclared one: the reads topic's)."""
    specs = {settings.topic(s.name): s for s in topic_specs(settings)}
    return specs.get(name) or specs[settings.topic("reads")]


def _declared_names(settings: Settings) -> set[str]:
    return {settings.topic(s.name) for s in topic_specs(settings)}


def _fix_read(name: str, settings: Settings, segment_ms: int, check_ms: int) -> str:
    """What to set so that a read is gone within the read retention of its capture."""
    spec = _declared(name, settings)
    extra = dict(spec.extra)
    before = int(extra["message.timestamp.before.max.ms"])
    after = int(extra["message.timestamp.after.max.ms"])
    limit = settings.profile.read_retention_ms - max(before, spec.lateness_ms) - after
    bounds = (
        f"message.timestamp.type=CreateTime, message.timestamp.before.max.ms={before}, "
        f"message.timestamp.after.max.ms={after}"
    )
    try:
        if segment_ms + check_ms < limit:
            within = retention_ms_within(limit, segment_ms, check_ms)
            return (
                f"set cleanup.policy=delete, {bounds} and retention.ms at most {within} "
                f"(with segment.ms={segment_ms})"
            )
        within = retention_ms_within(limit, spec.segment_ms, check_ms)
    except ConfigError:
        return f"the broker's {check_ms} ms check interval alone exceeds the read retention; lower it"
    return (
        f"set cleanup.policy=delete, {bounds}, segment.ms={spec.segment_ms} and retention.ms at most {within}"
    )


def _fix_delete(limit_ms: int, segment_ms: int, check_ms: int) -> str:
    """What to set so that the worst-case age of a delete-policy topic stays within ``limit_ms``."""
    if segment_ms + check_ms < limit_ms:
        within = retention_ms_within(limit_ms, segment_ms, check_ms)
        return f"set cleanup.policy=delete and retention.ms at most {within} (with segment.ms={segment_ms})"
    within = retention_ms_within(limit_ms, HOUR_MS, check_ms)
    return f"set cleanup.policy=delete, segment.ms={HOUR_MS} and retention.ms at most {within}"


def _read_data_problem(
    name: str, policies: frozenset[str], retention: int, segment: int, worst: int | None,
    configs: Mapping[str, str], settings: Settings, check_ms: int,
) -> str:  # fmt: skip
    limit = settings.profile.read_retention_ms
    cleanup = ",".join(sorted(policies))
    fix = _fix_read(name, settings, segment, check_ms)
    kind = configs.get("message.timestamp.type", KAFKA_DEFAULT_TIMESTAMP_TYPE).strip()
    if "delete" not in policies:
        return f"cleanup.policy={cleanup} keeps read data forever; {fix} (P11)"
    if retention < 0:
        return f"retention.ms={retention} keeps read data forever; {fix} (P11)"
    if kind != "CreateTime":
        return (
            f"message.timestamp.type={kind} counts the retention from a read's arrival, not its "
            f"capture, so a read sent late outlives it; {fix} (P11)"
        )
    if worst is None:
        return (
            "message.timestamp.before.max.ms is unbounded: the broker accepts a read captured any time "
            f"ago and keeps it a full retention.ms after; {fix} (P11)"
        )
    if worst > limit:
        return (
            f"a read can live {duration(worst)} after capture, over the {duration(limit)} read "
            f"retention; {fix} (P11)"
        )
    return ""


def _lingering_problem(
    name: str, policies: frozenset[str], configs: Mapping[str, str], settings: Settings
) -> str:
    """A compacted topic of read copies or credentials must compact a replaced value in time."""
    what, rules = next(v for k, v in LINGERING.items() if settings.topic(k) == name)
    if "compact" not in policies:
        return ""
    lag = _ms(configs, "max.compaction.lag.ms", KAFKA_DEFAULT_MAX_COMPACTION_LAG_MS)
    limit = settings.profile.broker.max_compaction_lag_ms
    if lag is None:
        raw = configs.get("max.compaction.lag.ms")
        return f"max.compaction.lag.ms={raw!r} is not a number; set {limit} ({rules})"
    if lag > limit:
        shown = "unset" if lag >= LONG_MAX else str(lag)
        stays = "indefinitely" if lag >= LONG_MAX else f"up to {duration(lag)}"
        return (
            f"max.compaction.lag.ms={shown} lets {what} stay readable {stays} after it is replaced "
            f"or deleted; set max.compaction.lag.ms at most {limit} ({rules})"
        )
    return ""


def _judge(
    name: str,
    data_class: str,
    policies: frozenset[str],
    retention: int,
    segment: int,
    worst: int | None,
    configs: Mapping[str, str],
    settings: Settings,
    check_ms: int,
) -> str:
    """The problem with one topic under its class's rule, or "" when it keeps the policy."""
    profile = settings.profile
    cleanup = ",".join(sorted(policies))
    if data_class == READ_DATA:
        return _read_data_problem(name, policies, retention, segment, worst, configs, settings, check_ms)
    if data_class == "evidence":
        if policies != {"compact"}:
            return (
                f"cleanup.policy={cleanup} deletes held reads by age, so a hold would not outlive "
                "the read retention; set cleanup.policy=compact (P12)"
            )
        return _lingering_problem(name, policies, configs, settings)
    if any(settings.topic(k) == name for k in LINGERING):
        return _lingering_problem(name, policies, configs, settings)
    if data_class == "alerts":
        if profile.hit_retention_days is None:
            return ""  # P13: this agency keeps hit records indefinitely
        limit = profile.hit_retention_days * DAY_MS
        fix = _fix_delete(limit, segment, check_ms)
        if worst is None:
            return f"cleanup.policy={cleanup} retention.ms={retention} keeps hit records forever; {fix} (P13)"
        if worst > limit:
            return (
                f"hit records can live {duration(worst)}, over the {profile.hit_retention_days}-day "
                f"hit retention; {fix} (P13)"
            )
        return ""
    if data_class == "audit":
        minimum_days = max(AUDIT_MIN_DAYS, profile.audit_retention_days)
        problems = []
        if policies != {"delete"}:
            problems.append(
                f"cleanup.policy={cleanup} would compact away older audit records of a user; "
                "set cleanup.policy=delete"
            )
        if retention != -1 and retention < minimum_days * DAY_MS:
            problems.append(
                f"retention.ms={retention} deletes audit records after {duration(retention)}; "
                f"set retention.ms to -1 or at least {minimum_days * DAY_MS} ({minimum_days} days)"
            )
        problems.extend(_bytes_problem(configs))
        return "; ".join(problems) + " (P14)" if problems else ""
    if data_class == AGGREGATES:
        problems = []
        if "delete" in policies and retention != -1 and retention < AGGREGATES_MIN_DAYS * DAY_MS:
            problems.append(
                f"retention.ms={retention} deletes the daily counts after {duration(retention)}, before "
                f"the annual report needs them; set retention.ms to at least {AGGREGATES_MIN_DAYS * DAY_MS} "
                f"({AGGREGATES_MIN_DAYS} days)"
            )
        problems.extend(_bytes_problem(configs))
        return "; ".join(problems) + " (P26)" if problems else ""
    if data_class == "hot list" and name == settings.topic("hotlist-changes"):
        problems = []
        if "compact" in policies:
            problems.append(
                f"cleanup.policy={cleanup} compacts away older events of a plate; set cleanup.policy=delete"
            )
        if retention != -1 and retention < profile.read_retention_ms:
            problems.append(
                f"retention.ms={retention} keeps {duration(retention)} of hot-list history, less than "
                f"the {duration(profile.read_retention_ms)} read retention; set retention.ms to at least "
                f"{profile.read_retention_ms}"
            )
        problems.extend(_bytes_problem(configs))
        if problems:
            return (
                "; ".join(problems)
                + ": rematch could not rebuild the hot list as it stood for the oldest reads (P11)"
            )
    return ""


def _has_rule(name: str, data_class: str, settings: Settings) -> bool:
    """Whether any retention rule judges this topic (most registries and hot-list topics: none)."""
    return (
        data_class in {READ_DATA, "alerts", "audit", "evidence", AGGREGATES}
        or name == settings.topic("hotlist-changes")
        or any(settings.topic(k) == name for k in LINGERING)
    )


def _bytes_problem(configs: Mapping[str, str]) -> list[str]:
    """A size limit removes records early, which a minimum-age rule cannot allow."""
    raw = configs.get("retention.bytes", "-1").strip() or "-1"
    if raw != "-1":
        return [f"retention.bytes={raw} can delete records before their age; set retention.bytes=-1"]
    return []


def assess(name: str, configs: Mapping[str, str], settings: Settings, check_ms: int) -> Verdict:
    """Judge one existing topic from the configs the broker reports for it."""
    data_class = classify(name, settings)
    policies = _policies(configs.get("cleanup.policy", KAFKA_DEFAULT_CLEANUP))
    cleanup = ",".join(sorted(policies))
    retention = _ms(configs, "retention.ms", KAFKA_DEFAULT_RETENTION_MS)
    segment = _ms(configs, "segment.ms", KAFKA_DEFAULT_SEGMENT_MS)
    numbers = ["retention.ms", "segment.ms"]
    if data_class == READ_DATA:
        numbers += ["message.timestamp.before.max.ms", "message.timestamp.after.max.ms"]
    bad = [k for k in numbers if _ms(configs, k, 0) is None]
    if retention is None or segment is None or bad:
        problem = (
            f"{bad[0]}={configs.get(bad[0])!r} is not a whole number of milliseconds; set a number"
            if _has_rule(name, data_class, settings)
            else ""
        )
        return Verdict(name, data_class, cleanup, retention, segment, None, not problem, problem)
    lateness = _lateness(configs) if data_class == READ_DATA else 0
    if lateness is not None and data_class == READ_DATA and name in _declared_names(settings):
        # stamped at send or arrival (reads-late, candidates): the routing bounds the lateness
        after = _ms(configs, "message.timestamp.after.max.ms", KAFKA_DEFAULT_AFTER_MAX_MS) or 0
        lateness = max(lateness, _declared(name, settings).lateness_ms + after)
    forever = "delete" not in policies or retention < 0 or lateness is None
    worst = (
        None if forever or lateness is None else lateness + max_record_age_ms(retention, segment, check_ms)
    )
    problem = _judge(name, data_class, policies, retention, segment, worst, configs, settings, check_ms)
    return Verdict(name, data_class, cleanup, retention, segment, worst, not problem, problem)
