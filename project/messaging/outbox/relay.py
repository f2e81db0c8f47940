"""The relay: sends outbox deliveries to the broker, and the sweep that repairs what was lost.

Several relays may run at once. On PostgreSQL each claims its rows with
``SELECT ... FOR UPDATE SKIP LOCKED``, so no row is sent by two of them; on SQLite the IMMEDIATE
transaction serialises them. A batch goes out over one broker connection as one Redis pipeline,
or on RabbitMQ as publishes sent at once whose confirms are then awaited together. A row is marked sent in the same
transaction that claimed it, after the broker accepted the batch (on RabbitMQ: confirmed it, and
did not return it as unroutable; a returned one stays pending): a crash in between re-sends the
batch (harmless: the inbox drops duplicates), it never loses it.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import connections, transaction
from django.db.models import BooleanField, F, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from kombu import Producer

from project.messaging import metrics
from project.messaging.broker import ensure_queues_declared, forget_declared_queues, supports_confirms
from project.messaging.contract import tracing
from project.messaging.contract.delivery import DeliveryAttempt, acknowledgement_task_name, delivery_task_name
from project.messaging.models import DeadLetter, Delivery, InboxRecord
from project.messaging.outbox import acknowledgements
from project.messaging.registry.databases import database_for, runs_here

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CommittedDelivery:
    """A delivery written by a transaction, kept in memory to be sent once it commits."""

    delivery_id: int
    queue: str
    kwargs: dict[str, Any]


def delivery_message(delivery: Delivery) -> dict:
    """The Celery task kwargs for one delivery: the envelope, its handler and its tracking id."""
    return DeliveryAttempt(
        envelope=delivery.event.envelope().to_json(),
        handler=delivery.handler,
        delivery_id=delivery.pk,
    ).task_kwargs()


def send_messages(
    messages: Sequence[tuple[str, dict]], *, task_name: Callable[[str], str] = delivery_task_name
) -> set[int]:
    """Send (queue, kwargs) pairs, each as the task ``task_name(queue)`` (a delivery unless told),
    over one connection, pipelined where the transport allows, and return the positions of those
    the broker did not take: on RabbitMQ, the ones it returned as unroutable (mandatory publishes
    to a queue that does not exist) or refused (nacked). Raises when the broker failed (connection
    lost, the confirms not in within RABBITMQ_CONFIRM_TIMEOUT): then none of them counts as sent.

    Each is a Celery task message built and published by Celery's own AMQP layer
    (``create_task_message``, ``send_task_message``: protocol 2, the publish signals, task-sent
    events when enabled), without ``send_task``'s routing, result object and parent-task
    bookkeeping, which a delivery needs none of (docs/performance.md). Every routable queue is
    declared first, once per process (broker.ensure_queues_declared): RabbitMQ drops what is
    published to a queue nobody declared yet.

    On RabbitMQ a publish counts only once the broker confirmed it. One message waits for its
    confirm (CELERY_BROKER_TRANSPORT_OPTIONS' confirm_publish); a batch goes out on a channel of
    its own in confirm mode, all at once, and then waits for the broker's acks of the whole batch
    (streaming confirms: one wait per batch, not per message; docs/performance.md).

    The app is Celery's current one (project.celery makes itself current), not an import of
    project.celery: the messaging layer sits below the project that configures it.
    """
    app = current_app._get_current_object()
    with app.producer_or_acquire() as producer:
        ensure_queues_declared(producer.connection, list(app.amqp.queues.values()))
        if not supports_confirms(producer.connection):
            with producer.batch(max_size=max(1, len(messages))):
                _publish(app, producer, messages, {}, task_name=task_name)
            return set()
        if len(messages) > 1:
            refused = _publish_confirmed_batch(app, producer.connection, messages, task_name)
        else:
            refused = _publish_confirmed_one_by_one(app, producer, messages, task_name)
    if refused:
        # A queue is missing (deleted, or the broker lost its definitions): declare them all again
        # before the next publish; the refused messages wait in the outbox meanwhile.
        forget_declared_queues()
        metrics.DELIVERIES_RETURNED.inc(len(refused))
        logger.warning(
            "The broker did not take %d of %d messages (returned as unroutable or refused; queues: %s); they stay "
            "pending and the queues are declared again",
            len(refused),
            len(messages),
            ", ".join(sorted({messages[i][0] for i in refused})),
        )
    return refused


def _publish(
    app: Any,
    producer: Any,
    messages: Sequence[tuple[str, dict]],
    options: dict[str, Any],
    position_of: dict[str, int] | None = None,
    *,
    task_name: Callable[[str], str] = delivery_task_name,
) -> None:
    """Publish every message with ``producer``, noting each one's task id and position in
    ``position_of`` before it goes (a return may come back before the publish call does)."""
    amqp = app.amqp
    # Deliveries are traced; acknowledgements carry no envelope and are bookkeeping, not traced.
    traced = tracing.tracing_on() and task_name is delivery_task_name
    position_of = {} if position_of is None else position_of
    for position, (queue, kwargs) in enumerate(messages):
        task_id = str(uuid.uuid4())
        position_of[task_id] = position
        if traced:
            with tracing.send_span(
                queue=queue,
                envelope=kwargs.get("envelope") or {},
                handler=kwargs.get("handler", ""),
                delivery_id=kwargs.get("delivery_id"),
            ):
                _send_one(app, amqp, producer, task_id, task_name(queue), queue, kwargs, options)
        else:
            _send_one(app, amqp, producer, task_id, task_name(queue), queue, kwargs, options)


def _send_one(
    app: Any, amqp: Any, producer: Any, task_id: str, name: str, queue: str, kwargs: dict, options: dict[str, Any]
) -> None:
    message = amqp.create_task_message(
        task_id,
        name,
        (),
        kwargs,
        create_sent_event=app.conf.task_send_sent_event,
        ignore_result=True,
        # What monitoring shows for the task's arguments: a short summary instead of the
        # repr of the whole envelope, which Celery would otherwise build for every message.
        argsrepr="()",
        kwargsrepr=_kwargs_summary(kwargs),
    )
    amqp.send_task_message(
        producer,
        name,
        message,
        # Published to the anonymous exchange with the queue's name as routing key (as Celery
        # does by itself for a direct queue, but not for RabbitMQ's topic ones): no exchange
        # binding has to exist for the message to land in its queue.
        queue=queue,
        exchange="",
        routing_key=queue,
        retry=False,
        # Declared once per process (send_messages). (Skips a copy of the queue and a cache
        # lookup per message.)
        declare=[],
        **options,
    )


def _publish_confirmed_one_by_one(
    app: Any, producer: Any, messages: Sequence[tuple[str, dict]], task_name: Callable[[str], str]
) -> set[int]:
    """Each publish waits for its confirm (the connection's confirm_publish); a returned one
    arrives before its confirm and is noted."""
    returned: set[int] = set()
    position_of: dict[str, int] = {}

    def on_return(exc: Exception, exchange: str, routing_key: str, message: Any) -> None:
        position = position_of.get(message.properties.get("correlation_id"))
        if position is not None:
            returned.add(position)

    producer.channel.events["basic_return"].add(on_return)
    try:
        options = {"mandatory": True, "confirm_timeout": settings.RABBITMQ_CONFIRM_TIMEOUT}
        _publish(app, producer, messages, options, position_of, task_name=task_name)
    finally:
        producer.channel.events["basic_return"].discard(on_return)
    return returned


def _publish_confirmed_batch(
    app: Any, connection: Any, messages: Sequence[tuple[str, dict]], task_name: Callable[[str], str]
) -> set[int]:
    """Publish the batch on a channel of its own in confirm mode, without waiting, then wait for
    the broker to confirm all of it. On that channel the broker numbers the publishes 1, 2, ...
    from confirm.select on, so publish number n is the message at position n - 1."""
    # Connected again if the connection was lost since the last batch (a pooled producer's
    # connection is revived only by its own channel's next use).
    connection.ensure_connection(max_retries=1)
    channel = connection.channel()
    outstanding = set(range(1, len(messages) + 1))
    refused: set[int] = set()
    position_of: dict[str, int] = {}

    def settle(tag: int, multiple: bool, *, taken: bool) -> None:
        tags = {t for t in outstanding if t <= tag} if multiple else {tag} & outstanding
        outstanding.difference_update(tags)
        if not taken:
            refused.update(t - 1 for t in tags)

    def on_return(exc: Exception, exchange: str, routing_key: str, message: Any) -> None:
        position = position_of.get(message.properties.get("correlation_id"))
        if position is not None:
            refused.add(position)  # its ack follows: returned messages are acked, not nacked

    try:
        channel.confirm_select()
        # This channel's publishes do not wait one by one (the connection's confirm_publish would
        # make them): their confirms are awaited below, for the whole batch.
        channel.basic_publish = channel._basic_publish
        channel.events["basic_ack"].add(lambda tag, multiple: settle(tag, multiple, taken=True))
        channel.events["basic_nack"].add(lambda tag, multiple: settle(tag, multiple, taken=False))
        channel.events["basic_return"].add(on_return)
        producer = Producer(channel, auto_declare=False)
        _publish(app, producer, messages, {"mandatory": True}, position_of, task_name=task_name)
        deadline = time.monotonic() + settings.RABBITMQ_CONFIRM_TIMEOUT
        while outstanding:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"the broker confirmed {len(messages) - len(outstanding)} of {len(messages)}")
            connection.drain_events(timeout=remaining)
    finally:
        with contextlib.suppress(Exception):  # a channel the broker or the connection closed already
            channel.close()
    return refused


def _kwargs_summary(kwargs: dict) -> str:
    if "envelope" not in kwargs:  # a batch of acknowledgements
        return (
            f"{{'producer': {kwargs.get('producer')!r}, 'processed': {len(kwargs.get('processed') or ())}, "
            f"'dead_lettered': {len(kwargs.get('dead_lettered') or ())}}}"
        )
    envelope = kwargs.get("envelope") or {}
    return (
        f"{{'handler': {kwargs.get('handler')!r}, 'event_type': {envelope.get('event_type')!r}, "
        f"'event_id': {envelope.get('event_id')!r}, 'delivery_id': {kwargs.get('delivery_id')!r}}}"
    )


def _claim(qs: QuerySet[Delivery], using: str, limit: int) -> list[Delivery]:
    qs = qs.select_related("event").order_by("id")
    if connections[using].features.has_select_for_update_skip_locked:
        # Two relays never claim the same row: the second skips rows the first holds.
        qs = qs.select_for_update(skip_locked=True, of=("self",))
    return list(qs[:limit])


def _send_claimed(qs: QuerySet[Delivery], *, using: str, limit: int) -> int:
    started = time.perf_counter()
    with transaction.atomic(using=using):
        batch = _claim(qs, using, limit)
        if not batch:
            return 0
        returned = send_messages([(d.queue, delivery_message(d)) for d in batch])
        taken = [d for position, d in enumerate(batch) if position not in returned]
        Delivery.objects.using(using).filter(pk__in=[d.pk for d in taken]).update(
            status=Delivery.Status.SENT, send_count=F("send_count") + 1, last_sent_at=timezone.now()
        )
    metrics.RELAY_BATCH_SECONDS.observe(time.perf_counter() - started)
    for queue, count in Counter(d.queue for d in taken).items():
        metrics.DELIVERIES_SENT.labels(queue).inc(count)
    return len(taken)


def open_deliveries(using: str) -> QuerySet[Delivery]:
    """Deliveries not processed yet, stated so that every database finds them by the partial
    index delivery_open_idx.

    SQLite uses a partial index only when the query repeats the index's condition with literal
    values (it never matches bound parameters against it), so the condition is added here as
    literal SQL; without it, looking for pending or stale deliveries scans the whole table, which
    grows with every processed delivery (docs/performance.md). PostgreSQL needs no help and is
    not hindered by it.
    """
    ops = connections[using].ops
    table, status = ops.quote_name(Delivery._meta.db_table), ops.quote_name("status")
    open_statuses = f"'{Delivery.Status.PENDING.value}', '{Delivery.Status.SENT.value}'"  # as in the index
    condition = RawSQL(f"{table}.{status} IN ({open_statuses})", (), output_field=BooleanField())  # noqa: S611
    return Delivery.objects.using(using).filter(condition)


# After the broker refused a send, sending after commit pauses in this process for
# MESSAGING_SEND_PAUSE_AFTER_FAILURE seconds: every commit would otherwise wait for the broker's
# connection attempts with Redis down (docs/performance.md), a request with it. Deliveries stay pending
# meanwhile; the relay loop sends them once the broker is back.
_send_paused_until = 0.0


def sending_paused() -> bool:
    """Whether this process leaves sending to the relay loop for now (the broker failed lately)."""
    return time.monotonic() < _send_paused_until


def send_committed(*, using: str, deliveries: Sequence[CommittedDelivery]) -> int:
    """Send the deliveries a transaction just committed, from memory, as one pipeline. Never
    raises: the relay loop and the sweep send whatever this could not.

    The rows were written as sent in the committed transaction (publish._hand_over_on_commit), so
    nothing is read or written here when the broker takes them. When it does not (or sending
    paused after a failure meanwhile), they are put back to pending for the relay loop.
    """
    global _send_paused_until
    if not deliveries:
        return 0
    if sending_paused():  # the broker failed a moment ago, after these rows were written
        _return_to_relay(using, deliveries)
        return 0
    started = time.perf_counter()
    try:
        returned = send_messages([(d.queue, d.kwargs) for d in deliveries])
    except Exception:
        pause = settings.MESSAGING_SEND_PAUSE_AFTER_FAILURE
        _send_paused_until = time.monotonic() + pause
        logger.warning(
            "Sending after commit failed; %d deliveries wait in the outbox for the relay, and sending after "
            "commit pauses for %gs",
            len(deliveries),
            pause,
            exc_info=True,
        )
        _return_to_relay(using, deliveries)
        return 0
    if returned:
        _return_to_relay(using, [d for position, d in enumerate(deliveries) if position in returned])
        deliveries = [d for position, d in enumerate(deliveries) if position not in returned]
    metrics.RELAY_BATCH_SECONDS.observe(time.perf_counter() - started)
    for queue, count in Counter(d.queue for d in deliveries).items():
        metrics.DELIVERIES_SENT.labels(queue).inc(count)
    return len(deliveries)


def _return_to_relay(using: str, deliveries: Sequence[CommittedDelivery]) -> None:
    """Put deliveries written as sent but not sent back to pending, for the relay loop. If even
    that fails (the database is down too), the sweep sends them after MESSAGING_REDELIVER_AFTER."""
    try:
        # A transaction of its own rather than autocommit: on SQLite it then waits for the write
        # lock as every transaction does (project.db.backends.sqlite3), not by the busy handler.
        with transaction.atomic(using=using):
            Delivery.objects.using(using).filter(
                pk__in=[d.delivery_id for d in deliveries], status=Delivery.Status.SENT, send_count=1
            ).update(status=Delivery.Status.PENDING, send_count=0, last_sent_at=None)
    except Exception:
        logger.warning(
            "Could not return %d unsent deliveries to the relay; the sweep will send them",
            len(deliveries),
            exc_info=True,
        )


def relay_pending(*, using: str = "default", limit: int | None = None) -> int:
    """Send pending deliveries in batches until none is left (or ``limit`` were sent)."""
    batch_size = settings.MESSAGING_RELAY_BATCH_SIZE
    sent = 0
    while limit is None or sent < limit:
        step = batch_size if limit is None else min(batch_size, limit - sent)
        qs = open_deliveries(using).filter(status=Delivery.Status.PENDING)
        count = _send_claimed(qs, using=using, limit=step)
        sent += count
        if count < step:
            break
    return sent


@dataclass
class SweepReport:
    sent: int = 0
    confirmed: int = 0
    dead_lettered: int = 0
    requeued: int = 0
    requeued_ids: list[int] = field(default_factory=list)
    acknowledged: int = 0  # acknowledgements sent to producers on other databases


def sweep(*, using: str = "default") -> SweepReport:
    """Repair the outbox: re-queue deliveries the broker may have lost, then send everything pending.

    A delivery sent more than MESSAGING_REDELIVER_AFTER seconds ago and still not confirmed is
    checked against its consumer's inbox and dead letters when the consumer shares this database
    (one query each): processed ones are confirmed, dead-lettered ones are marked so, and the rest
    are sent again. A consumer on another database is never read: its deliveries are sent again,
    and its inbox acknowledges the duplicate (a lost acknowledgement costs this re-send). Last,
    the acknowledgements this database holds as a consumer go to their producers. The wait doubles
    with every send (up to 8x): a message that is merely queued behind a long backlog (a consumer
    stopped for an hour) is not copied into its queue again every MESSAGING_REDELIVER_AFTER.
    """
    report = SweepReport()
    with transaction.atomic(using=using):
        stale = _claim(
            open_deliveries(using).filter(Q(status=Delivery.Status.SENT) & _due_for_resend(timezone.now())),
            using,
            settings.MESSAGING_RELAY_BATCH_SIZE * 10,
        )
        processed, dead = _consumer_outcomes(stale)
        now = timezone.now()
        confirmed = [d.pk for d in stale if (d.handler, d.event_id) in processed]
        dead_ids = [d.pk for d in stale if (d.handler, d.event_id) in dead]
        lost = [d.pk for d in stale if d.pk not in set(confirmed) | set(dead_ids)]
        delivered = Delivery.objects.using(using)
        delivered.filter(pk__in=confirmed).update(status=Delivery.Status.PROCESSED, processed_at=now)
        delivered.filter(pk__in=dead_ids).update(status=Delivery.Status.DEAD_LETTERED)
        delivered.filter(pk__in=lost).update(status=Delivery.Status.PENDING)
    if lost:
        logger.warning("Re-sending %d deliveries sent but never processed", len(lost))
    report.confirmed, report.dead_lettered, report.requeued = len(confirmed), len(dead_ids), len(lost)
    report.requeued_ids = lost
    report.sent = relay_pending(using=using)
    report.acknowledged = send_acknowledgements(using=using)
    return report


def send_acknowledgements(*, using: str) -> int:
    """Send the acknowledgements this (consumer's) database holds to their producers, in batches:
    one message per producer and up to ACKNOWLEDGEMENTS_PER_MESSAGE deliveries, all of a round over
    one broker connection. Rows are deleted in the transaction that claimed them, once the broker
    took their message; a crash in between sends them again (harmless: applying is idempotent).
    Returns how many acknowledgement rows were sent."""
    sent = 0
    while True:
        with transaction.atomic(using=using):
            batches = acknowledgements.claim_pending(using)
            if not batches:
                return sent
            refused = send_messages(
                [(batch.queue, batch.task_kwargs()) for batch in batches], task_name=acknowledgement_task_name
            )
            taken = [batch for position, batch in enumerate(batches) if position not in refused]
            sent += acknowledgements.forget_sent(using, taken)
        if refused or sum(len(b.row_ids) for b in batches) < acknowledgements.ACKNOWLEDGEMENTS_PER_ROUND:
            return sent


def _due_for_resend(now: datetime) -> Q:
    """Sent ``send_count`` times and unconfirmed for MESSAGING_REDELIVER_AFTER x 1, 2, 4, 8 seconds."""
    after = timedelta(seconds=settings.MESSAGING_REDELIVER_AFTER)
    return (
        Q(send_count__lte=1, last_sent_at__lt=now - after)
        | Q(send_count=2, last_sent_at__lt=now - 2 * after)
        | Q(send_count=3, last_sent_at__lt=now - 4 * after)
        | Q(send_count__gte=4, last_sent_at__lt=now - 8 * after)
    )


def _consumer_outcomes(
    deliveries: Sequence[Delivery],
) -> tuple[set[tuple[str, uuid.UUID]], set[tuple[str, uuid.UUID]]]:
    by_db: dict[str, list[Delivery]] = {}
    for d in deliveries:
        consumer_db = database_for(d.queue)
        if runs_here(d.queue) and consumer_db == d._state.db:  # another domain's database is not ours to read
            by_db.setdefault(consumer_db, []).append(d)
    processed: set[tuple[str, uuid.UUID]] = set()
    dead: set[tuple[str, uuid.UUID]] = set()
    for db, items in by_db.items():
        event_ids = {d.event_id for d in items}
        handlers = {d.handler for d in items}
        processed |= set(
            InboxRecord.objects.using(db)
            .filter(event_id__in=event_ids, handler__in=handlers)
            .values_list("handler", "event_id")
        )
        dead |= set(
            DeadLetter.objects.using(db)
            .filter(event_id__in=event_ids, handler__in=handlers)
            .exclude(status=DeadLetter.Status.RESOLVED)
            .values_list("handler", "event_id")
        )
    return processed, dead
