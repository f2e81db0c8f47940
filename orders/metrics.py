"""Prometheus metrics of the orders domain."""

from __future__ import annotations

from prometheus_client import Histogram

SAGA_SECONDS = Histogram(
    "orders_saga_duration_seconds",
    "From placement to the end of the order saga, by outcome (confirmed, failed, cancelled).",
    ["outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
