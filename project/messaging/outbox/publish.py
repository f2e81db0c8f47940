"""publish(): write a message to the transactional outbox, in the caller's transaction."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from functools import partial

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from project.messaging import metrics
from project.messaging.contract import tracing
from project.messaging.contract.context import (
    caused_event_id,
    current_correlation_id,
    current_envelope,
    current_origin_trace,
)
from project.messaging.contract.delivery import DeliveryAttempt
from project.messaging.contract.errors import NotInTransaction
from project.messaging.contract.events import Envelope, Message
from project.messaging.models import Delivery
from project.messaging.outbox import relay, statements
from project.messaging.registry.databases import database_for
from project.messaging.registry.routing import subscriptions_for

# The correlation id of the transaction in progress on each connection of this thread.
_correlation_markers = threading.local()


def publish(message: Message, *, aggregate_version: int | None = None) -> Envelope:
    """Record ``message`` in the outbox as part of the current transaction.

    Must be called inside ``transaction.atomic`` on the producer app's database: the message
    then exists if and only if the state change that caused it commits. After the commit it is
    sent at once (unless MESSAGING_SEND_ON_COMMIT is off); the sweep sends anything a crash left.
    """
    return publish_many([message], aggregate_versions=[aggregate_version])[0]


def publish_many(
    messages: Sequence[Message], *, aggregate_versions: Sequence[int | None] | None = None
) -> list[Envelope]:
    """Record several messages of one producer at once: one INSERT for the events, one for their
    deliveries, whatever their number (the saga asks inventory for every line of an order)."""
    if not messages:
        return []
    versions = list(aggregate_versions) if aggregate_versions is not None else [None] * len(messages)
    producer = messages[0].producer()
    using = database_for(producer)
    if not connections[using].in_atomic_block:
        raise NotInTransaction(
            f"publish({type(messages[0]).__name__}) outside a transaction on {using!r}: wrap the service "
            "in transaction.atomic() so the event commits with the state change."
        )
    cause = current_envelope()
    traced = tracing.tracing_on()
    origin = tracing.span_context_of(current_origin_trace()) if traced else None
    spans: list[tracing.Span] = []
    envelopes: list[Envelope] = []
    for message, aggregate_version in zip(messages, versions, strict=True):
        if not message.event_type:
            raise TypeError(f"{type(message).__qualname__} has no @message_type registration.")
        if database_for(message.producer()) != using:
            raise ValueError("publish_many() takes messages of producers sharing one database.")
        # Inside a handler, an id derived from the handled event (context.caused_event_id): applying
        # that event again publishes the same ids, which downstream inboxes recognise.
        event_id = caused_event_id(message.event_type, message.aggregate_type, message.aggregate_id) or uuid.uuid4()
        correlation_id = current_correlation_id() or _transaction_correlation(using) or event_id
        trace_context = None
        if traced:
            span = tracing.start_publish_span(
                event_type=message.event_type,
                event_id=str(event_id),
                correlation_id=str(correlation_id),
                origin=origin,
            )
            spans.append(span)
            trace_context = tracing.inject(span)
        envelope = Envelope(
            event_id=event_id,
            event_type=message.event_type,
            schema_version=message.schema_version,
            occurred_at=timezone.now(),
            producer=message.producer(),
            aggregate_type=message.aggregate_type,
            aggregate_id=message.aggregate_id,
            aggregate_version=aggregate_version,
            correlation_id=correlation_id,
            causation_id=cause.event_id if cause is not None else None,
            payload=message.payload(),
            trace_context=trace_context,
        )
        if envelope.correlation_id == event_id:
            _start_transaction_correlation(using, event_id)
        envelopes.append(envelope)
    event_rows = [
        (
            envelope.event_id,
            envelope.event_type,
            envelope.schema_version,
            envelope.producer,
            envelope.aggregate_type,
            envelope.aggregate_id,
            envelope.aggregate_version,
            envelope.correlation_id,
            envelope.causation_id,
            envelope.occurred_at,
            envelope.payload,
            envelope.trace_context,
        )
        for envelope in envelopes
    ]
    recorded = envelopes
    if cause is None:
        statements.insert_events(using, event_rows)
    else:
        # Ids derived from the handled event: one the outbox holds already is this message published
        # before, by an earlier application of the same event (a projection rebuilt from scratch):
        # it was delivered then, so it is neither recorded nor delivered again.
        inserted = statements.insert_new_events(using, event_rows)
        recorded = [envelope for envelope in envelopes if envelope.event_id in inserted]
    tracing.end_spans(spans)
    event_types = [envelope.event_type for envelope in recorded]
    transaction.on_commit(lambda: _count_published(event_types), using=using)
    routed = [(envelope, sub) for envelope in recorded for sub in subscriptions_for(envelope.event_type)]
    if not routed:
        return envelopes
    # Handed to the sender that runs after this commit: written as sent already (see
    # _hand_over_on_commit), so that no second transaction per message marks them so.
    handed_over = _hand_over_on_commit(using)
    status, send_count = (Delivery.Status.SENT, 1) if handed_over else (Delivery.Status.PENDING, 0)
    now = timezone.now()
    delivery_ids = statements.insert_deliveries(
        using,
        [
            (envelope.event_id, sub.handler_name, sub.queue, status, send_count, now, now if handed_over else None)
            for envelope, sub in routed
        ],
    )
    if handed_over:
        _send_on_commit(
            using,
            [
                relay.CommittedDelivery(
                    delivery_id=delivery_id,
                    queue=sub.queue,
                    kwargs=DeliveryAttempt(
                        envelope=envelope.to_json(),
                        handler=sub.handler_name,
                        delivery_id=delivery_id,
                    ).task_kwargs(),
                )
                for (envelope, sub), delivery_id in zip(routed, delivery_ids, strict=True)
            ],
        )
    return envelopes


def _count_published(event_types: list[str]) -> None:
    for event_type in event_types:
        metrics.EVENTS_PUBLISHED.labels(event_type).inc()


def _hand_over_on_commit(using: str) -> bool:
    """Whether the deliveries written now are sent right after this transaction commits.

    They are then written as sent (send_count 1) in the transaction itself: sending after commit
    needs no second transaction to mark them, and the relay loop, which claims only pending rows,
    never sends them too. If the broker refuses the send they are put back to pending for the
    relay loop; if the process dies between the commit and the send, the sweep sends them again
    MESSAGING_REDELIVER_AFTER later, as it does for any message the broker lost. Not handed over
    (left pending for the relay loop) while sending after commit is off or paused after a broker
    failure, or on a database that does not return the ids of bulk-inserted rows.
    """
    return (
        settings.MESSAGING_SEND_ON_COMMIT
        and connections[using].features.can_return_rows_from_bulk_insert
        and not relay.sending_paused()
    )


def _send_on_commit(using: str, deliveries: list[relay.CommittedDelivery]) -> None:
    """Send these messages, kept as they will travel, once this transaction commits.

    One on_commit callback per publishing call: Django drops the callbacks of a savepoint or
    transaction that rolls back, so a message whose rows were never committed is never sent.
    """
    transaction.on_commit(partial(_send_committed, using, deliveries), using=using)


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
    marker = _correlation_markers.__dict__.get(f"correlation-{using}")
    if marker is not None and any(entry[1] is marker for entry in connections[using].run_on_commit):
        return marker.correlation_id
    return None


def _start_transaction_correlation(using: str, correlation_id: uuid.UUID) -> None:
    marker = _TransactionCorrelation(correlation_id)
    _correlation_markers.__dict__[f"correlation-{using}"] = marker
    transaction.on_commit(marker, using=using)


def _send_committed(using: str, deliveries: list[relay.CommittedDelivery]) -> None:
    relay.send_committed(using=using, deliveries=deliveries)
