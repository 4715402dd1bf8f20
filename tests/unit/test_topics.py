"""The topic declaration keeps read data within the agency's retention (P11) and audit >= 2 years (P14)."""

import pytest

from streams.errors import ConfigError
from streams.kafka.topics import READ_DATA, topic_specs
from streams.retention.policy import DAY_MS, max_record_age_ms, retention_ms_within
from streams.settings import Settings

SETTINGS = Settings.from_env({})


def test_every_read_data_topic_is_gone_within_the_read_retention_p11() -> None:
    read_topics = [s for s in topic_specs(SETTINGS) if s.data_class == READ_DATA]
    assert {s.name for s in read_topics} >= {"reads", "reads-rejected", "candidates"}
    for spec in read_topics:
        assert spec.cleanup_policy == "delete", spec.name
        assert spec.retention_ms is not None
        assert max_record_age_ms(spec.retention_ms, spec.segment_ms) <= 30 * DAY_MS, spec.name


def test_audit_is_kept_at_least_two_years_p14() -> None:
    [audit] = [s for s in topic_specs(SETTINGS) if s.name == "audit"]
    assert audit.cleanup_policy == "delete"
    assert audit.retention_ms is not None and audit.retention_ms >= 730 * DAY_MS


def test_partition_count_is_a_setting_and_the_hot_list_is_compacted() -> None:
    specs = {s.name: s for s in topic_specs(SETTINGS.with_(partitions=7))}
    assert specs["hotlist"].partitions == specs["candidates"].partitions == specs["reads"].partitions == 7
    assert specs["hotlist"].cleanup_policy == "compact"


def test_hotlist_history_outlives_the_reads() -> None:
    specs = {s.name: s for s in topic_specs(SETTINGS)}
    assert specs["hotlist-changes"].retention_ms >= specs["reads"].retention_ms


def test_retention_arithmetic() -> None:
    assert max_record_age_ms(retention_ms_within(30 * DAY_MS, 3_600_000), 3_600_000) == 30 * DAY_MS
    with pytest.raises(ConfigError, match="segment"):
        retention_ms_within(1000, 3_600_000)
