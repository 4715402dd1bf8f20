"""Hot-list changes reach a running worker: added plates alert, removed or stale ones do not (P3, P4).

No fixed waits: a sync is known to the worker once its ``alpr_followed_offset`` reaches the end of
the hot-list topics (probes.worker_follows), and "no alert" is proven by a probe read listed on
the silent read's candidates partition (probes.assert_no_alert).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streams.hotlists.service import HotlistStore
from tests.conftest import alpr
from tests.factories import read_dict
from tests.integration.kafka_helpers import (
    alerts_for,
    assert_no_alert,
    metric,
    running_worker,
    send_reads,
    service_token,
    wait_for_records,
)
from tests.integration.probes import probe_plate_for, same_path_plate, worker_follows
from tests.integration.test_hotlists import FEEDS, NCIC_ROWS, ncic_extract

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def worker(broker, tmp_path_factory):
    with running_worker(broker, tmp_path_factory.mktemp("propagation")) as running:
        yield running


def now() -> str:
    return datetime.now(UTC).isoformat()


#: Reads that must not alert here, and a listed plate that does: each gets a made-up probe plate
#: listed on its candidates partition.
SILENT = ("6PRP700", "5TRK901", "7ABC123")


def base_rows(settings) -> list[str]:
    """The first sample NCIC rows and one stolen plate per silent read, on its candidates partition."""
    return [
        *NCIC_ROWS[:4],
        *(
            f"L|L9000000{n:02d}|CA0431000|{probe_plate_for(settings, silent)}|CA|2027|PC|||||||SJ-26-90{n}|"
            for n, silent in enumerate(SILENT)
        ),
    ]


def plates(rows: list[str]) -> list[str]:
    return [row.split("|")[3] for row in rows]


async def synced(settings, fmt, path, force=False):
    """Sync, then wait until the worker has applied it (no sleeping on the DESIGN's 1 s p99)."""
    report = await sync(settings, fmt, path, force)
    await worker_follows(settings, ["hotlist", "hotlist-sources"])
    return report


async def sync(settings, fmt, path, force=False):
    async with HotlistStore(settings) as store:
        return await store.sync(fmt, path, None, datetime.now(UTC), force=force)


async def test_added_plate_alerts_and_removed_plate_stops(worker) -> None:
    env, settings, root = worker
    added = [*base_rows(settings), "L|L700000555|CA0431000|6PRP700|CA|2027|PC|||||||SJ-26-777|"]
    await synced(settings, "ncic", ncic_extract(root / "n1.txt", added))
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

    kept = base_rows(settings)
    await synced(settings, "ncic", ncic_extract(root / "n2.txt", kept))  # 1 of 8 removed: within 20%
    probe = same_path_plate(settings, "6PRP700", plates(kept))
    await assert_no_alert(settings, ("prop-after-removal", "6PRP700"), ("prop-probe", probe))


async def test_stale_feed_stops_matching_p4(worker, tmp_path) -> None:
    env, settings, root = worker
    lines = (FEEDS / "svs_slr.csv").read_text().splitlines()
    old = (datetime.now(UTC) - timedelta(hours=25)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = tmp_path / "slr.csv"
    path.write_text("\n".join([f"# CA-SVS-EXTRACT,SLR,{old}", *lines[1:]]) + "\n")
    await sync(settings, "svs", path)
    rows = base_rows(settings)
    await synced(settings, "ncic", ncic_extract(root / "n3.txt", rows))
    assert (metric(env, "alpr_hotlist_sources_stale") or 0) >= 1  # applied: no waiting for it
    probe = same_path_plate(settings, "5TRK901", plates(rows))
    await assert_no_alert(settings, ("stale-1", "5TRK901"), ("stale-probe", probe))
    assert (metric(env, "alpr_hotlist_source_age_seconds", '{source="slr"}') or 0) > 24 * 3600
    feed = {**env, "ALPR_SERVICE_TOKEN": await service_token(settings, "feed-sync")}
    sources = alpr(feed, "hotlist", "sources").stdout
    assert any(line.startswith("slr") and "STALE" in line for line in sources.splitlines())


async def test_assert_no_alert_fails_when_the_silent_read_alerts(worker, tmp_path) -> None:
    """The helper can fail: a listed plate as the "silent" read raises its alert, and the probe
    behind it on the same path makes that visible."""
    env, settings, root = worker
    rows = base_rows(settings)
    await synced(settings, "ncic", ncic_extract(tmp_path / "n4.txt", rows))
    probe = same_path_plate(settings, "7ABC123", plates(rows))
    with pytest.raises(AssertionError, match="the silent read loud-1 .7ABC123. alerted"):
        await assert_no_alert(settings, ("loud-1", "7ABC123"), ("loud-probe", probe))
