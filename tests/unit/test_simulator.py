"""The demo's camera simulator (issue 18, item 7): vehicles and patrol units drive the sample
city's streets at plausible speeds, a listed vehicle is read only by a camera near it, fixed
cameras read the traffic passing them, and a seed makes it all repeatable."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from streams.cameras.sites import haversine_m
from streams.dev import load_demo_cameras
from streams.matching.normalize import OcrClasses
from streams.reads.simulator import (
    FIXED_REACH_M,
    INTERSECTIONS,
    MAX_SPEED_MPS,
    MOBILE_REACH_M,
    CameraFeed,
)
from streams.settings import DEFAULT_OCR_CLASSES
from tests.conftest import ROOT

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
OCR = OcrClasses.of(DEFAULT_OCR_CLASSES)
#: Synthetic plates (no real plate data).
LISTED: list[tuple[str, str | None]] = [(f"9SIM{n:03d}", "CA") for n in range(12)]
FIXED = load_demo_cameras(ROOT / "samples" / "demo-cameras.toml")


def _feed(seed: int = 1, **kw: object) -> CameraFeed:
    options: dict[str, object] = {"cameras": 40, "hit_rate": 0.5, "listed": LISTED, "ocr": OCR, "seed": seed}
    options.update(kw)
    return CameraFeed(**options)  # type: ignore[arg-type]


def _run(feed: CameraFeed, seconds: float, per_step: int = 10, step: float = 0.5) -> list[dict]:
    reads = []
    for i in range(int(seconds / step)):
        now = T0 + timedelta(seconds=i * step)
        reads += [feed.next_read(now) for _ in range(per_step)]
    return reads


def test_vehicles_advance_at_a_plausible_speed_and_never_jump() -> None:
    """Each listed vehicle keeps a position and a heading and moves no farther between two
    moments than the fastest plausible speed allows, and it does move."""
    feed = _feed(fixed=FIXED)
    before = feed.vehicle_positions()
    moved = 0.0
    for i in range(1, 600):  # ten minutes, a read a second
        feed.next_read(T0 + timedelta(seconds=i))
        after = feed.vehicle_positions()
        for plate, (lat, lon, heading) in after.items():
            step = haversine_m(before[plate][0], before[plate][1], lat, lon)
            assert step <= MAX_SPEED_MPS * 1.0 + 0.5, (plate, i, step)
            assert 0 <= heading < 360
            moved += step
        before = after
    assert moved > len(LISTED) * 600 * 5.0  # on average faster than 5 m/s: they drive


def test_a_listed_plate_is_read_only_near_where_its_vehicle_was_read_before() -> None:
    """Successive reads of one plate are no farther apart than a vehicle can drive in the time
    between them (plus the reach of the two cameras): no teleporting across the city."""
    reads = _run(_feed(fixed=FIXED), 20 * 60)
    by_plate: dict[str, list[dict]] = defaultdict(list)
    for read in reads:
        if "lat" in read and read["plate"] in dict(LISTED):  # random plates may repeat by chance
            by_plate[read["plate"]].append(read)
    pairs = 0
    for plate, seen in by_plate.items():
        for a, b in zip(seen, seen[1:], strict=False):
            dt = (
                datetime.fromisoformat(b["captured_at"]) - datetime.fromisoformat(a["captured_at"])
            ).total_seconds()
            gap = haversine_m(a["lat"], a["lon"], b["lat"], b["lon"])
            assert gap <= MAX_SPEED_MPS * dt + 2 * FIXED_REACH_M + 1, (plate, dt, gap)
            pairs += 1
    assert pairs >= 50  # the listed vehicles were read again and again


def test_a_listed_vehicle_is_read_only_by_a_camera_within_reach() -> None:
    feed = _feed(fixed=FIXED)
    fixed_ids = {c.id for c in FIXED}
    by_fixed = 0
    for i in range(2400):
        read = feed.next_read(T0 + timedelta(seconds=i / 2))
        if read["plate"] not in dict(LISTED) or "lat" not in read:
            continue
        lat, lon, _heading = feed.vehicle_positions()[read["plate"]]
        reach = FIXED_REACH_M if read["camera_id"] in fixed_ids else MOBILE_REACH_M
        assert haversine_m(lat, lon, read["lat"], read["lon"]) <= reach + 1
        by_fixed += read["camera_id"] in fixed_ids
    assert by_fixed >= 1  # the fixed cameras read the listed vehicles passing them


def test_fixed_cameras_read_passing_traffic_at_their_own_position() -> None:
    reads = _run(_feed(fixed=FIXED, hit_rate=0.0), 60)
    at = {c.id: (c.lat, c.lon) for c in FIXED}
    fixed = [r for r in reads if r["camera_id"] in at]
    assert 0.05 < len(fixed) / len(reads) < 0.2
    assert all((r["lat"], r["lon"]) == at[r["camera_id"]] for r in fixed if "lat" in r)


def test_the_same_seed_gives_the_same_reads_and_another_seed_others() -> None:
    first = _run(_feed(seed=5, fixed=FIXED), 120)
    assert _run(_feed(seed=5, fixed=FIXED), 120) == first
    assert _run(_feed(seed=6, fixed=FIXED), 120) != first


def test_the_mobile_units_bases_do_not_depend_on_the_seed() -> None:
    """The units are registered once: every run bases them where the earlier ones did."""
    assert _feed(seed=1).camera_sites() == _feed(seed=2).camera_sites()


def test_about_5_percent_of_reads_carry_no_position_fixed_cameras_included() -> None:
    reads = _run(_feed(fixed=FIXED, cameras=5), 200)
    share = sum("lat" not in r for r in reads) / len(reads)
    assert 0.04 < share < 0.06


def test_every_street_joins_intersections_of_the_sample_city() -> None:
    for lat, lon in INTERSECTIONS.values():
        assert 37.25 < lat < 37.40 and -121.96 < lon < -121.80  # San José


def test_a_feed_without_cameras_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one camera"):
        _feed(cameras=0)
