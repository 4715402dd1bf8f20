"""Sign-in state shared by every process, on the real broker (P18, P21): a code signs in once
system-wide, a disabled user's sessions end everywhere, a lockout holds in another process, the
directory can be bootstrapped only once, and a failed sign-in never stores what was typed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
import pytest

import streams.access.authn as authn_module
from streams.access.authn import UNKNOWN_USER, WRONG, Authenticator
from streams.access.directory import Agency, DirectoryStore
from streams.access.principal import Principal
from streams.errors import AccessDenied, NotSignedIn
from streams.settings import Settings
from tests.conftest import settings_of
from tests.integration.kafka_helpers import add_user, admin_principal, read_topic

pytestmark = pytest.mark.integration


def now() -> datetime:
    return datetime.now(UTC)


async def wait_until(predicate: Callable[[], bool], seconds: float, what: str) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > seconds:
            raise AssertionError(f"not within {seconds} s: {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def values(settings: Settings, topic: str) -> list[bytes]:
    return [r.value for r in await read_topic(settings.kafka, settings.topic(topic)) if r.value is not None]


async def test_a_code_signs_in_once_across_processes(topics_env: dict[str, str]) -> None:
    settings = settings_of(topics_env)
    kim = await add_user(settings, "kim", "analyst")
    code = kim.fresh_code()
    async with Authenticator(settings) as first, Authenticator(settings) as second:
        signed = await first.sign_in(
            kim.name, kim.password, code, source="10.0.0.1", channel="console", now=now()
        )
        assert signed.principal.name == "kim" and signed.principal.agency == "SJPD"
        with pytest.raises(AccessDenied, match="used already"):
            await second.sign_in(kim.name, kim.password, code, source="10.0.0.2", channel="cli", now=now())
        # the session opened by one process is known to the other
        await second.caught_up()
        assert second.principal(signed.token, now()).session == signed.principal.session


async def test_disabling_a_user_ends_their_sessions_everywhere(topics_env: dict[str, str]) -> None:
    settings = settings_of(topics_env)
    kim = await add_user(settings, "kim", "dispatcher")
    async with Authenticator(settings) as console, Authenticator(settings) as other:
        signed = await console.sign_in(
            kim.name, kim.password, kim.fresh_code(), source="10.0.0.1", channel="console", now=now()
        )
        await other.caught_up()
        assert other.principal(signed.token, now()).role == "dispatcher"
        await DirectoryStore(settings).set_active("kim", False, admin_principal(), now())

        def ended(auth: Authenticator) -> Callable[[], bool]:
            def check() -> bool:
                try:
                    auth.principal(signed.token, now())
                except NotSignedIn:
                    return True
                return False

            return check

        took = await wait_until(ended(console), 5, "the console sees the disabled user's session end")
        await wait_until(ended(other), 5, "the other process sees it end")
        assert took < 5


async def test_role_change_revokes_and_a_lock_holds_in_another_process(topics_env: dict[str, str]) -> None:
    settings = settings_of(topics_env)
    kim = await add_user(settings, "kim", "officer")
    async with Authenticator(settings) as first, Authenticator(settings) as second:
        for _ in range(5):
            with pytest.raises(AccessDenied, match=WRONG):
                await first.sign_in(
                    "kim", "wrong-password!!", "000000", source="evil", channel="api", now=now()
                )
        # the right credentials from the locked source, in another process: refused (before the
        # code is looked at, so the same code still works from elsewhere)
        code = kim.fresh_code()
        with pytest.raises(AccessDenied, match="locked"):
            await second.sign_in(kim.name, kim.password, code, source="evil", channel="api", now=now())
        # from the user's own desk: signed in (nobody can keep another user locked out)
        signed = await second.sign_in(
            kim.name, kim.password, code, source="kim-desk", channel="console", now=now()
        )
        await DirectoryStore(settings).set_role("kim", "analyst", admin_principal(), now())
        await first.caught_up()
        with pytest.raises(NotSignedIn):
            first.principal(signed.token, now())


async def test_failed_sign_in_never_stores_what_was_typed(topics_env: dict[str, str]) -> None:
    """A password typed into the name field is not kept on the two-year audit topic (P14, P18)."""
    settings = settings_of(topics_env)
    await add_user(settings, "kim", "analyst")
    calls: list[str | None] = []
    real = authn_module.password_matches

    def spy(password_hash: str | None, password: str) -> bool:
        calls.append(password_hash)
        return real(password_hash, password)

    authn_module.password_matches = spy  # type: ignore[assignment]
    try:
        async with Authenticator(settings) as auth:
            with pytest.raises(AccessDenied, match=WRONG):
                await auth.sign_in("hunter2-secret", "x" * 20, "123456", source="s", channel="api", now=now())
            with pytest.raises(AccessDenied, match=WRONG):
                await auth.sign_in("k" * 1_000_000, "x", "123456", source="s", channel="api", now=now())
    finally:
        authn_module.password_matches = real  # type: ignore[assignment]
    # the unknown name was checked against the decoy hash: as slow as a known one
    assert calls == [None]
    audit = await values(settings, "audit")
    text = b"".join(audit)
    assert b"hunter2-secret" not in text and b"kkkkkkkkkk" not in text
    refused = [r for r in map(orjson.loads, audit) if r["action"] == "sign_in"]
    assert [r["user"] for r in refused] == [UNKNOWN_USER, UNKNOWN_USER]
    assert all(len(orjson.dumps(r)) < 2_000 for r in refused)


async def test_bootstrap_only_while_the_directory_is_empty(topics_env: dict[str, str]) -> None:
    """Issue 15, item 3: the first administrator, once; then only a signed-in administrator."""
    settings = settings_of(topics_env)
    store = DirectoryStore(settings)
    home = Agency("SJPD", "San José Police Department", "municipal_police", "CA", "home")
    admin, secret = await store.bootstrap(
        home, "root-admin", "a-long-admin-password", display="Root", badge="A-1", rank=None, now=now()
    )
    assert admin.role == "administrator" and secret not in admin.totp_secret
    assert store.totp_secret((await store.load()).user("root-admin")) == secret
    with pytest.raises(AccessDenied, match="has users already"):
        await store.bootstrap(
            home, "mallory", "another-long-password", display="M", badge="0", rank=None, now=now()
        )
    directory = await store.load()
    assert set(directory.users) == {"root-admin"}
    # the users topic holds no authenticator secret in clear
    assert secret.encode() not in b"".join(await values(settings, "users"))


async def test_a_disabled_service_account_token_stops_working_everywhere(topics_env: dict[str, str]) -> None:
    """A leaked automation token is revoked by disabling its account (P18): the console's view and
    the CLI's (services topic alone) both refuse it; a wrong role may not disable it."""
    from streams.access.authn import service_principal

    settings = settings_of(topics_env)
    await add_user(settings, "kim", "analyst")  # the home agency
    store = DirectoryStore(settings)
    token = await store.add_service("cad-gw", "cad", "SJPD", admin_principal(), now())
    async with Authenticator(settings) as console:
        await console.caught_up()
        assert console.principal(token, now()).role == "cad"
        assert (await service_principal(settings, token)).name == "cad-gw"
        dispatcher = Principal("lee", "Lee", "SJPD", "dispatcher", badge="D-1")
        with pytest.raises(AccessDenied, match="P21"):
            await store.set_service_active("cad-gw", False, dispatcher, now())
        assert (await store.load()).services["cad-gw"].active
        await store.set_service_active("cad-gw", False, admin_principal(), now())

        def refused() -> bool:
            try:
                console.principal(token, now())
            except NotSignedIn:
                return True
            return False

        await wait_until(refused, 5, "the console refuses the disabled service's token")
        with pytest.raises(NotSignedIn):
            await service_principal(settings, token)


async def test_malformed_sign_ins_count_against_their_source(topics_env: dict[str, str]) -> None:
    """A flood of malformed sign-ins (a megabyte of name) is throttled like wrong passwords: after
    the source's limit even the right credentials from there are refused; elsewhere they work."""
    settings = settings_of(topics_env)
    kim = await add_user(settings, "kim", "analyst")
    async with Authenticator(settings) as auth:
        for _ in range(settings.signin_source_limit):
            with pytest.raises(AccessDenied, match=WRONG):
                await auth.sign_in("x" * 100_000, "p", "1", source="flood", channel="api", now=now())
        code = kim.fresh_code()
        with pytest.raises(AccessDenied, match="too many failed sign-ins from this address"):
            await auth.sign_in(kim.name, kim.password, code, source="flood", channel="api", now=now())
        signed = await auth.sign_in(kim.name, kim.password, code, source="kim-desk", channel="api", now=now())
        assert signed.principal.name == "kim"
