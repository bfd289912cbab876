"""``/metrics``: the archive's figures in the Prometheus text format, read on every scrape by
a custom collector (on a registry of the app's own, never the process-global one)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from storage.dashboard import metrics_snapshot

DURATION_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0)


class ArchiveCollector(Collector):
    def __init__(self, read: Any) -> None:
        self.read = read  # WebState.read

    def collect(self) -> Iterator[Metric]:
        figures = self.read(metrics_snapshot)
        articles = GaugeMetricFamily("arsip_articles", "Articles archived", labels=["site"])
        duplicates = GaugeMetricFamily("arsip_near_duplicates",
                                       "Archived articles that are near-duplicates of another",
                                       labels=["site"])
        pages = CounterMetricFamily("arsip_pages_fetched", "Pages fetched by crawl runs",
                                    labels=["site"])
        failures = CounterMetricFamily("arsip_fetch_failures",
                                       "Pages that failed in crawl runs", labels=["site"])
        failed_runs = CounterMetricFamily("arsip_runs_failed",
                                          "Crawl runs that failed, timed out or were abandoned",
                                          labels=["site"])
        last = GaugeMetricFamily("arsip_last_success_timestamp_seconds",
                                 "End of the last successful crawl run (Unix time)",
                                 labels=["site"])
        durations = HistogramMetricFamily("arsip_run_duration_seconds",
                                          "Durations of ended crawl runs", labels=["site"])
        for fig in figures:
            labels = [fig.site]
            articles.add_metric(labels, fig.articles)
            duplicates.add_metric(labels, fig.duplicates)
            pages.add_metric(labels, fig.pages)
            failures.add_metric(labels, fig.failures)
            failed_runs.add_metric(labels, fig.runs_failed)
            if fig.last_success is not None:
                last.add_metric(labels, fig.last_success.timestamp())
            buckets = [(_le(b), float(sum(1 for d in fig.durations if d <= b)))
                       for b in DURATION_BUCKETS]
            buckets.append(("+Inf", float(len(fig.durations))))
            durations.add_metric(labels, buckets, sum(fig.durations))
        yield from (articles, duplicates, pages, failures, failed_runs, last, durations)


def _le(bound: float) -> str:
    return repr(float(bound))


def registry_for(read: Any) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ArchiveCollector(read))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
