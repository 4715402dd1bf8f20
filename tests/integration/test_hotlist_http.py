"""``alpr hotlist serve`` on the real broker: every route needs a bearer token (a session or a
service account, P18), a role that may (P21), JSON (415 otherwise) and no foreign Origin (403);
a refused request changes nothing. Approvals come from the signed-in lieutenant (P2)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.kafka.broker import free_port
from tests.conftest import ROOT, wait_for
from tests.integration.kafka_helpers import HOME
from tests.integration.test_hotlists import Cast, audits, cast, current_keys, pending_keys, topic_values

pytestmark = pytest.mark.integration

ENTRY = {
    "source": "local",
    "entry_id": "HTTP-1",
    "plate": "7GH?2*",
    "plate_state": "CA",
    "list_type": "bolo",
    "reason": "PC 187 homicide: partial plate from a witness",
    "case_number": "SJ-26-005333",
}


def http(
    method: str,
    url: str,
    body: object = None,
    *,
    token: str | None = None,
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, dict]:
    data = raw if raw is not None else json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, method=method, data=data)
    if content_type is not None and data is not None:
        request.add_header("Content-Type", content_type)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        text = error.read()
        return error.code, json.loads(text) if text.startswith(b"{") else {"error": text.decode()}


@pytest.fixture()
def served(topics_env, tmp_path) -> Iterator[tuple[Cast, str, Path]]:
    """People signed in (channel hotlist-http) and a real ``alpr hotlist serve`` with its log."""
    people = cast(topics_env, channel="hotlist-http")
    port = free_port()
    log = tmp_path / "hotlist-serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "hotlist", "serve", "--port", str(port)],
            env=topics_env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}/hotlist"
        try:
            wait_for(lambda: _answers(f"{base}/sources"), 30, "the hot-list endpoint")
            yield people, base, log
        finally:
            server.terminate()
            server.wait(10)


def _answers(url: str) -> bool:
    try:
        return http("GET", url)[0] == 401
    except OSError:
        return False


def test_every_route_needs_a_token_and_a_role(served) -> None:
    people, base, _ = served
    env = people.env
    for method, path, body in (
        ("GET", "/pending", None),
        ("GET", "/sources", None),
        ("POST", "/entries", ENTRY),
        ("POST", "/entries/local:HTTP-1/approve", {}),
        ("DELETE", "/entries/local:HTTP-1", {"reason": "x"}),
    ):
        assert http(method, base + path, body)[0] == 401, (method, path)
        assert http(method, base + path, body, token="not-a-session")[0]  # noqa: S106 == 401, (method, path)
    status, body = http("GET", f"{base}/pending")
    assert status == 401 and "8BOL" not in json.dumps(body)
    assert pending_keys(env) == set() and current_keys(env) == set()

    # a dispatcher may not propose (P21); nothing changes
    status, body = http("POST", f"{base}/entries", ENTRY, token=people.tokens["lee"])
    assert status == 403 and "hotlist.propose" in body["error"]
    assert http("GET", f"{base}/pending", token=people.tokens["lee"])[0] == 403
    assert pending_keys(env) == set()
    # a service token works where its role may (feed-sync sees the feeds' state)
    assert http("GET", f"{base}/sources", token=people.service_token) == (200, {})
    assert http("GET", f"{base}/pending", token=people.service_token)[0] == 403
    refused = sorted((a["user"], a["decision"]) for a in audits(env, "hotlist_pending"))  # P15
    assert refused == sorted([(people.name("lee"), "refused"), (f"feed-{people.suffix}", "refused")])


def test_entries_are_proposed_and_approved_as_the_signed_in_people_p2(served) -> None:
    people, base, log = served
    env = people.env
    reyes, kim, hale = people.tokens["reyes"], people.tokens["kim"], people.tokens["hale"]
    # entered_by comes from the sign-in: a body that names one is refused (400)
    typed = {**ENTRY, "entered_by": {"name": "Lt. Hale", "badge": "2210", "assignment": "x"}}
    assert http("POST", f"{base}/entries", typed, token=reyes)[0] == 400
    assert http("POST", f"{base}/entries", {**ENTRY, "plate": "7*"}, token=reyes)[0] == 422  # P6
    assert http("POST", f"{base}/entries", {**ENTRY, "plate_state": "California"}, token=reyes)[0] == 400
    # P6: a partial plate for littering; P2: a reason or case number that names nothing (422, rule named)
    for junk, rule, words in (
        ({"plate": "*A*B*C*", "reason": "littering 374.4 PC"}, "P6", "homicide"),
        ({"reason": "."}, "P2", "names no presumed crime"),
        ({"case_number": "-"}, "P2", "SJ-26-004512"),
    ):
        status, body = http("POST", f"{base}/entries", {**ENTRY, **junk}, token=reyes)
        assert (status, body.get("rule")) == (422, rule) and words in body["error"], body
    assert pending_keys(env) == set()
    assert http("POST", f"{base}/entries", ENTRY, token=reyes) == (
        202,
        {
            "entry_key": "local:HTTP-1",
            "status": "pending",
            "missing": ["approved_by (lieutenant's approval)"],
        },
    )
    [record] = [v for v in topic_values(env, "hotlist-pending") if "entry" in v]
    assert record["entry"]["entered_by"]["name"] == "Officer Dana Reyes"
    assert record["entered_by_user"] == people.name("reyes")
    status, pending = http("GET", f"{base}/pending", token=kim)
    assert status == 200 and list(pending) == ["local:HTTP-1"]
    assert [a["user"] for a in audits(env, "hotlist_pending")] == [people.name("kim")]  # P15

    approve = f"{base}/entries/local:HTTP-1/approve"
    status, body = http("POST", approve, {}, token=kim)  # an officer (P21)
    assert status == 403 and "hotlist.approve" in body["error"]
    status, body = http("POST", approve, {}, token=people.tokens["acting"])  # a sergeant's rank (P2)
    assert status == 403 and "lieutenant or above" in body["error"]
    status, body = http("POST", approve, {"by": {"name": "Lt. O", "badge": "1", "rank": "chief"}}, token=hale)
    assert status == 400 and "by" in body["error"]
    assert current_keys(env) == set() and pending_keys(env) == {"local:HTTP-1"}

    status, body = http("POST", approve, {}, token=hale)
    assert status == 200 and body["status"] == "active"
    assert (
        body["entry"]["approved_by"]["name"] == "Lt. Sam Hale"
        and body["entry"]["approved_by"]["rank"] == "lieutenant"
    )
    assert current_keys(env) == {"local:HTTP-1"}
    done = [a for a in audits(env, "hotlist_approve") if a["decision"] == "allowed"]
    assert [(a["user"], a["badge"], a["agency"]) for a in done] == [(people.name("hale"), "2210", HOME)]
    assert done[0]["query"]["approver_rank"] == "lieutenant"
    assert done[0]["query"]["entered_by_user"] == people.name("reyes")

    entry = f"{base}/entries/local:HTTP-1"
    assert http("DELETE", entry, {"reason": "x"}, token=kim)[0] == 403  # not the entering member
    assert http("DELETE", f"{base}/entries/local:NOPE", {"reason": "x"}, token=reyes)[0] == 404
    assert http("DELETE", entry, {"reason": "arrest made"}, token=reyes)[0] == 200
    assert current_keys(env) == set()
    for token in (reyes, kim, hale):
        assert token not in log.read_text()  # the Authorization header never reaches a log


def test_a_lieutenant_cannot_approve_their_own_entry_over_http(served) -> None:
    people, base, _ = served
    cruz = people.tokens["cruz"]
    assert http("POST", f"{base}/entries", {**ENTRY, "entry_id": "HTTP-2"}, token=cruz)[0] == 202
    status, body = http("POST", f"{base}/entries/local:HTTP-2/approve", {}, token=cruz)
    assert status == 403 and "own entry" in body["error"]
    assert current_keys(people.env) == set() and pending_keys(people.env) == {"local:HTTP-2"}


def test_a_page_on_another_origin_cannot_act(served) -> None:
    """A browser page's no-cors POST can only send text/plain (415) and always carries its Origin
    (403); neither changes anything, whoever's token it holds."""
    people, base, _ = served
    env = people.env
    reyes, hale = people.tokens["reyes"], people.tokens["hale"]
    no_cors = json.dumps(ENTRY).encode()
    assert http("POST", f"{base}/entries", raw=no_cors, content_type="text/plain", token=reyes)[0] == 415
    assert http("POST", f"{base}/entries", raw=no_cors, content_type=None, token=reyes)[0] == 415
    foreign = {"Origin": "https://evil.example"}
    status, body = http("POST", f"{base}/entries", ENTRY, token=reyes, headers=foreign)
    assert status == 403 and "origin" in body["error"]
    status, _ = http("POST", f"{base}/entries", raw=no_cors, content_type="text/plain", headers=foreign)
    assert status == 403
    assert http("GET", f"{base}/pending", token=hale, headers=foreign)[0] == 403
    assert pending_keys(env) == set() and entry_keys_changed(env) == []

    # an entry proposed properly cannot be approved from a foreign page either
    assert http("POST", f"{base}/entries", ENTRY, token=reyes)[0] == 202
    approve = f"{base}/entries/local:HTTP-1/approve"
    assert http("POST", approve, raw=b"{}", content_type="text/plain", token=hale)[0] == 415
    assert http("POST", approve, {}, token=hale, headers=foreign)[0] == 403
    assert current_keys(env) == set() and pending_keys(env) == {"local:HTTP-1"}

    # bodies are capped (64 KiB): 413, nothing written
    huge = {**ENTRY, "entry_id": "HTTP-BIG", "reason": "x" * 70_000}
    assert http("POST", f"{base}/entries", huge, token=reyes)[0] == 413
    assert pending_keys(env) == {"local:HTTP-1"}


def entry_keys_changed(env) -> list[str]:
    return [v["entry_key"] for v in topic_values(env, "hotlist-changes") if "entry_key" in v]
