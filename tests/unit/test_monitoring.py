"""The Grafana dashboard and the Prometheus config in deploy/monitoring/ refer only to metrics the
worker and the console export."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import yaml

from streams.app import new_index
from streams.metrics import LifecycleMetrics, Metrics
from streams.settings import Settings
from tests.conftest import ROOT

MONITORING = ROOT / "deploy" / "monitoring"


def exported_series() -> set[str]:
    metrics = Metrics()
    metrics.track_sources(new_index(Settings.from_env({})), 86400.0, lambda: datetime.now(UTC))
    names: set[str] = set()
    for registry in (metrics.registry, LifecycleMetrics(lambda: [], lambda: datetime.now(UTC)).registry):
        for family in registry.collect():
            if family.type == "counter":
                names.add(family.name + "_total")
            elif family.type == "histogram":
                names |= {family.name + suffix for suffix in ("_bucket", "_count", "_sum")}
            else:
                names.add(family.name)
    return names


def test_every_dashboard_query_uses_an_exported_metric() -> None:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exported = exported_series()
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\balpr_[a-z_]+", target["expr"])
    }
    assert used, "the dashboard queries nothing"
    assert used <= exported, f"not exported: {sorted(used - exported)}"
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("reads", "lag", "hits", "latency", "rejected", "freshness"):
        assert topic in titles, topic


def test_prometheus_scrapes_the_worker_and_the_console() -> None:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"alpr-worker", "alpr-console"}
    assert jobs["alpr-worker"]["static_configs"][0]["targets"] == [f"127.0.0.1:{Settings().metrics_port}"]
    assert jobs["alpr-console"]["static_configs"][0]["targets"] == [f"127.0.0.1:{Settings().console_port}"]
