"""Celery tasks of the messaging layer: one delivery task per consumer queue, plus the sweep.

Delivery tasks are named "<queue>.deliver" and routed by that name to the queue of the app that
consumes them (CELERY_TASK_ROUTES). They are created at start-up for every queue in
MESSAGING_QUEUES, so the relay never needs to import a consumer's code.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.db import DatabaseError

from project.messaging.broker import retry_countdown_for
from project.messaging.contract.delivery import DeliveryAttempt, acknowledgement_task_name, delivery_task_name
from project.messaging.inbox import consumer
from project.messaging.operations import services
from project.messaging.outbox.acknowledgements import apply_acknowledgements
from project.messaging.outbox.relay import sweep
from project.messaging.registry.databases import messaging_databases


class DeliveryDeadLettered(Exception):
    """The delivery failed for good and is parked in the dead-letter table (already committed).

    Raised by the delivery task after the fact so that its Celery state is FAILURE (Flower and
    the task events count it as failed, not as a success). It is in the task's ``throws``: an
    expected outcome, logged by the worker on one line without a traceback (the dead letter
    holds the real one), never retried by Celery, and the message is acknowledged.
    """


def _deliver(
    task: Task,
    envelope: dict[str, Any],
    handler: str,
    delivery_id: int | None = None,
    first_failed_at: str | None = None,
    producer_db: str | None = None,  # noqa: ARG001 (sent until the acknowledgements came; still decodes)
) -> str:
    attempt = DeliveryAttempt(
        envelope=envelope,
        handler=handler,
        delivery_id=delivery_id,
        attempt=task.request.retries + 1,
        first_failed_at=first_failed_at,
    )
    try:
        result = consumer.process(attempt)
    except Exception as exc:
        # Even the dead-letter table is unreachable: try again later rather than drop it (and if
        # this message is lost anyway, the outbox sweep re-sends the delivery).
        if consumer.is_transient(exc):
            raise task.retry(countdown=_countdown(consumer.retry_countdown(attempt.attempt)), exc=exc) from exc
        raise
    if result.outcome is consumer.Outcome.RETRY:
        raise task.retry(
            countdown=_countdown(result.countdown),
            kwargs={**attempt.task_kwargs(), "first_failed_at": result.first_failed_at},
        )
    if result.outcome is consumer.Outcome.DEAD_LETTERED:
        raise DeliveryDeadLettered(f"{handler}: dead-lettered: {result.error}")
    return result.outcome.value


def _countdown(seconds: float) -> float:
    return retry_countdown_for(seconds, broker=settings.MESSAGING_BROKER, queue_type=settings.RABBITMQ_QUEUE_TYPE)


def register_delivery_tasks(queues: list[str]) -> None:
    for queue in queues:
        shared_task(
            _deliver,
            bind=True,
            name=delivery_task_name(queue),
            max_retries=None,  # the consumer counts attempts against MESSAGING_MAX_ATTEMPTS
            acks_late=True,
            reject_on_worker_lost=True,
            throws=(DeliveryDeadLettered,),
        )


def _acknowledge(
    task: Task, producer: str, processed: list[int] | None = None, dead_lettered: list[int] | None = None
) -> dict[str, int]:
    """The producer's side of a batch of acknowledgements: mark its deliveries on its database."""
    try:
        applied = apply_acknowledgements(
            producer=producer, processed=processed or [], dead_lettered=dead_lettered or []
        )
    except DatabaseError as exc:
        # Our database is down or busy: try again later. (Were this message lost, the sweep would
        # re-send the deliveries and the consumer acknowledge them again.)
        if task.request.retries < settings.MESSAGING_MAX_ATTEMPTS * 4:
            raise task.retry(countdown=_countdown(consumer.retry_countdown(task.request.retries + 1)), exc=exc) from exc
        raise
    return {"processed": applied.processed, "dead_lettered": applied.dead_lettered}


def register_acknowledgement_tasks(queues: list[str]) -> None:
    """One "<queue>.acknowledge" task per queue: a producer's acknowledgements go to its own queue
    (or to ``messaging`` if it consumes nothing), where its worker marks its deliveries."""
    for queue in queues:
        shared_task(
            _acknowledge,
            bind=True,
            name=acknowledgement_task_name(queue),
            max_retries=None,
            acks_late=True,
            reject_on_worker_lost=True,
            ignore_result=True,
        )


@shared_task(name="messaging.sweep_outbox", ignore_result=True)
def sweep_outbox() -> dict[str, int]:
    """Beat: send what is pending and re-send what the broker lost, on every database."""
    totals = {"sent": 0, "requeued": 0, "acknowledged": 0}
    for alias in messaging_databases():
        report = sweep(using=alias)
        totals["sent"] += report.sent
        totals["requeued"] += report.requeued
        totals["acknowledged"] += report.acknowledged
    return totals


@shared_task(name="messaging.purge_expired", ignore_result=True)
def purge_expired() -> dict[str, int]:
    """Beat: delete bookkeeping rows older than MESSAGING_RETENTION_DAYS."""
    return services.messaging_purge_expired()
