"""``alpr retention check`` judges live topic configs, the brokers' check interval and the oldest
read held against the profile (P11-P14), without a broker."""

from __future__ import annotations

from dataclasses import replace

import pytest

from streams.kafka.topics import READ_DATA, topic_specs
from streams.retention.check import BrokerCheck, assess_cluster, format_report, judge_oldest
from streams.retention.judge import INTERNAL, OTHER, Verdict, assess, classify
from streams.retention.policy import BROKER_RETENTION_CHECK_MS, DAY_MS, HOUR_MS, Profile, retention_ms_within
from streams.retention.probe import OldestRecord
from streams.settings import Settings

SJ = Settings.from_env({})  # san_jose: reads and hits 30 days
HAYWARD = Settings.from_env({"ALPR_PROFILE": "hayward"})  # hits kept indefinitely
CHECK = BROKER_RETENTION_CHECK_MS


#: What the San José reads topic accepts: reads up to a day late, clocks up to 5 minutes ahead.
LATE_MS, SKEW_MS = DAY_MS, 300_000
#: The retention.ms that keeps a San José read within 30 days of its capture.
SJ_READS = retention_ms_within(30 * DAY_MS - LATE_MS - SKEW_MS, HOUR_MS, CHECK)
OK_BROKER = BrokerCheck({"1": CHECK}, CHECK, CHECK)


def _profile(read_days: int) -> Profile:
    return replace(SJ.profile, read_retention_days=read_days, timing=None)


def delete(retention_ms: int, segment_ms: int = HOUR_MS) -> dict[str, str]:
    return {"cleanup.policy": "delete", "retention.ms": str(retention_ms), "segment.ms": str(segment_ms)}


def reads(
    retention_ms: int = SJ_READS, segment_ms: int = HOUR_MS, before_ms: int = LATE_MS
) -> dict[str, str]:
    """A read-data topic's configs: delete by age, timestamps = capture times within bounds."""
    return delete(retention_ms, segment_ms) | {
        "message.timestamp.type": "CreateTime",
        "message.timestamp.before.max.ms": str(before_ms),
        "message.timestamp.after.max.ms": str(SKEW_MS),
    }


def declared(settings: Settings) -> dict[str, dict[str, str]]:
    return {settings.topic(s.name): s.configs() for s in topic_specs(settings)}


# classify


def test_declared_topics_take_their_declared_class() -> None:
    assert classify("alpr.reads", SJ) == READ_DATA
    assert classify("alpr.audit", SJ) == "audit"
    assert classify("alpr.evidence-holds", SJ) == "evidence"
    assert classify("alpr.hotlist-changes", SJ) == "hot list"
    assert classify("alpr.alerts", SJ) == "alerts"
    assert classify("alpr.cameras", SJ) == "registry"


def test_the_prefix_decides_which_topics_are_ours() -> None:
    other = SJ.with_(topic_prefix="t42.")
    assert classify("t42.reads", other) == READ_DATA
    assert classify("alpr.reads", other) == OTHER


def test_faust_changelog_and_repartition_of_our_app_are_read_data() -> None:
    assert classify("alpr-matcher-sightings-changelog", SJ) == READ_DATA
    assert classify("alpr-matcher-candidates-plate-repartition", SJ) == READ_DATA
    # another app's changelog, and our app's non-data topic, are not ours
    assert classify("alpr-matcher2-sightings-changelog", SJ) == OTHER
    assert classify("alpr-matcher-__assignor-__leader", SJ) == OTHER


def test_double_underscore_topics_are_internal_and_the_rest_other() -> None:
    assert classify("__consumer_offsets", SJ) == INTERNAL
    assert classify("payroll", SJ) == OTHER


# read data (P11)


def test_read_data_within_the_retention_of_capture_passes() -> None:
    """P11: a read lives at most before.max.ms + after.max.ms + retention.ms + segment.ms + the
    check interval after its capture; the San José reads topic is sized to exactly 30 days."""
    verdict = assess("alpr.reads", reads(), SJ, CHECK)
    assert verdict.ok, verdict.problem
    assert verdict.worst_case_ms == 30 * DAY_MS
    assert verdict.data_class == READ_DATA and verdict.cleanup == "delete"


def test_read_data_one_millisecond_over_fails_naming_p11_and_the_fix() -> None:
    verdict = assess("alpr.reads", reads(SJ_READS + 1), SJ, CHECK)
    assert not verdict.ok
    assert "(P11)" in verdict.problem and "after capture" in verdict.problem
    assert f"retention.ms at most {SJ_READS}" in verdict.problem


def test_the_accepted_lateness_counts_towards_the_worst_case() -> None:
    """A topic sized as if reads arrived on time fails: a read a day late lives a day longer."""
    sized_for_arrival = retention_ms_within(30 * DAY_MS, HOUR_MS, CHECK)
    verdict = assess("alpr.reads", reads(sized_for_arrival), SJ, CHECK)
    assert not verdict.ok and verdict.worst_case_ms == 31 * DAY_MS + SKEW_MS
    assert "message.timestamp.before.max.ms=86400000" in verdict.problem
    shorter_window = assess("alpr.reads", reads(sized_for_arrival - LATE_MS - SKEW_MS), SJ, CHECK)
    assert shorter_window.ok, shorter_window.problem


def test_the_broker_check_interval_counts_towards_the_worst_case() -> None:
    assert assess("alpr.reads", reads(), SJ, CHECK).ok
    slow_broker = assess("alpr.reads", reads(), SJ, CHECK + 1)
    assert not slow_broker.ok and slow_broker.worst_case_ms == 30 * DAY_MS + 1


def test_a_broker_that_accepts_reads_of_any_age_fails() -> None:
    """Kafka's default before.max.ms is unbounded: a read captured months ago is stored and kept a
    full retention.ms, so no worst case from capture exists (P11)."""
    configs = reads()
    del configs["message.timestamp.before.max.ms"]
    verdict = assess("alpr.reads", configs, SJ, CHECK)
    assert not verdict.ok and verdict.worst_case_ms is None
    assert "before.max.ms is unbounded" in verdict.problem and "(P11)" in verdict.problem
    assert "message.timestamp.before.max.ms=86400000" in verdict.problem


def test_log_append_time_counts_from_arrival_and_fails() -> None:
    verdict = assess("alpr.reads", reads() | {"message.timestamp.type": "LogAppendTime"}, SJ, CHECK)
    assert not verdict.ok and verdict.worst_case_ms is None
    assert "LogAppendTime counts the retention from a read's arrival" in verdict.problem


def test_forty_days_of_reads_fail_for_san_jose_but_pass_for_hayward() -> None:
    configs = reads(40 * DAY_MS)
    assert not assess("alpr.reads", configs, SJ, CHECK).ok
    assert assess("alpr.reads", configs, HAYWARD, CHECK).ok


def test_compacted_read_data_is_kept_forever_and_fails() -> None:
    verdict = assess("alpr.reads", reads() | {"cleanup.policy": "compact"}, SJ, CHECK)
    assert not verdict.ok and verdict.worst_case_ms is None
    assert "cleanup.policy=compact" in verdict.problem and "cleanup.policy=delete" in verdict.problem


def test_read_data_with_infinite_retention_fails() -> None:
    verdict = assess("alpr.candidates", reads(-1), SJ, CHECK)
    assert not verdict.ok and verdict.worst_case_ms is None and "P11" in verdict.problem


def test_compact_and_delete_is_deletable_by_age() -> None:
    verdict = assess("alpr.reads", reads() | {"cleanup.policy": "compact,delete"}, SJ, CHECK)
    assert verdict.ok and verdict.cleanup == "compact,delete"


def test_faust_changelog_compacted_by_plate_fails_as_read_data() -> None:
    verdict = assess("alpr-matcher-sightings-changelog", {"cleanup.policy": "compact"}, SJ, CHECK)
    assert verdict.data_class == READ_DATA
    assert not verdict.ok and "keeps read data forever" in verdict.problem


def test_huge_segments_get_a_fix_that_shrinks_them() -> None:
    verdict = assess("alpr.reads", reads(DAY_MS, segment_ms=40 * DAY_MS), SJ, CHECK)
    assert not verdict.ok and f"segment.ms={HOUR_MS}" in verdict.problem


def test_late_reads_are_kept_shorter_and_their_declaration_passes() -> None:
    """P11: reads-late accepts reads up to 29 days old, so it keeps them less than a day."""
    specs = {s.name: s for s in topic_specs(SJ)}
    late = assess("alpr.reads-late", specs["reads-late"].configs(), SJ, CHECK)
    assert late.ok and late.worst_case_ms == 30 * DAY_MS
    as_long_as_reads = assess("alpr.reads-late", specs["reads"].configs() | {
        "message.timestamp.before.max.ms": specs["reads-late"].configs()["message.timestamp.before.max.ms"]
    }, SJ, CHECK)  # fmt: skip
    assert not as_long_as_reads.ok
    assert f"retention.ms at most {specs['reads-late'].retention_ms}" in as_long_as_reads.problem


# defaults


def test_missing_configs_take_kafkas_defaults() -> None:
    """Kafka's defaults keep a read 7 + 7 days after arrival but accept reads of any age (P11)."""
    verdict = assess("alpr.reads", {}, SJ, CHECK)
    assert (verdict.cleanup, verdict.retention_ms, verdict.segment_ms) == ("delete", 7 * DAY_MS, 7 * DAY_MS)
    assert verdict.worst_case_ms is None and not verdict.ok
    bounded = {"message.timestamp.before.max.ms": str(LATE_MS)}
    with_bound = assess("alpr.reads", bounded, SJ, CHECK)  # after.max.ms: Kafka 4's one hour
    assert with_bound.worst_case_ms == 15 * DAY_MS + 3_600_000 + CHECK and with_bound.ok
    assert not assess("alpr.reads", bounded, SJ.with_(profile=_profile(read_days=10)), CHECK).ok


def test_a_config_that_is_not_a_number_fails_a_topic_of_ours() -> None:
    verdict = assess("alpr.reads", {"retention.ms": "forever"}, SJ, CHECK)
    assert not verdict.ok and "'forever'" in verdict.problem and verdict.retention_ms is None
    bad_bound = assess("alpr.reads", reads() | {"message.timestamp.before.max.ms": "a day"}, SJ, CHECK)
    assert not bad_bound.ok and "message.timestamp.before.max.ms='a day'" in bad_bound.problem


# alerts (P13)


def test_alerts_follow_a_finite_hit_retention() -> None:
    within = retention_ms_within(30 * DAY_MS, HOUR_MS, CHECK)
    assert assess("alpr.alerts", delete(within), SJ, CHECK).ok
    over = assess("alpr.alerts", delete(within + DAY_MS), SJ, CHECK)
    assert not over.ok and "(P13)" in over.problem
    forever = assess("alpr.alerts", delete(-1), SJ, CHECK)
    assert not forever.ok and "forever" in forever.problem


def test_alerts_kept_indefinitely_are_allowed_when_the_profile_says_so() -> None:
    assert HAYWARD.profile.hit_retention_days is None
    verdict = assess("alpr.alerts", delete(-1), HAYWARD, CHECK)
    assert verdict.ok and verdict.worst_case_ms is None


# audit (P14)


def test_audit_kept_two_years_or_forever_passes() -> None:
    assert assess("alpr.audit", delete(731 * DAY_MS, 7 * DAY_MS), SJ, CHECK).ok
    assert assess("alpr.audit", delete(-1), SJ, CHECK).ok


def test_audit_kept_too_short_fails() -> None:
    verdict = assess("alpr.audit", delete(365 * DAY_MS), SJ, CHECK)
    assert not verdict.ok and "(P14)" in verdict.problem and str(731 * DAY_MS) in verdict.problem
    # the profile's 731 days is the floor, even above the 730 of P14
    assert not assess("alpr.audit", delete(730 * DAY_MS), SJ, CHECK).ok


def test_audit_compaction_fails_even_when_long_enough() -> None:
    configs = delete(-1) | {"cleanup.policy": "compact,delete"}
    verdict = assess("alpr.audit", configs, SJ, CHECK)
    assert not verdict.ok and "compact" in verdict.problem and "P14" in verdict.problem


def test_audit_size_limit_fails() -> None:
    verdict = assess("alpr.audit", delete(-1) | {"retention.bytes": "1073741824"}, SJ, CHECK)
    assert not verdict.ok and "retention.bytes=-1" in verdict.problem


# evidence (P12) and credentials: compacted topics whose old values must not linger

COMPACT_DAY = {"cleanup.policy": "compact", "max.compaction.lag.ms": str(DAY_MS)}


def test_evidence_must_be_compacted_not_deleted() -> None:
    assert assess("alpr.evidence-holds", COMPACT_DAY, SJ, CHECK).ok
    for cleanup in ("delete", "compact,delete"):
        verdict = assess("alpr.evidence-holds", COMPACT_DAY | {"cleanup.policy": cleanup}, SJ, CHECK)
        assert not verdict.ok and "(P12)" in verdict.problem, cleanup


def test_evidence_with_kafkas_default_policy_fails() -> None:
    verdict = assess("alpr.evidence-holds", {}, SJ, CHECK)
    assert not verdict.ok and "cleanup.policy=compact" in verdict.problem


@pytest.mark.parametrize(
    ("topic", "what"),
    [
        ("alpr.evidence-holds", "a released hold's read copy"),
        ("alpr.users", "a replaced password hash"),
        ("alpr.camera-keys", "a replaced camera key hash"),
    ],
)
def test_compacted_read_copies_and_credentials_need_a_compaction_deadline(topic: str, what: str) -> None:
    """P11/P12: a released hold's read copy, P18: a replaced secret, must be compacted away within
    the profile's max_compaction_lag_ms; Kafka's default (no deadline) keeps them indefinitely."""
    unset = assess(topic, {"cleanup.policy": "compact"}, SJ, CHECK)
    assert not unset.ok and what in unset.problem and "indefinitely" in unset.problem
    assert f"max.compaction.lag.ms at most {DAY_MS}" in unset.problem
    late = assess(topic, {"cleanup.policy": "compact", "max.compaction.lag.ms": str(DAY_MS + 1)}, SJ, CHECK)
    assert not late.ok and "up to 1.0 days" in late.problem
    assert assess(topic, COMPACT_DAY, SJ, CHECK).ok
    junk = assess(topic, {"cleanup.policy": "compact", "max.compaction.lag.ms": "soon"}, SJ, CHECK)
    assert not junk.ok and "'soon' is not a number" in junk.problem


# hot list


def test_hotlist_changes_shorter_than_the_read_retention_fail() -> None:
    verdict = assess("alpr.hotlist-changes", delete(20 * DAY_MS, DAY_MS), SJ, CHECK)
    assert not verdict.ok and "rematch could not rebuild" in verdict.problem
    assert assess("alpr.hotlist-changes", delete(30 * DAY_MS, DAY_MS), SJ, CHECK).ok
    assert assess("alpr.hotlist-changes", delete(-1), SJ, CHECK).ok
    # enough for San José's 30 days is too little for Hayward's 365
    assert not assess(
        "hayward.hotlist-changes", delete(60 * DAY_MS), HAYWARD.with_(topic_prefix="hayward."), CHECK
    ).ok


def test_hotlist_changes_compacted_fail() -> None:
    verdict = assess("alpr.hotlist-changes", {"cleanup.policy": "compact"}, SJ, CHECK)
    assert not verdict.ok and "rematch could not rebuild" in verdict.problem


def test_the_compacted_hot_list_itself_has_no_age_rule() -> None:
    assert assess("alpr.hotlist", {"cleanup.policy": "compact"}, SJ, CHECK).ok
    assert assess("alpr.hotlist", delete(DAY_MS), SJ, CHECK).ok


# topics without a rule


@pytest.mark.parametrize(
    "name",
    ["__consumer_offsets", "payroll", "t0.reads", "alpr.cameras", "alpr.hotlist", "alpr.hotlist-pending"],
)
def test_topics_without_a_rule_never_fail(name: str) -> None:
    for configs in ({}, {"cleanup.policy": "compact"}, delete(-1), {"retention.ms": "junk"}):
        assert assess(name, configs, SJ, CHECK).ok, (name, configs)


# the whole cluster, the oldest read held, the brokers' check interval and the report


def test_declared_topics_pass_and_the_report_says_so() -> None:
    verdicts = assess_cluster(declared(SJ) | {"payroll": delete(-1)}, SJ, CHECK)
    assert all(v.ok for v in verdicts)
    report = format_report(verdicts, SJ, OK_BROKER)
    lines = report.splitlines()
    count = len(topic_specs(Settings.from_env({})))
    assert lines[-1] == f"all {count} topics within policy for profile san_jose (San José Police Department)"
    assert "other topics: 1 " in report and "payroll" not in report
    assert "log.retention.check.interval.ms: broker 1: 300000; the profile counts on 300000: OK" in lines
    [reads_line] = [line for line in lines if line.startswith("alpr.reads ")]
    assert reads_line.split()[-4:] == ["30.0", "d", "-", "OK"]


def test_missing_declared_topics_fail() -> None:
    configs = declared(SJ)
    del configs["alpr.reads-late"]
    verdicts = assess_cluster(configs, SJ, CHECK)
    [late] = [v for v in verdicts if v.name == "alpr.reads-late"]
    assert not late.ok and late.problem == "missing: run 'alpr topics --create'"
    assert late.data_class == READ_DATA
    report = format_report(verdicts, SJ, OK_BROKER)
    assert report.splitlines()[-1] == (
        "FAIL: 1 topic can keep data longer than the san_jose profile allows: alpr.reads-late"
    )


def test_the_report_names_every_failing_topic_and_why() -> None:
    configs = declared(SJ) | {
        "alpr.reads": reads(40 * DAY_MS),
        "alpr-matcher-sightings-changelog": {"cleanup.policy": "compact"},
        "__consumer_offsets": {"cleanup.policy": "compact"},
        "other-team.reads": delete(-1),
    }
    verdicts = assess_cluster(configs, SJ, CHECK)
    report = format_report(verdicts, SJ, OK_BROKER)
    lines = report.splitlines()
    assert lines[-1] == (
        "FAIL: 2 topics can keep data longer than the san_jose profile allows: "
        "alpr.reads, alpr-matcher-sightings-changelog"
    )
    [reads_line] = [line for line in lines if line.startswith("alpr.reads ")]
    assert "FAIL" in reads_line and "41.0 days after capture" in reads_line and "P11" in reads_line
    [changelog] = [line for line in lines if line.startswith("alpr-matcher-sightings-changelog ")]
    assert "forever" in changelog and "FAIL" in changelog
    assert "other topics: 2 (not this app's; no rule applies, 1 broker-internal)" in report
    assert "other-team.reads" not in report


def test_undeclared_topics_under_our_prefix_are_named_not_failed() -> None:
    verdicts = assess_cluster(declared(SJ) | {"alpr.reads-v0": delete(-1)}, SJ, CHECK)
    assert all(v.ok for v in verdicts)
    report = format_report(verdicts, SJ, OK_BROKER)
    assert "under our prefix 'alpr.': alpr.reads-v0" in report


def test_missing_topics_show_no_numbers() -> None:
    verdict = Verdict("alpr.reads", READ_DATA, "-", None, None, None, False, "missing")
    report = format_report([verdict], SJ, OK_BROKER)
    [line] = [line for line in report.splitlines() if line.startswith("alpr.reads")]
    assert "forever" not in line and line.split()[3:8] == ["-", "-", "-", "-", "-"]


NOW_MS = 1_800_000_000_000


def test_a_read_older_than_the_retention_fails_naming_topic_partition_and_age() -> None:
    """P11: compliant configs do not make an expired read already on the topic go away (a topic
    made with a long retention and altered later); the oldest record held is judged too."""
    verdicts = assess_cluster(declared(SJ), SJ, CHECK)
    oldest = {
        "alpr.reads": [
            OldestRecord(0, 17, NOW_MS - 2 * DAY_MS),
            OldestRecord(1, 4, NOW_MS - 35 * DAY_MS),
        ],
        "alpr.candidates": [OldestRecord(0, 0, NOW_MS - 29 * DAY_MS)],
        "alpr.audit": [OldestRecord(0, 0, NOW_MS - 400 * DAY_MS)],  # not read data: no read age rule
    }
    judged = judge_oldest(verdicts, oldest, SJ, NOW_MS)
    by_name = {v.name: v for v in judged}
    reads_verdict = by_name["alpr.reads"]
    assert not reads_verdict.ok and reads_verdict.oldest_age_ms == 35 * DAY_MS
    assert "partition 1 still holds a read 35.0 days old (offset 4)" in reads_verdict.problem
    assert "past the 30.0 days read retention" in reads_verdict.problem and "(P11)" in reads_verdict.problem
    assert by_name["alpr.candidates"].ok and by_name["alpr.candidates"].oldest_age_ms == 29 * DAY_MS
    assert by_name["alpr.audit"].ok and by_name["alpr.audit"].oldest_age_ms is None
    report = format_report(judged, SJ, OK_BROKER)
    [line] = [line for line in report.splitlines() if line.startswith("alpr.reads ")]
    assert "35.0 d  FAIL partition 1" in line
    assert report.splitlines()[-1].endswith("allows: alpr.reads")


def test_a_read_exactly_at_the_retention_passes() -> None:
    verdicts = assess_cluster(declared(SJ), SJ, CHECK)
    judged = judge_oldest(verdicts, {"alpr.reads": [OldestRecord(0, 0, NOW_MS - 30 * DAY_MS)]}, SJ, NOW_MS)
    assert all(v.ok for v in judged)
    over = judge_oldest(verdicts, {"alpr.reads": [OldestRecord(0, 0, NOW_MS - 30 * DAY_MS - 1)]}, SJ, NOW_MS)
    assert not all(v.ok for v in over)


def test_a_broker_that_checks_less_often_than_the_profile_counts_on_fails() -> None:
    """P11: the read topics are sized for the profile's check interval; a slower broker keeps
    every read longer. Any broker of the cluster counts; one not reporting gets Kafka's default."""
    slow = BrokerCheck({"1": CHECK, "2": CHECK + 1}, CHECK, CHECK)
    assert not slow.ok and slow.effective_ms == CHECK + 1
    assert "broker 2: 300001" in slow.line() and "FAIL" in slow.line()
    assert BrokerCheck({"1": 1000}, CHECK, CHECK).ok
    test_profile = BrokerCheck({"1": None}, 2000, CHECK)
    assert not test_profile.ok and "not reported, default 300000" in test_profile.line()
    verdicts = assess_cluster(declared(SJ), SJ, slow.effective_ms)
    report = format_report(verdicts, SJ, slow)
    assert report.splitlines()[-1] == (
        "FAIL: the brokers check retention less often than the san_jose profile counts on"
    )


@pytest.mark.parametrize(
    ("profile", "line"),
    [
        (
            "washington",
            "state law Washington ESSB 6002 (WA): reads at most 21 days, hits at most 21 days; "
            "the agency keeps reads 21 days, hits 21 days: within the law",
        ),
        (
            "hayward",
            "state law California SB 34 and AG bulletin 2023-DLE-06 (CA): reads no statewide cap, hits no "
            "statewide cap; the agency keeps reads 365 days, hits indefinitely: within the law",
        ),
    ],
)
def test_the_report_names_the_state_law_caps_beside_the_settings_p11(profile: str, line: str) -> None:
    """P11, P13: ``alpr retention check`` shows the home state's cap next to the profile's setting."""
    settings = Settings.from_env({"ALPR_PROFILE": profile})
    report = format_report(assess_cluster(declared(settings), settings, CHECK), settings, OK_BROKER)
    assert report.splitlines()[1] == line
