"""Every shipped agency profile loads with the policy's numbers (P11, P13, P14), and its topics keep them."""

from __future__ import annotations

from importlib import resources

import pytest

from streams.errors import ConfigError
from streams.kafka.topics import topic_specs
from streams.retention.check import assess
from streams.retention.policy import BROKER_RETENTION_CHECK_MS, load_profile
from streams.settings import Settings

#: name -> (read retention days, hit retention days; None = indefinitely)
EXPECTED = {
    "san_jose": (30, 30),
    "alameda": (181, 181),
    "oakland": (181, 181),
    "hayward": (365, None),
    "san_leandro": (365, 365),
    "vallejo": (365, 365),
}


def shipped() -> list[str]:
    folder = resources.files("streams.retention").joinpath("profiles")
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def test_every_shipped_profile_is_expected_here() -> None:
    assert shipped() == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_profile_loads_with_the_policy_numbers(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name
    assert profile.agency.endswith("Police Department")
    assert (profile.read_retention_days, profile.hit_retention_days) == EXPECTED[name]
    assert profile.audit_retention_days >= 730  # P14


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_declared_topics_of_every_profile_pass_the_check(name: str) -> None:
    settings = Settings.from_env({"ALPR_PROFILE": name})
    verdicts = [
        assess(settings.topic(s.name), s.configs(), settings, BROKER_RETENTION_CHECK_MS)
        for s in topic_specs(settings)
    ]
    assert len(verdicts) == len(topic_specs(settings))
    failed = {v.name: v.problem for v in verdicts if not v.ok}
    assert failed == {}


def test_hayward_keeps_alerts_forever_and_san_jose_does_not() -> None:
    def alerts_worst_case(name: str) -> int | None:
        settings = Settings.from_env({"ALPR_PROFILE": name})
        [spec] = [s for s in topic_specs(settings) if s.name == "alerts"]
        return assess(
            settings.topic("alerts"), spec.configs(), settings, BROKER_RETENTION_CHECK_MS
        ).worst_case_ms

    assert alerts_worst_case("hayward") is None
    assert alerts_worst_case("san_jose") == 30 * 24 * 3600 * 1000


def test_unknown_profile_names_the_choices() -> None:
    with pytest.raises(ConfigError) as raised:
        load_profile("gotham")
    message = str(raised.value)
    assert "ALPR_PROFILE='gotham'" in message
    for name in EXPECTED:
        assert name in message


def test_unknown_profile_from_the_environment_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="choose one of"):
        Settings.from_env({"ALPR_PROFILE": "San Jose"})
