"""The pure key logic of streams/cameras/keys.py: what is stored, how a key is checked, and the
answers the ingest gives (401 for anything that is not a key, the same whether or not the camera
exists, P20; 403 only to the holder of a real key that was revoked or whose camera is retired)."""

from __future__ import annotations

import hashlib
import string
from datetime import UTC, date, datetime, timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.cameras.keys import (
    KEY_PREFIX,
    Admitted,
    CameraKey,
    KeyRing,
    Refused,
    authenticate,
    decode_key,
    encode_key,
    fold,
    issue,
    key_digest,
    new_key,
    revoke,
)
from streams.cameras.registry import Camera, CameraRegistry
from streams.errors import ConfigError, InvalidRecord, NotFound

NOW = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
URLSAFE = set(string.ascii_letters + string.digits + "-_")


def camera(camera_id: str = "cam-1", **changes: object) -> Camera:
    fields: dict[str, object] = {
        "id": camera_id,
        "name": "N 1st St",
        "agency": "SJPD",
        "kind": "fixed",
        "lat": 37.34,
        "lon": -121.89,
        "facing_deg": 90.0,
        **changes,
    }
    return Camera(**fields)  # type: ignore[arg-type]


def registry(*cameras: Camera) -> CameraRegistry:
    return CameraRegistry({c.id: c for c in cameras})


def test_a_key_for_a_camera_id_with_spaces_is_a_valid_bearer_token() -> None:
    """Issue 17: real camera ids hold spaces and colons, which a bearer token may not (RFC 6750);
    the key's label writes them as "_", and the key still names its camera in its record."""
    issued = new_key("BXH9904 SPD2020627MDC", "ada", NOW)
    assert issued.key.startswith(f"{KEY_PREFIX}BXH9904_SPD2020627MDC.")
    assert new_key("SJ:Curtner-Monterey", "ada", NOW).key.startswith(f"{KEY_PREFIX}SJ_Curtner-Monterey.")
    token = string.ascii_letters + string.digits + "-._~+/"
    assert set(issued.key) <= set(token) and issued.record.camera_id == "BXH9904 SPD2020627MDC"


def test_a_new_key_is_256_random_bits_named_for_its_camera_and_only_its_hash_is_stored() -> None:
    first, second = new_key("cam-1", "ada", NOW), new_key("cam-1", "ada", NOW)
    assert first.key != second.key
    assert first.key.startswith(f"{KEY_PREFIX}cam-1.")
    secret = first.key.removeprefix(f"{KEY_PREFIX}cam-1.")
    assert len(secret) == 43 and set(secret) <= URLSAFE  # token_urlsafe(32): 256 bits
    assert first.record.sha256 == hashlib.sha256(first.key.encode()).hexdigest() == key_digest(first.key)
    stored = encode_key(first.record)
    assert secret.encode() not in stored and first.key not in repr(first)
    assert orjson.loads(stored) == {
        "camera_id": "cam-1",
        "sha256": first.record.sha256,
        "status": "active",
        "issued_at": NOW.isoformat(),
        "issued_by": "ada",
        "revoked_at": None,
        "revoked_by": None,
    }
    assert first.record.fingerprint == first.record.sha256[:12]


def test_records_round_trip_and_bad_ones_are_refused_with_the_reason() -> None:
    record = new_key("cam-1", "ada", NOW).record
    revoked = revoke(KeyRing({"cam-1": record}), "cam-1", "bo", NOW + timedelta(days=1))
    for each in (record, revoked):
        assert decode_key(b"cam-1", encode_key(each)) == each
    good = orjson.loads(encode_key(record))
    cases = [
        ({**good, "sha256": "ABC"}, "sha256 is not 64 lower-case hex digits"),
        ({**good, "status": "lost"}, "status 'lost'"),
        ({**good, "issued_at": "2026-11-02T08:30:00"}, "issued_at='2026-11-02T08:30:00' is not a date-time"),
        ({**good, "status": "revoked"}, "revoked_at is set exactly when the key is revoked"),
        ({**good, "revoked_at": NOW.isoformat()}, "revoked_at is set exactly when the key is revoked"),
    ]
    for data, message in cases:
        with pytest.raises(InvalidRecord, match=message):
            decode_key(b"cam-1", orjson.dumps(data))
    with pytest.raises(InvalidRecord, match="is under key b'cam-2'"):
        decode_key(b"cam-2", encode_key(record))


def test_the_newest_record_of_a_camera_decides() -> None:
    a1, a2 = new_key("cam-a", "ada", NOW).record, new_key("cam-a", "ada", NOW).record
    b = new_key("cam-b", "ada", NOW).record
    ring = fold(
        [
            (b"cam-a", encode_key(a1)),
            (b"cam-b", encode_key(b)),
            (b"cam-a", encode_key(a2)),
            (b"cam-b", None),  # a tombstone
            (b"cam-c", b"not json"),
        ]
    )
    assert ring.keys == {"cam-a": a2}
    assert set(ring.invalid) == {"cam-c"} and "not valid JSON" in ring.invalid["cam-c"]
    assert ring.by_digest() == {a2.sha256: a2}


def test_issue_needs_a_registered_active_camera_and_names_the_key_it_replaces() -> None:
    cameras = registry(camera("cam-1"), camera("cam-old", status="retired", retired_on=date(2026, 1, 5)))
    first, replaced = issue(cameras, KeyRing(), "cam-1", "ada", NOW)
    assert replaced is None and first.record.camera_id == "cam-1"
    second, replaced = issue(cameras, KeyRing({"cam-1": first.record}), "cam-1", "ada", NOW)
    assert replaced == first.record and second.record.sha256 != first.record.sha256
    with pytest.raises(NotFound, match="no camera cam-404"):
        issue(cameras, KeyRing(), "cam-404", "ada", NOW)
    with pytest.raises(ConfigError, match="cam-old was retired on 2026-01-05: a retired camera gets no key"):
        issue(cameras, KeyRing(), "cam-old", "ada", NOW)


def test_revoke_keeps_the_hash_marked_revoked_and_refuses_twice_or_without_a_key() -> None:
    record = new_key("cam-1", "ada", NOW).record
    revoked = revoke(KeyRing({"cam-1": record}), "cam-1", "bo", NOW)
    assert (revoked.sha256, revoked.status, revoked.revoked_by, revoked.revoked_at) == (
        record.sha256,
        "revoked",
        "bo",
        NOW,
    )
    with pytest.raises(ConfigError, match="was revoked already"):
        revoke(KeyRing({"cam-1": revoked}), "cam-1", "bo", NOW)
    with pytest.raises(NotFound, match="camera cam-1 has no key: issue one"):
        revoke(KeyRing(), "cam-1", "bo", NOW)


def answer(presented: str | None, keys: list[CameraKey], cameras: list[Camera]) -> Admitted | Refused:
    return authenticate(presented, {k.sha256: k for k in keys}, {c.id: c for c in cameras})


def test_a_current_key_of_an_active_camera_is_admitted_as_that_camera() -> None:
    issued = new_key("cam-1", "ada", NOW)
    verdict = answer(issued.key, [issued.record], [camera("cam-1"), camera("cam-2")])
    assert verdict == Admitted(camera("cam-1"), issued.record)


def test_anything_but_a_key_gets_the_same_401_whether_or_not_the_camera_exists() -> None:
    """P20: someone without a key learns nothing, not even which camera ids are registered."""
    issued = new_key("cam-1", "ada", NOW)
    keys, cameras = [issued.record], [camera("cam-1")]
    wrong_secret = issued.key[:-4] + ("AAAA" if not issued.key.endswith("AAAA") else "BBBB")
    no_such_camera = new_key("cam-404", "ada", NOW).key
    answers = {
        answer(presented, keys, cameras)
        for presented in (wrong_secret, no_such_camera, "hunter2", KEY_PREFIX + "x" * 500, issued.key.upper())
    }
    assert answers == {Refused(401, "unknown key")}
    assert answer(None, keys, cameras) == answer("", keys, cameras)
    assert answer(None, keys, cameras) == Refused(
        401, "missing key: send 'Authorization: Bearer <camera key>'"
    )


def test_a_replaced_key_is_unknown_and_a_revoked_one_is_told_so() -> None:
    old = new_key("cam-1", "ada", NOW)
    new = new_key("cam-1", "ada", NOW)
    assert answer(old.key, [new.record], [camera("cam-1")]) == Refused(401, "unknown key")
    revoked = revoke(KeyRing({"cam-1": new.record}), "cam-1", "bo", NOW)
    assert answer(new.key, [revoked], [camera("cam-1")]) == Refused(
        403, f"the key of camera cam-1 was revoked on {NOW.isoformat()}", "cam-1"
    )


def test_the_key_of_a_retired_or_unregistered_camera_is_refused_with_403() -> None:
    issued = new_key("cam-1", "ada", NOW)
    retired = camera("cam-1", status="retired", retired_on=date(2026, 10, 1))
    assert answer(issued.key, [issued.record], [retired]) == Refused(
        403, "camera cam-1 was retired on 2026-10-01", "cam-1"
    )
    assert answer(issued.key, [issued.record], []) == Refused(403, "camera cam-1 is not registered", "cam-1")


@given(st.text(max_size=200))
def test_no_string_but_the_key_itself_is_admitted(presented: str) -> None:
    issued = new_key("cam-1", "ada", NOW)
    verdict = answer(presented, [issued.record], [camera("cam-1")])
    assert isinstance(verdict, Refused) == (presented != issued.key)


@pytest.mark.parametrize("role", ["dispatcher", "officer", "analyst", "lieutenant", "auditor", "feed-sync"])
def test_only_administrators_issue_or_revoke_keys_checked_before_anything_is_read(role: str) -> None:
    """P21: issuing, revoking and the first key of a new camera are refused to any other role
    before a topic is read (the broker address points nowhere, so a read would fail otherwise)."""
    import asyncio

    from streams.access.principal import Principal
    from streams.cameras.keys import CameraKeyStore
    from streams.errors import AccessDenied
    from streams.settings import Settings

    store = CameraKeyStore(Settings.from_env({"ALPR_BROKER_URL": "kafka://127.0.0.1:9"}))
    who = Principal("x", "X", "SJPD", role, badge="X-1")
    now = datetime(2026, 11, 2, tzinfo=UTC)
    for attempt in (
        store.add_camera(camera(), who, now),
        store.issue("cam-1", who, now),
        store.revoke("cam-1", who, now),
    ):
        with pytest.raises(AccessDenied, match=f"P21: the {role} role may not camera.admin"):
            asyncio.run(attempt)
