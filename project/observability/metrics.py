"""The /metrics endpoint for Prometheus, safe with many processes."""

from __future__ import annotations

import os
import secrets

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from project.messaging.monitoring import MessagingStateCollector


def carries_metrics_token(request: HttpRequest) -> bool:
    """The request sends ``Authorization: Bearer <METRICS_TOKEN>`` (never true while it is unset)."""
    token = settings.METRICS_TOKEN
    sent = request.headers.get("Authorization", "")
    # Compared as bytes: compare_digest refuses str with non-ASCII characters (a 500, not a 401).
    return bool(token) and secrets.compare_digest(sent.encode(), f"Bearer {token}".encode())


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Counters and histograms of every process, plus backlog and queue gauges computed now.

    With METRICS_TOKEN set, a scraper must send ``Authorization: Bearer <token>``; without it the
    endpoint is open (``check --deploy`` warns: observability.W001).
    """
    if settings.METRICS_TOKEN and not carries_metrics_token(request):
        return HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # adds up what every process wrote
    else:
        for collector in list(REGISTRY._collector_to_names):  # this process only
            registry.register(collector)
    registry.register(MessagingStateCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def serve_worker_metrics(port: int) -> None:
    """Expose this host's multi-process metrics over HTTP from a Celery worker (for hosts and
    containers where no web process shares PROMETHEUS_MULTIPROC_DIR with the workers)."""
    from prometheus_client import start_http_server

    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    start_http_server(port, registry=registry)
