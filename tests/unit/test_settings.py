import pytest

from streams.errors import ConfigError
from streams.retention import load_profile
from streams.settings import Settings


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.broker_url is None
    assert settings.bootstrap_servers == "127.0.0.1:19092"
    assert settings.kafka.options() == {
        "bootstrap_servers": "127.0.0.1:19092",
        "security_protocol": "PLAINTEXT",
    }
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


SASL = {
    "ALPR_BROKER_URL": "kafka://k1:9093,kafka://k2:9093",
    "ALPR_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "ALPR_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "ALPR_KAFKA_SASL_USERNAME": "alpr-worker",
    "ALPR_KAFKA_SASL_PASSWORD": "correct horse battery staple",
}


def test_sasl_ssl_reaches_every_client_and_faust_without_showing_the_password() -> None:
    """The options every aiokafka client gets, and faust's credentials, carry TLS and SASL; the
    password is in neither the settings' nor the connection's repr (logs, tracebacks)."""
    import faust

    settings = Settings.from_env(SASL)
    options = settings.kafka.options()
    assert options["bootstrap_servers"] == "k1:9093,k2:9093"
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "alpr-worker",
        "correct horse battery staple",
    )
    assert options["ssl_context"].verify_mode.name == "CERT_REQUIRED"
    assert options["ssl_context"].check_hostname
    credentials = settings.kafka.faust_credentials()
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert "correct horse" not in repr(settings) + repr(settings.kafka)


def test_the_password_can_come_from_a_mounted_secret_file(tmp_path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-a-file\n")
    env = {k: v for k, v in SASL.items() if k != "ALPR_KAFKA_SASL_PASSWORD"}
    settings = Settings.from_env({**env, "ALPR_KAFKA_SASL_PASSWORD_FILE": str(secret)})
    assert settings.kafka.options()["sasl_plain_password"] == "from-a-file"  # noqa: S105 - test value
    with pytest.raises(ConfigError, match="both set"):
        Settings.from_env({**SASL, "ALPR_KAFKA_SASL_PASSWORD_FILE": str(secret)})
    with pytest.raises(ConfigError, match="ALPR_KAFKA_SASL_PASSWORD_FILE=.*cannot be read"):
        Settings.from_env({**env, "ALPR_KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "missing")})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ALPR_KAFKA_SECURITY_PROTOCOL": "TLS"}, "ALPR_KAFKA_SECURITY_PROTOCOL='TLS': use one of"),
        ({**SASL, "ALPR_KAFKA_SASL_MECHANISM": "GSSAPI"}, "ALPR_KAFKA_SASL_MECHANISM='GSSAPI'"),
        ({**SASL, "ALPR_KAFKA_SASL_USERNAME": ""}, "ALPR_KAFKA_SASL_USERNAME: SASL_SSL needs the user name"),
        ({**SASL, "ALPR_KAFKA_SASL_PASSWORD": ""}, "needs the password"),
        (
            {**SASL, "ALPR_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "ALPR_KAFKA_SASL_MECHANISM": "PLAIN"},
            "sends the password in clear",
        ),
        ({"ALPR_KAFKA_SASL_USERNAME": "u"}, "ALPR_KAFKA_SASL_USERNAME set but .*PLAINTEXT does not use SASL"),
        ({"ALPR_KAFKA_SSL_CAFILE": "/etc/ca.pem"}, "ALPR_KAFKA_SSL_CAFILE set but .* does not use TLS"),
        (
            {"ALPR_KAFKA_SECURITY_PROTOCOL": "SSL", "ALPR_KAFKA_SSL_KEYFILE": "/k.pem"},
            "KEYFILE without ALPR_KAFKA_SSL_CERTFILE",
        ),
    ],
)
def test_kafka_security_mistakes_stop_the_process_at_start_naming_the_variable(env, message) -> None:
    """A deployment mistake (a password in clear, a setting that would be ignored) is refused when
    the settings are read, not discovered at the first connection (issue 8)."""
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_unreadable_tls_files_are_named(tmp_path) -> None:
    settings = Settings.from_env(
        {"ALPR_KAFKA_SECURITY_PROTOCOL": "SSL", "ALPR_KAFKA_SSL_CAFILE": str(tmp_path / "nope.pem")}
    )
    with pytest.raises(ConfigError, match="nope.pem.*cannot be used"):
        settings.kafka.options()
