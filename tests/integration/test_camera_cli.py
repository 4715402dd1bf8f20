"""The camera registry through the real ``alpr camera`` commands, as processes on the embedded broker:
administrators register, list, update and retire cameras (P21); a fixed camera placed facing a
sensitive site is refused and nothing changes; ``sites check`` names a camera a new site puts in
violation (P24). Sites are the real geometry of samples/sensitive-sites.geojson."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import ROOT, settings_of
from tests.integration.kafka_helpers import SignInUser, add_user, alpr_as, read_topic
from tests.unit.test_schemas import validator
from tests.unit.test_sites import destination

pytestmark = pytest.mark.integration

SAMPLE = ROOT / "samples" / "sensitive-sites.geojson"
CHURCH = "Fictional Valley Community Church (place of religious observance)"
SOUTH_OF_CHURCH = destination(37.3378, -121.8870, 180, 60)  # 60 m south of the church's south edge
AIRPORT = (37.3639, -121.9289)  # more than 2 km from every sample site


def at(position: tuple[float, float]) -> list[str]:
    return ["--lat", repr(position[0]), "--lon", repr(position[1])]


def fixed(position: tuple[float, float], facing: str, name: str = "A") -> list[str]:
    return ["--name", name, "--kind", "fixed", *at(position), "--facing", facing]


def mobile(position: tuple[float, float], name: str = "A") -> list[str]:
    return ["--name", name, "--kind", "mobile", *at(position)]


def add(env: dict[str, str], user: SignInUser, camera_id: str, *args: str) -> Any:
    return alpr_as(env, user, "camera", "add", "--id", camera_id, "--agency", "SJPD", *args)


def ok(result: Any) -> Any:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def records(env: dict[str, str], topic: str) -> list[tuple[str, dict[str, Any]]]:
    settings = settings_of(env)
    found = asyncio.run(read_topic(settings.kafka, settings.topic(topic)))
    return [(r.key.decode(), orjson.loads(r.value)) for r in found]


def camera_changes(env: dict[str, str]) -> list[tuple[str, str, str]]:
    """(user, action, camera) of every registry change on the audit trail, in order."""
    return [
        (v["user"], v["action"], v["query"]["registered_camera"])
        for _key, v in records(env, "audit")
        if v["action"].startswith("camera_")
    ]


def refused(result: Any, message: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr, result.stderr


@pytest.fixture()
def env(topics_env: dict[str, str]) -> dict[str, str]:
    return {**topics_env, "ALPR_SENSITIVE_SITES": str(SAMPLE)}


@pytest.fixture()
def ada(env: dict[str, str]) -> SignInUser:
    return asyncio.run(add_user(settings_of(env), "ada", "administrator", display="Admin Ada", badge="A-1"))


def test_an_administrator_adds_lists_updates_and_retires_cameras(
    env: dict[str, str], ada: SignInUser
) -> None:
    added = ok(
        add(env, ada, "cam-00012", *fixed(AIRPORT, "90", "Airport Blvd EB"), "--installed", "2025-06-30")
    )
    assert "added camera cam-00012: fixed, Airport Blvd EB, SJPD" in added.stdout
    # P24: a mobile camera has no facing to judge, but its base must lie outside every exclusion zone.
    refused(add(env, ada, "unit-7", *mobile(SOUTH_OF_CHURCH, "Patrol car 7")), "inside its exclusion zone")
    ok(add(env, ada, "unit-7", *mobile(destination(37.3378, -121.8870, 180, 300), "Patrol car 7")))

    listing = alpr_as(env, ada, "camera", "list")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert [line.split()[0] for line in lines[1:-1]] == ["cam-00012", "unit-7"]
    assert lines[1].split()[1:6] == ["fixed", "37.36390", "-121.92890", "90", "2025-06-30"]
    assert lines[-1] == "cameras: 2 active"

    moved = alpr_as(env, ada, "camera", "update", "cam-00012", "--facing", "270", "--name", "Airport Blvd WB")
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.strip() == (
        "updated camera cam-00012: name Airport Blvd EB -> Airport Blvd WB, facing_deg 90.0 -> 270.0"
    )
    retired = alpr_as(env, ada, "camera", "retire", "unit-7")
    assert retired.returncode == 0, retired.stderr
    assert retired.stdout.startswith("retired camera unit-7 (Patrol car 7) on ")

    active = alpr_as(env, ada, "camera", "list").stdout.splitlines()
    assert [line.split()[0] for line in active[1:-1]] == ["cam-00012"]
    assert "Airport Blvd WB" in active[1] and " 270 " in active[1]
    assert active[-1] == "cameras: 1 active, 1 retired"
    every = alpr_as(env, ada, "camera", "list", "--all").stdout.splitlines()
    assert [line.split()[0] for line in every[1:-1]] == ["cam-00012", "unit-7"]
    assert "retired 20" in every[2]

    # the topic holds each camera's current state, keyed by its id, in the schema's form
    latest = dict(records(env, "cameras"))
    assert set(latest) == {"cam-00012", "unit-7"}
    assert all(validator("camera").is_valid(v) for v in latest.values())
    assert (latest["cam-00012"]["facing_deg"], latest["unit-7"]["status"]) == (270.0, "retired")
    assert camera_changes(env) == [
        ("ada", "camera_add", "cam-00012"),
        ("ada", "camera_add", "unit-7"),
        ("ada", "camera_update", "cam-00012"),
        ("ada", "camera_retire", "unit-7"),
    ]


def test_refused_commands_exit_2_and_write_nothing(env: dict[str, str], ada: SignInUser) -> None:
    ok(add(env, ada, "cam-1", *fixed(AIRPORT, "0")))
    ok(alpr_as(env, ada, "camera", "retire", "cam-1"))
    before = (records(env, "cameras"), camera_changes(env))

    refused(alpr_as(env, ada, "camera", "retire", "cam-1"), "camera cam-1 was retired already, on ")
    refused(alpr_as(env, ada, "camera", "update", "cam-1", "--name", "B"), "a retired camera is not changed")
    refused(alpr_as(env, ada, "camera", "retire", "cam-404"), "no camera cam-404")
    refused(add(env, ada, "cam-1", *fixed(AIRPORT, "0")), "a retired camera's id is not reused")
    refused(add(env, ada, "cam-2", *mobile(AIRPORT), "--facing", "400"), "facing 400.0: a compass bearing")
    refused(
        add(env, ada, "cam-2", "--name", "A", "--kind", "fixed", *at(AIRPORT)),
        "a fixed camera needs the compass bearing it faces",
    )
    refused(add(env, ada, "cam-2", *fixed((-121.9, 37.3), "0")), "(latitude and longitude swapped?)")
    no_agency = ["camera", "add", "--id", "cam-2", "--agency", "NOPE", *mobile(AIRPORT)]
    refused(alpr_as(env, ada, *no_agency), "no agency NOPE: add it first with 'alpr agency add'")
    refused(
        add(env, ada, "cam-2", *mobile(AIRPORT), "--installed", "30/06/2025"),
        "--installed '30/06/2025': use a date such as",
    )
    officer = asyncio.run(add_user(settings_of(env), "olu", "officer", badge="O-7"))
    refused(add(env, officer, "cam-3", *mobile(AIRPORT)), "P21: the officer role may not camera.admin")
    assert (records(env, "cameras"), camera_changes(env)) == before


def test_placing_a_fixed_camera_facing_a_sensitive_site_is_refused_and_changes_nothing(
    env: dict[str, str], ada: SignInUser
) -> None:
    ok(add(env, ada, "cam-1", *fixed(AIRPORT, "0")))
    before = (records(env, "cameras"), camera_changes(env))
    expected = f"alpr: error: camera cam-1 would be 60 m from {CHURCH}, facing it (P24)"

    move = alpr_as(env, ada, "camera", "update", "cam-1", *at(SOUTH_OF_CHURCH))
    refused(move, expected)
    refused(
        add(env, ada, "cam-2", *fixed(SOUTH_OF_CHURCH, "10")),
        f"alpr: error: camera cam-2 would be 60 m from {CHURCH}, facing it (P24)",
    )
    assert (records(env, "cameras"), camera_changes(env)) == before
    listing = alpr_as(env, ada, "camera", "list").stdout.splitlines()
    assert listing[1].split()[:4] == ["cam-1", "fixed", "37.36390", "-121.92890"]
    assert listing[-1] == "cameras: 1 active"

    ok(alpr_as(env, ada, "camera", "update", "cam-1", *at(SOUTH_OF_CHURCH), "--facing", "180"))
    assert dict(records(env, "cameras"))["cam-1"]["lat"] == SOUTH_OF_CHURCH[0]


def test_sites_check_names_the_cameras_a_new_site_puts_in_violation(
    env: dict[str, str], ada: SignInUser, tmp_path: Path
) -> None:
    empty = tmp_path / "no-sites.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": []}')
    before_sites = {**env, "ALPR_SENSITIVE_SITES": str(empty)}
    for camera_id, facing in (("cam-north", "0"), ("cam-south", "180")):
        ok(add(before_sites, ada, camera_id, *fixed(SOUTH_OF_CHURCH, facing, f"Church St {facing}")))

    clean = ok(alpr_as(before_sites, ada, "camera", "sites", "check"))
    assert clean.stdout.splitlines() == [
        f"0 of 2 active fixed cameras face a sensitive site within 150 m (0 sites in {empty})"
    ]

    proposed = alpr_as(before_sites, ada, "camera", "sites", "check", "--file", str(SAMPLE))
    configured = alpr_as(env, ada, "camera", "sites", "check")
    for check in (proposed, configured):
        assert check.returncode == 1, check.stderr
        assert check.stdout.splitlines() == [
            f"camera cam-north (Church St 0) is 60 m from {CHURCH}, facing it (P24)",
            f"1 of 2 active fixed cameras face a sensitive site within 150 m (3 sites in {SAMPLE})",
        ]

    unset = {k: v for k, v in env.items() if k != "ALPR_SENSITIVE_SITES"}
    refused(alpr_as(unset, ada, "camera", "sites", "check"), "ALPR_SENSITIVE_SITES is not set")
    refused(
        add(unset, ada, "cam-3", "--name", "C", "--kind", "fixed", *at(AIRPORT), "--facing", "0"),
        "ALPR_SENSITIVE_SITES is not set",
    )


def test_adding_a_site_suspends_and_names_the_cameras_it_puts_in_violation_and_is_audited(
    env: dict[str, str], ada: SignInUser, tmp_path: Path
) -> None:
    """``alpr camera sites add`` (administrators) writes the site into ALPR_SENSITIVE_SITES and
    suspends and names every camera that now faces it (exit 1, P24), one audit record each; a site
    that is not valid or whose id is taken is refused and the file stays as it was; ``remove`` takes
    it out again, reinstating the camera only with --reinstate; all of it is audited (P14)."""
    sites_file = tmp_path / "sites.geojson"
    sites_file.write_text('{"type": "FeatureCollection", "features": []}')
    env = {**env, "ALPR_SENSITIVE_SITES": str(sites_file)}
    ok(add(env, ada, "cam-east", *fixed(AIRPORT, "90", "Airport Blvd EB")))
    ok(add(env, ada, "cam-west", *fixed(AIRPORT, "270", "Airport Blvd WB")))
    clinic = destination(*AIRPORT, 90, 100)  # 100 m east of both cameras
    site = ["--id", "site-new-clinic", "--name", "New Clinic", "--category", "reproductive_health_care"]

    added = alpr_as(env, ada, "camera", "sites", "add", *site, *at(clinic))
    assert added.returncode == 1, added.stdout + added.stderr
    assert added.stdout.splitlines() == [
        f"added site site-new-clinic: New Clinic (reproductive health care facility) to {sites_file}",
        "suspended: camera cam-east (Airport Blvd EB) is 100 m from New Clinic (reproductive health care "
        "facility), facing it (P24)",
        "1 camera(s) suspended: their reads are refused until they are moved "
        "('alpr camera update ID --lat --lon --facing') or retired (P24)",
    ]
    written = sites_file.read_text()
    assert '"site-new-clinic"' in written
    refused(alpr_as(env, ada, "camera", "sites", "add", *site, *at(clinic)), "repeats feature 1")
    bad = ["--id", "site-x", "--name", "X", "--category", "school"]
    refused(alpr_as(env, ada, "camera", "sites", "add", *bad, *at(clinic)), "unknown category 'school'")
    assert sites_file.read_text() == written
    listed = ok(alpr_as(env, ada, "camera", "sites", "list"))
    assert "site-new-clinic" in listed.stdout and f"1 sensitive sites in {sites_file}" in listed.stdout

    # Removing the site would reinstate cam-east: refused unless the administrator says so (P24).
    held = alpr_as(env, ada, "camera", "sites", "remove", "site-new-clinic")
    assert held.returncode == 2 and "--reinstate" in held.stderr and sites_file.read_text() == written
    removed = ok(alpr_as(env, ada, "camera", "sites", "remove", "site-new-clinic", "--reinstate"))
    assert "reinstated camera(s) cam-east" in removed.stdout
    assert ok(alpr_as(env, ada, "camera", "sites", "check")).stdout.startswith("0 of 2 active fixed cameras")
    changes = [
        (v["user"], v["action"], v["query"]["sensitive_site"])
        for _key, v in records(env, "audit")
        if v["action"].startswith("sensitive_site_")
    ]
    assert changes == [
        ("ada", "sensitive_site_add", "site-new-clinic"),
        ("ada", "sensitive_site_remove", "site-new-clinic"),
    ]
    assert [c for c in camera_changes(env) if c[1] in ("camera_suspend", "camera_reinstate")] == [
        ("ada", "camera_suspend", "cam-east"),
        ("ada", "camera_reinstate", "cam-east"),
    ]
