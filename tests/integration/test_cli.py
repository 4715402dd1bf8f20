"""``alpr`` commands as a user runs them, against real processes."""

from __future__ import annotations

import socket

import pytest

from streams.kafka.broker import free_port
from tests.conftest import ROOT, alpr

pytestmark = pytest.mark.integration


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_broker_start_status_stop(env_factory, tmp_path) -> None:
    port = free_port()
    env = env_factory(ALPR_STATE_DIR=str(tmp_path / "state"))
    del env["ALPR_BROKER_URL"]
    env["ALPR_EMBEDDED_PORT"] = str(port)
    stopped = alpr(env, "broker", "status")
    assert stopped.returncode == 3 and "not running" in stopped.stdout
    try:
        started = alpr(env, "broker", "start")
        assert started.returncode == 0, started.stderr
        assert f"127.0.0.1:{port}" in started.stdout
        assert (tmp_path / "state" / f"broker-{port}.pid").exists()
        status = alpr(env, "broker", "status")
        assert status.returncode == 0 and "answering" in status.stdout
        again = alpr(env, "broker", "start")  # idempotent: the same broker
        assert (
            again.returncode == 0 and started.stdout.split("pid ")[1][:6] == again.stdout.split("pid ")[1][:6]
        )
        created = alpr(env, "topics", "--create")
        assert created.returncode == 0, created.stderr
        assert "does not enforce retention" in created.stdout
    finally:
        stop = alpr(env, "broker", "stop")
    assert stop.returncode == 0 and "stopped" in stop.stdout
    assert not listening(port)
    assert not (tmp_path / "state" / f"broker-{port}.pid").exists()


def test_broker_start_with_broker_url_starts_nothing(env_factory) -> None:
    result = alpr(env_factory(), "broker", "start")
    assert result.returncode == 0 and "no embedded broker started" in result.stdout


def test_topics_show_configs_as_the_broker_reports_them(env_factory) -> None:
    env = env_factory()
    missing = alpr(env, "topics")
    assert missing.returncode == 0 and "MISSING" in missing.stdout
    result = alpr(env, "topics", "--create")
    assert result.returncode == 0, result.stderr
    prefix = env["ALPR_TOPIC_PREFIX"]
    lines = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.startswith(prefix)}
    assert lines[f"{prefix}reads"][1:5] == ["12", "delete", "2588100000", "3600000"]  # 30 d - 1 h - 5 min
    assert lines[f"{prefix}hotlist"][2] == "compact"
    assert lines[f"{prefix}audit"][3] == str(731 * 24 * 3600 * 1000)


def test_match_reports_refused_entries_and_rejected_reads(env_factory, tmp_path) -> None:
    out = tmp_path / "alerts.ndjson"
    result = alpr(
        env_factory(),
        "match",
        "--hotlist",
        str(ROOT / "samples" / "hotlist.ndjson"),
        "--reads",
        str(ROOT / "samples" / "reads.ndjson"),
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert "3 refused" in result.stderr and "3 rejected" in result.stderr
    assert "reads.ndjson:9: rejected (undecodable)" in result.stderr
    assert len(out.read_text().splitlines()) == 9
