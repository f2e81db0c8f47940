"""Operator use cases of the messaging layer: replay or discard dead letters, purge old rows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from project.messaging import consumer
from project.messaging.databases import db_for_app
from project.messaging.models import DeadLetter, Delivery, InboxRecord, OutboxEvent
from project.messaging.relay import send_messages


class DeadLetterStateError(Exception):
    """The dead letter is not in a state that allows the requested action."""


def _dead_letter_db(dead_letter_id: int) -> str:
    # A dead letter lives on its consumer's database; look on each until found.
    for alias in connections:
        if DeadLetter.objects.using(alias).filter(pk=dead_letter_id).exists():
            return alias
    raise DeadLetter.DoesNotExist(f"No dead letter #{dead_letter_id}.")


def dead_letter_replay(*, dead_letter_id: int, inline: bool = False) -> DeadLetter:
    """Send a dead letter's delivery to its handler again (after the operator fixed the cause).

    The replay goes through the handler's inbox, so a letter whose event was applied meanwhile
    changes nothing and is simply closed. With ``inline`` the handler runs in this process (for
    commands run by an operator); otherwise the message goes to the handler's queue after commit.
    """
    using = _dead_letter_db(dead_letter_id)
    with transaction.atomic(using=using, durable=True):
        letter = DeadLetter.objects.using(using).select_for_update().get(pk=dead_letter_id)
        if letter.status in (DeadLetter.Status.RESOLVED, DeadLetter.Status.DISCARDED):
            raise DeadLetterStateError(f"Dead letter #{letter.pk} is {letter.status}: nothing to replay.")
        if InboxRecord.objects.using(using).filter(handler=letter.handler, event_id=letter.event_id).exists():
            letter.status = DeadLetter.Status.RESOLVED
            letter.resolved_at = timezone.now()
            letter.save(update_fields=["status", "resolved_at"])
            return letter
        letter.status = DeadLetter.Status.REPLAYING
        letter.replay_count += 1
        letter.last_replayed_at = timezone.now()
        letter.save(update_fields=["status", "replay_count", "last_replayed_at"])
        attempt = _replay_attempt(letter)
        if not inline:
            transaction.on_commit(lambda: send_messages([(letter.queue, attempt.task_kwargs())]), using=using)
    if inline:
        consumer.process(attempt)
    letter.refresh_from_db()
    return letter


def _replay_attempt(letter: DeadLetter) -> consumer.DeliveryAttempt:
    producer = str(letter.envelope.get("producer", "")) if isinstance(letter.envelope, dict) else ""
    return consumer.DeliveryAttempt(
        envelope=letter.envelope,
        handler=letter.handler,
        delivery_id=letter.delivery_id,
        producer_db=db_for_app(producer) if producer else None,
    )


def dead_letter_replay_many(*, dead_letter_ids: Iterable[int], inline: bool = False) -> list[DeadLetter]:
    return [dead_letter_replay(dead_letter_id=pk, inline=inline) for pk in dead_letter_ids]


def dead_letter_discard(*, dead_letter_id: int, reason: str) -> DeadLetter:
    """Give up on a dead letter for a recorded reason. The row stays (until retention purges it)."""
    if not reason.strip():
        raise DeadLetterStateError("A reason is required to discard a dead letter.")
    using = _dead_letter_db(dead_letter_id)
    with transaction.atomic(using=using, durable=True):
        letter = DeadLetter.objects.using(using).select_for_update().get(pk=dead_letter_id)
        if letter.status == DeadLetter.Status.RESOLVED:
            raise DeadLetterStateError(f"Dead letter #{letter.pk} is already resolved.")
        letter.status = DeadLetter.Status.DISCARDED
        letter.discard_reason = reason.strip()
        letter.resolved_at = timezone.now()
        letter.save(update_fields=["status", "discard_reason", "resolved_at"])
    return letter


def messaging_purge_expired(*, older_than_days: int | None = None, chunk: int = 5000) -> dict[str, int]:
    """Delete processed outbox rows, inbox rows and closed dead letters older than the retention.

    Keep the retention well above MESSAGING_REDELIVER_AFTER: an inbox row is what makes a very
    late duplicate harmless. Deletes in chunks so no transaction holds locks for long.
    """
    days = settings.MESSAGING_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    purged = {"outbox_events": 0, "inbox_records": 0, "dead_letters": 0}
    open_statuses = [Delivery.Status.PENDING, Delivery.Status.SENT, Delivery.Status.DEAD_LETTERED]
    for alias in connections:
        events = (
            OutboxEvent.objects.using(alias)
            .filter(occurred_at__lt=cutoff)
            .exclude(deliveries__status__in=open_statuses)
        )
        purged["outbox_events"] += _delete_in_chunks(events, alias, chunk, cascade=Delivery, fk="event_id")
        purged["inbox_records"] += _delete_in_chunks(
            InboxRecord.objects.using(alias).filter(processed_at__lt=cutoff), alias, chunk
        )
        purged["dead_letters"] += _delete_in_chunks(
            DeadLetter.objects.using(alias).filter(
                last_failed_at__lt=cutoff,
                status__in=[DeadLetter.Status.RESOLVED, DeadLetter.Status.DISCARDED],
            ),
            alias,
            chunk,
        )
    return purged


def _delete_in_chunks(qs, alias: str, chunk: int, cascade=None, fk: str = "") -> int:
    total = 0
    while True:
        with transaction.atomic(using=alias):
            pks = list(qs.values_list("pk", flat=True)[:chunk])
            if not pks:
                return total
            if cascade is not None:
                cascade.objects.using(alias).filter(**{f"{fk}__in": pks}).delete()
            qs.model.objects.using(alias).filter(pk__in=pks).delete()
        total += len(pks)
