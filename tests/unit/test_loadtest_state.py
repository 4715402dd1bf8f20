"""The state-scale run's verdict per step and its worker plan (loadtest/state.py, issue 19 item 4)."""

from __future__ import annotations

import pytest

from loadtest.state import step_verdict, workers_needed


def step(**changes: object) -> dict[str, object]:
    base = {
        "offered_per_s": 10_000.0,
        "send_rate_per_s": 10_000,
        "backlog_at_end": 2_000,
        "drained": True,
        "latency_ms_p99": 120.0,
    }
    return {**base, **changes}


def test_a_step_kept_up_with_is_sustained() -> None:
    assert step_verdict(step()) == "sustained"
    assert step_verdict(step(latency_ms_p99=float("nan"))) == "sustained"  # no alert in the step


def test_a_rate_the_generator_could_not_offer_is_not_blamed_on_the_workers() -> None:
    assert step_verdict(step(send_rate_per_s=9_000, backlog_at_end=50_000)) == "generator"


def test_a_growing_backlog_or_one_that_never_drained_is_the_workers() -> None:
    assert step_verdict(step(backlog_at_end=10_001)) == "workers"
    assert step_verdict(step(drained=False)) == "workers"


def test_p99_above_250_ms_is_a_latency_limit() -> None:
    assert step_verdict(step(latency_ms_p99=251.0)) == "latency"
    assert step_verdict(step(latency_ms_p99=250.0)) == "sustained"


def test_workers_are_planned_at_70_percent_of_a_core() -> None:
    assert workers_needed(50_000, 100_000) == 1
    assert workers_needed(50_000, 10_000) == 8  # 50,000 / 7,000 = 7.1
    assert workers_needed(70_000, 10_000) == 10
    with pytest.raises(ValueError, match="per_worker_core"):
        workers_needed(50_000, 0)
