"""Workers keep their database connections across tasks, check their health only after idleness,
and drop the broken or old ones (project/celery.py's task_prerun/task_postrun handlers)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from celery.signals import task_postrun, task_prerun
from django.db import connections

from orders.models import Order
from project import celery as worker_hooks
from project.messaging.registry.databases import database_for

# The connection the tasks below use (their queries are orders'), whether or not orders has a
# database of its own.
connection = connections[database_for("orders")]

pytestmark = pytest.mark.django_db(transaction=True)


class Checks(list):
    """The connection's health checks (``is_usable()`` calls) so far; what they answer."""

    answer = True


@pytest.fixture
def health_checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[Checks]:
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    checks = Checks()
    real = connection.is_usable

    def counted() -> bool:
        checks.append("is_usable")
        return real() and checks.answer

    monkeypatch.setattr(connection, "is_usable", counted)
    connection.ensure_connection()
    monkeypatch.setattr(worker_hooks, "_last_task_ended_at", time.monotonic())  # a worker in steady use
    yield checks


def one_task() -> None:
    task_prerun.send(sender=None)
    Order.objects.exists()
    task_postrun.send(sender=None)


def test_tasks_back_to_back_reuse_the_connection_without_a_health_check_each(health_checks: Checks) -> None:
    opened = connection.connection
    for _ in range(5):
        one_task()
    assert health_checks == []
    assert connection.connection is opened


def test_the_first_task_after_idleness_checks_the_connection_once(
    health_checks: Checks, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.DB_HEALTH_CHECK_AFTER_IDLE = 5.0
    one_task()
    monkeypatch.setattr(worker_hooks, "_last_task_ended_at", time.monotonic() - 6)
    one_task()
    one_task()
    assert health_checks == ["is_usable"]


def test_a_connection_that_failed_during_a_task_is_checked_after_it_and_replaced_if_unusable(
    health_checks: Checks,
) -> None:
    opened = connection.connection
    task_prerun.send(sender=None)
    Order.objects.exists()
    connection.errors_occurred = True  # as Django's error wrapper sets it on a database error
    health_checks.answer = False  # the server went away
    task_postrun.send(sender=None)
    assert health_checks == ["is_usable"]
    assert connection.connection is None  # closed: the next task opens a new one
    one_task()
    assert connection.connection is not None and connection.connection is not opened


def test_a_connection_older_than_conn_max_age_is_closed_after_the_task(health_checks: Checks) -> None:
    task_prerun.send(sender=None)
    Order.objects.exists()
    connection.close_at = time.monotonic() - 1
    task_postrun.send(sender=None)
    assert connection.connection is None
