"""Webhooks under P19, the pure parts: URL parsing, who may receive alerts, which cameras, the
permission check before anything is read (P21), and the delivery verdict re-checked per attempt."""

from __future__ import annotations

import argparse
import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from streams.access.directory import Agency, Directory
from streams.access.principal import Principal
from streams.alerts.desk import AlertBoard
from streams.console.webhooks import (
    Webhook,
    WebhookRunner,
    add_webhook,
    check_url,
    list_webhooks,
    remove_webhook,
    scope_refusals,
    signature,
)
from streams.errors import AccessDenied, ConfigError, InvalidRecord, NotSignedIn
from streams.settings import Settings

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
HOME = Agency("SJPD", "San José Police Department", "municipal_police", "CA", "home", shares_with=("SCSO",))
SHERIFF = Agency("SCSO", "Santa Clara County Sheriff", "county_sheriff", "CA", "signed", "2026-01-05")
OAKLAND = Agency("OPD", "Oakland Police Department", "municipal_police", "CA", "signed", "2026-03-01")
FREMONT = Agency("FPD", "Fremont Police Department", "municipal_police", "CA", "none")
# Records the directory's own use cases refuse to write: here as if forged onto the topic (P19).
FEDERAL = Agency("ICE1", "A federal immigration agency", "federal", "CA", "signed")
VENDOR = Agency("VEND", "A plate-data vendor", "commercial", "CA", "signed")
RENO = Agency("RPD", "Reno Police Department", "municipal_police", "NV", "signed")
DIRECTORY = Directory({}, {a.agency_id: a for a in (HOME, SHERIFF, OAKLAND, FREMONT, FEDERAL, VENDOR, RENO)})
CAMERAS = {"sj-0001": "SJPD", "sj-0002": "SJPD", "oak-01": "OPD", "fed-01": "ICE1"}


@pytest.mark.parametrize(
    "url",
    [
        "https://cad.sjpd.example/alpr/events",
        "https://cad.sjpd.example:8443/alpr?tenant=1",
        "https://10.20.0.5/alpr",
        "http://127.0.0.1:8080/alpr",
        "http://[::1]:8080/alpr",
        "http://localhost/alpr",
        "HTTPS://CAD.SJPD.EXAMPLE/alpr",
    ],
)
def test_https_and_loopback_http_urls_are_accepted(url: str) -> None:
    assert check_url(url) == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1.evil.example/alpr", "plain http only to this machine"),
        ("http://localhost@attacker.example/alpr", "user information"),
        ("http://127.0.0.1@attacker.example/alpr", "user information"),
        ("https://user@cad.sjpd.example/alpr", "user information"),
        ("https://user:pw@cad.sjpd.example/alpr", "user information"),
        ("https://@cad.sjpd.example/alpr", "user information"),
        ("http://cad.sjpd.example/alpr", "plain http only to this machine"),
        ("http://10.20.0.5/alpr", "plain http only to this machine"),
        ("http://localhost.:80/alpr", "plain http only to this machine"),
        ("http://127.0.0.1\\@attacker.example/", "backslashes"),
        ("ftp://cad.sjpd.example/alpr", "use https://"),
        ("cad.sjpd.example/alpr", "use https://"),
        ("https:///alpr", "no host"),
        ("https://cad.sjpd.example:99999/alpr", "cannot be parsed"),
        ("https://cad.sjpd.example/alpr#x", "fragment"),
        ("https://cad sjpd.example/alpr", "spaces"),
        ("https://cad_sjpd!.example/alpr", "not a host name"),
        ("", "1 to"),
    ],
)
def test_urls_alerts_may_not_travel_to_are_refused(url: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        check_url(url)


@pytest.mark.parametrize(
    ("agency", "why"),
    [
        ("ICE1", "federal agency or entity: it never receives"),
        ("VEND", "commercial agency or entity"),
        ("RPD", "in NV: ALPR data goes to California agencies only"),
        ("FPD", "no sharing agreement on file"),
        ("NOBODY", "no agency 'NOBODY' in the directory"),
    ],
)
def test_only_eligible_agencies_may_receive_alerts_p19(agency: str, why: str) -> None:
    refusal = DIRECTORY.sharing_refusal(agency)
    assert refusal is not None and refusal.startswith("P19") and why in refusal


def test_the_home_department_and_agencies_with_an_agreement_may_receive_alerts_p19() -> None:
    assert DIRECTORY.sharing_refusal("SJPD") is None
    assert DIRECTORY.sharing_refusal("OPD") is None


def test_camera_patterns_reach_only_cameras_the_recipient_may_see_p19() -> None:
    # its own cameras
    assert scope_refusals(DIRECTORY, CAMERAS, "SJPD", ["sj-*"]) == []
    assert scope_refusals(DIRECTORY, CAMERAS, "OPD", ["oak-*"]) == []
    # SJPD shares with the sheriff: the sheriff may receive SJPD's cameras
    assert scope_refusals(DIRECTORY, CAMERAS, "SCSO", ["sj-*"]) == []
    # Oakland's cameras do not go to SJPD; SJPD's do not go to Oakland (no sharing)
    [problem] = scope_refusals(DIRECTORY, CAMERAS, "OPD", ["oak-*", "sj-000?"])
    assert "'sj-000?' matches cameras of SJPD" in problem
    # "*" is everything: refused unless everything matched is in scope
    [problem] = scope_refusals(DIRECTORY, CAMERAS, "SJPD", ["*"])
    assert "ICE1, OPD" in problem
    assert scope_refusals(DIRECTORY, {"sj-0001": "SJPD"}, "SJPD", ["*"]) == []


def test_the_signature_is_the_hmac_sha256_of_the_body() -> None:
    body = b'{"alert_id":"a1"}'
    assert signature(b"k", body) == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()


def test_a_record_written_around_the_use_case_is_refused_not_delivered_to() -> None:
    good = Webhook("SJPD", "https://cad.sjpd.example/alpr", "ALPR_HOOK_SJPD", ("sj-*",), "abc", NOW, "ada")
    assert Webhook.from_dict(good.to_dict()) == good
    for bad in (
        {"url": "http://localhost@attacker.example/"},
        {"url": "http://127.0.0.1.evil.example/"},
        {"secret_env": "the-secret-itself"},
        {"cameras": []},
        {"added_at": "2026-11-23T08:00:00"},
    ):
        with pytest.raises(InvalidRecord):
            Webhook.from_dict({**good.to_dict(), **bad})


UNREACHABLE = Settings.from_env({"ALPR_BROKER_URL": "kafka://127.0.0.1:1", "ALPR_TOPIC_PREFIX": "unit."})
ADMIN = Principal("ada", "Ada Admin", "SJPD", "administrator", badge="ADM-2")


@pytest.mark.parametrize(
    ("principal", "error"),
    [
        (None, NotSignedIn),
        (Principal("lee", "Dispatcher Lee", "SJPD", "dispatcher", badge="D-1"), AccessDenied),
        (Principal("kim", "Det. Kim", "SJPD", "analyst", badge="A-7"), AccessDenied),
        (Principal("lt", "Lt. Ray", "SJPD", "lieutenant", badge="L-1", rank="lieutenant"), AccessDenied),
        (Principal("aud", "Auditor", "SJPD", "auditor"), AccessDenied),
        (Principal("cad-gw", "cad-gw", "SJPD", "cad", kind="service"), AccessDenied),
    ],
)
async def test_only_a_signed_in_administrator_may_set_webhooks_checked_before_anything_is_read_p21(
    principal: Principal | None, error: type[Exception]
) -> None:
    """The broker of these settings does not exist: a use case that read or wrote anything before
    checking the permission would fail with a BrokerError (or hang), not with the refusal."""
    with pytest.raises(error, match="sign in first|may not webhook.admin"):
        await add_webhook(UNREACHABLE, principal, "SJPD", "https://cad.sjpd.example/", "X", ["sj-*"], NOW)
    with pytest.raises(error):
        await remove_webhook(UNREACHABLE, principal, "SJPD", NOW)
    with pytest.raises(error):
        await list_webhooks(UNREACHABLE, principal)


async def test_bad_input_is_refused_before_anything_is_read() -> None:
    for url, secret_env, cameras in (
        ("http://localhost@attacker.example/", "ALPR_HOOK", ["sj-*"]),
        ("https://cad.sjpd.example/", "s3cr3t value", ["sj-*"]),
        ("https://cad.sjpd.example/", "ALPR_HOOK", []),
        ("https://cad.sjpd.example/", "ALPR_HOOK", ["sj-*; rm"]),
    ):
        with pytest.raises(ConfigError):
            await add_webhook(UNREACHABLE, ADMIN, "SJPD", url, secret_env, cameras, NOW)


def runner_with(hooks: list[Webhook], directory: Directory, cameras: dict[str, str]) -> WebhookRunner:
    runner = WebhookRunner(UNREACHABLE, AlertBoard(), env={})
    runner.hooks = {h.agency: h for h in hooks}
    runner.directory = directory
    runner.camera_owner = dict(cameras)
    return runner


def test_each_delivery_is_checked_against_the_newest_directory_p19() -> None:
    hook = Webhook("OPD", "https://cad.opd.example/", "ALPR_HOOK_OPD", ("oak-*", "sj-*"), "w1", NOW)
    runner = runner_with([hook], DIRECTORY, {**CAMERAS, "oak-99": "SJPD"})
    assert runner.verdict(hook, "oak-01") == ("deliver", "")
    # a camera outside the patterns, one of an agency that does not share, one not registered
    assert runner.verdict(hook, "fed-01")[0] == "skip"
    verdict, why = runner.verdict(hook, "oak-99")  # matches "oak-*" but SJPD operates it
    assert verdict == "skip" and why.startswith("P19") and "does not share with OPD" in why
    assert runner.verdict(hook, "oak-77") == (
        "skip",
        "camera oak-77 is not in the registry: its agency is unknown",
    )
    # the agreement ends: nothing more goes to Oakland
    ended = Directory(
        {}, {**DIRECTORY.agencies, "OPD": Agency("OPD", "Oakland PD", "municipal_police", "CA", "none")}
    )
    runner.directory = ended
    verdict, why = runner.verdict(hook, "oak-01")
    assert verdict == "skip" and "P19: OPD has no sharing agreement on file" in why
    # the agency is removed from the directory
    runner.directory = Directory({}, {"SJPD": HOME})
    assert runner.verdict(hook, "oak-01")[0] == "skip"
    # the webhook is replaced or removed: its delivery stops
    runner.directory = DIRECTORY
    runner.hooks = {"OPD": Webhook("OPD", "https://new.opd.example/", "X", ("oak-*",), "w2", NOW)}
    assert runner.verdict(hook, "oak-01")[0] == "stop"
    runner.hooks = {}
    assert runner.verdict(hook, "oak-01")[0] == "stop"


def test_the_cli_needs_an_administrator_and_takes_camera_patterns() -> None:
    from streams.cli.webhooks import register

    parser = argparse.ArgumentParser(prog="alpr")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        ["webhook", "add", "--agency", "OPD", "--url", "https://cad.opd.example/", "--secret-env", "HOOK"]
        + ["--camera", "oak-*", "oak2-*", "--camera", "oak3-*"]
    )
    assert args.camera == ["oak-*", "oak2-*", "oak3-*"] and args.needs == "webhook.admin"
    for argv in (["webhook", "remove", "--agency", "OPD"], ["webhook", "list"]):
        assert parser.parse_args(argv).needs == "webhook.admin"
    for missing in (["webhook", "add", "--agency", "OPD"], ["webhook", "remove"]):
        with pytest.raises(SystemExit):
            parser.parse_args(missing)
