"""The camera ingest (``alpr ingest``, POST /v1/reads) as a real process on the embedded broker, with
cameras and keys made by the real ``alpr camera`` commands: who may send (per-camera keys, P20),
what is refused and why, and that a 2xx means Kafka has the reads (they are read back from the
reads topic). Key changes are made by administrators only (P21) and audited (P14)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.kafka.broker import EmbeddedBroker, free_port
from streams.kafka.topics import create_topics
from tests.conftest import AlprProcess, make_env, settings_of, wait_for
from tests.factories import read_dict
from tests.integration.kafka_helpers import SignInUser, add_user, alpr_as, audit_records, read_topic

pytestmark = pytest.mark.integration

MAX_READS = 100
MAX_BYTES = 64 * 1024
AIRPORT = ["--lat", "37.3639", "--lon", "-121.9289"]


class Response:
    def __init__(self, status: int, body: bytes, headers: Any) -> None:
        self.status = status
        self.body = json.loads(body) if body else None
        self.headers = headers


def post(env: dict[str, str], key: str | None, body: Any, *, raw: bytes | None = None) -> Response:
    data = raw if raw is not None else orjson.dumps(body)
    request = urllib.request.Request(  # noqa: S310 - our own server on 127.0.0.1
        f"http://127.0.0.1:{env['ALPR_INGEST_PORT']}/v1/reads", data=data, method="POST"
    )
    request.add_header("Content-Type", "application/json")
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return Response(answer.status, answer.read(), answer.headers)
    except urllib.error.HTTPError as error:
        return Response(error.code, error.read(), error.headers)


def healthy(env: dict[str, str]) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{env['ALPR_INGEST_PORT']}/healthz", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def a_read(**changes: Any) -> dict[str, Any]:
    """A read captured a second ago, without camera_id (the key says which camera)."""
    read = read_dict(**{"read_id": f"r-{uuid.uuid4().hex[:12]}", "captured_at": _ago(1), **changes})
    if "camera_id" not in changes:
        del read["camera_id"]
    return read


def _ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def stored(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """read_id -> the read, for every read on the reads topic now."""
    settings = settings_of(env)
    out: dict[str, dict[str, Any]] = {}
    for record in asyncio.run(read_topic(settings.kafka, settings.topic("reads"))):
        for read in orjson.loads(record.value)["reads"]:
            out[read["read_id"]] = read
    return out


def audit(env: dict[str, str]) -> list[dict[str, Any]]:
    settings = settings_of(env)
    return audit_records(settings)


def key_of(output: str) -> str:
    """The key a command printed (the line after 'ingest key ... shown only now')."""
    lines = output.splitlines()
    [at] = [i for i, line in enumerate(lines) if line.startswith("ingest key ")]
    assert "it cannot be shown again" in lines[at]
    return lines[at + 1].strip()


def ok(result: Any) -> Any:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


class Site:
    """Fresh topics, an administrator, and a running ``alpr ingest`` on them."""

    def __init__(self, env: dict[str, str], root: Path) -> None:
        self.env = env
        self.settings = settings_of(env)
        asyncio.run(create_topics(self.settings))
        self.admin = asyncio.run(add_user(self.settings, "ada", "administrator", badge="A-1"))
        self.process = AlprProcess(env, root / f"ingest-{env['ALPR_INGEST_PORT']}.log", "ingest")
        wait_for(lambda: healthy(env) or self.process.proc.poll() is not None, 60, "the ingest")
        assert self.process.proc.poll() is None, self.process.log()

    def camera(self, camera_id: str) -> str:
        """Register a mobile camera; its key as printed."""
        added = ok(
            alpr_as(
                self.env,
                self.admin,
                *("camera", "add", "--id", camera_id, "--name", f"Unit {camera_id}", "--agency", "SJPD"),
                *("--kind", "mobile", *AIRPORT),
            )
        )
        return key_of(added.stdout)

    def run(self, user: SignInUser, *args: str) -> Any:
        return alpr_as(self.env, user, *args)

    def stop(self) -> None:
        self.process.stop()


@pytest.fixture()
def site(env_factory: Callable[..., dict[str, str]], tmp_path: Path) -> Iterator[Site]:
    env = env_factory(
        ALPR_INGEST_PORT=str(free_port()),
        ALPR_INGEST_MAX_READS=str(MAX_READS),
        ALPR_INGEST_MAX_BYTES=str(MAX_BYTES),
    )
    running = Site(env, tmp_path)
    yield running
    running.stop()
    assert "7ABC123" not in running.process.log(), "no plate in the ingest's log (info level)"


def test_camera_add_issues_a_key_once_stores_only_its_hash_and_audits_it(site: Site) -> None:
    """P21, P14: the registration prints the key once, the camera-keys topic holds its sha256 and
    never the key, and the audit trail names the key's fingerprint; a new key is an administrator's
    act too, audited with the key it replaces, and an officer is refused without any change."""
    key = site.camera("cam-1")
    digest = hashlib.sha256(key.encode()).hexdigest()
    settings = site.settings
    records = asyncio.run(read_topic(settings.kafka, settings.topic("camera-keys")))
    assert [(r.key, orjson.loads(r.value)["sha256"]) for r in records] == [(b"cam-1", digest)]
    assert key.split(".")[-1].encode() not in records[0].value
    [added] = [a for a in audit(site.env) if a["action"] == "camera_add"]
    assert (added["user"], added["query"]["registered_camera"], added["query"]["key"]) == (
        "ada",
        "cam-1",
        digest[:12],
    )

    officer = asyncio.run(add_user(settings, "olu", "officer", badge="O-7"))
    refused = site.run(officer, "camera", "key", "issue", "cam-1")
    assert refused.returncode == 2 and "P21: the officer role may not camera.admin" in refused.stderr
    assert len(asyncio.run(read_topic(settings.kafka, settings.topic("camera-keys")))) == 1

    reissued = ok(site.run(site.admin, "camera", "key", "issue", "cam-1"))
    assert f"key {digest[:12]} no longer works" in reissued.stdout
    new = key_of(reissued.stdout)
    [issued] = [a for a in audit(site.env) if a["action"] == "camera_key_issue"]
    assert issued["query"] == {
        "registered_camera": "cam-1",
        "key": hashlib.sha256(new.encode()).hexdigest()[:12],
        "replaces": digest[:12],
    }


def test_after_a_202_the_reads_are_on_the_reads_topic_with_the_cameras_capture_time(site: Site) -> None:
    """A 2xx comes only after Kafka has acknowledged: the reads are read back at once, the camera id
    filled in from the key, the capture time exactly as the camera wrote it. A list is accepted too."""
    key = site.camera("cam-1")
    one = a_read(captured_at=_ago(2.5).replace("+00:00", "Z"))
    answer = post(site.env, key, one)
    assert (answer.status, answer.body) == (202, {"accepted": 1})
    assert stored(site.env)[one["read_id"]] == {**one, "camera_id": "cam-1"}

    many = [a_read(plate=f"8XYZ{i:03d}") for i in range(MAX_READS)]
    many[3]["camera_id"] = "cam-1"  # naming its own camera is fine
    answer = post(site.env, key, many)
    assert (answer.status, answer.body) == (202, {"accepted": MAX_READS})
    on_topic = stored(site.env)
    assert [on_topic[r["read_id"]] for r in many] == [{**r, "camera_id": "cam-1"} for r in many]


def test_who_may_send_missing_unknown_and_foreign_keys(site: Site) -> None:
    """401 without a key and for a key that is not one, with the same answer whether or not the
    camera named in it exists (P20); 403 when camera A's key sends a read naming camera B, and
    nothing of that request is stored."""
    key_a = site.camera("cam-a")
    site.camera("cam-b")
    read = a_read()
    missing = post(site.env, None, read)
    assert (missing.status, missing.body["error"]) == (
        401,
        "missing key: send 'Authorization: Bearer <camera key>'",
    )
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    answers = [
        post(site.env, presented, read)
        for presented in (
            key_a[:-3] + ("aaa" if not key_a.endswith("aaa") else "bbb"),  # cam-a exists
            key_a.replace("cam-a.", "cam-b."),  # cam-b exists, not this secret
            key_a.replace("cam-a.", "cam-zzz."),  # no such camera
            "not-a-key",
        )
    ]
    assert {(a.status, orjson.dumps(a.body)) for a in answers} == {(401, b'{"error":"unknown key"}')}

    foreign = [a_read(), a_read(camera_id="cam-b"), a_read(camera_id="cam-a")]
    answer = post(site.env, key_a, foreign)
    assert answer.status == 403
    assert answer.body["reads"] == [{"index": 1, "reason": "camera_id 'cam-b' is not this key's camera"}]
    assert "nothing was stored" in answer.body["error"]
    probe = a_read()
    assert post(site.env, key_a, probe).status == 202
    on_topic = stored(site.env)
    assert probe["read_id"] in on_topic and not {r["read_id"] for r in foreign + [read]} & set(on_topic)


def test_a_malformed_request_never_writes_the_cameras_key_to_the_log(site: Site) -> None:
    """aiohttp logs a request it cannot parse with the offending header line: a camera's bearer
    key in a malformed Authorization header must not reach ingest.log (issue 15, item 11)."""
    import socket

    key = site.camera("cam-log")
    port = int(site.env["ALPR_INGEST_PORT"])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/reads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + key.encode()
            + b"\x01\r\nContent-Length: 2\r\n\r\n{}"
        )
        answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.0 400") or answer.startswith(b"HTTP/1.1 400"), answer
    secret = key.split(".", 1)[1]
    wait_for(lambda: "Error handling request" in site.process.log(), 10, "aiohttp's bad-request log")
    log = site.process.log()
    assert "Authorization: Bearer [redacted]" in log or "Authorization: [redacted]" in log
    assert secret not in log and key not in log


def test_a_revoked_key_or_a_retired_camera_is_refused_within_seconds(site: Site) -> None:
    """The ingest follows the camera-keys and cameras topics: after ``alpr camera key revoke`` the key
    gets 403 within 5 s; a newly issued key works at once and the replaced one is unknown; after
    ``alpr camera retire`` the camera's key gets 403 within 5 s. Nothing refused is stored."""
    key = site.camera("cam-1")
    assert post(site.env, key, a_read()).status == 202

    revoked = ok(site.run(site.admin, "camera", "key", "revoke", "cam-1"))
    assert "its reads are refused" in revoked.stdout
    started = time.monotonic()
    wait_for(lambda: post(site.env, key, a_read()).status == 403, 5, "the revoked key refused", 0.1)
    noticed = time.monotonic() - started
    answer = post(site.env, key, a_read())
    assert answer.body["error"].startswith("the key of camera cam-1 was revoked on ")
    [revocation] = [a for a in audit(site.env) if a["action"] == "camera_key_revoke"]
    assert (revocation["user"], revocation["query"]) == (
        "ada",
        {"registered_camera": "cam-1", "key": hashlib.sha256(key.encode()).hexdigest()[:12]},
    )

    new = key_of(ok(site.run(site.admin, "camera", "key", "issue", "cam-1")).stdout)
    assert post(site.env, new, a_read()).status == 202  # at once: an unknown key makes it catch up
    assert post(site.env, key, a_read()).status == 401

    ok(site.run(site.admin, "camera", "retire", "cam-1"))
    wait_for(lambda: post(site.env, new, a_read()).status == 403, 5, "the retired camera refused", 0.1)
    late = a_read()
    answer = post(site.env, new, late)
    assert answer.status == 403 and answer.body["error"].startswith("camera cam-1 was retired on ")
    assert late["read_id"] not in stored(site.env)
    print(f"revocation noticed after {noticed:.2f} s")


def test_bad_input_is_refused_with_the_reason_and_a_request_is_all_or_nothing(site: Site) -> None:
    """400 for a body that is not JSON or not a read or list; 413 over the size or read-count caps;
    422 naming each bad read's index and the schema's reason, and then none of the request's reads
    is stored, not even the good ones."""
    key = site.camera("cam-1")
    cases = [
        (b"{not json", 400, "the body is not JSON"),
        (b"42", 400, "the body must be a read (a JSON object) or a list of reads"),
        (b"[]", 400, "the list is empty"),
        (b"[" + b",".join([orjson.dumps(a_read())] * (MAX_READS + 1)) + b"]", 413, "101 reads: at most 100"),
        (
            orjson.dumps([a_read(image_ref="x" * 1000) for _ in range(70)]),
            413,
            "the body is over 65536 bytes",
        ),
    ]
    for body, status, message in cases:
        answer = post(site.env, key, None, raw=body)
        assert (answer.status, answer.body["error"][: len(message)]) == (status, message)

    good, long_plate, expired = a_read(), a_read(plate="X" * 17), a_read(captured_at=_ago(31 * 86400))
    batch = [good, long_plate, a_read(confidence="high"), expired]
    answer = post(site.env, key, batch)
    assert answer.status == 422
    assert answer.body["error"] == "3 of 4 reads refused; nothing was stored"
    reasons = {r["index"]: r["reason"] for r in answer.body["reads"]}
    assert sorted(reasons) == [1, 2, 3]
    assert "plate" in reasons[1] and "16" in reasons[1]
    assert "confidence" in reasons[2]
    assert "older than the read retention (30 days)" in reasons[3]

    probe = a_read()
    assert post(site.env, key, probe).status == 202
    on_topic = stored(site.env)
    assert probe["read_id"] in on_topic
    assert not {r["read_id"] for r in batch} & set(on_topic)


def test_kafka_unavailable_is_503_with_retry_after_and_the_ingest_recovers(tmp_path: Path) -> None:
    """With the broker frozen, a request is answered 503 with Retry-After once the acknowledgement
    timeout passes, listing what Kafka acknowledged (nothing); once the broker is back, the ingest
    (with a fresh producer) stores reads again and answers 202 after Kafka has them. The broker is
    the test's own, so the rest of the suite does not stall."""
    own = EmbeddedBroker(tmp_path / "frozen-broker", free_port())
    own.start()
    env = make_env(own, tmp_path, ALPR_INGEST_PORT=str(free_port()), ALPR_INGEST_ACK_TIMEOUT_S="3")
    running = None
    try:
        running = Site(env, tmp_path)
        key = running.camera("cam-1")
        assert post(env, key, a_read()).status == 202
        pid = own.pid()
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            answer = post(env, key, [a_read(), a_read()])
            waited = time.monotonic() - started
        finally:
            os.kill(pid, signal.SIGCONT)
        assert answer.status == 503, answer.body
        assert answer.headers["Retry-After"] == "5"
        assert answer.body["acknowledged"] == []
        assert "resend the reads not acknowledged" in answer.body["error"]
        assert 2.5 < waited < 10

        after = a_read()
        wait_for(lambda: post(env, key, after).status == 202, 60, "the ingest storing reads again", 0.5)
        assert after["read_id"] in stored(env)
        assert running.process.proc.poll() is None
    finally:
        if running is not None:
            running.stop()
        own.stop()
