import pytest

from streams.errors import ConfigError
from streams.retention import load_profile
from streams.settings import Settings


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.broker_url is None
    assert settings.bootstrap_servers == "127.0.0.1:19092"
    assert settings.profile.read_retention_days == 30  # San José (P11)
    assert settings.topic("reads") == "alpr.reads"


def test_broker_url_forms() -> None:
    assert (
        Settings.from_env({"ALPR_BROKER_URL": "kafka://a:9092;kafka://b:9092"}).bootstrap_servers
        == "a:9092,b:9092"
    )
    settings = Settings.from_env({"ALPR_BROKER_URL": "a:9092,b:9092"})
    assert settings.faust_broker == "kafka://a:9092;kafka://b:9092"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"ALPR_PARTITIONS": "twelve"}, "ALPR_PARTITIONS"),
        ({"ALPR_PARTITIONS": "0"}, "ALPR_PARTITIONS"),
        ({"ALPR_BLOOM_ERROR_RATE": "2"}, "ALPR_BLOOM_ERROR_RATE"),
        ({"ALPR_OCR_CLASSES": "0O,O8"}, "ALPR_OCR_CLASSES"),
        ({"ALPR_OCR_CLASSES": "0"}, "ALPR_OCR_CLASSES"),
        ({"ALPR_LOG_LEVEL": "warning"}, "ALPR_LOG_LEVEL"),
        ({"ALPR_PROFILE": "atlantis"}, "ALPR_PROFILE"),
        ({"ALPR_TOPIC_PREFIX": "a b"}, "ALPR_TOPIC_PREFIX"),
    ],
)
def test_errors_name_the_variable(env, variable) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env(env)


def test_custom_ocr_classes() -> None:
    assert Settings.from_env({"ALPR_OCR_CLASSES": "0o,1il"}).ocr_classes == ("0O", "1IL")


def test_san_jose_profile() -> None:
    profile = load_profile("san_jose")
    assert profile.read_retention_days == 30
    assert profile.audit_retention_days >= 730  # P14
    assert profile.hotlist_max_staleness_hours == 24  # P4
