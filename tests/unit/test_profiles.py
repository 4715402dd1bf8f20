"""Every shipped agency profile loads with the policy's numbers (P11, P13, P14), and its topics keep
them; the retention-test profile runs the same arithmetic on a clock of seconds."""

from __future__ import annotations

from importlib import resources

import pytest

from streams.errors import ConfigError
from streams.kafka.topics import READ_DATA, topic_specs
from streams.retention.judge import assess
from streams.retention.policy import BROKER_RETENTION_CHECK_MS, DAY_MS, Profile, Timing, load_profile
from streams.settings import Settings

#: name -> (read retention days, hit retention days; None = indefinitely)
EXPECTED = {
    "san_jose": (30, 30),
    "alameda": (181, 181),
    "oakland": (181, 181),
    "hayward": (365, None),
    "san_leandro": (365, 365),
    "vallejo": (365, 365),
    # under their state's 21-day laws (Washington ESSB 6002, Virginia Code 2.2-5517)
    "washington": (21, 21),
    "virginia": (21, 21),
}


def shipped() -> list[str]:
    folder = resources.files("streams.retention").joinpath("profiles")
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


#: Not an agency: the profile of tests/integration/test_retention_broker.py.
TEST_PROFILE = "retention_test"
TEST_ENV = {"ALPR_PROFILE": TEST_PROFILE, "ALPR_MAX_CLOCK_SKEW_S": "2"}


def test_every_shipped_profile_is_expected_here() -> None:
    assert shipped() == sorted([*EXPECTED, TEST_PROFILE])


def env_of(name: str) -> dict[str, str]:
    return TEST_ENV if name == TEST_PROFILE else {"ALPR_PROFILE": name}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_profile_loads_with_the_policy_numbers(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name
    assert profile.agency.endswith("Police Department")
    assert (profile.read_retention_days, profile.hit_retention_days) == EXPECTED[name]
    assert profile.audit_retention_days >= 730  # P14


@pytest.mark.parametrize("name", sorted([*EXPECTED, TEST_PROFILE]))
def test_declared_topics_of_every_profile_pass_the_check(name: str) -> None:
    """P11, P14: each profile's declared topics pass its own check, with the broker check interval
    the profile counts on; every read is gone within the read retention of its capture."""
    settings = Settings.from_env(env_of(name))
    check_ms = settings.profile.broker.retention_check_ms
    verdicts = [
        assess(settings.topic(s.name), s.configs(), settings, check_ms) for s in topic_specs(settings)
    ]
    read_data = [v for v in verdicts if v.data_class == READ_DATA]
    assert {v.name.removeprefix("alpr.") for v in read_data} == {
        "reads",
        "reads-late",
        "reads-rejected",
        "candidates",
    }
    assert all(v.worst_case_ms is not None for v in read_data)
    assert max(v.worst_case_ms or 0 for v in read_data) == settings.profile.read_retention_ms
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


def test_the_retention_test_profile_scales_the_clock_not_the_arithmetic() -> None:
    """P11: reads gone within 90 s of capture, on a broker checking every 2 s; its agency numbers
    stay the real ones (30 days, audit over two years: P14)."""
    profile = load_profile(TEST_PROFILE)
    assert profile.read_retention_days == 30 and profile.audit_retention_days >= 730
    timing = profile.broker
    assert (timing.read_retention_ms, timing.retention_check_ms) == (90_000, 2_000)
    assert timing.too_late_ms == 60_000 and timing.late_reads_from_ms == 20_000
    settings = Settings.from_env(TEST_ENV)
    assert settings.profile.read_retention_ms == 90_000


def test_real_profiles_default_to_kafkas_clock() -> None:
    profile = load_profile("san_jose")
    assert profile.broker == Timing(30 * DAY_MS)
    assert profile.broker.retention_check_ms == BROKER_RETENTION_CHECK_MS


def test_timing_that_cannot_keep_the_retention_is_refused() -> None:
    """P11: late reads must go somewhere that still keeps them within the retention."""
    base = load_profile("san_jose")
    with pytest.raises(ConfigError, match="must stay under the read retention"):
        Profile(
            **{
                **_fields(base),
                "timing": Timing(10 * DAY_MS, read_lateness_ms=5 * DAY_MS, late_read_retention_ms=5 * DAY_MS),
            }
        )
    with pytest.raises(ConfigError, match="exceeds read_retention_days"):
        Profile(**{**_fields(base), "timing": Timing(31 * DAY_MS)})


def _fields(profile: Profile) -> dict[str, object]:
    return {f: getattr(profile, f) for f in Profile.__dataclass_fields__}
