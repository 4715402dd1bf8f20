"""Prometheus metrics of a worker, in a registry of its own (no module-level state)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streams.matching.matcher import HotlistIndex
from streams.matching.pipeline import Outcome

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.reads = Counter("alpr_reads", "Reads screened", registry=r)
        self.batches = Counter(
            "alpr_read_batches", "Read batches (records of the reads topic) processed", registry=r
        )
        self.rejected = Counter(
            "alpr_rejected", "Reads or records rejected, by reason", ["reason"], registry=r
        )
        self.bloom_positives = Counter(
            "alpr_bloom_positives", "Reads passed on to the exact check", registry=r
        )
        self.candidates = Counter("alpr_candidates", "Candidates checked exactly", registry=r)
        self.hits = Counter(
            "alpr_hits", "Alerts raised, by list type and match kind", ["list_type", "match_kind"], registry=r
        )
        self.suppressed = Counter(
            "alpr_alerts_suppressed", "Alerts already raised for the same read and entry", registry=r
        )
        self.active_entries = Gauge(
            "alpr_active_entries", "Hot-list entries loaded in this worker", registry=r
        )
        self.partial_entries = Gauge("alpr_partial_entries", "Partial-plate patterns loaded", registry=r)
        self.hotlist_refused = Counter("alpr_hotlist_refused", "Hot-list records refused at load", registry=r)
        self.batch_seconds = Histogram(
            "alpr_batch_processing_seconds",
            "Time to process one read batch",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=r,
        )

    def track_sources(
        self, index: HotlistIndex, max_staleness_s: float, clock: Callable[[], datetime]
    ) -> None:
        """Per-source age of the hot-list data and the number of stale sources (P3, P4), at scrape."""

        class SourceAges(Collector):
            def collect(self) -> Iterator[Metric]:
                now = clock()
                ages = {s: (now - t).total_seconds() for s, t in index.source_fresh_at.items()}
                age = GaugeMetricFamily(
                    "alpr_hotlist_source_age_seconds", "Age of each feed's data", labels=["source"]
                )
                for source, seconds in sorted(ages.items()):
                    age.add_metric([source], seconds)
                yield age
                yield GaugeMetricFamily(
                    "alpr_hotlist_sources_stale",
                    "Feeds not refreshed within the max staleness: their entries do not match",
                    value=sum(1 for a in ages.values() if a > max_staleness_s),
                )

        self.registry.register(SourceAges())

    def track_entries(self, total: Callable[[], int], partial: Callable[[], int]) -> None:
        self.active_entries.set_function(total)
        self.partial_entries.set_function(partial)

    def observe(self, out: Outcome, *, batch_seconds: float | None = None) -> None:
        self.reads.inc(out.reads)
        for _key, _value, reason in out.rejected:
            self.rejected.labels(reason).inc()
        for _key, _value, alert in out.alerts:
            self.hits.labels(alert.entry.list_type, alert.match_kind).inc()
        if out.suppressed:
            self.suppressed.inc(out.suppressed)
        if batch_seconds is not None:
            self.batches.inc()
            self.bloom_positives.inc(len(out.candidates))
            self.batch_seconds.observe(batch_seconds)
        else:
            self.candidates.inc()

    def serve(self, host: str, port: int) -> None:
        start_http_server(port, addr=host, registry=self.registry)
