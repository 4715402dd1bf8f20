"""The camera registry, pure: the record and its schema, the fold of the compacted topic, the commands'
refusals, and the sensitive-site rule (P24) on the real geometry of samples/sensitive-sites.geojson.

Mobile cameras are not held to P24 at registration (see streams/cameras/registry.py): they have no
standing position or direction, so the tests check that they are registered without the sites even
being read.
"""

from __future__ import annotations

import dataclasses
import math
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.access.audit_tools import is_search
from streams.access.principal import Principal
from streams.cameras.active import ActiveCameras
from streams.cameras.ids import CAMERA_ID_RULE
from streams.cameras.registry import (
    Camera,
    CameraRegistry,
    _audit,
    camera_to_dict,
    decode_camera,
    encode_camera,
    fold,
    register,
    retire,
    sensitive_sites,
    sites_changed,
    standing_line,
    status_of,
    update,
    violating,
)
from streams.cameras.sites import Site, SiteWatch, load_sites, parse_sites, point_feature
from streams.codec import dumps
from streams.errors import ConfigError, InvalidRecord, NotFound, PolicyViolation
from streams.matching.pipeline import Pipeline
from streams.metrics import Metrics
from streams.settings import Settings
from tests.conftest import ROOT
from tests.factories import make_entry, make_pipeline, read_dict, refusals
from tests.unit.test_schemas import validator
from tests.unit.test_sites import destination

SAMPLE = ROOT / "samples" / "sensitive-sites.geojson"
SITES = load_sites(SAMPLE)
CHURCH = "Fictional Valley Community Church (place of religious observance)"
CLINIC = "Example Family Health Clinic (fictional) (reproductive health care facility)"
# The church is the polygon lon -121.8873..-121.8867, lat 37.3378..37.3383; the middle of its
# south edge is (37.3378, -121.8870). The clinic is the point (37.3318, -121.8939).
SOUTH_OF_CHURCH = destination(37.3378, -121.8870, 180, 60)  # 60 m south of the church's south edge
WEST_OF_CLINIC = destination(37.3318, -121.8939, 270, 100)  # 100 m west of the clinic
FAR_AWAY = (37.3639, -121.9289)  # San José airport: more than 2 km from every sample site
DISTANCE = 150.0
WHERE = ("alpr.reads", 3, 41)


def sample_sites() -> tuple[Site, ...]:
    return SITES


def no_sites_wanted() -> tuple[Site, ...]:
    raise AssertionError("the sensitive sites were read, but nothing was placed that needs them")


def camera(camera_id: str = "cam-1", at: tuple[float, float] = FAR_AWAY, **kw: Any) -> Camera:
    fields: dict[str, Any] = {"name": "N 1st St & E Santa Clara St", "agency": "SJPD", "kind": "fixed"}
    fields.setdefault("facing_deg", 0.0)
    fields.update(kw)
    return Camera(camera_id, lat=at[0], lon=at[1], **fields)


def registry_of(*cameras: Camera) -> CameraRegistry:
    return fold((c.id.encode(), encode_camera(c)) for c in cameras)


# -- the record -----------------------------------------------------------------------------------


def test_a_camera_goes_to_the_topic_and_back_unchanged_and_its_record_validates() -> None:
    cam = camera(install_date=date(2025, 6, 30), facing_deg=247.5)
    value = encode_camera(cam)
    assert validator("camera").is_valid(orjson.loads(value))
    assert decode_camera(b"cam-1", value) == cam
    retired = dataclasses.replace(cam, status="retired", retired_on=date(2026, 11, 2))
    assert decode_camera(b"cam-1", encode_camera(retired)) == retired
    mobile = camera("unit-7", kind="mobile", facing_deg=None)
    assert decode_camera(b"unit-7", encode_camera(mobile)) == mobile


@given(
    lat=st.floats(-89.999, 89.999),
    lon=st.floats(-180, 180),
    facing=st.one_of(st.none(), st.floats(0, 360)),
    camera_id=st.lists(st.from_regex(r"[A-Za-z0-9._:-]{1,8}", fullmatch=True), min_size=1, max_size=6)
    .map(" ".join)
    .filter(lambda text: text[0].isalnum() and len(text) <= 64),
)
def test_every_valid_camera_round_trips(lat: float, lon: float, facing: float | None, camera_id: str) -> None:
    cam = camera(camera_id, (lat, lon), kind="mobile" if facing is None else "fixed", facing_deg=facing)
    assert decode_camera(camera_id.encode(), encode_camera(cam)) == cam


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"kind": "fixed", "facing_deg": None}, "facing_deg"),
        ({"status": "retired"}, "retired_on"),
        ({"retired_on": "2026-11-02"}, "retired_on"),
        ({"lat": 91}, "lat"),
        ({"id": "cam  1"}, "id"),
        ({"id": " cam-1"}, "id"),
        ({"id": "cam-1 "}, "id"),
        ({"id": "cam\t1"}, "id"),
        ({"id": "cam-1\n"}, "id"),
        ({"id": "SJ:Curtner/Monterey"}, "id"),
        ({"id": "c" * 65}, "id"),
        ({"install_date": "2026-13-01"}, "install_date"),
        ({"plate": "7ABC123"}, "plate"),
    ],
)
def test_the_schema_refuses_what_the_registry_would_refuse(changes: dict[str, Any], reason: str) -> None:
    record = {**camera_to_dict(camera()), **changes}
    assert not validator("camera").is_valid(record)  # the schema as JSON Schema (draft 7)
    with pytest.raises(InvalidRecord, match=reason):  # and as the codec compiles it
        decode_camera(None, orjson.dumps(record))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"facing_deg": None}, "a fixed camera needs the compass bearing it faces"),
        ({"facing_deg": 361.0}, "facing 361.0: a compass bearing lies between 0 and 360"),
        ({"facing_deg": -1.0}, "facing -1.0"),
        ({"facing_deg": math.nan}, "facing nan"),
        ({"lat": 95.0}, "lat 95.0: a latitude lies between -90 and 90"),
        ({"lat": -121.89, "lon": 37.33}, "(latitude and longitude swapped?)"),
        ({"lon": 200.0}, "lon 200.0: a longitude lies between -180 and 180"),
        ({"lat": math.inf}, "lat inf"),
        ({"id": "cam  1"}, "camera id 'cam  1' breaks the id grammar: " + CAMERA_ID_RULE),
        ({"id": ""}, "camera id '' breaks the id grammar: a camera id is 1-64 characters"),
        ({"id": "c" * 65}, CAMERA_ID_RULE),
        ({"id": "cam-1 "}, CAMERA_ID_RULE),
        ({"id": "cam\x001"}, CAMERA_ID_RULE),
        ({"name": "  "}, "name: say where the camera is"),
        ({"agency": ""}, "agency: give the id of the agency"),
        ({"kind": "drone"}, "kind 'drone': use fixed or mobile"),
    ],
)
def test_a_bad_camera_is_refused_with_what_to_give_instead(changes: dict[str, Any], message: str) -> None:
    cam = dataclasses.replace(camera(), **changes)
    with pytest.raises(InvalidRecord) as info:
        register(CameraRegistry(), cam, no_sites_wanted, DISTANCE)
    assert message in str(info.value)


def test_every_problem_of_a_camera_is_named_at_once() -> None:
    cam = camera(at=(37.33, -200.0), name="", facing_deg=None)
    with pytest.raises(InvalidRecord) as info:
        register(CameraRegistry(), cam, no_sites_wanted, DISTANCE)
    text = str(info.value)
    assert text.startswith("camera 'cam-1' refused: ")
    assert all(p in text for p in ("name:", "lon -200.0", "a fixed camera needs"))


# -- the fold -------------------------------------------------------------------------------------


def test_each_cameras_newest_record_decides_and_a_tombstone_removes_it() -> None:
    a, b = camera("cam-a"), camera("cam-b", facing_deg=90.0)
    moved = dataclasses.replace(a, lat=37.30, facing_deg=180.0)
    records = [
        (b"cam-a", encode_camera(a)),
        (b"cam-b", encode_camera(b)),
        (b"cam-a", encode_camera(moved)),
        (b"cam-b", None),
    ]
    registry = fold(records)
    assert dict(registry.cameras) == {"cam-a": moved}
    assert not registry.invalid
    assert fold(records[2:], fold(records[:2])) == registry  # folding on from a registry: the same
    with pytest.raises(NotFound, match="no camera cam-b: register it with 'alpr camera add'"):
        registry.get("cam-b")


def test_a_record_that_cannot_be_used_makes_its_camera_unknown_and_says_why() -> None:
    a = camera("cam-a")
    registry = fold([(b"cam-a", encode_camera(a)), (b"cam-a", b"{not json"), (b"cam-x", encode_camera(a))])
    assert dict(registry.cameras) == {}  # not cam-a's older record: compaction may have removed it
    assert "not valid JSON" in registry.invalid["cam-a"]
    assert "the record of camera 'cam-a' is under key b'cam-x'" in registry.invalid["cam-x"]
    with pytest.raises(NotFound, match="its record cannot be read"):
        registry.get("cam-a")
    again = fold([(b"cam-a", encode_camera(a)), (None, b"{}")], registry)
    assert again.get("cam-a") == a and "cam-a" not in again.invalid
    assert "the topic is keyed by id" in again.invalid["(no key)"]


def test_the_list_leaves_out_retired_cameras_unless_asked() -> None:
    gone = camera("cam-b", status="retired", retired_on=date(2026, 1, 5))
    registry = registry_of(camera("cam-c"), gone, camera("cam-a"))
    assert [c.id for c in registry.listed()] == ["cam-a", "cam-c"]
    assert [c.id for c in registry.listed(include_retired=True)] == ["cam-a", "cam-b", "cam-c"]


# -- registering and P24 --------------------------------------------------------------------------


def test_a_fixed_camera_facing_a_site_within_150_m_is_refused_naming_the_site_and_distance() -> None:
    cam = camera("cam-17", SOUTH_OF_CHURCH, facing_deg=0.0)
    with pytest.raises(PolicyViolation) as info:
        register(CameraRegistry(), cam, sample_sites, DISTANCE)
    assert info.value.rule == "P24"
    assert str(info.value) == f"camera cam-17 would be 60 m from {CHURCH}, facing it (P24)"


def test_the_same_position_facing_away_is_allowed() -> None:
    for facing in (180.0, 135.0, 225.0):
        cam = camera("cam-17", SOUTH_OF_CHURCH, facing_deg=facing)
        assert register(CameraRegistry(), cam, sample_sites, DISTANCE) == cam


def test_a_point_site_counts_within_the_configured_distance_only() -> None:
    near = camera("cam-9", WEST_OF_CLINIC, facing_deg=90.0)
    with pytest.raises(
        PolicyViolation, match=re.escape(f"camera cam-9 would be 100 m from {CLINIC}, facing it (P24)")
    ):
        register(CameraRegistry(), near, sample_sites, DISTANCE)
    assert register(CameraRegistry(), near, sample_sites, 90.0) == near  # ALPR_SENSITIVE_SITE_DISTANCE_M=90
    far = camera("cam-9", destination(37.3318, -121.8939, 270, 160), facing_deg=90.0)
    assert register(CameraRegistry(), far, sample_sites, DISTANCE) == far
    with pytest.raises(PolicyViolation, match="160 m from"):
        register(CameraRegistry(), far, sample_sites, 200.0)


def test_a_mobile_camera_is_not_held_to_the_facing_rule_but_its_base_must_be_outside_every_zone() -> None:
    """P24: a mobile camera based 60 m south of the church, facing away, is no fixed camera facing
    it; its base lies inside the church's 150 m exclusion zone all the same, which is refused."""
    away = camera("unit-7", SOUTH_OF_CHURCH, kind="mobile", facing_deg=180.0)
    with pytest.raises(
        PolicyViolation, match=re.escape(f"based within 150 m of {CHURCH}, inside its exclusion")
    ):
        register(CameraRegistry(), away, sample_sites, DISTANCE)
    based = camera("unit-7", destination(37.3378, -121.8870, 180, 160), kind="mobile", facing_deg=0.0)
    assert register(CameraRegistry(), based, sample_sites, DISTANCE) == based
    assert register(CameraRegistry(), dataclasses.replace(based, facing_deg=None), sample_sites, DISTANCE)


def test_without_sites_configured_a_mobile_camera_is_registered_its_reads_screened_where_sites_are() -> None:
    def not_configured() -> tuple[Site, ...]:
        raise ConfigError("ALPR_SENSITIVE_SITES is not set")

    cam = camera("unit-7", SOUTH_OF_CHURCH, kind="mobile", facing_deg=None)
    assert register(CameraRegistry(), cam, not_configured, DISTANCE) == cam


def test_moving_a_mobile_cameras_base_into_a_zone_is_refused() -> None:
    registry = registry_of(camera("unit-7", kind="mobile", facing_deg=None))
    lat, lon = WEST_OF_CLINIC
    with pytest.raises(PolicyViolation, match=re.escape(f"within 150 m of {CLINIC}")):
        update(registry, "unit-7", {"lat": lat, "lon": lon}, sample_sites, DISTANCE)


def test_an_id_is_registered_once_and_a_retired_cameras_id_is_not_reused() -> None:
    registry = registry_of(camera("cam-1"), camera("cam-2", status="retired", retired_on=date(2026, 3, 1)))
    with pytest.raises(ConfigError, match="cam-1 is registered already: change it with 'alpr camera update"):
        register(registry, camera("cam-1"), sample_sites, DISTANCE)
    with pytest.raises(
        ConfigError, match="cam-2 was retired on 2026-03-01: a retired camera's id is not reused"
    ):
        register(registry, camera("cam-2"), sample_sites, DISTANCE)


# -- updating and retiring ------------------------------------------------------------------------


def test_moving_a_camera_to_face_a_site_is_refused_and_changes_nothing() -> None:
    before = camera("cam-1")
    registry = registry_of(before)
    lat, lon = SOUTH_OF_CHURCH
    with pytest.raises(
        PolicyViolation, match=re.escape(f"camera cam-1 would be 60 m from {CHURCH}, facing it (P24)")
    ):
        update(registry, "cam-1", {"lat": lat, "lon": lon}, sample_sites, DISTANCE)
    assert registry.get("cam-1") == before
    turned = update(registry, "cam-1", {"lat": lat, "lon": lon, "facing_deg": 180.0}, sample_sites, DISTANCE)
    assert (turned.lat, turned.lon, turned.facing_deg) == (lat, lon, 180.0)


def test_turning_a_camera_to_face_a_site_is_a_move_too() -> None:
    registry = registry_of(camera("cam-1", SOUTH_OF_CHURCH, facing_deg=180.0))
    with pytest.raises(PolicyViolation, match="60 m from"):
        update(registry, "cam-1", {"facing_deg": 10.0}, sample_sites, DISTANCE)


def test_renaming_a_camera_is_not_a_move() -> None:
    # A camera that a site added later put in violation can still be renamed (sites check names it).
    registry = registry_of(camera("cam-1", SOUTH_OF_CHURCH, facing_deg=0.0))
    renamed = update(
        registry, "cam-1", {"name": "Church St NB", "agency": "SCCSO"}, no_sites_wanted, DISTANCE
    )
    assert (renamed.name, renamed.agency, renamed.facing_deg) == ("Church St NB", "SCCSO", 0.0)


@pytest.mark.parametrize(
    ("camera_id", "changes", "error", "message"),
    [
        ("cam-9", {"name": "x"}, NotFound, "no camera cam-9"),
        ("cam-1", {"kind": "mobile"}, ConfigError, "kind cannot be changed"),
        ("cam-1", {"name": "N 1st St & E Santa Clara St"}, ConfigError, "nothing to change"),
        ("cam-1", {"facing_deg": 400.0}, InvalidRecord, "facing 400.0"),
        ("old-1", {"name": "x"}, ConfigError, "retired on 2026-02-01: a retired camera is not changed"),
    ],
)
def test_an_update_that_cannot_be_made_is_refused(
    camera_id: str, changes: dict[str, Any], error: type[Exception], message: str
) -> None:
    registry = registry_of(camera("cam-1"), camera("old-1", status="retired", retired_on=date(2026, 2, 1)))
    with pytest.raises(error, match=message):
        update(registry, camera_id, changes, sample_sites, DISTANCE)


def test_retiring_keeps_the_camera_with_its_date_and_is_done_once() -> None:
    registry = registry_of(camera("cam-1"))
    retired = retire(registry, "cam-1", date(2026, 11, 2))
    assert (retired.status, retired.retired_on, retired.active) == ("retired", date(2026, 11, 2), False)
    assert retired.lat == camera().lat
    after = registry_of(retired)
    with pytest.raises(ConfigError, match="cam-1 was retired already, on 2026-11-02"):
        retire(after, "cam-1", date(2026, 11, 3))
    with pytest.raises(NotFound, match="no camera cam-2"):
        retire(after, "cam-2", date(2026, 11, 3))


# -- checking existing cameras against the sites --------------------------------------------------


def test_the_check_names_every_active_fixed_camera_that_faces_a_site() -> None:
    registry = registry_of(
        camera("cam-church", SOUTH_OF_CHURCH, facing_deg=0.0, name="S of church, NB"),
        camera("cam-clinic", WEST_OF_CLINIC, facing_deg=90.0, name="W of clinic, EB"),
        camera("cam-away", SOUTH_OF_CHURCH, facing_deg=180.0),
        camera("unit-7", SOUTH_OF_CHURCH, kind="mobile", facing_deg=0.0),
        camera("cam-old", SOUTH_OF_CHURCH, status="retired", retired_on=date(2026, 1, 1)),
        camera("cam-far"),
    )
    found = violating(registry, SITES, DISTANCE)
    assert [(c.id, [v.site.id for v in vs]) for c, vs in found] == [
        ("cam-church", ["site-worship-1"]),
        ("cam-clinic", ["site-clinic-1"]),
    ]
    assert [standing_line(c, vs[0]) for c, vs in found] == [
        f"camera cam-church (S of church, NB) is 60 m from {CHURCH}, facing it (P24)",
        f"camera cam-clinic (W of clinic, EB) is 100 m from {CLINIC}, facing it (P24)",
    ]
    assert violating(registry, (), DISTANCE) == []


# -- settings and the audit record ----------------------------------------------------------------


def test_without_sensitive_sites_configured_no_fixed_camera_can_be_placed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ALPR_SENSITIVE_SITES is not set"):
        sensitive_sites(Settings.from_env({}))
    assert sensitive_sites(Settings.from_env({"ALPR_SENSITIVE_SITES": str(SAMPLE)})) == SITES
    empty = tmp_path / "none.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": []}')
    assert sensitive_sites(Settings.from_env({"ALPR_SENSITIVE_SITES": str(empty)})) == ()


def test_the_distance_is_a_setting_of_150_m_by_default() -> None:
    assert Settings.from_env({}).sensitive_site_distance_m == 150.0
    assert Settings.from_env({"ALPR_SENSITIVE_SITE_DISTANCE_M": "200"}).sensitive_site_distance_m == 200.0
    for bad in ("0", "-5", "far"):
        with pytest.raises(ConfigError, match="ALPR_SENSITIVE_SITE_DISTANCE_M"):
            Settings.from_env({"ALPR_SENSITIVE_SITE_DISTANCE_M": bad})


def test_a_registry_change_is_audited_without_counting_as_a_search_of_alpr_data() -> None:
    admin = Principal("ada", "Ada", "SJPD", "administrator", badge="A-1")
    record = _audit(datetime(2026, 11, 2, tzinfo=UTC), admin, "camera_add", "cam-1", {"kind": "fixed"})
    assert record.query == {"registered_camera": "cam-1", "kind": "fixed"}
    assert (record.user, record.badge, record.agency) == ("ada", "A-1", "SJPD")
    assert record.purpose == "camera registry"
    assert not is_search(record)  # a query key "camera" would put it in the P23 sample of searches


@pytest.mark.parametrize(
    "role", ["dispatcher", "officer", "analyst", "lieutenant", "auditor", "external", "cad"]
)
def test_only_administrators_change_the_registry_checked_before_anything_is_read(role: str) -> None:
    """P21: the use cases refuse any other role before they read the topic (no broker is needed
    to refuse: ALPR_BROKER_URL points nowhere), and nobody signed in is a 401, not a 403."""
    import asyncio

    from streams.cameras.registry import CameraStore, site_change
    from streams.errors import AccessDenied, NotSignedIn

    store = CameraStore(Settings.from_env({"ALPR_BROKER_URL": "kafka://127.0.0.1:9"}))
    who = Principal("x", "X", "SJPD", role, badge="X-1")
    now = datetime(2026, 11, 2, tzinfo=UTC)
    for attempt in (
        store.add(camera(), who, now),
        store.add_many([camera()], who, now),
        store.update("cam-1", {"name": "B"}, who, now),
        store.retire("cam-1", who, now),
    ):
        with pytest.raises(AccessDenied, match=f"P21: the {role} role may not camera.admin"):
            asyncio.run(attempt)
    with pytest.raises(NotSignedIn):
        asyncio.run(store.retire("cam-1", None, now))  # type: ignore[arg-type]
    with pytest.raises(AccessDenied, match="camera.admin"):
        site_change(now, who, "sensitive_site_add", SITES[0])


# -- suspension after a site-list change, and reads in exclusion zones (P24) ----------------------


def sites_file(tmp_path: Path, sites: list[dict[str, Any]]) -> Path:
    path = tmp_path / "sites.geojson"
    path.write_text(orjson.dumps({"type": "FeatureCollection", "features": sites}).decode())
    return path


def clinic_feature(at: tuple[float, float]) -> dict[str, Any]:
    return point_feature("site-new", "New Clinic", "reproductive_health_care", *at)


def test_a_new_site_suspends_the_fixed_cameras_facing_it_and_removing_it_would_reinstate_them() -> None:
    east = camera("cam-east", FAR_AWAY, facing_deg=90.0, name="EB")
    west = camera("cam-west", FAR_AWAY, facing_deg=270.0, name="WB")
    unit = camera("unit-1", FAR_AWAY, kind="mobile", facing_deg=None)
    registry = registry_of(east, west, unit)
    new = parse_sites(
        {"type": "FeatureCollection", "features": [clinic_feature(destination(*FAR_AWAY, 90, 100))]}
    )
    change = sites_changed(registry, (), new, DISTANCE)
    assert [(c.id, [v.site.id for v in vs]) for c, vs in change.suspended] == [("cam-east", ["site-new"])]
    assert change.reinstated == []
    assert status_of(east, change.suspended[0][1]) == "suspended (P24: faces New Clinic)"
    assert status_of(west) == "active"
    back = sites_changed(registry, new, (), DISTANCE)
    assert [c.id for c, _vs in back.reinstated] == ["cam-east"] and back.suspended == []


def test_the_worker_refuses_a_suspended_cameras_reads_keeping_no_plate(tmp_path: Path) -> None:
    """P24: once the sites file lists a site the camera faces, its reads are refused
    (camera_suspended) and the rejected record holds no plate and no position; moving the camera
    (a new record) lets its reads through again."""
    path = sites_file(tmp_path, [])
    now = [0.0]
    watch = SiteWatch(path, DISTANCE, every_s=0.0, clock=lambda: now[0])
    p = pipeline_with(watch)
    east = camera("cam-east", FAR_AWAY, facing_deg=90.0)
    p.cameras.apply(b"cam-east", encode_camera(east))
    # Where the read says it was taken is outside the zone (a vehicle ahead, a position reported
    # loosely): the camera is refused for where it stands and what it faces.
    lat, lon = destination(*FAR_AWAY, 270, 100)
    read = dumps(read_dict(read_id="r1", camera_id="cam-east", plate="7ABC123", lat=lat, lon=lon))
    assert p.screen_record(read, WHERE).rejected == []
    sites_file(tmp_path, [clinic_feature(destination(*FAR_AWAY, 90, 100))])
    out = p.screen_record(read, WHERE)
    [(key, value, _codes)] = out.rejected
    [(code, record)] = refusals(out)
    assert (
        key == b"cam-east"
        and code == "camera_suspended"
        and "suspended (P24: faces New Clinic)" in record["reason"]
    )
    assert "7ABC123" not in value.decode() and str(lon) not in value.decode()
    assert orjson.loads(record["payload"]) == {
        "camera_id": "cam-east",
        "captured_at": read_dict()["captured_at"],
    }
    p.cameras.apply(b"cam-east", encode_camera(dataclasses.replace(east, facing_deg=270.0)))
    assert p.screen_record(read, WHERE).rejected == []


def test_the_worker_drops_reads_inside_a_zone_without_a_trace_of_the_plate(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """P24 + P11: a read captured at the clinic is not screened, not rejected (no copy on the
    rejected topic) and only counted by category; the read 2 km away goes on and matches."""
    path = sites_file(tmp_path, [clinic_feature(WEST_OF_CLINIC)])
    p = pipeline_with(SiteWatch(path, DISTANCE))
    p.cameras = None
    at_clinic = read_dict(read_id="r-in", plate="7ABC123", lat=WEST_OF_CLINIC[0], lon=WEST_OF_CLINIC[1])
    away = read_dict(read_id="r-out", plate="7ABC123", lat=FAR_AWAY[0], lon=FAR_AWAY[1])
    with caplog.at_level("DEBUG"):
        out = p.screen_record(dumps({"reads": [at_clinic, away]}), WHERE)
    assert out.excluded == ["reproductive_health_care"] and out.rejected == []
    assert out.reads == 1 and [orjson.loads(v)["read"]["read_id"] for _k, _p, v in out.candidates] == [
        "r-out"
    ]
    assert "7ABC123" not in caplog.text and str(WEST_OF_CLINIC[0]) not in caplog.text
    assert "site-new" in caplog.text
    metrics = Metrics()
    metrics.observe(out, batch_seconds=0.001)
    assert (
        metrics.registry.get_sample_value(
            "alpr_reads_excluded_total", {"category": "reproductive_health_care"}
        )
        == 1
    )


def pipeline_with(sites: SiteWatch) -> Pipeline:
    return make_pipeline(make_entry(plate="7ABC123"), cameras=ActiveCameras(sites), sites=sites)
