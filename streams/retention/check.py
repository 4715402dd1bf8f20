"""``alpr retention check``: does the cluster, as it is configured now, keep the policy?

The topic declaration (``streams.kafka.topics``) says what the configs should be, but the policy
is kept only by what the broker actually does: a topic created by hand, by an older version, or
with broker defaults can keep reads far longer than the agency allows (P11). This module judges
every topic's live configs against the profile, the brokers' retention check interval against
the one the profile counts on, and the oldest record each read-data partition still holds
against the read retention. The report names the home state's law (its caps beside the agency's
settings): a profile beyond the law never loads, so the topics sized from it stay within both.
Judging is pure (:func:`classify`, :func:`assess`,
:func:`assess_cluster`, :func:`judge_oldest`, :class:`BrokerCheck`, :func:`format_report`);
only :func:`run_check` talks to Kafka (through :mod:`streams.retention.probe`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streams.errors import BrokerError
from streams.kafka.topics import READ_DATA, topic_specs
from streams.retention.judge import AUDIT_MIN_DAYS, NO_RULE, Verdict, assess, classify, duration
from streams.retention.law import law_for
from streams.retention.policy import Profile
from streams.retention.probe import CHECK_INTERVAL_KEY, OldestRecord, broker_check_intervals, oldest_records
from streams.retention.probe import topic_configs as _topic_configs
from streams.settings import Settings

__all__ = [
    "BrokerCheck",
    "Verdict",
    "assess",
    "assess_cluster",
    "classify",
    "format_report",
    "judge_oldest",
    "run_check",
]


@dataclass(frozen=True, slots=True)
class BrokerCheck:
    """The brokers' ``log.retention.check.interval.ms`` against the profile's.

    Read-data topics are sized for the profile's interval (streams.retention.policy.Timing); a
    broker that checks less often keeps every read that much longer (P11). ``intervals`` maps node
    id to the reported value (None: not reported, Apache Kafka's 5-minute default assumed).
    """

    intervals: Mapping[str, int | None]
    expected_ms: int
    default_ms: int

    @property
    def effective_ms(self) -> int:
        """The slowest broker's interval: the one the worst case depends on."""
        values = [self.default_ms if v is None else v for v in self.intervals.values()]
        return max(values, default=self.default_ms)

    @property
    def ok(self) -> bool:
        return self.effective_ms <= self.expected_ms

    def line(self) -> str:
        nodes = ", ".join(
            f"broker {node}: {'not reported, default ' + str(self.default_ms) if v is None else v}"
            for node, v in sorted(self.intervals.items())
        )
        head = (
            f"{CHECK_INTERVAL_KEY}: {nodes or 'no broker listed'}; the profile counts on {self.expected_ms}"
        )
        if self.ok:
            return f"{head}: OK"
        return (
            f"{head}: FAIL every read can outlive its retention by the difference; set "
            f"{CHECK_INTERVAL_KEY}={self.expected_ms} on every broker (P11)"
        )


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


def judge_oldest(
    verdicts: Sequence[Verdict],
    oldest: Mapping[str, Sequence[OldestRecord]],
    settings: Settings,
    now_ms: int,
) -> list[Verdict]:
    """Read-data verdicts with the age of the oldest record held, failed when it is past the read
    retention (P11): whatever the configs say now, that record is still readable."""
    limit = settings.profile.read_retention_ms
    out = []
    for verdict in verdicts:
        records = oldest.get(verdict.name, ())
        if verdict.data_class != READ_DATA or not records:
            out.append(verdict)
            continue
        first = min(records, key=lambda r: (r.timestamp_ms, r.partition))
        age = now_ms - first.timestamp_ms
        verdict = replace(verdict, oldest_age_ms=age)
        if age > limit:
            problem = (
                f"partition {first.partition} still holds a read {duration(age)} old (offset "
                f"{first.offset}), past the {duration(limit)} read retention; delete the expired "
                f"records (kafka-delete-records.sh) and fix the configs (P11)"
            )
            verdict = replace(
                verdict, ok=False, problem="; ".join(p for p in (verdict.problem, problem) if p)
            )
        out.append(verdict)
    return out


def _age(verdict: Verdict) -> str:
    if verdict.retention_ms is None or verdict.segment_ms is None:
        return "-"
    if verdict.worst_case_ms is None:
        return "forever"
    return duration(verdict.worst_case_ms, short=True)


def _num(value: int | None) -> str:
    return "-" if value is None else str(value)


def format_report(verdicts: Sequence[Verdict], settings: Settings, broker: BrokerCheck) -> str:
    """The report: the check interval, one line per topic of ours, the count of the others, then
    the verdict. "worst case" of read data counts from capture; "oldest" is the oldest record held."""
    profile: Profile = settings.profile
    hits = "indefinitely" if profile.hit_retention_days is None else f"{profile.hit_retention_days} days"
    ours = [v for v in verdicts if v.ours]
    others = [v for v in verdicts if not v.ours]
    width = max([len("topic"), *(len(v.name) for v in ours)])
    lines = [
        f"profile {profile.name} ({profile.agency}): reads {duration(profile.read_retention_ms)}, "
        f"hits {hits}, audit at least {max(AUDIT_MIN_DAYS, profile.audit_retention_days)} days",
        law_line(profile),
        broker.line(),
        f"{'topic':<{width}}  {'class':<9}  {'cleanup':<14}  {'retention.ms':>12}  {'segment.ms':>10}  "
        f"{'worst case':>10}  {'oldest':>8}  verdict",
    ]
    for v in ours:
        verdict = "OK" if v.ok else f"FAIL {v.problem}"
        oldest = "-" if v.oldest_age_ms is None else duration(v.oldest_age_ms, short=True)
        lines.append(
            f"{v.name:<{width}}  {v.data_class:<9}  {v.cleanup:<14}  {_num(v.retention_ms):>12}  "
            f"{_num(v.segment_ms):>10}  {_age(v):>10}  {oldest:>8}  {verdict}"
        )
    lines.append(_others_line(others, settings))
    failed = [v.name for v in ours if not v.ok]
    if failed:
        topics = "topic" if len(failed) == 1 else "topics"
        lines.append(
            f"FAIL: {len(failed)} {topics} can keep data longer than the {profile.name} profile allows: "
            + ", ".join(failed)
        )
    if not broker.ok:
        lines.append(
            f"FAIL: the brokers check retention less often than the {profile.name} profile counts on"
        )
    if not failed and broker.ok:
        lines.append(f"all {len(ours)} topics within policy for profile {profile.name} ({profile.agency})")
    return "\n".join(lines)


def law_line(profile: Profile) -> str:
    """The home state's retention caps beside the agency's settings (P11, P13). The profile cannot
    exceed them (it is refused when loaded), so this line says which law bounds the numbers above."""
    law = law_for(profile.state)

    def cap(days: int | None) -> str:
        return "no statewide cap" if days is None else f"at most {days} days"

    hits = "indefinitely" if profile.hit_retention_days is None else f"{profile.hit_retention_days} days"
    return (
        f"state law {law.citation} ({law.state}): reads {cap(law.read_retention_max_days)}, hits "
        f"{cap(law.hit_retention_max_days)}; the agency keeps reads {profile.read_retention_days} days, "
        f"hits {hits}: within the law"
    )


def _others_line(others: Iterable[Verdict], settings: Settings) -> str:
    """Other topics are counted, not judged; ones under our prefix are named, as they may be stale ours."""
    others = list(others)
    internal = sum(1 for v in others if v.data_class == "internal")
    line = f"other topics: {len(others)} (not this app's; no rule applies"
    line += f", {internal} broker-internal)" if internal else ")"
    prefix = settings.topic_prefix
    stray = [v.name for v in others if prefix and v.name.startswith(prefix)]
    if stray:
        line += f"; not declared but under our prefix {prefix!r}: {', '.join(stray)}"
    return line


async def run_check(settings: Settings, now_ms: int | None = None) -> int:
    """Print the report for the cluster at ``settings.kafka``; 0 if all keep the policy, else 1.

    Only topics that a rule applies to are described: the others are judged by name alone, so a
    busy shared cluster costs one listing, not a config fetch each. Listing all topics never
    auto-creates one, unlike asking for one by name.
    """
    import time

    from streams.retention.policy import BROKER_RETENTION_CHECK_MS

    admin = AIOKafkaAdminClient(**settings.kafka.options(), request_timeout_ms=15000)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        names = sorted(await admin.list_topics())
        judged = [n for n in names if classify(n, settings) not in NO_RULE]
        configs: dict[str, dict[str, str]] = {n: {} for n in names if n not in judged}
        configs.update(await _topic_configs(admin, judged))
        intervals = await broker_check_intervals(admin, cluster)
        read_topics = [n for n in judged if classify(n, settings) == READ_DATA]
        oldest = await oldest_records(settings.kafka, read_topics)
    except (KafkaError, OSError) as exc:
        raise BrokerError(
            f"cannot check retention: Kafka at {settings.bootstrap_servers} did not answer ({exc}); "
            "start it ('alpr broker start') or set ALPR_BROKER_URL"
        ) from exc
    finally:
        await admin.close()
    broker = BrokerCheck(intervals, settings.profile.broker.retention_check_ms, BROKER_RETENTION_CHECK_MS)
    verdicts = assess_cluster(configs, settings, broker.effective_ms)
    now = int(time.time() * 1000) if now_ms is None else now_ms
    verdicts = judge_oldest(verdicts, oldest, settings, now)
    print(format_report(verdicts, settings, broker))
    return 0 if broker.ok and all(v.ok for v in verdicts) else 1
