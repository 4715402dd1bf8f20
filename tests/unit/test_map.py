"""The alert's map (issue 18, item 2): the heading between sightings, the trail in capture order
with "position unknown" captures left off and counted, the camera from the registry the board
follows, the tile template the agency configures (checked at start), and the Content-Security-Policy
that lets pages load images from that tile server and no other."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest

from streams.alerts.desk import AlertBoard
from streams.alerts.lifecycle import AlertSighted, evolve
from streams.alerts.model import raise_alert
from streams.cameras.registry import Camera, encode_camera
from streams.cameras.sites import haversine_m, initial_bearing_deg
from streams.console.maps import (
    alert_map,
    compass,
    content_security_policy,
    tile_origin,
)
from streams.console.views import alert_detail
from streams.errors import ConfigError
from streams.matching.matcher import match
from streams.settings import Settings
from tests.factories import NOW, make_entry, make_index, make_read

DAY = timedelta(hours=24)
CURTNER = Camera("cam-00001", "Curtner Ave at Monterey Rd", "SJPD", "fixed", 37.2950, -121.8630, 45.0)
STORY = Camera("cam-00002", "Story Rd at King Rd", "SJPD", "mobile", 37.3400, -121.8400)


def state_for(lat: float | None = 37.2950, lon: float | None = -121.8630):
    read = make_read(plate="7ABC123", captured_at=NOW - timedelta(minutes=10), lat=lat, lon=lon)
    [found] = match(make_index(make_entry(plate="7ABC123")), read)
    return evolve(None, raise_alert(read, found, NOW - timedelta(minutes=10)))


def seen(state, n: int, camera_id: str, minutes_ago: float, lat: float | None, lon: float | None):
    at = NOW - timedelta(minutes=minutes_ago)
    event = AlertSighted(
        f"s-{n}", state.alert_id, NOW, None, read_id=f"r-s-{n}", camera_id=camera_id,
        captured_at=at, plate="7ABC123", lat=lat, lon=lon,
    )  # fmt: skip
    return evolve(state, event)


def label(camera_id: str) -> str:
    return {"cam-00001": "Curtner Ave at Monterey Rd (cam-00001)"}.get(camera_id, camera_id)


@pytest.mark.parametrize(
    ("to", "expected"),
    [((1.0, 0.0), 0.0), ((0.0, 1.0), 90.0), ((-1.0, 0.0), 180.0), ((0.0, -1.0), 270.0)],
)
def test_the_bearing_is_clockwise_from_true_north(to: tuple[float, float], expected: float) -> None:
    assert initial_bearing_deg(0.0, 0.0, *to) == pytest.approx(expected, abs=1e-9)


def test_the_bearing_and_distance_of_a_real_pair_of_places() -> None:
    # Curtner/Monterey to Story/King (synthetic points in San José): 5.0 km north and 2.03 km east
    # (0.023 degrees of longitude at cos 37.3 degrees), so atan2(2.03, 5.0) = 22.1 degrees, 5.4 km
    heading = initial_bearing_deg(37.2950, -121.8630, 37.3400, -121.8400)
    assert heading == pytest.approx(22.1, abs=0.1)
    assert compass(heading) == "N" and compass(23.0) == "NE"  # the nearest of eight points
    assert compass(350.0) == "N" and compass(200.0) == "S"
    assert haversine_m(37.2950, -121.8630, 37.3400, -121.8400) == pytest.approx(5_400, rel=0.01)
    assert haversine_m(37.3, -121.8, 37.3, -121.8) == 0.0


def test_the_trail_is_in_capture_order_with_headings_and_the_last_sighting_marked() -> None:
    state = state_for()
    state = seen(state, 1, "cam-00002", 5, 37.3400, -121.8400)  # north-north-east of the read
    state = seen(state, 2, "cam-00003", 2, 37.3400, -121.9000)  # then due west
    state = seen(state, 3, "cam-00004", 1, None, None)  # a mobile read without a position
    shown = alert_map(state, {"cam-00001": CURTNER, "cam-00002": STORY}, label)
    trail = shown["trail"]
    assert [p["n"] for p in trail] == [1, 2, 3]
    assert [p["camera_id"] for p in trail] == ["cam-00001", "cam-00002", "cam-00003"]
    assert [p["kind"] for p in trail] == ["read", "sighting", "sighting"]
    assert trail[0]["heading_deg"] is None and trail[0]["distance_m"] is None
    assert trail[1]["heading_deg"] == pytest.approx(22.1, abs=0.1)
    assert trail[2]["heading_deg"] == pytest.approx(270.0, abs=0.1) and trail[2]["heading"] == "W"
    # the latest capture had no position: no marker claims to be where the vehicle was seen last
    assert [p["last"] for p in trail] == [False, False, False]
    assert shown["last_unplaced"] == {
        "camera": "cam-00004",
        "captured_at": (NOW - timedelta(minutes=1)).isoformat(),
    }
    assert trail[0]["camera"] == "Curtner Ave at Monterey Rd (cam-00001)"
    assert shown["skipped"] == 1
    assert shown["skipped_text"] == "1 capture with position unknown not shown on the map"
    placed_last = seen(state, 4, "cam-00002", 0.5, 37.3400, -121.8400)
    again = alert_map(placed_last, {}, label)
    assert [p["last"] for p in again["trail"]] == [False, False, False, True]
    assert again["last_unplaced"] is None and again["skipped"] == 1


def test_a_sighting_captured_before_the_read_comes_first_and_a_repeat_at_one_place_has_no_heading() -> None:
    state = state_for()
    state = seen(state, 1, "cam-00002", 30, 37.3400, -121.8400)  # a late read: captured earlier
    state = seen(state, 2, "cam-00001", 1, 37.2950, -121.8630)  # the same place as the read
    trail = alert_map(state, {}, label)["trail"]
    assert [p["kind"] for p in trail] == ["sighting", "read", "sighting"]
    assert trail[1]["heading"] == "S"  # 202 degrees: from Story/King back down to Curtner/Monterey
    assert trail[2]["heading_deg"] is None and trail[2]["distance_m"] == 0
    assert trail[2]["last"] is True


def test_without_any_position_the_trail_is_empty_and_says_how_many_were_left_off() -> None:
    state = seen(state_for(None, None), 1, "cam-00002", 5, None, None)
    shown = alert_map(state, {}, label)
    assert shown["trail"] == [] and shown["skipped"] == 2
    assert shown["skipped_text"] == "2 captures with position unknown not shown on the map"
    assert shown["camera"] == {
        "id": "cam-00001", "name": None, "label": "Curtner Ave at Monterey Rd (cam-00001)",
        "registered": False, "kind": None, "lat": None, "lon": None, "facing_deg": None,
    }  # fmt: skip


def test_the_detail_carries_the_map_with_the_registered_camera_and_no_plate() -> None:
    detail = alert_detail(state_for(), NOW, NOW, DAY, camera_names={"cam-00001": CURTNER.name},
                          cameras={"cam-00001": CURTNER})  # fmt: skip
    camera = detail["map"]["camera"]
    assert camera["kind"] == "fixed" and camera["facing_deg"] == 45.0
    assert (camera["lat"], camera["lon"]) == (37.2950, -121.8630)
    assert camera["label"] == "Curtner Ave at Monterey Rd (cam-00001)"
    assert b"7ABC123" not in orjson.dumps(detail["map"])  # no plate data beyond the detail's own


def test_the_board_follows_camera_positions_renames_and_tombstones() -> None:
    board = AlertBoard()
    board.apply_camera(b"cam-00001", encode_camera(CURTNER))
    assert board.cameras == {"cam-00001": CURTNER}
    moved = Camera("cam-00001", "Curtner Ave at Snell Ave", "SJPD", "fixed", 37.2960, -121.8330, 270.0)
    board.apply_camera(b"cam-00001", encode_camera(moved))
    assert board.cameras["cam-00001"].facing_deg == 270.0 and board.camera_names["cam-00001"] == moved.name
    board.apply_camera(b"cam-00001", b'{"id": "cam-00001"}')  # unreadable: forgotten, not kept stale
    assert board.cameras == {}
    board.apply_camera(b"cam-00001", encode_camera(moved))
    board.apply_camera(b"cam-00001", None)  # tombstone
    assert board.cameras == {} and board.camera_names == {}


@pytest.mark.parametrize(
    "template",
    [
        "https://gis.example.gov/tiles/{z}/{x}/{y}.png",
        "https://gis.example.gov:8443/arcgis/rest/services/City/MapServer/tile/{z}/{y}/{x}?token=abc",
        "http://127.0.0.1:8900/{z}/{x}/{y}.png",
        "http://localhost/{z}/{x}/{y}.png",
    ],
)
def test_an_agency_tile_template_is_accepted(template: str) -> None:
    assert Settings.from_env({"ALPR_MAP_TILES": template}).map_tiles == template


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("javascript:alert(1)//{z}/{x}/{y}", "https"),
        ("ftp://gis.example.gov/{z}/{x}/{y}.png", "https"),
        ("http://gis.example.gov/{z}/{x}/{y}.png", "https"),  # plain http only for localhost
        ("data:image/png;base64,{z}{x}{y}", "semicolon"),
        ("https://gis.example.gov/tiles/{z}/{x}.png", "has no {y}"),
        ("https://gis.example.gov/tiles/{x}/{y}.png", "has no {z}"),
        ("https://{s}.tile.example.org/{z}/{x}/{y}.png", "host name"),
        ("https://gis.example.gov/{z}/{x}/{y}.png?style={s}", "only {z}, {x} and {y}"),
        ("https://user:secret@gis.example.gov/{z}/{x}/{y}.png", "without user or password"),
        ("https://gis.example.gov/{z}/{x}/{y}.png; script-src *", "space"),
        ("https://gis.example.gov:99999/{z}/{x}/{y}.png", "port"),
        ("https://gis.example.gov 'unsafe-inline'/{z}/{x}/{y}", "quote"),
    ],
)
def test_a_bad_tile_template_is_refused_at_start_naming_the_variable(template: str, says: str) -> None:
    with pytest.raises(ConfigError, match="ALPR_MAP_TILES") as refused:
        Settings.from_env({"ALPR_MAP_TILES": template})
    assert says in str(refused.value)


def test_the_attribution_needs_tiles_and_is_one_line() -> None:
    with pytest.raises(ConfigError, match="ALPR_MAP_ATTRIBUTION is set but ALPR_MAP_TILES is not"):
        Settings.from_env({"ALPR_MAP_ATTRIBUTION": "City GIS"})
    with pytest.raises(ConfigError, match="ALPR_MAP_ATTRIBUTION: one line"):
        Settings.from_env({"ALPR_MAP_TILES": "https://gis.example.gov/{z}/{x}/{y}.png",
                           "ALPR_MAP_ATTRIBUTION": "a\nb"})  # fmt: skip
    settings = Settings.from_env({"ALPR_MAP_TILES": "https://gis.example.gov/{z}/{x}/{y}.png",
                                  "ALPR_MAP_ATTRIBUTION": "© City GIS <b>"})  # fmt: skip
    assert settings.map_attribution == "© City GIS <b>"  # kept as text; the page sets it as text
    assert Settings.from_env({}).map_tiles is None  # no default tile server: none is asked anything


def test_the_csp_allows_images_from_the_console_and_the_tile_origin_only() -> None:
    assert content_security_policy(None) == (
        "default-src 'self'; img-src 'self'; frame-ancestors 'none'; form-action 'self'"
    )
    template = "https://gis.example.gov:8443/tiles/{z}/{x}/{y}.png"
    assert tile_origin(template) == "https://gis.example.gov:8443"
    assert content_security_policy(template) == (
        "default-src 'self'; img-src 'self' https://gis.example.gov:8443; "
        "frame-ancestors 'none'; form-action 'self'"
    )
    assert tile_origin("http://[::1]:8000/{z}/{x}/{y}.png") == "http://[::1]:8000"
