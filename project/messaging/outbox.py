"""publish(): write a message to the transactional outbox, in the caller's transaction."""

from __future__ import annotations

import threading
import uuid

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from project.messaging import metrics
from project.messaging.context import current_correlation_id, current_envelope
from project.messaging.databases import db_for_app
from project.messaging.errors import NotInTransaction
from project.messaging.events import Envelope, Message
from project.messaging.models import Delivery, OutboxEvent
from project.messaging.routing import subscriptions_for

# Event ids committed by this thread and not yet handed to the relay. The first on_commit
# callback of a transaction sends all of them in one batch; the others find nothing left.
_committed = threading.local()


def publish(message: Message, *, aggregate_version: int | None = None) -> Envelope:
    """Record ``message`` in the outbox as part of the current transaction.

    Must be called inside ``transaction.atomic`` on the producer app's database: the message
    then exists if and only if the state change that caused it commits. After the commit it is
    sent at once (unless MESSAGING_SEND_ON_COMMIT is off); the sweep sends anything a crash left.
    """
    producer = message.producer()
    using = db_for_app(producer)
    if not connections[using].in_atomic_block:
        raise NotInTransaction(
            f"publish({type(message).__name__}) outside a transaction on {using!r}: wrap the service "
            "in transaction.atomic() so the event commits with the state change."
        )
    if not message.event_type:
        raise TypeError(f"{type(message).__qualname__} has no @message_type registration.")
    cause = current_envelope()
    event_id = uuid.uuid4()
    envelope = Envelope(
        event_id=event_id,
        event_type=message.event_type,
        schema_version=message.schema_version,
        occurred_at=timezone.now(),
        producer=producer,
        aggregate_type=message.aggregate_type,
        aggregate_id=message.aggregate_id,
        aggregate_version=aggregate_version,
        correlation_id=current_correlation_id() or _transaction_correlation(using) or event_id,
        causation_id=cause.event_id if cause is not None else None,
        payload=message.payload(),
    )
    if envelope.correlation_id == event_id:
        _start_transaction_correlation(using, event_id)
    stored = OutboxEvent.objects.using(using).create(
        event_id=envelope.event_id,
        event_type=envelope.event_type,
        schema_version=envelope.schema_version,
        producer=envelope.producer,
        aggregate_type=envelope.aggregate_type,
        aggregate_id=envelope.aggregate_id,
        aggregate_version=envelope.aggregate_version,
        correlation_id=envelope.correlation_id,
        causation_id=envelope.causation_id,
        occurred_at=envelope.occurred_at,
        payload=envelope.payload,
    )
    transaction.on_commit(lambda: metrics.EVENTS_PUBLISHED.labels(envelope.event_type).inc(), using=using)
    subs = subscriptions_for(message.event_type)
    if subs:
        Delivery.objects.using(using).bulk_create(
            Delivery(event=stored, handler=sub.handler_name, queue=sub.queue) for sub in subs
        )
        if settings.MESSAGING_SEND_ON_COMMIT:
            pending = _committed.__dict__.setdefault("event_ids", {})
            pending.setdefault(using, []).append(envelope.event_id)
            transaction.on_commit(lambda: _send_committed(using), using=using)
    return envelope


class _TransactionCorrelation:
    """The correlation id shared by everything one transaction publishes outside any context."""

    def __init__(self, correlation_id: uuid.UUID) -> None:
        self.correlation_id = correlation_id

    def __call__(self) -> None:  # the on_commit marker; nothing to do at commit
        pass


def _transaction_correlation(using: str) -> uuid.UUID | None:
    # Outside a request or a handler, the events one transaction publishes (an order placed by a
    # command, the saga's deadline sweep...) still tell one story: the first one starts the chain
    # and the others join it. The marker sits in this transaction's on_commit list, so it is gone
    # (and the id forgotten) once the transaction commits or rolls back.
    marker = _committed.__dict__.get(f"correlation-{using}")
    if marker is not None and any(entry[1] is marker for entry in connections[using].run_on_commit):
        return marker.correlation_id
    return None


def _start_transaction_correlation(using: str, correlation_id: uuid.UUID) -> None:
    marker = _TransactionCorrelation(correlation_id)
    _committed.__dict__[f"correlation-{using}"] = marker
    transaction.on_commit(marker, using=using)


def _send_committed(using: str) -> None:
    from project.messaging.relay import relay_committed

    event_ids = _committed.__dict__.get("event_ids", {}).pop(using, [])
    if event_ids:
        relay_committed(using=using, event_ids=event_ids)
