"""The topic declaration keeps read data within the agency's retention counted from capture (P11),
keeps evidence holds past it (P12) and audit at least two years (P14)."""

import pytest

from streams.errors import ConfigError
from streams.kafka.topics import READ_DATA, TopicSpec, topic_specs
from streams.retention.policy import DAY_MS, max_record_age_ms, retention_ms_within
from streams.settings import Settings

SETTINGS = Settings.from_env({})
TEST = Settings.from_env({"ALPR_PROFILE": "retention_test", "ALPR_MAX_CLOCK_SKEW_S": "2"})
READ_TOPICS = {"reads", "reads-late", "reads-rejected", "candidates"}


def specs(settings: Settings) -> dict[str, TopicSpec]:
    return {s.name: s for s in topic_specs(settings)}


def age_from_capture(spec: TopicSpec, check_ms: int) -> int:
    """The longest a read can live after its capture on this topic (see Timing)."""
    configs = spec.configs()
    assert spec.retention_ms is not None
    return (
        max(int(configs["message.timestamp.before.max.ms"]), spec.lateness_ms)
        + int(configs["message.timestamp.after.max.ms"])
        + max_record_age_ms(spec.retention_ms, spec.segment_ms, check_ms)
    )


@pytest.mark.parametrize("settings", [SETTINGS, TEST], ids=["san_jose", "retention_test"])
def test_every_read_data_topic_is_gone_within_the_read_retention_of_capture_p11(settings: Settings) -> None:
    """P11: a read's Kafka timestamp is its capture time; the broker refuses reads older than
    before.max.ms or further ahead than after.max.ms, so the sum with retention.ms, segment.ms and
    the broker's check interval bounds its life from capture."""
    timing = settings.profile.broker
    read_topics = {n: s for n, s in specs(settings).items() if s.data_class == READ_DATA}
    assert set(read_topics) == READ_TOPICS
    for name, spec in read_topics.items():
        configs = spec.configs()
        assert spec.cleanup_policy == "delete", name
        assert configs["message.timestamp.type"] == "CreateTime", name
        assert configs["message.timestamp.after.max.ms"] == str(settings.max_clock_skew_s * 1000), name
        assert age_from_capture(spec, timing.retention_check_ms) <= timing.read_retention_ms, name


def test_late_reads_go_to_a_topic_that_keeps_them_shorter_p11() -> None:
    """Reads up to a day late go to reads; later ones, up to 29 days, to reads-late, kept less than
    a day; candidates accept what either holds. Later reads than that can be kept nowhere."""
    declared = specs(SETTINGS)
    timing = SETTINGS.profile.broker
    lateness = {n: declared[n].lateness_ms for n in READ_TOPICS}
    assert lateness == {
        "reads": timing.read_lateness_ms,
        "reads-rejected": timing.read_lateness_ms,
        "reads-late": timing.too_late_ms,
        "candidates": timing.too_late_ms,
    }
    # Stamped at capture, the broker refuses what arrives later than the lateness; reads-late is
    # stamped when sent and candidates with their read's arrival (a capture-time stamp would make
    # them deletable at once): the producers' routing bounds their lateness.
    before = {n: int(declared[n].configs()["message.timestamp.before.max.ms"]) for n in READ_TOPICS}
    assert before == {
        "reads": timing.read_lateness_ms,
        "reads-rejected": timing.read_lateness_ms,
        "reads-late": 60_000,
        "candidates": declared["candidates"].retention_ms,
    }
    assert (timing.read_lateness_ms, timing.too_late_ms) == (DAY_MS, 29 * DAY_MS)
    late, reads = declared["reads-late"].retention_ms, declared["reads"].retention_ms
    assert late is not None and reads is not None and late < DAY_MS < reads


def test_compacted_topics_compact_within_the_profiles_deadline_p12() -> None:
    """A released hold's read copy (P12) and a replaced credential are compacted away within
    max.compaction.lag.ms; a tombstone itself goes after delete.retention.ms."""
    for settings in (SETTINGS, TEST):
        timing = settings.profile.broker
        compacted = [s for s in topic_specs(settings) if s.cleanup_policy == "compact"]
        assert {"hotlist", "evidence-holds", "cameras", "camera-keys", "users"} <= {s.name for s in compacted}
        for spec in compacted:
            configs = spec.configs()
            assert "retention.ms" not in configs, spec.name
            assert configs["max.compaction.lag.ms"] == str(timing.max_compaction_lag_ms), spec.name
            assert configs["delete.retention.ms"] == str(timing.tombstone_retention_ms), spec.name
            assert configs["min.cleanable.dirty.ratio"] == "0.1", spec.name
            assert spec.segment_ms == timing.compact_segment_ms, spec.name
    assert specs(SETTINGS)["evidence-holds"].data_class == "evidence"


def test_the_retention_test_profile_needs_a_small_clock_skew() -> None:
    """With the default 5-minute skew the 90-second test retention has no room left: refused."""
    with pytest.raises(ConfigError, match="segment"):
        topic_specs(TEST.with_(max_clock_skew_s=300))


def test_audit_is_kept_at_least_two_years_p14() -> None:
    for settings in (SETTINGS, TEST):
        audit = specs(settings)["audit"]
        assert audit.cleanup_policy == "delete"
        assert audit.retention_ms is not None and audit.retention_ms >= 730 * DAY_MS


def test_partition_count_is_a_setting_and_the_hot_list_is_compacted() -> None:
    declared = specs(SETTINGS.with_(partitions=7))
    for name in ("hotlist", "candidates", "reads", "reads-late"):
        assert declared[name].partitions == 7, name
    assert declared["hotlist"].cleanup_policy == "compact"


def test_hotlist_history_outlives_the_reads() -> None:
    declared = specs(SETTINGS)
    history, reads = declared["hotlist-changes"].retention_ms, declared["reads"].retention_ms
    assert history is not None and reads is not None and history >= reads


def test_retention_arithmetic() -> None:
    assert max_record_age_ms(retention_ms_within(30 * DAY_MS, 3_600_000), 3_600_000) == 30 * DAY_MS
    with pytest.raises(ConfigError, match="segment"):
        retention_ms_within(1000, 3_600_000)
