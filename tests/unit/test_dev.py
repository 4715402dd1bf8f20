"""What ``alpr run`` prints and configures (issue 18, item 7): a line per new alert, a periodic
summary instead of a line per sighting, the sample sensitive sites, and fixed cameras on the
sample city's streets, one of them refused for facing a sensitive site (P24)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from streams.cameras.registry import Camera, placement_violations
from streams.cameras.sites import load_sites
from streams.dev import (
    SAMPLE_SITES,
    Tally,
    _demo_env,
    demo_alert_line,
    load_demo_cameras,
    refusal_line,
    summary_line,
    with_demo_sites,
)
from streams.errors import ConfigError
from streams.reads.simulator import INTERSECTIONS, street_place
from streams.settings import Settings
from tests.conftest import ROOT

AT = datetime(2026, 3, 2, 14, 2, 30, tzinfo=UTC)
ALERT = {
    "event": "AlertRaised",
    "status": "unverified",
    "alert_id": "a-1",
    "plate_read": "9SIM001",
    "plate_listed": "9SIM001",
    "plate_state_listed": "CA",
    "list_type": "stolen_vehicle",
    "match_kind": "exact",
    "camera_id": "sj-fx-01",
    "captured_at": "2026-03-02T14:02:11+00:00",
}


# -- the summary ------------------------------------------------------------------------------------


def test_the_summary_counts_open_alerts_sightings_since_the_last_one_and_reads() -> None:
    last = Tally(open_alerts=2, sightings=10, screened=5000, rejected=3)
    now = Tally(open_alerts=3, sightings=17, screened=11000, rejected=4, excluded=12)
    line = summary_line(AT, now, last)
    assert line == (
        "[14:02:30] summary: 3 open alerts, 7 sightings since the last summary, 11,000 reads screened, "
        "4 rejected, 12 not stored: inside a sensitive site's zone (P24)"
    )


def test_no_summary_when_nothing_changed() -> None:
    same = Tally(open_alerts=1, sightings=4, screened=100, rejected=0)
    assert summary_line(AT, same, same) is None
    assert summary_line(AT, Tally(open_alerts=1, sightings=5, screened=100, rejected=0), same) is not None


def test_the_first_summary_counts_from_the_start_and_says_one_in_the_singular() -> None:
    line = summary_line(AT, Tally(open_alerts=1, sightings=1, screened=1, rejected=0), None)
    assert line == (
        "[14:02:30] summary: 1 open alert, 1 sighting since the last summary, 1 read screened, 0 rejected"
    )


def test_the_summary_leaves_out_the_worker_counts_it_could_not_read() -> None:
    line = summary_line(AT, Tally(open_alerts=0, sightings=2), None)
    assert line is not None and "screened" not in line and "rejected" not in line


# -- the alert line ---------------------------------------------------------------------------------


def test_an_alert_line_names_time_plate_list_camera_and_match_kind() -> None:
    line = demo_alert_line(ALERT, {"sj-fx-01": "Curtner Ave & Monterey Rd"})
    local = datetime.fromisoformat(str(ALERT["captured_at"])).astimezone().strftime("%H:%M:%S")
    assert line == (
        f"ALERT (UNVERIFIED) {local} 9SIM001 (CA) stolen_vehicle at Curtner Ave & Monterey Rd: "
        "exact match | id a-1"
    )


def test_an_alert_line_shows_the_misread_and_falls_back_to_the_camera_id() -> None:
    alert = {**ALERT, "plate_read": "9S1M001", "match_kind": "ocr_equivalent", "state_mismatch": True}
    line = demo_alert_line(alert, {})
    assert "9SIM001 (read 9S1M001) (CA)" in line
    assert "at sj-fx-01: ocr_equivalent match [STATE DIFFERS]" in line


# -- sensitive sites and fixed cameras (P24) ---------------------------------------------------------


def test_the_demo_configures_the_sample_sites_unless_some_are_set() -> None:
    assert with_demo_sites(Settings.from_env({})).sensitive_sites == SAMPLE_SITES
    own = Path("/srv/sites.geojson")
    assert with_demo_sites(Settings.from_env({"ALPR_SENSITIVE_SITES": str(own)})).sensitive_sites == own


def test_every_process_the_demo_starts_is_given_the_sites() -> None:
    env = _demo_env(with_demo_sites(Settings.from_env({})))
    assert env["ALPR_SENSITIVE_SITES"] == str(SAMPLE_SITES)
    assert "ALPR_SENSITIVE_SITES" not in _demo_env(Settings.from_env({}))


def test_p24_the_sample_fixed_cameras_stand_on_the_streets_and_one_faces_a_site() -> None:
    cameras = load_demo_cameras()
    assert 8 <= len(cameras) <= 14
    sites = load_sites(SAMPLE_SITES)
    refused, placed = [], []
    for c in cameras:
        camera = Camera(c.id, c.name, "SJPD", "fixed", c.lat, c.lon, c.facing_deg)
        found = placement_violations(camera, sites, 150.0)
        (refused if found else placed).append((c, found))
    assert len(placed) >= 8 and refused
    assert all((c.lat, c.lon) in INTERSECTIONS.values() for c, _ in placed)  # where the traffic passes
    assert all(" & " in c.name for c in cameras)
    camera, found = refused[0]
    assert refusal_line(camera, found) == (
        "camera Park Ave & Almaden Blvd (sj-fx-11) not registered: within 136 m of a reproductive "
        "health care facility site (Example Family Health Clinic (fictional)), facing it (P24)"
    )


def test_a_broken_demo_cameras_file_says_what_it_needs(tmp_path: Path) -> None:
    path = tmp_path / "cameras.toml"
    path.write_text('[[camera]]\nid = "x"\n')
    with pytest.raises(ConfigError, match="id, name, lat, lon and facing_deg"):
        load_demo_cameras(path)
    assert ROOT.joinpath("samples", "demo-cameras.toml").is_file()


def _between(a: str, b: str) -> tuple[float, float]:
    (lat_a, lon_a), (lat_b, lon_b) = INTERSECTIONS[a], INTERSECTIONS[b]
    return (lat_a + lat_b) / 2, (lon_a + lon_b) / 2


def test_a_patrol_units_alert_line_names_the_street_it_was_on() -> None:
    """A mobile camera's name says nothing of where it was; the line names the street from the
    read's position (between its two cross streets)."""
    lat, lon = _between("Santa Clara St & 1st St", "Santa Clara St & 10th St")
    alert = {**ALERT, "camera_id": "cam-00004", "lat": lat, "lon": lon}
    line = demo_alert_line(alert, {"cam-00004": "simulated patrol unit cam-00004"}, {"cam-00004"})
    assert "at simulated patrol unit cam-00004 on Santa Clara St between 1st St and 10th St: exact" in line


def test_a_fixed_camera_or_a_unit_off_the_streets_gets_no_street() -> None:
    lat, lon = _between("Santa Clara St & 1st St", "Santa Clara St & 10th St")
    fixed = demo_alert_line({**ALERT, "lat": lat, "lon": lon}, {"sj-fx-01": "Santa Clara St & 3rd St"})
    assert "at Santa Clara St & 3rd St: exact" in fixed
    far = {**ALERT, "camera_id": "cam-00004", "lat": 37.5, "lon": -121.5}
    assert "at cam-00004: exact" in demo_alert_line(far, {}, {"cam-00004"})
    unknown = {**ALERT, "camera_id": "cam-00004", "lat": None, "lon": None}
    assert "at cam-00004: exact" in demo_alert_line(unknown, {}, {"cam-00004"})


def test_where_two_streets_meet_without_a_shared_name_the_nearer_corner_is_named() -> None:
    a, b = INTERSECTIONS["Santa Clara St & 10th St"], INTERSECTIONS["Alum Rock Ave & US 101"]
    near_a = (a[0] * 0.9 + b[0] * 0.1, a[1] * 0.9 + b[1] * 0.1)
    assert street_place(*near_a) == "near Santa Clara St & 10th St"
