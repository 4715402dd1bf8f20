"""The duplicate-suppression window (P9), without Kafka."""

from __future__ import annotations

from datetime import timedelta

from streams.alerts.sightings import SightingWindow, sighting_of
from tests.factories import NOW, make_read

WINDOW = timedelta(minutes=5)


def test_a_key_seen_within_the_window_routes_to_the_open_alert() -> None:
    w = SightingWindow(WINDOW)
    assert w.route("k", "a1", NOW, NOW) == "a1"
    assert w.route("k", "a2", NOW + timedelta(minutes=5), NOW) == "a1"  # the boundary is inside
    assert w.route("k", "a3", NOW + timedelta(minutes=10), NOW) == "a1"  # runs from the last sighting
    assert w.route("k", "a4", NOW + timedelta(minutes=15, seconds=1), NOW) == "a4"
    assert w.route("other", "b1", NOW, NOW) == "b1"


def test_an_out_of_order_read_within_the_window_is_a_sighting() -> None:
    w = SightingWindow(WINDOW)
    w.route("k", "a1", NOW, NOW)
    assert w.route("k", "a2", NOW - timedelta(minutes=3), NOW) == "a1"


def test_a_closed_alert_takes_no_more_sightings() -> None:
    w = SightingWindow(WINDOW)
    w.route("k", "a1", NOW, NOW)
    w.close("a1")
    w.close("never-seen")  # harmless
    assert w.route("k", "a2", NOW + timedelta(minutes=1), NOW) == "a2"
    assert len(w) == 1


def test_entries_are_forgotten_after_twice_the_window_and_the_size_is_bounded() -> None:
    w = SightingWindow(WINDOW, max_size=3)
    w.route("old", "a0", NOW, NOW)
    assert w.route("new", "b0", NOW, NOW + timedelta(minutes=11)) == "b0"
    assert len(w) == 1  # "old" expired by processing time
    for n in range(5):
        w.route(f"k{n}", f"c{n}", NOW, NOW + timedelta(minutes=11))
    assert len(w) <= 3


def test_a_sighting_id_is_deterministic() -> None:
    read = make_read(read_id="r9", camera_id="curtner-malone")
    one, two = sighting_of("a1", read, NOW), sighting_of("a1", read, NOW + timedelta(seconds=3))
    assert one.event_id == two.event_id and one.camera_id == "curtner-malone" and one.by is None
    assert sighting_of("a2", read, NOW).event_id != one.event_id
