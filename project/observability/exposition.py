"""How this process's metrics are exposed: the scraper's token, and the registry of every process.

Knows nothing of what is measured (project.observability.metrics adds the messaging gauges), so
the Celery app can serve a worker's metrics without importing the messaging layer.
"""

from __future__ import annotations

import os
import secrets

from django.conf import settings
from django.http import HttpRequest
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server


def carries_metrics_token(request: HttpRequest) -> bool:
    """The request sends ``Authorization: Bearer <METRICS_TOKEN>`` (never true while it is unset)."""
    token = settings.METRICS_TOKEN
    sent = request.headers.get("Authorization", "")
    # Compared as bytes: compare_digest refuses str with non-ASCII characters (a 500, not a 401).
    return bool(token) and secrets.compare_digest(sent.encode(), f"Bearer {token}".encode())


def process_metrics_registry() -> CollectorRegistry:
    """A registry of the counters and histograms of every process (PROMETHEUS_MULTIPROC_DIR set),
    or of this process only."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # adds up what every process wrote
    else:
        for collector in list(REGISTRY._collector_to_names):  # this process only
            registry.register(collector)
    return registry


def serve_worker_metrics(port: int) -> None:
    """Expose this host's multi-process metrics over HTTP from a Celery worker (for hosts and
    containers where no web process shares PROMETHEUS_MULTIPROC_DIR with the workers)."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    start_http_server(port, registry=registry)
