"""The Celery app. Configuration lives in Django settings under the ``CELERY_`` namespace."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _serve_metrics_when_asked(**kwargs: Any) -> None:
    # WORKER_METRICS_PORT: the worker serves Prometheus metrics itself (e.g. one container per
    # worker, where no web process can read its metric files).
    port = os.environ.get("WORKER_METRICS_PORT")
    if port:
        from project.observability.metrics import serve_worker_metrics

        serve_worker_metrics(int(port))
