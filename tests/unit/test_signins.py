"""The authority core, pure parts: the sign-in state fold (lockout, throttling, sessions,
revocations), the permission table, the secret box, audit field caps and log redaction (P15, P18,
P21)."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streams.access.audit import MAX_FIELD, AccessRecorded
from streams.access.permissions import ACTIONS, PERMISSIONS, ROLES, may, require, roles_table
from streams.access.principal import Principal
from streams.access.redact import MASK, RedactSecrets, redact
from streams.access.secretbox import SecretBox
from streams.access.signins import SigninState, token_hash
from streams.errors import AccessDenied, ConfigError, NotSignedIn
from streams.settings import Settings

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def failed(state: SigninState, user: str, source: str, at: datetime) -> None:
    state.apply({"event": "signin_failed", "user": user, "source": source, "at": at.isoformat()})


def test_five_failures_lock_the_user_from_that_source_for_ten_minutes() -> None:
    """P18 (CJIS): 5 failures lock for 10 minutes."""
    state = SigninState()
    for i in range(4):
        failed(state, "kim", "10.0.0.9", T0 + timedelta(seconds=i))
    assert state.locked("kim", "10.0.0.9", T0 + timedelta(seconds=5)) is None
    failed(state, "kim", "10.0.0.9", T0 + timedelta(seconds=5))
    assert state.locked("kim", "10.0.0.9", T0 + timedelta(seconds=6)) == T0 + timedelta(minutes=10, seconds=5)
    assert state.locked("kim", "10.0.0.9", T0 + timedelta(minutes=10, seconds=5)) is None


def test_attempts_during_a_lock_do_not_extend_it() -> None:
    """One request a minute must not keep a user locked out for good."""
    state = SigninState()
    for i in range(5):
        failed(state, "kim", "evil", T0 + timedelta(seconds=i))
    until = state.locked("kim", "evil", T0 + timedelta(seconds=10))
    assert until is not None
    for minute in range(1, 10):
        failed(state, "kim", "evil", T0 + timedelta(minutes=minute))
    assert state.locked("kim", "evil", T0 + timedelta(minutes=9, seconds=30)) == until
    assert state.locked("kim", "evil", until) is None


def test_a_lock_from_one_source_does_not_lock_the_user_elsewhere() -> None:
    """Nobody can keep another user locked out: the lock is per user and source."""
    state = SigninState()
    for i in range(20):
        failed(state, "kim", "attacker", T0 + timedelta(seconds=i))
    assert state.locked("kim", "attacker", T0 + timedelta(seconds=30)) is not None
    assert state.locked("kim", "kim-desk", T0 + timedelta(seconds=30)) is None


def test_a_source_failing_across_many_names_is_throttled() -> None:
    state = SigninState(source_limit=20)
    for i in range(19):
        failed(state, f"user{i}", "scanner", T0 + timedelta(seconds=i))
    assert state.throttled("scanner", T0 + timedelta(seconds=20)) is None
    failed(state, "user19", "scanner", T0 + timedelta(seconds=19))
    assert state.throttled("scanner", T0 + timedelta(seconds=20)) == T0 + timedelta(minutes=10)
    assert state.throttled("scanner", T0 + timedelta(minutes=10, seconds=1)) is None
    assert state.throttled("elsewhere", T0 + timedelta(seconds=20)) is None


def opened(state: SigninState, token: str, user: str, at: datetime, hours: int = 8) -> None:
    state.apply(
        {
            "event": "session_opened",
            "session": "s-" + user,
            "token_hash": token_hash(token),
            "user": user,
            "role": "analyst",
            "agency": "SJPD",
            "channel": "cli",
            "source": "cli:host",
            "expires_at": (at + timedelta(hours=hours)).isoformat(),
            "at": at.isoformat(),
        }
    )


def test_sessions_end_on_expiry_sign_out_and_revocation() -> None:
    state = SigninState()
    opened(state, "tok-a", "kim", T0, hours=1)
    opened(state, "tok-b", "lee", T0)
    assert state.session("tok-a", T0 + timedelta(minutes=59)) is not None
    assert state.session("tok-a", T0 + timedelta(hours=1)) is None
    assert state.session("tok-wrong", T0) is None
    state.apply({"event": "session_closed", "token_hash": token_hash("tok-b"), "at": T0.isoformat()})
    assert state.session("tok-b", T0) is None
    opened(state, "tok-c", "lee", T0 + timedelta(minutes=1))
    state.apply({"event": "sessions_revoked", "user": "lee", "at": (T0 + timedelta(minutes=2)).isoformat()})
    assert state.session("tok-c", T0 + timedelta(minutes=3)) is None
    opened(state, "tok-d", "lee", T0 + timedelta(minutes=4))  # a new sign-in after the revocation
    assert state.session("tok-d", T0 + timedelta(minutes=5)) is not None


def test_the_first_claim_wins() -> None:
    state = SigninState()
    for claim_id in ("first", "second"):
        state.apply({"event": "claimed", "claim": "code:kim:123", "id": claim_id, "at": T0.isoformat()})
    assert state.claims["code:kim:123"] == "first"


def principal(role: str) -> Principal:
    return Principal("x", "X", "SJPD", role, badge="1")


def test_permission_table_is_one_table_both_ways() -> None:
    """P21: access by role."""
    for action, (_, roles) in ACTIONS.items():
        for role in ROLES:
            assert may(principal(role), action) == (role in roles) == (action in PERMISSIONS[role])
    assert not may(principal("dispatcher"), "search")
    assert not may(principal("auditor"), "alert.view")
    assert not may(principal("officer"), "hotlist.approve")
    assert not may(principal("cad"), "alert.act")  # P7: a person acts on an alert
    assert may(principal("external"), "search") and PERMISSIONS["external"] == {"search"}
    assert "| `hotlist.approve` |" in roles_table()


def test_require_refuses_nobody_and_the_wrong_role() -> None:
    with pytest.raises(NotSignedIn):
        require(None, "alert.view")
    with pytest.raises(AccessDenied, match="P21: the dispatcher role may not directory.admin"):
        require(principal("dispatcher"), "directory.admin")
    assert require(principal("administrator"), "directory.admin").role == "administrator"
    with pytest.raises(KeyError):
        may(principal("administrator"), "no.such.action")


def test_secret_box_seals_per_user_and_key(tmp_path: Path) -> None:
    """P18: authenticator secrets are not stored in clear; the key file is owner-only."""
    settings = Settings(state_dir=tmp_path / "state")
    box = SecretBox.for_settings(settings)
    sealed = box.seal("JBSWY3DPEHPK3PXP", "kim")
    assert "JBSWY3DPEHPK3PXP" not in sealed
    assert box.open(sealed, "kim") == "JBSWY3DPEHPK3PXP"
    with pytest.raises(ConfigError):
        box.open(sealed, "lee")  # copied onto another user: does not open
    with pytest.raises(ConfigError):
        SecretBox(os.urandom(32)).open(sealed, "kim")  # another key
    key = settings.state_dir / "directory.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert settings.state_dir.stat().st_mode & 0o777 == 0o700
    assert SecretBox.for_settings(settings).open(sealed, "kim") == "JBSWY3DPEHPK3PXP"  # same key reused


def test_audit_fields_are_capped() -> None:
    """A megabyte typed into a form does not go onto the two-year audit topic (P14)."""
    huge = "x" * 1_000_000
    record = AccessRecorded(
        T0, huge, "sign_in", huge, None, {"q": huge, "many": list(range(5000))}, 0
    ).to_dict()
    assert len(record["user"]) < MAX_FIELD + 40
    assert len(record["query"]["q"]) < MAX_FIELD + 40
    assert len(record["query"]["many"]) == 1001


@pytest.mark.parametrize(
    "line",
    [
        "Error handling request: headers {'Authorization': 'Bearer cam-key-123456789'}",
        "Authorization: Bearer cam-key-123456789",
        "GET /x?token=cam-key-123456789 HTTP/1.1",
        "Cookie: alpr_session=cam-key-123456789",
        "service token alpr-svc-cam-key-123456789",
    ],
)
def test_secrets_never_reach_a_log(line: str, caplog: pytest.LogCaptureFixture) -> None:
    assert "cam-key-123456789" not in redact(line)
    assert MASK in redact(line)
    logger = logging.getLogger("alpr.test.redact")
    handler = logging.Handler()
    seen: list[str] = []
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    handler.addFilter(RedactSecrets())
    logger.addHandler(handler)
    try:
        logger.warning("%s", line)
    finally:
        logger.removeHandler(handler)
    assert seen and "cam-key-123456789" not in seen[0]
