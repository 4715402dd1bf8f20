"""The console's pure parts: what an alert shows (P4, P7, P10), queue order, webhook config."""

from __future__ import annotations

from datetime import timedelta

import pytest

from streams.alerts.lifecycle import Actor, AlertStatusValidated, AlertVisuallyVerified, evolve
from streams.alerts.model import raise_alert
from streams.console.views import BANNER, alert_detail, alert_summary, queue_key
from streams.console.webhooks import load_webhooks, signature
from streams.errors import ConfigError
from streams.matching.matcher import match
from tests.factories import NOW, make_entry, make_index, make_read

DAY = timedelta(hours=24)
LEE = Actor("Dispatcher Lee", "D-101")


def state_for(plate_read: str = "7ABC123", read_state: str = "CA", **entry):
    listed = make_entry(**{"plate": "7ABC123", **entry})
    read = make_read(plate=plate_read, plate_state=read_state, captured_at=NOW)
    [found] = match(make_index(listed), read)
    return evolve(None, raise_alert(read, found, NOW))


def test_the_alert_view_says_the_match_plainly_with_the_p7_banner() -> None:
    state = state_for("7A8C123", "NV")
    detail = alert_detail(state, NOW, NOW - timedelta(hours=1), DAY)
    assert detail["banner"] == BANNER == "An alert alone is not grounds for a stop"
    assert detail["match_notes"][0].startswith("OCR-equivalent match")
    assert "State mismatch: read NV, listed CA" in detail["match_notes"]
    assert not any("Stale" in note for note in detail["match_notes"])
    assert detail["occupant_reminder"] is None
    assert detail["actions"] == ["verify", "reject"]
    assert detail["entry"]["case_number"] == "SJ-26-000001" and detail["read"]["plate"] == "7A8C123"


def test_a_source_stale_since_the_alert_is_flagged_p4() -> None:
    state = state_for()
    stale = alert_summary(state, NOW, NOW - timedelta(hours=25), DAY)["match_notes"]
    never = alert_summary(state, NOW, None, DAY)["match_notes"]
    assert any(note.startswith("Stale source: ncic last refreshed") for note in stale)
    assert any("never refreshed" in note for note in never)


def test_wanted_person_entries_remind_to_match_the_occupant_p10() -> None:
    detail = alert_detail(state_for(list_type="wanted_person"), NOW, NOW, DAY)
    assert "match the occupant" in detail["occupant_reminder"]
    assert detail["urgency"] == 0


def test_the_confirmation_clock_and_overdue() -> None:
    state = state_for()
    state = evolve(state, AlertVisuallyVerified("e1", state.alert_id, NOW, LEE))
    state = evolve(state, AlertStatusValidated("e2", state.alert_id, NOW, LEE, priority="urgent"))
    assert alert_summary(state, NOW + timedelta(minutes=4), NOW, DAY)["seconds_left"] == 360
    late = alert_summary(state, NOW + timedelta(minutes=11), NOW, DAY)
    assert late["overdue"] and late["seconds_left"] == -60


def test_the_queue_puts_overdue_then_nearest_deadline_then_person_entries_then_newest_first() -> None:
    def row(name, overdue=False, left=None, urgency=2, minutes=0):
        raised = (NOW + timedelta(minutes=minutes)).isoformat()
        return {"n": name, "overdue": overdue, "seconds_left": left, "urgency": urgency, "raised_at": raised}

    rows = [
        row("old stolen"),
        row("new stolen", minutes=5),
        row("wanted", urgency=0),
        row("due soon", left=120),
        row("due later", left=3000),
        row("overdue", overdue=True, left=-5),
    ]
    order = [r["n"] for r in sorted(rows, key=queue_key)]
    assert order == ["overdue", "due soon", "due later", "wanted", "new stolen", "old stolen"]


def test_webhook_config_needs_https_and_a_secret_from_the_environment(tmp_path) -> None:
    path = tmp_path / "hooks.toml"
    hook = '[[webhook]]\nagency = "SJPD"\nurl = "{url}"\nsecret_env = "HOOK_SECRET"\ncameras = ["sj-*"]\n'
    path.write_text(hook.format(url="https://cad.example/alpr"))
    [loaded] = load_webhooks(path, {"HOOK_SECRET": "s3cret"})
    assert loaded.wants("sj-0001") and not loaded.wants("oak-0001")
    assert signature(b"s3cret", b"{}") == signature(loaded.secret, b"{}") != signature(b"other", b"{}")
    with pytest.raises(ConfigError, match="HOOK_SECRET"):
        load_webhooks(path, {})
    path.write_text(hook.format(url="http://cad.example/alpr"))
    with pytest.raises(ConfigError, match="https"):
        load_webhooks(path, {"HOOK_SECRET": "s3cret"})
    path.write_text('[[webhook]]\nagency = "SJPD"\n')
    with pytest.raises(ConfigError, match="lacks url, secret_env, cameras"):
        load_webhooks(path, {})
