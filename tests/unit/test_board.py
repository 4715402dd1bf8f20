"""The alert board: the alerts topic's records folded, as the console and the CLI see them."""

from __future__ import annotations

from datetime import timedelta

from streams.alerts.desk import AlertBoard
from streams.alerts.lifecycle import Actor, AlertRejected, AlertVisuallyVerified
from streams.codec import alert_to_dict, dumps, event_to_dict
from tests.factories import NOW
from tests.unit.test_lifecycle import raised

LEE, KIM = Actor("Dispatcher Lee", "D-101"), Actor("Dispatcher Kim", "D-102")


def test_a_step_that_lost_a_race_is_refused_and_its_reason_kept() -> None:
    board = AlertBoard()
    seen = []
    board.listeners.append(lambda before, record, after: seen.append((before, after.status)))
    alert = raised()
    assert board.apply(3, dumps(alert_to_dict(alert))).status == "unverified"
    assert board.partitions[alert.alert_id] == 3
    verify = AlertVisuallyVerified("e-lee", alert.alert_id, NOW + timedelta(minutes=1), LEE)
    reject = AlertRejected("e-kim", alert.alert_id, NOW + timedelta(minutes=1), KIM, reason="misread")
    assert board.apply(3, dumps(event_to_dict(verify))).status == "tentative_hit"
    assert board.apply(3, dumps(event_to_dict(reject))).status == "rejected"  # Kim was first to reject
    late = AlertVisuallyVerified("e-late", alert.alert_id, NOW + timedelta(minutes=2), KIM)
    assert board.apply(3, dumps(event_to_dict(late))) is None
    assert "rejected" in board.refused["e-late"]
    assert [status for _before, status in seen] == ["unverified", "tentative_hit", "rejected"]
    assert seen[0][0] is None


def test_redelivered_and_unreadable_records_change_nothing() -> None:
    board = AlertBoard()
    alert = raised()
    record = dumps(alert_to_dict(alert))
    board.apply(0, record)
    assert board.apply(0, record) is None  # the same AlertRaised again
    assert board.apply(0, b"not json") is None
    assert board.apply(0, None) is None
    assert board.apply(0, b'{"event": "SomethingElse"}') is None
    assert len(board.states) == 1


def test_source_freshness_is_kept_for_the_alert_view() -> None:
    board = AlertBoard()
    board.apply_source(dumps({"source": "ncic", "fresh_as_of": NOW.isoformat()}))
    board.apply_source(b"garbage")
    assert board.source_fresh == {"ncic": NOW}
