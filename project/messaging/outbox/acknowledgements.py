"""Acknowledgements: how a producer learns that a delivery was processed (or dead-lettered) when
its deliveries live on another database than the consumer's (docs/messaging.md, "Acknowledgements").

The consumer writes an Acknowledgement row on its own database, in the transaction that applied
the delivery (or parked it as a dead letter), so it commits with the effects and only with them.
The consumer domain's relay (outbox.relay.send_acknowledgements, run by every sweep) sends them in
batches, one message per producer carrying many delivery ids, to the producer's queue, and deletes
them once the broker took the message. The producer's worker marks its deliveries
(apply_acknowledgements): idempotent, safe out of order, ids it does not know are ignored. A lost
acknowledgement costs a re-send: the sweep sends the delivery again, the consumer's inbox drops
the duplicate and acknowledges it again.

When both sides share a database (the same alias) none of this is used: the consumer marks the
delivery row in the handler's own transaction (inbox.consumer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from project.messaging.models import Acknowledgement, Delivery
from project.messaging.registry.databases import database_for

# Delivery ids per message: a few kilobytes of JSON, well under any broker's limit.
ACKNOWLEDGEMENTS_PER_MESSAGE = 500
# Rows read per round of the sender (several messages, one broker round trip).
ACKNOWLEDGEMENTS_PER_ROUND = 5000
# Where acknowledgements go for a producer that consumes nothing (it has no queue of its own).
FALLBACK_QUEUE = "messaging"


def acknowledgement_queue(producer: str) -> str:
    """The queue the producer's worker consumes: the one named after the app, else ``messaging``."""
    return producer if producer and producer in settings.MESSAGING_QUEUES else FALLBACK_QUEUE


@dataclass
class AcknowledgementBatch:
    """One message's worth of acknowledgements for one producer, and the rows it carries."""

    producer: str
    processed: list[int] = field(default_factory=list)
    dead_lettered: list[int] = field(default_factory=list)
    row_ids: list[int] = field(default_factory=list)

    @property
    def queue(self) -> str:
        return acknowledgement_queue(self.producer)

    def task_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the "<queue>.acknowledge" Celery task (all JSON types)."""
        return {"producer": self.producer, "processed": self.processed, "dead_lettered": self.dead_lettered}


def claim_pending(using: str, *, limit: int = ACKNOWLEDGEMENTS_PER_ROUND) -> list[AcknowledgementBatch]:
    """The oldest pending acknowledgements of this database, grouped per producer and cut into
    messages. Call inside a transaction: on PostgreSQL the rows stay locked (SKIP LOCKED) until
    it ends, so two senders never send the same row."""
    qs = Acknowledgement.objects.using(using).order_by("id")
    if connections[using].features.has_select_for_update_skip_locked:
        qs = qs.select_for_update(skip_locked=True)
    rows = list(qs.values_list("id", "producer", "delivery_id", "outcome")[:limit])
    by_producer: dict[str, dict[int, str]] = {}
    rows_of: dict[tuple[str, int], list[int]] = {}
    for row_id, producer, delivery_id, outcome in rows:
        outcomes = by_producer.setdefault(producer, {})
        # A delivery acknowledged twice (a duplicate) goes once; processed wins over dead-lettered
        # (a replay, or a sibling copy, succeeded after all).
        if outcomes.get(delivery_id) != Acknowledgement.Outcome.PROCESSED:
            outcomes[delivery_id] = outcome
        rows_of.setdefault((producer, delivery_id), []).append(row_id)
    batches: list[AcknowledgementBatch] = []
    for producer, outcomes in by_producer.items():
        ids = list(outcomes)
        for start in range(0, len(ids), ACKNOWLEDGEMENTS_PER_MESSAGE):
            batch = AcknowledgementBatch(producer)
            for delivery_id in ids[start : start + ACKNOWLEDGEMENTS_PER_MESSAGE]:
                if outcomes[delivery_id] == Acknowledgement.Outcome.PROCESSED:
                    batch.processed.append(delivery_id)
                else:
                    batch.dead_lettered.append(delivery_id)
                batch.row_ids += rows_of[(producer, delivery_id)]
            batches.append(batch)
    return batches


def forget_sent(using: str, batches: list[AcknowledgementBatch]) -> int:
    """Delete the rows of acknowledgements the broker took."""
    row_ids = [row_id for batch in batches for row_id in batch.row_ids]
    if not row_ids:
        return 0
    deleted, _ = Acknowledgement.objects.using(using).filter(pk__in=row_ids).delete()
    return deleted


@dataclass(frozen=True)
class Applied:
    processed: int
    dead_lettered: int


def apply_acknowledgements(*, producer: str, processed: list[int], dead_lettered: list[int]) -> Applied:
    """The producer's side: mark its deliveries, on its own database, as the consumer said.

    Idempotent and safe in any order: a processed delivery stays processed (a late dead-letter
    acknowledgement, or a second copy of this one, changes nothing); a dead-lettered one becomes
    processed when a later acknowledgement says so (a replay succeeded); an id this database does
    not hold is ignored. Returns how many rows changed.
    """
    using = database_for(producer)
    processed_ids = [int(i) for i in processed]
    dead_ids = [int(i) for i in dead_lettered if int(i) not in set(processed_ids)]
    deliveries = Delivery.objects.using(using)
    with transaction.atomic(using=using):
        marked = (
            deliveries.filter(pk__in=processed_ids)
            .exclude(status=Delivery.Status.PROCESSED)
            .update(status=Delivery.Status.PROCESSED, processed_at=timezone.now())
        )
        parked = deliveries.filter(pk__in=dead_ids, status__in=[Delivery.Status.PENDING, Delivery.Status.SENT]).update(
            status=Delivery.Status.DEAD_LETTERED
        )
    return Applied(processed=marked, dead_lettered=parked)
