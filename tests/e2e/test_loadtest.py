"""A tiny load run through the real path (embedded broker, worker process, read producer, alerts
topic): nothing lost, nothing duplicated, every expected alert raised."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e


def test_a_tiny_load_run_loses_nothing_and_finds_every_hit(tmp_path) -> None:
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
