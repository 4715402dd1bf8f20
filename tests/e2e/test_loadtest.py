"""A tiny load run through the real path (embedded broker, worker process, read producer, alerts
topic): nothing lost, nothing duplicated, every expected alert raised."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e


def test_a_tiny_load_run_loses_nothing_and_finds_every_hit(tmp_path, broker) -> None:
    out = tmp_path / "run"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtest",
            "run",
            "--cameras",
            "50",
            "--rate",
            "300",
            "--duration",
            "6",
            "--entries",
            "5000",
            "--partials",
            "5",
            "--hit-rate",
            "0.05",
            "--out",
            str(out),
            "--broker",  # the session's: the run's topics have a prefix of their own
            f"kafka://{broker.bootstrap}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    print({k: summary[k] for k in ("reads_sent", "expected_alerts", "latency_ms_p50", "latency_ms_p99")})
    assert summary["reads_sent"] >= 1500 and summary["expected_alerts"] >= 20
    assert summary["lost_reads"] == 0 and summary["duplicate_alert_ids"] == 0
    assert summary["recall"] == 1.0 and summary["precision"] == 1.0
    assert (
        (out / "report.md").is_file()
        and (out / "latency.png").is_file()
        and (out / "throughput_lag.png").is_file()
    )


def test_transactions_survive_a_worker_sigkill_without_loss_or_duplicates(tmp_path) -> None:
    """The exactly-once comparison's transactional worker (loadtest/eos_worker.py), killed twice
    mid-stream and restarted at once each time: every expected alert arrives once, and no
    candidate is committed twice (what at-least-once cannot promise: it relies on alert ids to
    drop the repeats)."""
    output = tmp_path / "eos.summary.json"
    result = subprocess.run(
        [sys.executable, "-m", "loadtest", "eos", "--modes", "transactions"]
        + ["--entries", "5000", "--cameras", "50", "--backlog", "20000", "--rate", "300"]
        + ["--hit-rate", "0.05", "--duration", "5", "--kill-duration", "12", "--kill-after", "4"]
        + ["--kills", "2", "--kill-every", "4", "--rebalance-duration", "0"]
        + ["--limit", "90", "--output", str(output), "--logs", str(tmp_path / "logs")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    mode = json.loads(output.read_text())["modes"]["transactions"]
    assert "failed" not in mode, mode
    kill = mode["kill"]
    print({k: kill[k] for k in ("reads_sent", "expected_alerts", "events_at_s", "latency_ms_max")})
    assert kill["expected_alerts"] >= 20 and "unsettled" not in kill
    assert kill["lost_alerts"] == 0 and kill["false_alerts"] == 0
    assert kill["duplicate_alert_ids"] == 0 and mode["duplicate_candidates"] == 0
    assert mode["latency"]["lost_alerts"] == 0
    assert mode["ceiling"]["screened"] == mode["ceiling"]["reads"] >= 15_000


def test_a_tiny_state_scale_run_steps_up_with_two_workers_and_loses_nothing(tmp_path, broker) -> None:
    """`python -m loadtest state` (issue 19, item 4) through the real path, on the session's broker:
    two workers in one group, two steps of rising offered load, each drained before the next; the
    ground truth holds over the whole run and the summary plans workers from the measured rate."""
    out = tmp_path / "state"
    result = subprocess.run(
        [sys.executable, "-m", "loadtest", "state", "--broker", f"kafka://{broker.bootstrap}"]
        + ["--steps", "200", "400", "--step-s", "4", "--workers", "2", "--cameras", "40"]
        + ["--entries", "3000", "--partials", "3", "--hit-rate", "0.05", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((out / "state-summary.json").read_text())
    steps = summary["steps"]
    assert [s["offered_per_s"] for s in steps] == [200, 400]
    assert all(s["drained"] and s["reads_sent"] >= 0.8 * 4 * s["offered_per_s"] for s in steps), steps
    assert summary["lost_reads"] == 0 and summary["duplicate_alert_ids"] == 0
    assert summary["expected_alerts"] >= 20 and summary["recall"] == 1.0 and summary["precision"] == 1.0
    assert summary["workers"] == 2 and len(summary["workers_rss_mb_end"]) == 2
    assert summary["reads_per_worker_core_s"] > 0 and summary["workers_for_peak"] >= 1
    assert "| 400 |" in (out / "report.md").read_text()
