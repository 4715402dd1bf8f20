"""``alpr retention check``: does the cluster, as it is configured now, keep the policy?

The topic declaration (``streams.kafka.topics``) says what the configs should be,
but the policy is kept only by what the broker actually holds: a topic created by
hand, by an older version, or auto-created with broker defaults can keep reads
far longer than the agency allows (P11). This module reads the live configs and
judges every topic against the profile. The judging is pure (:func:`classify`,
:func:`assess`, :func:`assess_cluster`, :func:`format_report`); only
:func:`run_check` talks to Kafka.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from streams.errors import BrokerError
from streams.kafka.topics import AGGREGATES, READ_DATA, topic_specs
from streams.retention.policy import (
    BROKER_RETENTION_CHECK_MS,
    DAY_MS,
    HOUR_MS,
    Profile,
    max_record_age_ms,
    retention_ms_within,
)
from streams.settings import Settings

__all__ = [
    "INTERNAL",
    "OTHER",
    "Verdict",
    "assess",
    "assess_cluster",
    "classify",
    "format_report",
    "run_check",
]

INTERNAL = "internal"
OTHER = "other"
#: Classes that no retention rule applies to: they are never a failure.
NO_RULE = frozenset({INTERNAL, OTHER})

#: Apache Kafka's topic defaults, which apply when a broker reports no value.
KAFKA_DEFAULT_RETENTION_MS = 7 * DAY_MS
KAFKA_DEFAULT_SEGMENT_MS = 7 * DAY_MS
KAFKA_DEFAULT_CLEANUP = "delete"
#: P14: audit trails are kept at least two years, whatever the profile says.
AUDIT_MIN_DAYS = 730
#: P26: the aggregates (counts, no plates: not read data) must outlive the year the annual report
#: covers and the year before it, for comparison.
AGGREGATES_MIN_DAYS = 731
CHECK_INTERVAL_KEY = "log.retention.check.interval.ms"
#: DescribeConfigs resources per request: keeps each request small on a busy cluster.
DESCRIBE_BATCH = 100

EMBEDDED_NOTE = (
    "note: this is the embedded broker (Tansu): it stores these configs but does NOT enforce "
    "retention or compaction; records are only removed on Apache Kafka (deploy/kafka/)"
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One topic judged against the profile.

    ``retention_ms``/``segment_ms`` are None when unknown (the topic is missing or
    the broker holds something that is not a number); ``worst_case_ms`` is None
    when records are kept forever (retention.ms -1 or compaction without delete).
    """

    name: str
    data_class: str
    cleanup: str
    retention_ms: int | None
    segment_ms: int | None
    worst_case_ms: int | None
    ok: bool
    problem: str = ""

    @property
    def ours(self) -> bool:
        return self.data_class not in NO_RULE


def classify(topic_name: str, settings: Settings) -> str:
    """The data class a topic holds, which decides the rule it is judged by.

    Faust changelog and repartition topics of our app derive from reads, so they
    are read data: a compacted changelog keyed by plate would keep reads forever.
    """
    for spec in topic_specs(settings):
        if settings.topic(spec.name) == topic_name:
            return spec.data_class
    if topic_name.startswith(f"{settings.app_id}-") and topic_name.endswith(("-changelog", "-repartition")):
        return READ_DATA
    if topic_name.startswith("__"):
        return INTERNAL
    return OTHER


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


def _days(ms: int) -> str:
    return f"{ms / DAY_MS:.1f} days"


def _fix_delete(limit_ms: int, segment_ms: int, check_ms: int) -> str:
    """What to set so that the worst-case age stays within ``limit_ms``."""
    if segment_ms + check_ms < limit_ms:
        within = retention_ms_within(limit_ms, segment_ms, check_ms)
        return f"set cleanup.policy=delete and retention.ms at most {within} (with segment.ms={segment_ms})"
    within = retention_ms_within(limit_ms, HOUR_MS, check_ms)
    return f"set cleanup.policy=delete, segment.ms={HOUR_MS} and retention.ms at most {within}"


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
        limit = profile.read_retention_ms
        fix = _fix_delete(limit, segment, check_ms)
        if "delete" not in policies:
            return f"cleanup.policy={cleanup} keeps read data forever; {fix} (P11)"
        if worst is None:
            return f"retention.ms={retention} keeps read data forever; {fix} (P11)"
        if worst > limit:
            return (
                f"read data can live {_days(worst)}, over the {profile.read_retention_days}-day "
                f"read retention; {fix} (P11)"
            )
        return ""
    if data_class == "alerts":
        if profile.hit_retention_days is None:
            return ""  # P13: this agency keeps hit records indefinitely
        limit = profile.hit_retention_days * DAY_MS
        fix = _fix_delete(limit, segment, check_ms)
        if worst is None:
            return f"cleanup.policy={cleanup} retention.ms={retention} keeps hit records forever; {fix} (P13)"
        if worst > limit:
            return (
                f"hit records can live {_days(worst)}, over the {profile.hit_retention_days}-day "
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
                f"retention.ms={retention} deletes audit records after {_days(retention)}; "
                f"set retention.ms to -1 or at least {minimum_days * DAY_MS} ({minimum_days} days)"
            )
        problems.extend(_bytes_problem(configs))
        return "; ".join(problems) + " (P14)" if problems else ""
    if data_class == AGGREGATES:
        problems = []
        if "delete" in policies and retention != -1 and retention < AGGREGATES_MIN_DAYS * DAY_MS:
            problems.append(
                f"retention.ms={retention} deletes the daily counts after {_days(retention)}, before the "
                f"annual report needs them; set retention.ms to at least {AGGREGATES_MIN_DAYS * DAY_MS} "
                f"({AGGREGATES_MIN_DAYS} days)"
            )
        problems.extend(_bytes_problem(configs))
        return "; ".join(problems) + " (P26)" if problems else ""
    if data_class == "evidence":
        if policies != {"compact"}:
            return (
                f"cleanup.policy={cleanup} deletes held reads by age, so a hold would not outlive "
                "the read retention; set cleanup.policy=compact (P12)"
            )
        return ""
    if data_class == "hot list" and name == settings.topic("hotlist-changes"):
        problems = []
        if "compact" in policies:
            problems.append(
                f"cleanup.policy={cleanup} compacts away older events of a plate; set cleanup.policy=delete"
            )
        if retention != -1 and retention < profile.read_retention_ms:
            problems.append(
                f"retention.ms={retention} keeps {_days(retention)} of hot-list history, less than the "
                f"{profile.read_retention_days}-day read retention; set retention.ms to at least "
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
    """Whether any retention rule judges this topic (registries and most hot-list topics: none)."""
    return data_class in {READ_DATA, "alerts", "audit", "evidence", AGGREGATES} or name == settings.topic(
        "hotlist-changes"
    )


def _bytes_problem(configs: Mapping[str, str]) -> list[str]:
    """A size limit removes records early, which a minimum-age rule cannot allow."""
    raw = configs.get("retention.bytes", "-1").strip() or "-1"
    if raw != "-1":
        return [f"retention.bytes={raw} can delete records before their age; set retention.bytes=-1"]
    return []


def assess(name: str, configs: Mapping[str, str], settings: Settings, check_ms: int) -> Verdict:
    """Judge one existing topic from the configs the broker reports for it.

    A config the broker does not report takes Apache Kafka's default, because
    that is what a Kafka broker would apply to it.
    """
    data_class = classify(name, settings)
    policies = _policies(configs.get("cleanup.policy", KAFKA_DEFAULT_CLEANUP))
    cleanup = ",".join(sorted(policies))
    retention = _ms(configs, "retention.ms", KAFKA_DEFAULT_RETENTION_MS)
    segment = _ms(configs, "segment.ms", KAFKA_DEFAULT_SEGMENT_MS)
    if retention is None or segment is None:
        key = "retention.ms" if retention is None else "segment.ms"
        problem = (
            f"{key}={configs.get(key)!r} is not a whole number of milliseconds; set a number"
            if _has_rule(name, data_class, settings)
            else ""
        )
        return Verdict(name, data_class, cleanup, retention, segment, None, not problem, problem)
    forever = "delete" not in policies or retention < 0
    worst = None if forever else max_record_age_ms(retention, segment, check_ms)
    problem = _judge(name, data_class, policies, retention, segment, worst, configs, settings, check_ms)
    return Verdict(name, data_class, cleanup, retention, segment, worst, not problem, problem)


def assess_cluster(
    configs_by_topic: Mapping[str, Mapping[str, str]], settings: Settings, check_ms: int
) -> list[Verdict]:
    """Every topic on the cluster judged, plus a failure for each declared topic that is missing.

    Declared topics come first in declaration order, then the rest by name.
    """
    declared = [(settings.topic(s.name), s.data_class) for s in topic_specs(settings)]
    verdicts = []
    for name, data_class in declared:
        if name in configs_by_topic:
            verdicts.append(assess(name, configs_by_topic[name], settings, check_ms))
        else:
            verdicts.append(
                Verdict(name, data_class, "-", None, None, None, False, "missing: run 'alpr topics --create'")
            )
    seen = {name for name, _ in declared}
    for name in sorted(set(configs_by_topic) - seen):
        verdicts.append(assess(name, configs_by_topic[name], settings, check_ms))
    return verdicts


def _age(verdict: Verdict) -> str:
    if verdict.retention_ms is None or verdict.segment_ms is None:
        return "-"
    if verdict.worst_case_ms is None:
        return "forever"
    return f"{verdict.worst_case_ms / DAY_MS:.1f} d"


def _num(value: int | None) -> str:
    return "-" if value is None else str(value)


def format_report(
    verdicts: Sequence[Verdict],
    settings: Settings,
    *,
    embedded: bool,
    check_ms_note: str,
) -> str:
    """The report: one line per topic of ours, the count of the others, then the verdict."""
    profile: Profile = settings.profile
    hits = "indefinitely" if profile.hit_retention_days is None else f"{profile.hit_retention_days} days"
    ours = [v for v in verdicts if v.ours]
    others = [v for v in verdicts if not v.ours]
    width = max([len("topic"), *(len(v.name) for v in ours)])
    lines = [
        f"profile {profile.name} ({profile.agency}): reads {profile.read_retention_days} days, "
        f"hits {hits}, audit at least {max(AUDIT_MIN_DAYS, profile.audit_retention_days)} days",
        check_ms_note,
        f"{'topic':<{width}}  {'class':<9}  {'cleanup':<14}  {'retention.ms':>12}  {'segment.ms':>10}  "
        f"{'worst case':>10}  verdict",
    ]
    for v in ours:
        verdict = "OK" if v.ok else f"FAIL {v.problem}"
        lines.append(
            f"{v.name:<{width}}  {v.data_class:<9}  {v.cleanup:<14}  {_num(v.retention_ms):>12}  "
            f"{_num(v.segment_ms):>10}  {_age(v):>10}  {verdict}"
        )
    lines.append(_others_line(others, settings))
    failed = [v.name for v in ours if not v.ok]
    if failed:
        topics = "topic" if len(failed) == 1 else "topics"
        lines.append(
            f"FAIL: {len(failed)} {topics} can keep data longer than the {profile.name} profile allows: "
            + ", ".join(failed)
        )
    else:
        lines.append(f"all {len(ours)} topics within policy for profile {profile.name} ({profile.agency})")
    if embedded:
        lines.append(EMBEDDED_NOTE)
    return "\n".join(lines)


def _others_line(others: Iterable[Verdict], settings: Settings) -> str:
    """Other topics are counted, not judged; ones under our prefix are named, as they may be stale ours."""
    others = list(others)
    internal = sum(1 for v in others if v.data_class == INTERNAL)
    line = f"other topics: {len(others)} (not this app's; no rule applies"
    line += f", {internal} broker-internal)" if internal else ")"
    prefix = settings.topic_prefix
    stray = [v.name for v in others if prefix and v.name.startswith(prefix)]
    if stray:
        line += f"; not declared but under our prefix {prefix!r}: {', '.join(stray)}"
    return line


async def _topic_configs(admin: AIOKafkaAdminClient, names: Sequence[str]) -> dict[str, dict[str, str]]:
    """DescribeConfigs in batches; a topic that cannot be described is a broker error."""
    out: dict[str, dict[str, str]] = {}
    for start in range(0, len(names), DESCRIBE_BATCH):
        batch = names[start : start + DESCRIBE_BATCH]
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in batch])
        for response in responses:
            for error_code, error_message, _type, name, entries in (r[:5] for r in response.resources):
                if error_code != 0:
                    raise BrokerError(
                        f"the broker would not describe the configs of topic {name}: "
                        f"{error_message} (error {error_code})"
                    )
                out[name] = {e[0]: e[1] for e in entries if e[1] is not None}
    return out


async def _check_interval(admin: AIOKafkaAdminClient, cluster: Mapping[str, Any]) -> tuple[int, str]:
    """The broker's retention check interval, or Kafka's default with a note saying so."""
    brokers = cluster.get("brokers") or []
    assumed = (
        f"{CHECK_INTERVAL_KEY}: not reported by the broker; assumed Apache Kafka's default "
        f"{BROKER_RETENTION_CHECK_MS} ms"
    )
    if not brokers:
        return BROKER_RETENTION_CHECK_MS, assumed
    node = str(brokers[0]["node_id"])
    # All configs, unfiltered: Tansu drops the connection on a request that names config keys.
    resource = ConfigResource(ConfigResourceType.BROKER, node)
    for response in await admin.describe_configs([resource]):
        for resource_entry in response.resources:
            for entry in resource_entry[4]:
                if entry[0] == CHECK_INTERVAL_KEY and entry[1]:
                    try:
                        value = int(entry[1])
                    except ValueError:
                        continue
                    return value, f"{CHECK_INTERVAL_KEY}={value} (broker {node})"
    return BROKER_RETENTION_CHECK_MS, assumed


async def run_check(settings: Settings) -> int:
    """Print the report for the cluster at ``settings.kafka``; 0 if all keep the policy, else 1.

    Only topics that a rule applies to are described: the others are judged by
    name alone, so a busy shared cluster costs one listing, not a config fetch each.
    Listing all topics never auto-creates one, unlike asking for one by name.
    """
    admin = AIOKafkaAdminClient(**settings.kafka.options(), request_timeout_ms=15000)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        names = sorted(await admin.list_topics())
        judged = [n for n in names if classify(n, settings) not in NO_RULE]
        configs: dict[str, dict[str, str]] = {n: {} for n in names if n not in judged}
        configs.update(await _topic_configs(admin, judged))
        check_ms, check_note = await _check_interval(admin, cluster)
    except (KafkaError, OSError) as exc:
        raise BrokerError(
            f"cannot check retention: Kafka at {settings.bootstrap_servers} did not answer ({exc}); "
            "start it ('alpr broker start') or set ALPR_BROKER_URL"
        ) from exc
    finally:
        await admin.close()
    verdicts = assess_cluster(configs, settings, check_ms)
    embedded = "tansu" in str(cluster.get("cluster_id") or "").lower()
    print(format_report(verdicts, settings, embedded=embedded, check_ms_note=check_note))
    return 0 if all(v.ok for v in verdicts) else 1
