"""The /metrics endpoint for Prometheus, safe with many processes."""

from __future__ import annotations

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from django_prometheus.db import connection_errors_total, connections_total, execute_total, query_duration_seconds
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from project.messaging.operations.monitoring import MessagingStateCollector
from project.messaging.registry.series import prefill_metrics
from project.observability.exposition import carries_metrics_token, process_metrics_registry


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Counters and histograms of every process, plus backlog and queue gauges computed now.

    With METRICS_TOKEN set, a scraper must send ``Authorization: Bearer <token>``; without it the
    endpoint is open (``check --deploy`` warns: observability.W001).
    """
    if settings.METRICS_TOKEN and not carries_metrics_token(request):
        return HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
    prefill_metrics()  # every message type and handler at 0, even those registered after start-up
    prefill_database_metrics()
    registry = process_metrics_registry()
    registry.register(MessagingStateCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def prefill_database_metrics() -> None:
    """django-prometheus' database series at 0 for every configured database (their labels, the
    alias and the vendor, are known from the settings), before that database's first query."""
    for connection in connections.all():
        labels = (connection.alias, connection.vendor)
        for series in (connections_total, connection_errors_total, execute_total, query_duration_seconds):
            series.labels(*labels)
