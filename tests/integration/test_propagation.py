"""Hot-list changes reach a running worker: added plates alert, removed or stale ones do not (P3, P4)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from streams.hotlists.service import HotlistStore
from tests.conftest import alpr, wait_for
from tests.factories import read_dict
from tests.integration.kafka_helpers import (
    alerts_for,
    assert_no_alert,
    metric,
    running_worker,
    send_reads,
    wait_for_records,
)
from tests.integration.test_hotlists import FEEDS, NCIC_ROWS, ncic_extract

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def worker(broker, tmp_path_factory):
    with running_worker(broker, tmp_path_factory.mktemp("propagation")) as running:
        yield running


def now() -> str:
    return datetime.now(UTC).isoformat()


async def sync(settings, fmt, path, force=False):
    async with HotlistStore(settings) as store:
        return await store.sync(fmt, path, None, datetime.now(UTC), force=force)


async def test_added_plate_alerts_and_removed_plate_stops(worker) -> None:
    env, settings, root = worker
    added = [*NCIC_ROWS[:4], "L|L700000555|CA0431000|6PRP700|CA|2027|PC|||||||SJ-26-777|"]
    await sync(settings, "ncic", ncic_extract(root / "n1.txt", added))
    await asyncio.sleep(1.5)  # DESIGN: an added entry is visible to every worker within 1 s (p99)
    await send_reads(settings, [read_dict(read_id="prop-1", plate="6PRP700", captured_at=now())])
    values = await wait_for_records(
        settings.kafka, settings.topic("alerts"), lambda v: bool(alerts_for(v, {"prop-1"}))
    )
    [alert] = alerts_for(values, {"prop-1"})
    assert (alert["entry_key"], alert["ori"], alert["list_type"]) == (
        "ncic:L700000555",
        "CA0431000",
        "stolen_plate",
    )

    await sync(settings, "ncic", ncic_extract(root / "n2.txt", NCIC_ROWS[:4]))  # 1 of 5 removed: within 20%
    await asyncio.sleep(1.5)
    await assert_no_alert(settings, ("prop-after-removal", "6PRP700"), ("prop-probe", "7ABC123"))


async def test_stale_feed_stops_matching_p4(worker, tmp_path) -> None:
    env, settings, root = worker
    lines = (FEEDS / "svs_slr.csv").read_text().splitlines()
    old = (datetime.now(UTC) - timedelta(hours=25)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = tmp_path / "slr.csv"
    path.write_text("\n".join([f"# CA-SVS-EXTRACT,SLR,{old}", *lines[1:]]) + "\n")
    await sync(settings, "svs", path)
    await sync(settings, "ncic", ncic_extract(root / "n3.txt", NCIC_ROWS[:4]))
    wait_for(lambda: (metric(env, "alpr_hotlist_sources_stale") or 0) >= 1, 30, "the stale-source metric")
    await assert_no_alert(settings, ("stale-1", "5TRK901"), ("stale-probe", "8DOG512"))
    assert (metric(env, "alpr_hotlist_source_age_seconds", '{source="slr"}') or 0) > 24 * 3600
    sources = alpr(env, "hotlist", "sources").stdout
    assert any(line.startswith("slr") and "STALE" in line for line in sources.splitlines())
