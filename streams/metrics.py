"""Prometheus metrics of a worker, in a registry of its own (no module-level state)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

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
