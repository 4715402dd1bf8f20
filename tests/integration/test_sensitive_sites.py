"""P24 for every camera, through the real ``alpr ingest`` and ``alpr camera`` processes on the
embedded broker: a read captured inside a sensitive site's exclusion zone is dropped before it is
written anywhere (not on the reads topic, not on the rejected topic, counted by category); adding a
site in front of a fixed camera suspends it (audited per camera, named in the command's output, its
reads refused with nothing stored) until it is moved; site changes are for administrators only."""

from __future__ import annotations

import asyncio
import shutil
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.kafka.broker import free_port
from streams.kafka.topics import create_topics
from tests.conftest import ROOT, AlprProcess, settings_of, wait_for
from tests.integration.kafka_helpers import SignInUser, add_user, alpr_as, read_topic
from tests.integration.test_ingest import a_read, audit, healthy, key_of, ok, post, stored
from tests.unit.test_sites import destination

pytestmark = pytest.mark.integration

CLINIC = (37.3318, -121.8939)  # site-clinic-1 of samples/sensitive-sites.geojson, exactly
AIRPORT = (37.3639, -121.9289)  # more than 2 km from every sample site


def at(position: tuple[float, float]) -> list[str]:
    return ["--lat", repr(position[0]), "--lon", repr(position[1])]


def excluded_count(env: dict[str, str], category: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{env['ALPR_INGEST_PORT']}/metrics", timeout=5) as r:  # noqa: S310
        text = r.read().decode()
    line = f'alpr_reads_excluded_total{{category="{category}"}} '
    found = [float(row[len(line) :]) for row in text.splitlines() if row.startswith(line)]
    return found[0] if found else 0.0


def everything(env: dict[str, str], topic: str) -> bytes:
    settings = settings_of(env)
    return b"\n".join(r.value or b"" for r in asyncio.run(read_topic(settings.kafka, settings.topic(topic))))


class Ingest:
    """Fresh topics, a copy of the sample sites, an administrator and an officer, and a running
    ``alpr ingest``."""

    def __init__(self, env: dict[str, str], root: Path) -> None:
        self.env = env
        self.sites = Path(env["ALPR_SENSITIVE_SITES"])
        settings = settings_of(env)
        asyncio.run(create_topics(settings))
        self.admin = asyncio.run(add_user(settings, "ada", "administrator", display="Admin Ada", badge="A-1"))
        self.officer = asyncio.run(add_user(settings, "otto", "officer", badge="O-1"))
        self.process = AlprProcess(env, root / "ingest.log", "ingest")
        wait_for(lambda: healthy(env) or self.process.proc.poll() is not None, 60, "the ingest")
        assert self.process.proc.poll() is None, self.process.log()

    def run(self, *args: str, user: SignInUser | None = None) -> Any:
        return alpr_as(self.env, user or self.admin, *args)

    def camera(self, camera_id: str, *args: str) -> str:
        added = ok(
            self.run(
                "camera", "add", "--id", camera_id, "--name", f"Unit {camera_id}", "--agency", "SJPD", *args
            )
        )
        return key_of(added.stdout)


@pytest.fixture()
def ingest(env_factory: Callable[..., dict[str, str]], tmp_path: Path) -> Iterator[Ingest]:
    sites = tmp_path / "sites.geojson"
    shutil.copy(ROOT / "samples" / "sensitive-sites.geojson", sites)
    env = env_factory(ALPR_INGEST_PORT=str(free_port()), ALPR_SENSITIVE_SITES=str(sites))
    running = Ingest(env, tmp_path)
    yield running
    running.process.stop()
    log = running.process.log()
    assert "7ABC123" not in log and repr(CLINIC[0]) not in log, "no plate, no position in the ingest's log"


def test_a_mobile_cameras_read_at_a_clinic_is_dropped_unstored_and_counted(ingest: Ingest) -> None:
    """P24 + P11: the read taken at the clinic's exact coordinates is answered as excluded (202, not
    an error: the camera must not resend it), is on neither the reads nor the rejected topic, and
    only its count is kept; the read 2 km away in the same request is stored."""
    key = ingest.camera("unit-1", "--kind", "mobile", *at(AIRPORT))
    inside = a_read(read_id="r-clinic", plate="7ABC123", lat=CLINIC[0], lon=CLINIC[1])
    outside = a_read(read_id="r-airport", plate="8DOG512", lat=AIRPORT[0], lon=AIRPORT[1])
    answer = post(ingest.env, key, [inside, outside])
    assert answer.status == 202, answer.body
    assert answer.body["accepted"] == 1 and answer.body["excluded"] == 1
    [dropped] = answer.body["reads"]
    assert dropped["index"] == 0 and dropped["reason"].startswith("sensitive_site:")
    assert "site-clinic-1" in dropped["reason"] and "do not resend" in dropped["reason"]
    assert set(stored(ingest.env)) == {"r-airport"}
    assert b"7ABC123" not in everything(ingest.env, "reads") + everything(ingest.env, "reads-rejected")
    assert b"r-clinic" not in everything(ingest.env, "reads-late")
    assert excluded_count(ingest.env, "reproductive_health_care") == 1
    only = post(ingest.env, key, a_read(read_id="r-clinic-2", lat=CLINIC[0], lon=CLINIC[1]))
    assert only.status == 202 and only.body["accepted"] == 0 and only.body["excluded"] == 1
    assert excluded_count(ingest.env, "reproductive_health_care") == 2
    assert set(stored(ingest.env)) == {"r-airport"}


def test_a_mobile_camera_based_at_a_clinic_is_not_registered(ingest: Ingest) -> None:
    """P24: a mobile camera's base inside an exclusion zone is refused (exit 2), nothing written."""
    refused = ingest.run(
        *("camera", "add", "--id", "unit-9", "--name", "Unit 9", "--agency", "SJPD", "--kind", "mobile"),
        *at(destination(*CLINIC, 0, 50)),
    )
    assert (
        refused.returncode == 2
        and "inside its exclusion zone: base the camera elsewhere (P24)" in refused.stderr
    ), refused.stderr
    assert "unit-9" not in ok(ingest.run("camera", "list")).stdout


def test_a_new_site_suspends_the_fixed_camera_facing_it_until_it_is_moved(ingest: Ingest) -> None:
    """Adding a site in front of a fixed camera suspends it: named in the output, one audit record by
    the administrator, shown by ``camera list``; its reads are refused (403) and nothing of them is
    stored; removing the site without --reinstate is refused; moving the camera reinstates it."""
    key = ingest.camera("cam-east", "--kind", "fixed", *at(AIRPORT), "--facing", "90")
    assert post(ingest.env, key, a_read(read_id="r-before")).status == 202
    clinic = destination(*AIRPORT, 90, 100)
    site = ["--id", "site-new", "--name", "New Clinic", "--category", "reproductive_health_care", *at(clinic)]

    added = ingest.run("camera", "sites", "add", *site)
    assert added.returncode == 1, added.stdout + added.stderr
    assert (
        "suspended: camera cam-east (Unit cam-east) is 100 m from New Clinic (reproductive health care "
        "facility), facing it (P24)"
    ) in added.stdout
    assert "1 camera(s) suspended: their reads are refused until they are moved" in added.stdout
    suspensions = [
        (v["user"], v["query"]["registered_camera"], v["query"]["sensitive_site"])
        for v in audit(ingest.env)
        if v["action"] == "camera_suspend"
    ]
    assert suspensions == [("ada", "cam-east", "site-new")]
    listed = ok(ingest.run("camera", "list")).stdout
    assert "suspended (P24: faces New Clinic)" in listed and "(1 suspended, P24)" in listed

    def refused_now() -> bool:
        return post(ingest.env, key, a_read(read_id="r-probe", plate="7ABC123")).status == 403

    wait_for(refused_now, 10, "the ingest to see the new site")
    answer = post(ingest.env, key, a_read(read_id="r-suspended", plate="7ABC123"))
    assert answer.status == 403 and "suspended (P24: faces New Clinic)" in answer.body["error"]
    assert set(stored(ingest.env)) == {"r-before"}
    assert b"7ABC123" not in everything(ingest.env, "reads-rejected")

    kept = ingest.sites.read_text()
    removal = ingest.run("camera", "sites", "remove", "site-new")
    assert removal.returncode == 2 and "would reinstate suspended camera(s) cam-east" in removal.stderr
    assert ingest.sites.read_text() == kept

    moved = ok(ingest.run("camera", "update", "cam-east", "--facing", "270"))
    assert "reinstated camera cam-east: it no longer faces New Clinic" in moved.stdout
    assert [
        v["query"]["was_suspended_for"] for v in audit(ingest.env) if v["action"] == "camera_reinstate"
    ] == [["site-new"]]
    wait_for(
        lambda: post(ingest.env, key, a_read(read_id="r-after")).status == 202,
        10,
        "the camera to be reinstated",
    )
    assert "r-after" in stored(ingest.env)


@pytest.mark.parametrize("who", ["officer", "nobody"])
def test_site_changes_by_anyone_but_an_administrator_are_refused_and_change_nothing(
    ingest: Ingest, who: str
) -> None:
    """P21, P24: an officer, or someone not signed in, cannot add or remove a site: refused, the
    sites file is unchanged and no site change is audited."""
    from tests.conftest import alpr

    kept = ingest.sites.read_text()
    site = ["--id", "site-x", "--name", "X", "--category", "religious_observance", *at(AIRPORT)]
    for args in (("camera", "sites", "add", *site), ("camera", "sites", "remove", "site-clinic-1")):
        result = ingest.run(*args, user=ingest.officer) if who == "officer" else alpr(ingest.env, *args)
        assert result.returncode != 0, result.stdout
        assert ("may not" in result.stderr) if who == "officer" else ("sign" in result.stderr.lower())
    assert ingest.sites.read_text() == kept
    assert [v for v in audit(ingest.env) if v["action"].startswith("sensitive_site_")] == []
    assert orjson.loads(kept)["features"][0]["id"] == "site-clinic-1"


def test_the_projects_producer_does_not_send_a_read_inside_a_zone(ingest: Ingest) -> None:
    """P24 for every writer of reads through the project's producer (the simulator, loaders): the
    read at the clinic is not sent (its future fails with ``sensitive_site``), only counted."""
    from streams.errors import InvalidRecord
    from streams.reads.producer import ReadProducer

    async def send() -> tuple[BaseException | None, BaseException | None, dict[str, int]]:
        async with ReadProducer.for_settings(settings_of(ingest.env)) as producer:
            inside = await producer.send(
                a_read(read_id="p-clinic", camera_id="unit-p", lat=CLINIC[0], lon=CLINIC[1])
            )
            outside = await producer.send(
                a_read(read_id="p-away", camera_id="unit-p", lat=AIRPORT[0], lon=AIRPORT[1])
            )
            await producer.flush()
            await asyncio.gather(inside, outside, return_exceptions=True)
            return inside.exception(), outside.exception(), producer.reads_excluded

    refused, sent, counted = asyncio.run(send())
    assert isinstance(refused, InvalidRecord) and refused.code == "sensitive_site"
    assert sent is None and counted == {"reproductive_health_care": 1}
    assert set(stored(ingest.env)) == {"p-away"}
