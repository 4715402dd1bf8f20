"""State law profiles on a real broker, through the real ``alpr`` command (issue 17 item 2; P19).

A Washington deployment (ALPR_PROFILE=washington) bootstraps its Washington home agency and adds a
Washington partner; an Oregon partner is refused naming Washington ESSB 6002 and nothing is written.
A California deployment (san_jose) refuses a Washington home agency and writes nothing. The
helpers of kafka_helpers register a California home agency, so this file signs in its own admin."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from streams.kafka.topics import create_topics
from tests.conftest import alpr, settings_of
from tests.integration.kafka_helpers import SignInUser, alpr_as, read_topic

pytestmark = pytest.mark.integration

PASSWORD = "state-law-profile-pass-1"  # noqa: S105 - a test account


def state_env(env_factory: Any, profile: str) -> dict[str, str]:
    env = env_factory(ALPR_PROFILE=profile)
    asyncio.run(create_topics(settings_of(env)))
    return env


def bootstrap(env: dict[str, str], agency_id: str, name: str, *extra: str) -> Any:
    return alpr(
        {**env, "ALPR_PASSWORD": PASSWORD},
        "bootstrap", "--agency-id", agency_id, "--agency-name", name, "--admin", "chief-admin",
        "--display", "Chief Admin", "--badge", "ADM-9", "--course", "ALPR user training", *extra,
    )  # fmt: skip


def topic_sizes(env: dict[str, str], *kinds: str) -> dict[str, int]:
    settings = settings_of(env)

    async def sizes() -> dict[str, int]:
        return {kind: len(await read_topic(settings.kafka, settings.topic(kind))) for kind in kinds}

    return asyncio.run(sizes())


def test_a_washington_deployment_shares_within_washington_only_p19(env_factory) -> None:
    """P19 under Washington ESSB 6002: the WA home agency bootstraps (its state taken from the
    profile), a WA partner is added, an Oregon partner is refused naming the law, and the refusal
    writes nothing (agencies and audit topics unchanged)."""
    env = state_env(env_factory, "washington")
    booted = bootstrap(env, "WA0170000", "Example Washington Police Department")
    assert booted.returncode == 0, booted.stdout + booted.stderr
    [secret] = re.findall(
        r"authenticator secret for chief-admin \(shown once, enrol it now\): (\S+)", booted.stdout
    )
    admin = SignInUser("chief-admin", PASSWORD, secret, "Chief Admin", "ADM-9")

    added = alpr_as(
        env, admin, "agency", "add", "WA0270300", "--name", "Tacoma Police Department",
        "--type", "municipal_police", "--agreement", "signed", "--agreement-date", "2026-04-01",
    )  # fmt: skip
    assert added.returncode == 0, added.stdout + added.stderr
    assert "municipal_police, WA, agreement signed" in added.stdout

    before = topic_sizes(env, "agencies", "audit")
    refused = alpr_as(
        env, admin, "agency", "add", "OR0260200", "--name", "Portland Police Bureau", "--state", "OR",
        "--type", "municipal_police", "--agreement", "signed", "--agreement-date", "2026-04-01",
    )  # fmt: skip
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "P19 / Washington ESSB 6002: ALPR data is not shared out of state" in refused.stderr
    assert "is in OR: ALPR data goes to Washington agencies only" in refused.stderr
    federal = alpr_as(
        env, admin, "agency", "add", "WA0000001", "--name", "A federal task force",
        "--type", "federal", "--agreement", "signed", "--agreement-date", "2026-04-01",
    )  # fmt: skip
    assert federal.returncode == 2 and "P19 / Washington ESSB 6002: ALPR data is not shared with federal" in (
        federal.stderr
    )
    assert topic_sizes(env, "agencies", "audit") == before

    listed = alpr_as(env, admin, "agency", "list")
    assert listed.returncode == 0, listed.stderr
    assert "WA0270300" in listed.stdout and "OR0260200" not in listed.stdout


def test_a_california_deployment_refuses_a_washington_home_agency_p19(env_factory) -> None:
    """P19: under the san_jose profile (California law) a home agency in Washington is refused with
    the mismatch named, and nothing is written: no agency, user, sign-in claim or audit record."""
    env = state_env(env_factory, "san_jose")
    refused = bootstrap(env, "WA0170000", "Example Washington Police Department", "--agency-state", "WA")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert (
        "the home agency WA0170000 is in WA but this deployment's profile 'san_jose' is under California "
        "SB 34 and AG bulletin 2023-DLE-06 (state CA)"
    ) in refused.stderr
    assert "set ALPR_PROFILE" in refused.stderr
    assert topic_sizes(env, "agencies", "users", "signins", "audit") == {
        "agencies": 0,
        "users": 0,
        "signins": 0,
        "audit": 0,
    }


def test_a_virginia_report_names_the_law_that_requires_it_p26(env_factory, tmp_path) -> None:
    """P26: under the virginia profile ``alpr report annual`` opens with the reporting duty of
    Virginia Code 2.2-5517, and ``alpr retention check`` shows the 21-day cap beside the setting."""
    from datetime import UTC, datetime

    from streams.access.directory import Agency, DirectoryStore

    env = state_env(env_factory, "virginia")
    store = DirectoryStore(settings_of(env))
    now = datetime.now(UTC)

    async def reporting_token() -> str:
        home = Agency("VA0290100", "Example Virginia Police Department", "municipal_police", "VA", "home")
        admin, _secret = await store.bootstrap(
            home, "chief-admin", PASSWORD, display="Chief Admin", badge="ADM-9", rank=None, now=now
        )
        return await store.add_service("nightly", "reporting", "VA0290100", admin.principal(), now)

    token = asyncio.run(reporting_token())
    out = tmp_path / "report"
    report = alpr(
        {**env, "ALPR_SERVICE_TOKEN": token}, "report", "annual", "--year", str(now.year), "--out", str(out)
    )
    assert report.returncode == 0, report.stdout + report.stderr
    text = (out / "report.md").read_text()
    assert "## Legal basis" in text
    assert (
        "Reporting duty under Virginia law (Virginia Code 2.2-5517): annual report on the use of the ALPR "
        "system (Virginia Code 2.2-5517)."
    ) in text
    check = alpr({**env, "ALPR_SERVICE_TOKEN": token}, "retention", "check")
    assert (
        "state law Virginia Code 2.2-5517 (VA): reads at most 21 days, hits at most 21 days; the agency "
        "keeps reads 21 days, hits 21 days: within the law"
    ) in check.stdout, check.stdout + check.stderr
