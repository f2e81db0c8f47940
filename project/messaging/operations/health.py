"""The state of the messaging layer right now: what an operator checks first.

Read by the admin index panel and by the Prometheus collector (project.messaging.operations.monitoring).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone

from project.messaging.broker import queue_states
from project.messaging.models import DeadLetter, Delivery, InboxRecord
from project.messaging.outbox.relay import open_deliveries
from project.messaging.registry.databases import messaging_databases

logger = logging.getLogger(__name__)

THROUGHPUT_WINDOW = timedelta(minutes=5)


@dataclass
class DatabaseState:
    alias: str
    pending: int  # deliveries not sent yet
    unconfirmed: int  # sent, not yet processed
    oldest_pending_age: float  # seconds, 0 when nothing is pending
    processed_per_minute: float  # inbox records over the last THROUGHPUT_WINDOW
    dead_letters_by_handler: dict[str, int] = field(default_factory=dict)

    @property
    def dead_letters(self) -> int:
        return sum(self.dead_letters_by_handler.values())


@dataclass
class MessagingState:
    databases: list[DatabaseState]
    queue_lengths: dict[str, int] | None  # None when the broker cannot be reached
    # Consumers per queue where the broker counts them (RabbitMQ); None on Redis or when unreachable.
    queue_consumers: dict[str, int] | None = None
    broker: str = ""  # "redis" or "rabbitmq"


def database_state(alias: str) -> DatabaseState:
    now = timezone.now()
    # By the partial index of open deliveries on every database (see relay.open_deliveries).
    still_open = open_deliveries(alias)
    counts = dict(still_open.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    first = still_open.filter(status=Delivery.Status.PENDING).aggregate(at=Min("created_at"))["at"]
    recent = InboxRecord.objects.using(alias).filter(processed_at__gte=now - THROUGHPUT_WINDOW).count()
    letters = (
        DeadLetter.objects.using(alias)
        .filter(status__in=[DeadLetter.Status.DEAD, DeadLetter.Status.REPLAYING])
        .values_list("handler")
        .annotate(n=Count("id"))
    )
    return DatabaseState(
        alias=alias,
        pending=counts.get(Delivery.Status.PENDING, 0),
        unconfirmed=counts.get(Delivery.Status.SENT, 0),
        oldest_pending_age=(now - first).total_seconds() if first else 0.0,
        processed_per_minute=recent / (THROUGHPUT_WINDOW.total_seconds() / 60),
        dead_letters_by_handler=dict(letters),
    )


def queue_lengths() -> tuple[dict[str, int] | None, dict[str, int] | None]:
    """Messages waiting in each queue, and its consumers where the broker counts them (RabbitMQ);
    (None, None) when the broker cannot be reached. A queue RabbitMQ does not know (not declared
    yet) holds nothing and has no consumer."""
    try:
        states = queue_states(settings.CELERY_BROKER_URL, settings.MESSAGING_QUEUES, timeout=1.0)
    except Exception as exc:  # noqa: BLE001  (whatever the broker's client raises: the panel says unreachable)
        logger.warning("Queue lengths unavailable: %r", exc)
        return None, None
    lengths = {name: state.messages if state else 0 for name, state in states.items()}
    if any(state is not None and state.consumers is None for state in states.values()):
        return lengths, None
    return lengths, {name: state.consumers if state else 0 for name, state in states.items()}


def messaging_state() -> MessagingState:
    databases = [database_state(alias) for alias in messaging_databases()]
    lengths, consumers = queue_lengths()
    return MessagingState(
        databases=databases, queue_lengths=lengths, queue_consumers=consumers, broker=settings.MESSAGING_BROKER
    )
