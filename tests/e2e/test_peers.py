"""The peer benchmark (loadtest/peers.py) at small scale: the worker, the Quix Streams matcher and
the aiokafka loop read the same filled topic and find the same hits; a matcher that misses one
fails the run. No timing is asserted: the figures only have to be there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest.peers import PEERS, Input, check
from streams.settings import Settings
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

MATCHERS = ("worker", *PEERS)


def test_the_worker_and_both_peers_find_the_same_hits(tmp_path) -> None:
    output = tmp_path / "peers.summary.json"
    result = subprocess.run(
        [sys.executable, "-m", "loadtest.peers", "--reads", "20000", "--entries", "2000"]
        + ["--per-record", "200", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(output.read_text())
    (run,) = summary["runs"]
    assert run["reads"] == 20_000 and run["hits"] >= 5
    for name in MATCHERS:
        assert run[name]["reads"] == 20_000, name
        assert run[name]["hits"] == run["hits"], name
    for peer in PEERS:
        assert run[peer]["alerts_on_topic"] == run["hits"], peer
    figures = summary["figures"]["200"]
    assert all(figures[f"{name}_reads_per_s"] > 0 for name in MATCHERS)
    assert figures["worker_per_quix"] > 0 and figures["worker_per_aiokafka"] > 0
    assert "records of 200" in result.stdout


def _given() -> Input:
    pairs = frozenset({("lt-1", "ncic:LT1"), ("lt-7", "ncic:LT2")})
    return Input(
        "", Settings.from_env({}), {}, 0, Path("worker.log"), 100, 2, pairs, frozenset({"lt-1", "lt-7"})
    )


def _peer(hit_read_ids: list[str], reads: int = 100, on_topic: int | None = None) -> dict[str, object]:
    on_topic = len(hit_read_ids) if on_topic is None else on_topic
    return {"reads": reads, "hit_read_ids": hit_read_ids, "alerts_on_topic": on_topic, "exit": 0}


def test_a_matcher_that_drops_or_invents_a_hit_fails_the_check() -> None:
    given = _given()
    assert check("quix", _peer(["lt-1", "lt-7"]), given) == []
    assert check("quix", _peer(["lt-1"]), given) == ["quix: 1 hits missing, 0 false"]
    assert check("aiokafka", _peer(["lt-1", "lt-7", "lt-9"]), given) == ["aiokafka: 0 hits missing, 1 false"]
    assert check("quix", _peer(["lt-1", "lt-7", "lt-7"]), given) == ["quix: 1 reads hit twice"]
    assert check("quix", _peer(["lt-1", "lt-7"], reads=99), given) == ["quix read 99 of 100 reads"]
    assert check("quix", _peer(["lt-1", "lt-7"], on_topic=1), given) == [
        "quix: 1 alerts on its topic for 2 hits"
    ]
    worker = {"reads": 100, "_pairs": {("lt-1", "ncic:LT1")}, "duplicate_alert_ids": 1}
    assert check("worker", worker, given) == [
        "worker: 1 expected alerts missing, 0 false",
        "worker: 1 alert ids raised twice",
    ]
