"""Prometheus metrics of a worker and of the alert lifecycle, each in a registry of its own."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streams.alerts.lifecycle import (
    NOT_STEPS,
    STATES,
    AlertDispositioned,
    AlertEvent,
    AlertRejected,
    AlertState,
)
from streams.alerts.model import AlertRaised
from streams.matching.matcher import HotlistIndex, source_stale
from streams.matching.pipeline import Outcome

__all__ = ["IngestMetrics", "LifecycleMetrics", "Metrics"]


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
        self._rejected_by: dict[str, Any] = {}  # its child of each reason, looked up once
        self.excluded = Counter(
            "alpr_reads_excluded",
            "Reads captured inside a sensitive site's exclusion zone, dropped unstored, by category (P24)",
            ["category"],
            registry=r,
        )
        self.bloom_positives = Counter(
            "alpr_bloom_positives",
            "Reads passed on to the confirm step (Bloom positives, partial fits)",
            registry=r,
        )
        self.candidates = Counter("alpr_candidates", "Candidates checked exactly", registry=r)
        self.hits = Counter(
            "alpr_hits", "Alerts raised, by list type and match kind", ["list_type", "match_kind"], registry=r
        )
        self.sightings = Counter(
            "alpr_alert_sightings", "Reads added as sightings to an open alert (P9)", registry=r
        )
        self.suppressed = Counter(
            "alpr_alerts_suppressed", "Alerts already raised for the same read and entry", registry=r
        )
        self.active_entries = Gauge(
            "alpr_active_entries", "Hot-list entries loaded in this worker", registry=r
        )
        self.partial_entries = Gauge("alpr_partial_entries", "Partial-plate patterns loaded", registry=r)
        self.screening = Gauge(
            "alpr_screening",
            "1 once the worker screens reads (hot list and camera registry loaded): a readiness signal",
            registry=r,
        )
        self.partitions = Gauge(
            "alpr_partitions_assigned",
            "Partitions of the reads, reads-late and candidates topics this worker holds in its group",
            registry=r,
        )
        self.hotlist_refused = Counter("alpr_hotlist_refused", "Hot-list records refused at load", registry=r)
        self.read_age = Histogram(
            "alpr_read_age_seconds",
            "Age of the oldest read of a batch when it is screened (capture to screen: the lag in time)",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
            registry=r,
        )
        self.alert_latency = Histogram(
            "alpr_alert_latency_seconds",
            "Capture of a read to its alert being raised (batching window, screen, candidates hop, confirm)",
            buckets=(0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
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
                    value=sum(
                        1 for t in index.source_fresh_at.values() if source_stale(t, now, max_staleness_s)
                    ),
                )

        self.registry.register(SourceAges())

    def track_followed(self, positions: Callable[[], Mapping[tuple[str, int], int]]) -> None:
        """Per partition of each topic the worker follows whole (hot list, sources, alerts, cameras):
        one past the last record applied. A test or a probe compares it with the log's end to know
        that a change it wrote is now known to the worker, instead of waiting a while."""

        class Followed(Collector):
            def collect(self) -> Iterator[Metric]:
                family = GaugeMetricFamily(
                    "alpr_followed_offset",
                    "One past the last record applied, per followed topic and partition",
                    labels=["topic", "partition"],
                )
                for (topic, partition), offset in sorted(positions().items()):
                    family.add_metric([topic, str(partition)], offset)
                yield family

        self.registry.register(Followed())

    def track_entries(self, total: Callable[[], int], partial: Callable[[], int]) -> None:
        self.active_entries.set_function(total)
        self.partial_entries.set_function(partial)

    def observe_screened(self, outs: list[Outcome], seconds: float) -> None:
        """Records of the reads topics screened together in ``seconds`` (Pipeline.screen_records):
        counted once for all of them, each record's processing time its share, the read age the
        oldest of them all; a record that rejected, dropped or raised anything counted on its own."""
        if not outs:
            return
        share = seconds / len(outs)
        reads = positives = plain = 0
        oldest: float | None = None
        for out in outs:
            if out.rejected or out.excluded or out.alerts or out.sightings or out.suppressed:
                self.observe(out, batch_seconds=share)
                continue
            plain += 1
            reads += out.reads
            positives += len(out.candidates)
            age = out.oldest_read_age_s
            if age is not None and (oldest is None or age > oldest):
                oldest = age
            self.batch_seconds.observe(share)
        self.reads.inc(reads)
        self.batches.inc(plain)
        self.bloom_positives.inc(positives)
        if oldest is not None:
            self.read_age.observe(max(0.0, oldest))

    def observe(self, out: Outcome, *, batch_seconds: float | None = None) -> None:
        self.reads.inc(out.reads)
        if out.rejected:  # one inc per reason, not per refused read (issue 17)
            for reason, count in Tally(code for *_, codes in out.rejected for code in codes).items():
                child = self._rejected_by.get(reason)
                if child is None:
                    child = self._rejected_by[reason] = self.rejected.labels(reason)
                child.inc(count)
        for category in out.excluded:
            self.excluded.labels(category).inc()
        for _key, _value, alert in out.alerts:
            self.hits.labels(alert.entry.list_type, alert.match_kind).inc()
            self.alert_latency.observe(max(0.0, (alert.raised_at - alert.read.captured_at).total_seconds()))
        if out.oldest_read_age_s is not None:
            self.read_age.observe(max(0.0, out.oldest_read_age_s))
        if out.sightings:
            self.sightings.inc(len(out.sightings))
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


class IngestMetrics:
    """What ``alpr ingest`` drops without storing, served on its ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.excluded = Counter(
            "alpr_reads_excluded",
            "Reads captured inside a sensitive site's exclusion zone, dropped unstored, by category (P24)",
            ["category"],
            registry=self.registry,
        )


class LifecycleMetrics:
    """The alert lifecycle as people work it (P9, P26), from the folded alerts topic.

    Alerts by state and overdue confirmations are computed at scrape; the time from raise to each
    step and rejections by reason and match kind (the misread rate for the annual report) are
    observed as the board folds each event, so a restarted console counts the retained history.
    """

    def __init__(self, states: Callable[[], Iterable[AlertState]], clock: Callable[[], datetime]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.step_seconds = Histogram(
            "alpr_alert_step_seconds",
            "Time from an alert being raised to each person's step",
            ["step"],
            buckets=(5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600, 86400),
            registry=r,
        )
        self.rejections = Counter(
            "alpr_alert_rejections",
            "Alerts rejected, by reason and match kind (misread share: P26)",
            ["reason", "match_kind"],
            registry=r,
        )
        self.dispositions = Counter(
            "alpr_alert_dispositions", "Alerts dispositioned, by outcome", ["disposition"], registry=r
        )

        class ByState(Collector):
            def collect(self) -> Iterator[Metric]:
                now = clock()
                counts: dict[str, int] = dict.fromkeys(STATES, 0)
                overdue = 0
                for state in states():
                    counts[state.status] = counts.get(state.status, 0) + 1
                    overdue += state.overdue(now)
                family = GaugeMetricFamily("alpr_alerts", "Alerts by lifecycle state", labels=["state"])
                for name, count in counts.items():
                    family.add_metric([name], count)
                yield family
                yield GaugeMetricFamily(
                    "alpr_alerts_overdue",
                    "Alerts whose entering agency's confirmation is past its deadline (10 min / 1 h)",
                    value=overdue,
                )

        r.register(ByState())

    def observe(self, before: AlertState | None, record: AlertRaised | AlertEvent, after: AlertState) -> None:
        """A board listener."""
        if before is None or not isinstance(record, AlertEvent) or isinstance(record, NOT_STEPS):
            return
        step = after.status if after.status != before.status else type(record).__name__
        self.step_seconds.labels(step).observe(max(0.0, (record.at - after.raised.raised_at).total_seconds()))
        if isinstance(record, AlertRejected):
            self.rejections.labels(record.reason, after.raised.match_kind).inc()
        elif isinstance(record, AlertDispositioned):
            self.dispositions.labels(record.disposition).inc()
