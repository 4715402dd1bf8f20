"""``alpr retention check`` judges live topic configs against the profile (P11-P14), without a broker."""

from __future__ import annotations

from dataclasses import replace

import pytest

from streams.kafka.topics import READ_DATA, topic_specs
from streams.retention.check import (
    EMBEDDED_NOTE,
    INTERNAL,
    OTHER,
    Verdict,
    assess,
    assess_cluster,
    classify,
    format_report,
)
from streams.retention.policy import (
    BROKER_RETENTION_CHECK_MS,
    DAY_MS,
    HOUR_MS,
    Profile,
    retention_ms_within,
)
from streams.settings import Settings

SJ = Settings.from_env({})  # san_jose: reads and hits 30 days
HAYWARD = Settings.from_env({"ALPR_PROFILE": "hayward"})  # hits kept indefinitely
CHECK = BROKER_RETENTION_CHECK_MS


def _profile(read_days: int) -> Profile:
    return replace(SJ.profile, read_retention_days=read_days)


def delete(retention_ms: int, segment_ms: int = HOUR_MS) -> dict[str, str]:
    return {"cleanup.policy": "delete", "retention.ms": str(retention_ms), "segment.ms": str(segment_ms)}


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


def test_read_data_within_the_retention_passes() -> None:
    retention = retention_ms_within(30 * DAY_MS, HOUR_MS, CHECK)
    verdict = assess("alpr.reads", delete(retention), SJ, CHECK)
    assert verdict.ok, verdict.problem
    assert verdict.worst_case_ms == 30 * DAY_MS
    assert verdict.data_class == READ_DATA and verdict.cleanup == "delete"


def test_read_data_one_millisecond_over_fails_naming_p11_and_the_fix() -> None:
    retention = retention_ms_within(30 * DAY_MS, HOUR_MS, CHECK) + 1
    verdict = assess("alpr.reads", delete(retention), SJ, CHECK)
    assert not verdict.ok
    assert "(P11)" in verdict.problem
    assert f"retention.ms at most {retention - 1}" in verdict.problem


def test_the_broker_check_interval_counts_towards_the_worst_case() -> None:
    retention = retention_ms_within(30 * DAY_MS, HOUR_MS, CHECK)
    assert assess("alpr.reads", delete(retention), SJ, CHECK).ok
    slow_broker = assess("alpr.reads", delete(retention), SJ, CHECK + 1)
    assert not slow_broker.ok and slow_broker.worst_case_ms == 30 * DAY_MS + 1


def test_forty_days_of_reads_fail_for_san_jose_but_pass_for_hayward() -> None:
    configs = delete(40 * DAY_MS)
    assert not assess("alpr.reads", configs, SJ, CHECK).ok
    assert assess("alpr.reads", configs, HAYWARD, CHECK).ok


def test_compacted_read_data_is_kept_forever_and_fails() -> None:
    verdict = assess("alpr.reads", {"cleanup.policy": "compact", "segment.ms": str(HOUR_MS)}, SJ, CHECK)
    assert not verdict.ok and verdict.worst_case_ms is None
    assert "cleanup.policy=compact" in verdict.problem and "cleanup.policy=delete" in verdict.problem


def test_read_data_with_infinite_retention_fails() -> None:
    verdict = assess("alpr.candidates", delete(-1), SJ, CHECK)
    assert not verdict.ok and verdict.worst_case_ms is None and "P11" in verdict.problem


def test_compact_and_delete_is_deletable_by_age() -> None:
    configs = delete(retention_ms_within(30 * DAY_MS, HOUR_MS)) | {"cleanup.policy": "compact,delete"}
    verdict = assess("alpr.reads", configs, SJ, CHECK)
    assert verdict.ok and verdict.cleanup == "compact,delete"


def test_faust_changelog_compacted_by_plate_fails_as_read_data() -> None:
    verdict = assess("alpr-matcher-sightings-changelog", {"cleanup.policy": "compact"}, SJ, CHECK)
    assert verdict.data_class == READ_DATA
    assert not verdict.ok and "keeps read data forever" in verdict.problem


def test_huge_segments_get_a_fix_that_shrinks_them() -> None:
    verdict = assess("alpr.reads", delete(DAY_MS, segment_ms=40 * DAY_MS), SJ, CHECK)
    assert not verdict.ok and f"segment.ms={HOUR_MS}" in verdict.problem


# defaults


def test_missing_configs_take_kafkas_defaults() -> None:
    verdict = assess("alpr.reads", {}, SJ, CHECK)
    assert (verdict.cleanup, verdict.retention_ms, verdict.segment_ms) == ("delete", 7 * DAY_MS, 7 * DAY_MS)
    assert verdict.worst_case_ms == 14 * DAY_MS + CHECK
    assert verdict.ok  # 14 days and 5 minutes is within 30 days
    assert not assess("alpr.reads", {}, SJ.with_(profile=_profile(read_days=10)), CHECK).ok


def test_a_config_that_is_not_a_number_fails_a_topic_of_ours() -> None:
    verdict = assess("alpr.reads", {"retention.ms": "forever"}, SJ, CHECK)
    assert not verdict.ok and "'forever'" in verdict.problem and verdict.retention_ms is None


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


# evidence (P12)


def test_evidence_must_be_compacted_not_deleted() -> None:
    assert assess("alpr.evidence-holds", {"cleanup.policy": "compact"}, SJ, CHECK).ok
    for cleanup in ("delete", "compact,delete"):
        verdict = assess("alpr.evidence-holds", {"cleanup.policy": cleanup}, SJ, CHECK)
        assert not verdict.ok and "(P12)" in verdict.problem, cleanup


def test_evidence_with_kafkas_default_policy_fails() -> None:
    verdict = assess("alpr.evidence-holds", {}, SJ, CHECK)
    assert not verdict.ok and "cleanup.policy=compact" in verdict.problem


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


# the whole cluster and the report


def test_declared_topics_pass_and_the_report_says_so() -> None:
    verdicts = assess_cluster(declared(SJ) | {"payroll": delete(-1)}, SJ, CHECK)
    assert all(v.ok for v in verdicts)
    report = format_report(verdicts, SJ, embedded=False, check_ms_note="interval")
    lines = report.splitlines()
    count = len(topic_specs(Settings.from_env({})))
    assert lines[-1] == f"all {count} topics within policy for profile san_jose (San José Police Department)"
    assert "other topics: 1 " in report and "payroll" not in report
    assert EMBEDDED_NOTE not in report
    [reads] = [line for line in lines if line.startswith("alpr.reads ")]
    assert reads.split()[-3:] == ["30.0", "d", "OK"]


def test_missing_declared_topics_fail() -> None:
    configs = declared(SJ)
    del configs["alpr.audit"]
    verdicts = assess_cluster(configs, SJ, CHECK)
    [audit] = [v for v in verdicts if v.name == "alpr.audit"]
    assert not audit.ok and audit.problem == "missing: run 'alpr topics --create'"
    assert audit.data_class == "audit"
    report = format_report(verdicts, SJ, embedded=False, check_ms_note="")
    assert report.splitlines()[-1] == (
        "FAIL: 1 topic can keep data longer than the san_jose profile allows: alpr.audit"
    )


def test_the_report_names_every_failing_topic_and_why() -> None:
    configs = declared(SJ) | {
        "alpr.reads": delete(40 * DAY_MS),
        "alpr-matcher-sightings-changelog": {"cleanup.policy": "compact"},
        "__consumer_offsets": {"cleanup.policy": "compact"},
        "other-team.reads": delete(-1),
    }
    verdicts = assess_cluster(configs, SJ, CHECK)
    report = format_report(verdicts, SJ, embedded=True, check_ms_note="interval assumed")
    lines = report.splitlines()
    assert lines[-2] == (
        "FAIL: 2 topics can keep data longer than the san_jose profile allows: "
        "alpr.reads, alpr-matcher-sightings-changelog"
    )
    assert lines[-1] == EMBEDDED_NOTE and "embedded broker (Tansu)" in lines[-1]
    assert "interval assumed" in lines
    [reads] = [line for line in lines if line.startswith("alpr.reads ")]
    assert "FAIL" in reads and "40.0 days" in reads and "P11" in reads
    [changelog] = [line for line in lines if line.startswith("alpr-matcher-sightings-changelog ")]
    assert "forever" in changelog and "FAIL" in changelog
    assert "other topics: 2 (not this app's; no rule applies, 1 broker-internal)" in report
    assert "other-team.reads" not in report


def test_undeclared_topics_under_our_prefix_are_named_not_failed() -> None:
    verdicts = assess_cluster(declared(SJ) | {"alpr.reads-v0": delete(-1)}, SJ, CHECK)
    assert all(v.ok for v in verdicts)
    report = format_report(verdicts, SJ, embedded=False, check_ms_note="")
    assert "under our prefix 'alpr.': alpr.reads-v0" in report


def test_missing_topics_show_no_numbers() -> None:
    verdict = Verdict("alpr.reads", READ_DATA, "-", None, None, None, False, "missing")
    report = format_report([verdict], SJ, embedded=False, check_ms_note="")
    [line] = [line for line in report.splitlines() if line.startswith("alpr.reads")]
    assert "forever" not in line and line.split()[3:7] == ["-", "-", "-", "-"]
