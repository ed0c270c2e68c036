"""Prometheus metrics of the service, on a registry of its own (tests start many services)."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mascot_requests_total",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mascot_request_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.batch_sizes = Histogram(
            "mascot_batch_size",
            "images per forward pass",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )
        self.forwards = Counter(
            "mascot_forwards_total",
            "forward passes run, by bucket (batch shape)",
            ["bucket"],
            registry=self.registry,
        )
        self.padded_rows = Counter(
            "mascot_padded_rows_total", "spare rows computed to fill a bucket", registry=self.registry
        )
        self.queue_depth = Gauge(
            "mascot_queue_depth", "images waiting for a forward pass", registry=self.registry
        )
        self.cache_hits = Counter(
            "mascot_cache_hits_total", "images served from the LRU cache", registry=self.registry
        )
        self.model_version = Gauge(
            "mascot_model_info",
            "the version each model name serves (value 1)",
            ["model", "version"],
            registry=self.registry,
        )

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def observe_forward(self, images: int, bucket: int) -> None:
        self.batch_sizes.observe(images)
        self.forwards.labels(str(bucket)).inc()
        self.padded_rows.inc(bucket - images)

    def set_model_version(self, model: str, version: str) -> None:
        for labels in list(self.model_version._metrics):  # one live version per model name
            if labels[0] == model:
                self.model_version.remove(*labels)
        self.model_version.labels(model, version).set(1)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
