"""Sensitive sites and the camera placement rule (P24), with real geometry.

Expected distances are computed here by other formulas than the module's haversine (the
spherical law of cosines, the Vincenty formula for a sphere, the cross-track distance to a
meridian, a dense sampling of polygon edges) or checked by hand (0.001 degree of latitude is
111.195 m on the 6,371,008.8 m sphere).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.cameras.sites import (
    EARTH_RADIUS_M,
    ExclusionZones,
    Point,
    Polygon,
    Site,
    SitesInvalid,
    SiteWatch,
    _sector_meets_segment,
    excluded,
    haversine_m,
    initial_bearing_deg,
    load_sites,
    nearest_point,
    off_axis_deg,
    parse_sites,
    refusal,
    violations,
)
from streams.errors import PolicyViolation
from tests.conftest import ROOT

R = EARTH_RADIUS_M
# Approximate positions of San José landmarks (lat, lon), used only as real-world geometry.
CITY_HALL = (37.3377, -121.8850)
SAP_CENTER = (37.3327, -121.9011)
DIRIDON = (37.3297, -121.9025)
SJC_AIRPORT = (37.3639, -121.9289)
CAMERA = (37.3382, -121.8863)  # downtown, a fictional camera


def law_of_cosines_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    c = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return R * math.acos(max(-1.0, min(1.0, c)))


def vincenty_sphere_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    y = math.hypot(
        math.cos(p2) * math.sin(dl), math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    )
    x = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return R * math.atan2(y, x)


def destination(lat: float, lon: float, bearing: float, distance: float) -> tuple[float, float]:
    """The point ``distance`` metres from (lat, lon) along the great circle at ``bearing``."""
    p1, l1, b, d = math.radians(lat), math.radians(lon), math.radians(bearing), distance / R
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), math.degrees(l2)


def point_site(lat: float, lon: float, name: str = "Example Clinic") -> Site:
    return Site("s1", name, "reproductive_health_care", Point(lon=lon, lat=lat))


def box_site(west: float, south: float, east: float, north: float, name: str = "Example Parish") -> Site:
    ring = ((west, south), (east, south), (east, north), (west, north), (west, south))
    return Site("s2", name, "religious_observance", Polygon((ring,)))


def brute_force_m(lat: float, lon: float, site: Site, samples: int = 2000) -> float:
    """Minimum haversine distance to points spaced along each edge (straight in lon/lat, RFC 7946)."""
    assert isinstance(site.geometry, Polygon)
    best = math.inf
    for ring in site.geometry.rings:
        for (lon1, lat1), (lon2, lat2) in zip(ring, ring[1:], strict=False):
            for k in range(samples + 1):
                t = k / samples
                best = min(best, haversine_m(lat, lon, lat1 + t * (lat2 - lat1), lon1 + t * (lon2 - lon1)))
    return best


# -- distances and bearings on the sphere --------------------------------------------------------


def test_a_thousandth_of_a_degree_of_latitude_is_111_2_m() -> None:
    assert haversine_m(37.3382, -121.8863, 37.3392, -121.8863) == pytest.approx(111.195, abs=0.001)
    # along the parallel at San José's latitude: 111.195 m x cos(37.3382 deg) = 88.40 m
    assert haversine_m(37.3382, -121.8863, 37.3382, -121.8853) == pytest.approx(88.40, abs=0.01)


@pytest.mark.parametrize(
    ("a", "b"),
    [(CITY_HALL, SAP_CENTER), (CITY_HALL, SJC_AIRPORT), (SAP_CENTER, DIRIDON), (CAMERA, CITY_HALL)],
)
def test_haversine_agrees_with_independent_formulas_on_san_jose_landmarks(
    a: tuple[float, float], b: tuple[float, float]
) -> None:
    d = haversine_m(*a, *b)
    assert d == pytest.approx(law_of_cosines_m(*a, *b), abs=0.001)
    assert d == pytest.approx(vincenty_sphere_m(*a, *b), abs=1e-6)
    assert d == pytest.approx(haversine_m(*b, *a), abs=1e-9)


def test_city_hall_to_sap_center_by_hand() -> None:
    # 0.0050 deg south = 556.0 m and 0.0161 deg west = 0.0161 x 111,195 m x cos(37.335 deg) = 1,423.8 m;
    # Pythagoras gives 1,528.5 m at this scale.
    assert haversine_m(*CITY_HALL, *SAP_CENTER) == pytest.approx(1528.5, abs=1)


@pytest.mark.parametrize(("towards", "expected"), [(0, 0.0), (90, 90.0), (180, 180.0), (270, 270.0)])
def test_bearings_to_the_four_quarters(towards: float, expected: float) -> None:
    lat, lon = destination(*CAMERA, towards, 100)
    assert initial_bearing_deg(*CAMERA, lat, lon) == pytest.approx(expected, abs=1e-6)


def test_bearing_just_west_of_north_wraps_to_almost_360() -> None:
    lat, lon = destination(*CAMERA, 359.5, 100)
    assert initial_bearing_deg(*CAMERA, lat, lon) == pytest.approx(359.5, abs=1e-6)


@pytest.mark.parametrize(
    ("bearing", "facing", "off"), [(0, 350, 10), (350, 10, 20), (10, 350, 20), (180, 0, 180), (359, 1, 2)]
)
def test_off_axis_wraps_at_0_and_360(bearing: float, facing: float, off: float) -> None:
    assert off_axis_deg(bearing, facing) == pytest.approx(off)


# -- point sites ------------------------------------------------------------------------------


def site_at(bearing: float, distance: float) -> Site:
    return point_site(*destination(*CAMERA, bearing, distance))


@pytest.mark.parametrize(
    ("distance", "violates"), [(149.0, True), (149.99, True), (150.01, False), (151.0, False)]
)
def test_a_point_site_counts_within_150_m_only(distance: float, violates: bool) -> None:
    found = violations(*CAMERA, 0, [site_at(0, distance)])
    assert bool(found) is violates
    if found:
        assert found[0].distance_m == pytest.approx(distance, abs=1e-6)


def test_facing_towards_violates_and_facing_away_does_not() -> None:
    site = site_at(0, 100)
    assert violations(*CAMERA, 0, [site])
    assert not violations(*CAMERA, 180, [site])
    assert not violations(*CAMERA, 90, [site])


@pytest.mark.parametrize(
    ("facing", "violates"), [(45, True), (44, True), (46, False), (315, True), (314, False)]
)
def test_the_field_of_view_is_facing_plus_or_minus_half_of_90_deg(facing: float, violates: bool) -> None:
    assert bool(violations(*CAMERA, facing, [site_at(0, 100)])) is violates


@pytest.mark.parametrize(
    ("site_bearing", "facing", "violates"),
    [(10, 350, True), (350, 10, True), (355, 39, True), (355, 41, False), (5, 321, True), (5, 319, False)],
)
def test_facing_wraps_around_north(site_bearing: float, facing: float, violates: bool) -> None:
    assert bool(violations(*CAMERA, facing, [site_at(site_bearing, 120)])) is violates


def test_facing_beyond_360_or_negative_is_the_same_direction() -> None:
    site = site_at(10, 120)
    assert violations(*CAMERA, 370, [site]) and violations(*CAMERA, -350, [site])


def test_a_wider_field_of_view_and_a_larger_distance_are_parameters() -> None:
    site = site_at(80, 200)
    assert not violations(*CAMERA, 0, [site])
    assert not violations(*CAMERA, 0, [site], max_distance_m=250)
    assert violations(*CAMERA, 0, [site], max_distance_m=250, field_of_view_deg=170)


def test_a_camera_on_a_point_site_violates_whichever_way_it_faces() -> None:
    found = violations(*CAMERA, 123, [point_site(*CAMERA)])
    assert found and found[0].distance_m == 0 and found[0].bearing_deg is None
    assert str(refusal("cam-1", found)) == (
        "camera cam-1 would be at Example Clinic (reproductive health care facility) (P24)"
    )


def test_the_refusal_names_the_site_its_category_and_the_distance() -> None:
    site = point_site(*destination(*CAMERA, 20, 112.3), name="Example Family Health Clinic")
    found = violations(*CAMERA, 0, [site])
    error = refusal("cam-17", found)
    assert isinstance(error, PolicyViolation) and error.rule == "P24"
    assert str(error) == (
        "camera cam-17 would be 112 m from Example Family Health Clinic "
        "(reproductive health care facility), facing it (P24)"
    )


def test_every_site_in_range_and_in_view_is_reported_nearest_first() -> None:
    far, near, behind = site_at(10, 140), site_at(350, 60), site_at(180, 30)
    found = violations(*CAMERA, 0, [far, behind, near])
    assert [round(v.distance_m) for v in found] == [60, 140]


@pytest.mark.parametrize(
    "kwargs",
    [{"field_of_view_deg": 0}, {"field_of_view_deg": 361}, {"max_distance_m": 0}, {"max_distance_m": -5}],
)
def test_nonsense_parameters_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        violations(*CAMERA, 0, [], **kwargs)


def test_a_camera_position_must_be_a_latitude_and_longitude() -> None:
    with pytest.raises(ValueError, match="not a latitude and longitude"):
        violations(-121.8863, 37.3382, 0, [])  # swapped
    with pytest.raises(ValueError, match="compass bearing"):
        violations(*CAMERA, math.nan, [])


# -- polygon sites ----------------------------------------------------------------------------

# a block of about 88 m x 111 m just north-east of CAMERA
BOX = box_site(-121.8858, 37.3390, -121.8848, 37.3400)


def test_a_camera_inside_a_polygon_violates_whichever_way_it_faces() -> None:
    for facing in (0, 90, 180, 270):
        (found,) = violations(37.3395, -121.8853, facing, [BOX])
        assert found.inside and found.distance_m == 0
    assert refusal("cam-3", [found]).args[0] == (
        "camera cam-3 would be inside Example Parish (place of religious observance) (P24)"
    )


def test_a_camera_on_the_edge_of_a_polygon_is_at_the_site() -> None:
    near = nearest_point(37.3390, -121.8853, BOX)
    assert near.inside and near.distance_m == 0


@pytest.mark.parametrize(("distance", "violates"), [(149.5, True), (150.5, False)])
def test_a_camera_south_of_a_polygon_counts_within_150_m_of_its_edge(distance: float, violates: bool) -> None:
    lat, lon = destination(37.3390, -121.8853, 180, distance)  # south of the middle of the south edge
    found = violations(lat, lon, 0, [BOX])
    assert bool(found) is violates
    near = nearest_point(lat, lon, BOX)
    assert near.distance_m == pytest.approx(distance, abs=0.01)
    assert near.bearing_deg == pytest.approx(0, abs=0.01)
    assert not violations(lat, lon, 180, [BOX])


def test_a_camera_just_outside_an_edge_is_metres_from_the_site() -> None:
    lat, lon = destination(37.3395, -121.8858, 270, 5)  # 5 m west of the west edge
    near = nearest_point(lat, lon, BOX)
    assert not near.inside
    assert near.distance_m == pytest.approx(5, abs=0.001)
    assert near.bearing_deg == pytest.approx(90, abs=0.01)
    assert violations(lat, lon, 90, [BOX]) and not violations(lat, lon, 270, [BOX])


def test_near_a_corner_the_nearest_point_is_the_corner() -> None:
    lat, lon = destination(37.3390, -121.8858, 225, 100)  # south-west of the south-west corner
    near = nearest_point(lat, lon, BOX)
    assert near.distance_m == pytest.approx(100, abs=0.01)
    assert (near.lat, near.lon) == pytest.approx((37.3390, -121.8858), abs=1e-8)
    assert near.bearing_deg == pytest.approx(45, abs=0.01)


@pytest.mark.parametrize("offset_m", [20.0, 140.0, 1000.0])
def test_distance_to_a_meridian_edge_matches_the_cross_track_formula(offset_m: float) -> None:
    # The west edge lies on the meridian -121.8858, a great circle: the distance of (lat, lon) to it
    # is R asin(cos(lat) sin(dlon)).
    lat = 37.3395
    dlon = math.degrees(offset_m / (R * math.cos(math.radians(lat))))
    lon = -121.8858 - dlon
    expected = R * math.asin(math.cos(math.radians(lat)) * math.sin(math.radians(dlon)))
    assert nearest_point(lat, lon, BOX).distance_m == pytest.approx(expected, abs=0.001)


def test_distances_to_a_polygon_match_a_dense_sampling_of_its_edges() -> None:
    site = Site(
        "s3",
        "Example Consulate",
        "consulate_or_embassy",
        Polygon(
            (
                (
                    (-121.8900, 37.3350),
                    (-121.8885, 37.3352),
                    (-121.8880, 37.3364),
                    (-121.8893, 37.3368),
                    (-121.8904, 37.3359),
                    (-121.8900, 37.3350),
                ),
            )
        ),
    )
    for bearing in range(0, 360, 30):
        lat, lon = destination(37.3359, -121.8891, bearing, 300)
        assert nearest_point(lat, lon, site).distance_m == pytest.approx(
            brute_force_m(lat, lon, site), abs=0.01
        )


@settings(max_examples=40, deadline=None)
@given(
    bearing=st.floats(0, 360, exclude_max=True),
    distance=st.floats(80, 400),
)
def test_polygon_distance_is_within_a_centimetre_of_brute_force(bearing: float, distance: float) -> None:
    lat, lon = destination(37.3395, -121.8853, bearing, distance)  # from the middle of BOX
    expected = brute_force_m(lat, lon, BOX, samples=1000)
    assert nearest_point(lat, lon, BOX).distance_m == pytest.approx(expected, abs=0.01)


def test_a_hole_is_not_part_of_the_site() -> None:
    outer = ((-121.8860, 37.3388), (-121.8846, 37.3388), (-121.8846, 37.3402), (-121.8860, 37.3402))
    hole = ((-121.8856, 37.3392), (-121.8856, 37.3398), (-121.8850, 37.3398), (-121.8850, 37.3392))
    site = Site(
        "s4", "Example Temple", "religious_observance", Polygon(((*outer, outer[0]), (*hole, hole[0])))
    )
    in_courtyard = nearest_point(37.3395, -121.8853, site)
    assert not in_courtyard.inside
    assert in_courtyard.distance_m == pytest.approx(
        haversine_m(37.3395, -121.8853, 37.3395, -121.8856), abs=0.01
    )
    assert nearest_point(37.3390, -121.8853, site).inside


def test_a_camera_looking_along_a_sites_frontage_faces_it() -> None:
    # A strip of land starting 10 m east of the camera and running 200 m north: its nearest point is
    # due east (bearing 90), outside a north-facing 90 deg view, but the strip passes through that
    # view within 150 m (e.g. 10 m east and 100 m north, at bearing 5.7 deg).
    lat0, lon0 = CAMERA
    west = destination(lat0, lon0, 90, 10)[1]
    east = destination(lat0, lon0, 90, 30)[1]
    south = destination(lat0, lon0, 180, 5)[0]
    north = destination(lat0, lon0, 0, 200)[0]
    strip = box_site(west, south, east, north)
    near = nearest_point(lat0, lon0, strip)
    assert near.bearing_deg == pytest.approx(90, abs=0.1)
    (found,) = violations(lat0, lon0, 0, [strip])
    assert found.distance_m == pytest.approx(10, abs=0.01)
    assert not violations(lat0, lon0, 180, [strip])
    assert not violations(lat0, lon0, 270, [strip])


def test_an_edge_entering_the_view_only_through_its_arc_counts() -> None:
    # camera at the origin facing north, 90 deg, 150 m: the edge y = 120 m from x = -100 to 100 m has
    # both ends beyond 150 m, does not reach the sides of the view, and crosses the arc at x = +/-90.
    assert _sector_meets_segment((-100.0, 120.0), (100.0, 120.0), 150.0, 0.0, 45.0)
    assert not _sector_meets_segment((-100.0, 160.0), (100.0, 160.0), 150.0, 0.0, 45.0)
    assert not _sector_meets_segment((-100.0, -120.0), (100.0, -120.0), 150.0, 0.0, 45.0)


# -- GeoJSON ----------------------------------------------------------------------------------


def feature(geometry: Any, **props: Any) -> dict[str, Any]:
    base = {"name": "Example Mosque", "category": "religious_observance"}
    return {
        "type": "Feature",
        "id": props.pop("id", "f1"),
        "properties": {**base, **props},
        "geometry": geometry,
    }


def collection(*features: object) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


SQUARE = [
    [-121.8873, 37.3378],
    [-121.8867, 37.3378],
    [-121.8867, 37.3383],
    [-121.8873, 37.3383],
    [-121.8873, 37.3378],
]


def test_the_sample_file_loads_three_sites_one_of_each_category() -> None:
    sites = load_sites(ROOT / "samples" / "sensitive-sites.geojson")
    assert len(sites) == 3
    assert {s.category for s in sites} == {
        "reproductive_health_care",
        "religious_observance",
        "consulate_or_embassy",
    }
    assert all("fictional" in s.name.lower() for s in sites)
    for site in sites:  # plausible San José positions
        near = nearest_point(*CITY_HALL, site)
        assert near.distance_m < 5000


def test_points_and_polygons_parse_in_lon_lat_order() -> None:
    (a, b) = parse_sites(
        collection(
            feature({"type": "Point", "coordinates": [-121.8939, 37.3318, 25.0]}, id="a"),
            feature({"type": "Polygon", "coordinates": [SQUARE]}, id=7),
        )
    )
    assert a.geometry == Point(lon=-121.8939, lat=37.3318)
    assert isinstance(b.geometry, Polygon) and b.id == "7" and b.geometry.rings[0][0] == (-121.8873, 37.3378)


def test_a_feature_id_may_come_from_its_properties() -> None:
    raw = feature({"type": "Point", "coordinates": [-121.89, 37.33]})
    del raw["id"]
    raw["properties"]["id"] = "p-1"
    assert parse_sites(collection(raw))[0].id == "p-1"


def refused(doc: object) -> list[str]:
    with pytest.raises(SitesInvalid) as info:
        parse_sites(doc, "sites.geojson")
    assert "sites.geojson" in str(info.value)
    assert all(p in str(info.value) for p in info.value.problems)
    return list(info.value.problems)


@pytest.mark.parametrize(
    ("geometry", "props", "message"),
    [
        (
            {"type": "Point", "coordinates": [-121.89, 37.33]},
            {"category": "church"},
            "unknown category 'church'",
        ),
        (
            {"type": "Point", "coordinates": [-121.89, 37.33]},
            {"category": None},
            "use one of reproductive_health",
        ),
        ({"type": "Point", "coordinates": [-121.89, 37.33]}, {"name": " "}, "needs properties.name"),
        ({"type": "Point", "coordinates": [37.33, -121.89]}, {}, "longitude first"),
        ({"type": "Point", "coordinates": [-181, 37.33]}, {}, "longitude -181.0 is outside"),
        ({"type": "Point", "coordinates": [-121.89]}, {}, "is not a position"),
        ({"type": "Point", "coordinates": ["-121.89", "37.33"]}, {}, "is not a position"),
        ({"type": "Point", "coordinates": [True, 37.33]}, {}, "is not a position"),
        ({"type": "Point", "coordinates": [math.nan, 37.33]}, {}, "not a finite number"),
        ({"type": "Polygon", "coordinates": [SQUARE[:-1]]}, {}, "ring is not closed"),
        ({"type": "Polygon", "coordinates": [[SQUARE[0], SQUARE[1], SQUARE[0]]]}, {}, "3 or more distinct"),
        ({"type": "Polygon", "coordinates": []}, {}, "list of rings"),
        ({"type": "Polygon", "coordinates": [[]]}, {}, "ring is empty"),
        (
            {
                "type": "Polygon",
                "coordinates": [[[-121.89, 37.33], [-121.88, 37.33], [-121.87, 37.33], [-121.89, 37.33]]],
            },
            {},
            "encloses no area",
        ),
        (
            {"type": "Polygon", "coordinates": [[SQUARE[0], SQUARE[2], SQUARE[1], SQUARE[3], SQUARE[0]]]},
            {},
            "crosses itself",
        ),
        ({"type": "LineString", "coordinates": SQUARE}, {}, "'LineString' is not supported"),
        (None, {}, "missing geometry"),
    ],
)
def test_a_bad_feature_is_refused_with_its_reason(geometry: Any, props: dict[str, Any], message: str) -> None:
    problems = refused(collection(feature(geometry, **props)))
    assert len(problems) == 1
    assert problems[0].startswith("feature 1 ('f1')")
    assert message in problems[0]


def test_a_position_repeated_in_a_row_is_not_a_fault() -> None:
    ring = [SQUARE[0], SQUARE[1], SQUARE[1], SQUARE[2], SQUARE[3], SQUARE[0], SQUARE[0]]
    (site,) = parse_sites(collection(feature({"type": "Polygon", "coordinates": [ring]})))
    assert isinstance(site.geometry, Polygon) and len(site.geometry.rings[0]) == 5


def test_every_bad_feature_is_named_in_one_error() -> None:
    good = feature({"type": "Point", "coordinates": [-121.89, 37.33]}, id="ok")
    problems = refused(
        collection(
            good,
            feature({"type": "Point", "coordinates": [-121.89, 37.33]}, id="bad-cat", category="park"),
            feature({"type": "Polygon", "coordinates": [SQUARE[:-1]]}, id="open"),
            feature({"type": "Point", "coordinates": [-121.88, 37.34]}, id="ok"),
            {
                "type": "Feature",
                "properties": {"name": "No id", "category": "consulate_or_embassy"},
                "geometry": {},
            },
            ["not", "a", "feature"],
        )
    )
    assert problems[0].startswith("feature 2 ('bad-cat'): unknown category 'park'")
    assert problems[1].startswith("feature 3 ('open') Polygon ring 1: the ring is not closed")
    assert problems[2] == "feature 4: id 'ok' repeats feature 1"
    assert problems[3].startswith("feature 5: needs an id")
    assert problems[5] == "feature 6: not a GeoJSON Feature"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"type": "Feature"}, "not a GeoJSON FeatureCollection"),
        ([], "not a GeoJSON FeatureCollection"),
        ({"type": "FeatureCollection"}, "no list of features"),
    ],
)
def test_a_document_that_is_not_a_feature_collection_is_refused(doc: object, message: str) -> None:
    assert message in refused(doc)[0]


def test_a_file_that_is_missing_or_not_json_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(SitesInvalid, match="no such file"):
        load_sites(tmp_path / "absent.geojson")
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json")
    with pytest.raises(SitesInvalid, match=r"(?s)bad\.geojson refused .*not valid JSON"):
        load_sites(bad)
    good = tmp_path / "one.geojson"
    good.write_text(json.dumps(collection(feature({"type": "Point", "coordinates": [-121.89, 37.33]}))))
    assert len(load_sites(good)) == 1


# -- exclusion zones: every camera, any direction (P24) ----------------------------------------------


CLINIC_AT = (37.3318, -121.8939)


@pytest.mark.parametrize(
    ("distance", "inside"), [(0.0, True), (149.0, True), (151.0, False), (2000.0, False)]
)
@pytest.mark.parametrize("bearing", [0.0, 90.0, 200.0, 315.0])
def test_a_point_sites_zone_is_a_disk_of_150_m_in_every_direction(
    distance: float, inside: bool, bearing: float
) -> None:
    """P24 for a moving camera: no facing to judge, so the zone is every position within the distance."""
    site = point_site(*CLINIC_AT)
    lat, lon = destination(*CLINIC_AT, bearing, distance)
    assert (excluded(lat, lon, [site], 150.0) == site) is inside
    assert (ExclusionZones([site], 150.0).excluded(lat, lon) == site) is inside


def test_a_polygon_sites_zone_is_the_polygon_grown_by_the_distance() -> None:
    church = box_site(-121.8873, 37.3378, -121.8867, 37.3383)
    zones = ExclusionZones([church], 150.0)
    assert zones.excluded(37.33805, -121.8870) == church  # inside it
    for bearing in (90.0, 180.0, 270.0):  # from the middle of each of three edges, outward
        edge = {90.0: (37.33805, -121.8867), 180.0: (37.3378, -121.8870), 270.0: (37.33805, -121.8873)}[
            bearing
        ]
        assert zones.excluded(*destination(*edge, bearing, 140.0)) == church
        assert zones.excluded(*destination(*edge, bearing, 160.0)) is None


def test_the_fast_zones_agree_with_measuring_every_site() -> None:
    """The bounding-box shortcut never skips a position that is inside a zone."""
    sites = load_sites(ROOT / "samples" / "sensitive-sites.geojson")
    zones = ExclusionZones(sites, 150.0)
    for k in range(4000):
        lat = 37.328 + (k % 80) * 0.0006
        lon = -121.910 + (k // 80) * 0.0005
        assert zones.excluded(lat, lon) == excluded(lat, lon, sites, 150.0), (lat, lon)


def test_the_nearest_zone_is_named_and_a_non_position_is_in_none() -> None:
    near, far = point_site(*CLINIC_AT, "Near"), point_site(*destination(*CLINIC_AT, 90, 100), "Far")
    assert excluded(*destination(*CLINIC_AT, 270, 20), [far, near], 150.0) == near
    assert excluded(math.nan, 0.0, [near], 150.0) is None
    assert len(ExclusionZones([], 150.0)) == 0 and ExclusionZones([], 150.0).excluded(*CLINIC_AT) is None


def test_the_watch_follows_the_file_and_keeps_the_last_good_sites(tmp_path: Path) -> None:
    """A site added to the file takes effect without a restart; a broken file does not lift the
    zones (P24)."""
    path = tmp_path / "sites.geojson"
    path.write_text(json.dumps(collection()))
    now = [0.0]
    watch = SiteWatch(path, 150.0, every_s=1.0, clock=lambda: now[0])
    assert watch.zones().excluded(*CLINIC_AT) is None
    clinic = feature(
        {"type": "Point", "coordinates": [CLINIC_AT[1], CLINIC_AT[0]]}, category="reproductive_health_care"
    )
    path.write_text(json.dumps(collection(clinic)))
    assert watch.zones().excluded(*CLINIC_AT) is None  # the file is looked at once a second
    now[0] = 2.0
    found = watch.zones().excluded(*CLINIC_AT)
    assert found is not None and found.category == "reproductive_health_care"
    path.write_text("{not json")
    now[0] = 4.0
    assert watch.zones().excluded(*CLINIC_AT) == found


def test_the_simulated_cameras_stand_outside_every_zone() -> None:
    """P24: the demo feed places no camera inside an exclusion zone (here, zones of 1.5 km round
    the sample sites, which would hold several of its cameras otherwise)."""
    from streams.matching.normalize import OcrClasses
    from streams.reads.simulator import CameraFeed
    from streams.settings import DEFAULT_OCR_CLASSES

    sites = load_sites(ROOT / "samples" / "sensitive-sites.geojson")
    zones = ExclusionZones(sites, 1500.0)
    plain = CameraFeed(cameras=200, hit_rate=0.0, listed=[], ocr=OcrClasses.of(DEFAULT_OCR_CLASSES))
    assert any(zones.excluded(lat, lon) for _id, lat, lon in plain.camera_sites())
    feed = CameraFeed(
        cameras=200, hit_rate=0.0, listed=[], ocr=OcrClasses.of(DEFAULT_OCR_CLASSES), avoid=zones
    )
    assert not any(zones.excluded(lat, lon) for _id, lat, lon in feed.camera_sites())
    read = feed.next_read(datetime.now(UTC))
    assert zones.excluded(read["lat"], read["lon"]) is None
