"""The Celery app. Configuration lives in Django settings under the ``CELERY_`` namespace."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_ready

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


@task_prerun.connect
@task_postrun.connect
def _close_old_database_connections(**kwargs: Any) -> None:
    # With CELERY_DB_REUSE_MAX set, Celery keeps connections across tasks; this closes the ones
    # that are broken or older than CONN_MAX_AGE (and re-arms CONN_HEALTH_CHECKS), as Django's
    # request_started/request_finished handlers do for web requests.
    from django.db import close_old_connections

    close_old_connections()
