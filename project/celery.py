"""The Celery app. Configuration lives in Django settings under the ``CELERY_`` namespace."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from celery import Celery
from celery.signals import (
    beat_init,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
)

from project.messaging.broker import ensure_queues_declared
from project.observability.exposition import serve_worker_metrics
from project.observability.tracing import flush_tracing, setup_tracing

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _declare_every_queue(**kwargs: Any) -> None:
    # Every routable queue exists before the worker consumes (and so before it publishes: its
    # handlers publish, its retries too). On RabbitMQ the consumer then binds every queue to the
    # exchanges of native delayed delivery (retry countdowns on quorum queues), which fails for a
    # queue or exchange not declared yet. Waits for the broker as the worker itself would.
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=None, interval_start=1, interval_step=1, interval_max=5)
        ensure_queues_declared(connection, list(app.amqp.queues.values()))


@worker_ready.connect
def _serve_metrics_when_asked(**kwargs: Any) -> None:
    # WORKER_METRICS_PORT: the worker serves Prometheus metrics itself (e.g. one container per
    # worker, where no web process can read its metric files).
    port = os.environ.get("WORKER_METRICS_PORT")
    if port:
        serve_worker_metrics(int(port))


@worker_process_init.connect
def _trace_pool_process(**kwargs: Any) -> None:
    # After the fork: the SDK's export thread and the instrumented connections belong to the
    # process that handles the tasks, not to the main process, which only hands them over.
    queues = sorted(app.amqp.queues.consume_from or {})  # selected (-Q) before the pool forked
    setup_tracing("worker-" + "-".join(queues) if queues else "worker")


@worker_process_shutdown.connect
def _flush_traces(**kwargs: Any) -> None:
    flush_tracing()


@beat_init.connect
def _trace_beat(**kwargs: Any) -> None:
    setup_tracing("beat")


# When the last task ended: a connection idle for longer is health-checked before its next query.
_last_task_ended_at = 0.0


@task_prerun.connect
def _check_connections_after_idleness(**kwargs: Any) -> None:
    # Django's CONN_HEALTH_CHECKS, re-armed before every task, would cost a `SELECT 1` round trip
    # per handled message on PostgreSQL. A connection in steady use breaks only with the server:
    # then the task's first query fails, the fault is transient (retried) and the connection is
    # replaced after the task. So the check is re-armed only for connections that sat idle for
    # DB_HEALTH_CHECK_AFTER_IDLE seconds (where idle timeouts and restarts go unnoticed).
    from django.conf import settings
    from django.db import connections

    idle = time.monotonic() - _last_task_ended_at >= settings.DB_HEALTH_CHECK_AFTER_IDLE
    for connection in connections.all(initialized_only=True):
        if idle or _broken_or_obsolete(connection):
            connection.close_if_unusable_or_obsolete()


@task_postrun.connect
def _close_broken_or_old_connections(**kwargs: Any) -> None:
    # With CELERY_DB_REUSE_MAX set, Celery keeps connections across tasks; this closes the ones
    # that are broken, left outside autocommit, or older than CONN_MAX_AGE, as Django's
    # request_finished handler does for web requests.
    global _last_task_ended_at
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        if _broken_or_obsolete(connection):
            connection.close_if_unusable_or_obsolete()
    _last_task_ended_at = time.monotonic()


def _broken_or_obsolete(connection: BaseDatabaseWrapper) -> bool:
    """What close_if_unusable_or_obsolete() would act on, short of its health check."""
    if connection.connection is None:
        return False
    return (
        connection.errors_occurred
        or connection.get_autocommit() != connection.settings_dict["AUTOCOMMIT"]
        or (connection.close_at is not None and time.monotonic() >= connection.close_at)
    )
