"""The justified search on Apache Kafka (issue 15 items 7-9; P15, P19-P21): signed in for real,
reads on the reads topic, every call on the audit topic."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from streams.access.authn import Authenticator
from streams.access.directory import Agency, DirectoryStore
from streams.access.principal import Principal
from streams.access.search import search
from streams.cli.common import save_session
from streams.errors import AccessDenied, ConfigError
from tests.conftest import settings_of
from tests.factories import read_dict
from tests.integration.kafka_helpers import (
    SignInUser,
    add_user,
    admin_principal,
    alpr_as,
    audit_records,
    read_topic,
    send_reads,
    session_env,
)

pytestmark = pytest.mark.integration

OAKLAND = Agency("CA0010900", "Oakland Police Department", "municipal_police", "CA", "signed", "2026-03-01")


@pytest.fixture()
def env(topics_env):
    return topics_env


async def signed_in(env: dict[str, str], user: SignInUser) -> Principal:
    """The principal of a real session (P18): password and authenticator code. The session is
    saved as ``alpr login`` saves it, so the user's commands (``alpr_as``) run in it: a code signs
    in once, and a second sign-in would wait for the clock's next 30-second step."""
    settings = settings_of(env)
    async with Authenticator(settings) as auth:
        code = user.fresh_code()  # may wait for the clock's next step: the time is taken after it
        now = datetime.now(UTC)
        session = await auth.sign_in(user.name, user.password, code, source="tests", channel="api", now=now)
        save_session(settings_of(session_env(env, user)), session.token, user.name, session.expires_at)
        return auth.principal(session.token, now)


def body(now: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "from": (now - timedelta(hours=4)).isoformat(),
        "to": now.isoformat(),
        "purpose": "armed robbery suspect vehicle",
        "crime_type": "PC 211 robbery",
        "case_number": "OPD-26-004512",
        **fields,
    }


def test_an_external_user_gets_justified_search_only_and_every_call_is_audited(env) -> None:
    """P19, P21: a user of an agency with an agreement finds reads through a justified, bounded
    search; a refused search writes an audit record with decision refused and reads nothing (P20);
    every other command is refused to the external role and changes nothing."""
    settings = settings_of(env)
    now = datetime.now(UTC)
    asyncio.run(DirectoryStore(settings).add_agency(OAKLAND, admin_principal(), now))
    oak = asyncio.run(add_user(settings, "oak", "external", agency="CA0010900", badge="OPD-9"))
    reads = [
        read_dict(read_id=f"s-{n}", plate="7SRCH77", captured_at=(now - timedelta(hours=n)).isoformat())
        for n in (1, 2, 3)
    ] + [read_dict(read_id="s-other", plate="1OTHER1", captured_at=(now - timedelta(hours=1)).isoformat())]
    asyncio.run(send_reads(settings, reads))
    principal = asyncio.run(signed_in(env, oak))
    assert (principal.role, principal.agency) == ("external", "CA0010900")

    found = asyncio.run(search(settings, principal, body(now, plate="7SRCH77"), now))
    assert sorted(row["read_id"] for row in found["sightings"]) == ["s-1", "s-2", "s-3"]
    assert found["next"] is None

    with pytest.raises(ConfigError, match="needs a plate, a partial plate or a list of cameras"):
        asyncio.run(search(settings, principal, body(now), now))
    with pytest.raises(ConfigError, match="at least 3 known characters"):
        asyncio.run(search(settings, principal, body(now, partial="*"), now))
    with pytest.raises(AccessDenied, match="refused: P22"):
        asyncio.run(
            search(settings, principal, body(now, plate="7SRCH77", purpose="immigration status"), now)
        )
    with pytest.raises(ConfigError, match="bad search"):
        asyncio.run(search(settings, principal, {"from": "last week"}, now))

    searches = [a for a in audit_records(settings) if a["action"] == "search"]
    assert [(a["decision"], a["result_count"]) for a in searches] == [
        ("allowed", 3),
        ("refused", 0),
        ("refused", 0),
        ("refused", 0),
        ("refused", 0),
    ]
    assert all((a["user"], a["agency"], a["badge"]) == ("oak", "CA0010900", "OPD-9") for a in searches)
    assert searches[0]["query"]["plate"] == "7SRCH77" and searches[0]["case_number"] == "OPD-26-004512"
    assert "P22" in searches[3]["reason"]

    holds_before = asyncio.run(read_topic(settings.kafka, settings.topic("evidence-holds")))
    for command in (
        ("replay", "--from", "now-4h", "--to", "now", "--plate", "7SRCH77", "--purpose", "robbery",
         "--case", "OPD-26-0001", "--crime-type", "PC 211"),
        ("hold", "list"),
        ("hold", "add", "--read-id", "s-1", "--case", "OPD-26-0001", "--reason", "evidence",
         "--crime-type", "PC 211"),
        ("alerts",),
    ):  # fmt: skip
        refused = alpr_as(env, oak, *command)
        assert refused.returncode == 2 and "external role may not" in refused.stderr, (
            command,
            refused.stderr,
        )
        assert "7SRCH77" not in refused.stdout
    assert asyncio.run(read_topic(settings.kafka, settings.topic("evidence-holds"))) == holds_before == []


def test_a_wrong_role_search_is_refused_audited_and_reads_nothing(env) -> None:
    settings = settings_of(env)
    now = datetime.now(UTC)
    lee = asyncio.run(add_user(settings, "lee", "dispatcher", badge="D-4"))
    principal = asyncio.run(signed_in(env, lee))
    with pytest.raises(AccessDenied, match="dispatcher role may not search"):
        asyncio.run(search(settings, principal, body(now, plate="7SRCH77"), now))
    [record] = [a for a in audit_records(settings) if a["action"] == "search"]
    assert (record["user"], record["decision"], record["result_count"]) == ("lee", "refused", 0)
