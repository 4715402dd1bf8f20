"""The no-alert probe follows the silent read's path, or the helper refuses (issue 14, item 9).

A probe confirmed on another candidates partition could be confirmed before the silent read: its
alert would prove nothing about the silent one. These tests pin the helper's choice to the worker's
own routing (Pipeline.screen_record), so a change of routing breaks them, not the proof.
"""

from __future__ import annotations

import pytest

from streams.codec import dumps
from streams.settings import Settings
from tests.factories import local_entry, make_entry, read_dict
from tests.integration.probes import (
    assert_no_alert,
    candidates_partition,
    parse_followed,
    probe_plate_for,
    same_path_plate,
)
from tests.unit.test_pipeline import WHERE, pipeline

SETTINGS = Settings.from_env({"ALPR_BROKER_URL": "kafka://127.0.0.1:9"})  # never reached here
LISTED = ["7ABC123", "8DOG512", "6SZB180", "4KMN733"]


def routed_to(plate: str, *listed: str) -> int:
    """The candidates partition the worker's screen sends a read of ``plate`` to."""
    entries = [make_entry(plate=p) if "?" not in p else local_entry(plate=p) for p in listed]
    [(_key, partition, _value)] = (
        pipeline(*entries).screen_record(dumps(read_dict(plate=plate)), WHERE).candidates
    )
    return partition


@pytest.mark.parametrize("plate", ["7ABC123", "8D0G5I2", "6PRP700", "9GONE99", "5TRK901"])
def test_the_helper_computes_the_partition_the_worker_routes_to(plate: str) -> None:
    assert candidates_partition(SETTINGS, plate) == routed_to(plate, plate)


@pytest.mark.parametrize("silent", ["6PRP700", "5TRK901", "9GONE99", "5GONE77", "1XYZ999"])
def test_a_made_up_probe_lands_on_the_silent_reads_partition_under_another_key(silent: str) -> None:
    probe = probe_plate_for(SETTINGS, silent)
    assert probe.startswith("9PRB")
    assert routed_to(probe, probe) == routed_to(silent, silent)
    assert probe != silent


def test_a_listed_plate_on_the_same_partition_is_chosen() -> None:
    # 5GONE77 and 5TRK901 share partition 11 of 12; 7ABC123 (7) and 8DOG512 (9) do not
    assert same_path_plate(SETTINGS, "5TRK901", ["7ABC123", "8DOG512", "5GONE77"]) == "5GONE77"


def test_a_partial_pattern_is_filled_to_reach_the_partition() -> None:
    """test_stream.py's removal probe: 9GONE99 (partition 2) and a listed pattern 7GH?25X."""
    probe = same_path_plate(SETTINGS, "9GONE99", [*LISTED, "7GH?25X"])
    assert probe[:3] == "7GH" and probe[4:] == "25X"
    assert routed_to(probe, "7GH?25X") == routed_to("9GONE99", "9GONE99")
    worker = pipeline(local_entry(plate="7GH?25X"))
    [(_key, partition, candidate)] = worker.screen_record(dumps(read_dict(plate=probe)), WHERE).candidates
    assert len(worker.confirm_record(candidate, ("alpr.candidates", partition, 0)).alerts) == 1


def test_no_listed_plate_on_the_partition_is_refused() -> None:
    with pytest.raises(AssertionError, match="no listed plate is confirmed on candidates partition 6"):
        same_path_plate(SETTINGS, "6PRP700", LISTED)


def test_the_silent_plate_itself_or_an_ocr_twin_is_not_a_probe() -> None:
    with pytest.raises(AssertionError, match="no listed plate"):
        same_path_plate(SETTINGS, "8DOG512", ["8D0G5I2", "BDOG512"])


async def test_assert_no_alert_refuses_a_probe_on_another_partition_before_sending() -> None:
    """Refused before any read is sent (the broker address is not reachable: a send would hang)."""
    with pytest.raises(AssertionError, match="candidates partition 7, the silent read 6PRP700 on 6"):
        await assert_no_alert(SETTINGS, ("s", "6PRP700"), ("p", "7ABC123"))
    with pytest.raises(AssertionError, match="canonical key"):
        await assert_no_alert(SETTINGS, ("s", "8DOG512"), ("p", "8D0G5I2"))


def test_the_followed_offsets_are_read_from_the_workers_metrics_page() -> None:
    from prometheus_client import generate_latest

    from streams.metrics import Metrics

    metrics = Metrics()
    metrics.track_followed(lambda: {("t1.hotlist", 3): 17, ("t1.alerts", 0): 0})
    page = generate_latest(metrics.registry).decode()
    assert parse_followed(page) == {("t1.hotlist", 3): 17, ("t1.alerts", 0): 0}
    assert "alpr_screening 0.0" in page  # until the screening agent has started
