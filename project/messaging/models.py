"""Bookkeeping tables of the messaging layer.

OutboxEvent and Delivery are written by the producer, in its own transaction and on its own
database; InboxRecord and DeadLetter are written by the consumer, on the consumer's database.
No query joins a producer's rows with a consumer's rows, so each domain can move to its own
database later (the tables then exist in each one).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from project.messaging.contract.events import Envelope


class OutboxEvent(models.Model):
    """One published message: the outbox and the event log. Its deliveries say who must get it."""

    event_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event_type = models.CharField(max_length=120, db_index=True)
    schema_version = models.PositiveIntegerField()
    producer = models.CharField(max_length=60)
    aggregate_type = models.CharField(max_length=60)
    aggregate_id = models.CharField(max_length=120)
    aggregate_version = models.BigIntegerField(null=True, blank=True)
    correlation_id = models.UUIDField(db_index=True)
    causation_id = models.UUIDField(null=True, blank=True, db_index=True)
    occurred_at = models.DateTimeField(db_index=True)
    payload = models.JSONField()
    # The envelope's W3C trace context (traceparent, tracestate) when tracing was on at publish.
    trace_context = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["occurred_at"]
        indexes = [models.Index(fields=["aggregate_type", "aggregate_id"])]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"

    def envelope(self) -> Envelope:
        return Envelope(
            event_id=self.event_id,
            event_type=self.event_type,
            schema_version=self.schema_version,
            occurred_at=self.occurred_at,
            producer=self.producer,
            aggregate_type=self.aggregate_type,
            aggregate_id=self.aggregate_id,
            aggregate_version=self.aggregate_version,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
            payload=self.payload,
            trace_context=self.trace_context,
        )


class Delivery(models.Model):
    """One (event, handler) pair, tracked from the outbox until the handler processed it."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending (not sent yet)"
        SENT = "sent", "sent to the broker"
        PROCESSED = "processed", "processed by the handler"
        DEAD_LETTERED = "dead_lettered", "dead-lettered"

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    handler = models.CharField(max_length=160)
    queue = models.CharField(max_length=60)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    send_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [models.UniqueConstraint(fields=["event", "handler"], name="delivery_once_per_handler")]
        indexes = [
            # The relay and the sweep only ever look at open deliveries: a partial index stays
            # small however many processed rows the table holds.
            models.Index(
                fields=["status", "id"],
                name="delivery_open_idx",
                condition=Q(status__in=["pending", "sent"]),
            ),
            models.Index(fields=["processed_at"], name="delivery_processed_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.handler} ({self.status})"


class InboxRecord(models.Model):
    """Proof that a handler applied an event. Inserted in the handler's own transaction."""

    handler = models.CharField(max_length=160)
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=120)
    processed_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["handler", "event_id"], name="inbox_once_per_handler")]

    def __str__(self) -> str:
        return f"{self.handler} applied {self.event_id}"


class DeadLetter(models.Model):
    """A delivery that failed for good, kept with everything an operator needs to fix and replay it."""

    class Status(models.TextChoices):
        DEAD = "dead", "dead (awaiting an operator)"
        REPLAYING = "replaying", "replay sent"
        RESOLVED = "resolved", "resolved by a replay"
        DISCARDED = "discarded", "discarded"

    handler = models.CharField(max_length=160, db_index=True)
    queue = models.CharField(max_length=60)
    event_id = models.UUIDField(db_index=True)
    event_type = models.CharField(max_length=120, db_index=True)
    correlation_id = models.UUIDField(null=True, blank=True, db_index=True)
    delivery_id = models.BigIntegerField(null=True, blank=True)
    envelope = models.JSONField()
    error_type = models.CharField(max_length=200)
    error_message = models.TextField()
    traceback = models.TextField(blank=True)
    fingerprint = models.CharField(max_length=64, db_index=True)
    permanent = models.BooleanField(help_text="False when retries of a transient fault ran out.")
    attempts = models.PositiveIntegerField(default=1)
    first_failed_at = models.DateTimeField()
    last_failed_at = models.DateTimeField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DEAD)
    replay_count = models.PositiveIntegerField(default=0)
    last_replayed_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    discard_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-last_failed_at"]
        constraints = [models.UniqueConstraint(fields=["handler", "event_id"], name="dead_letter_once_per_handler")]
        indexes = [models.Index(fields=["status", "last_failed_at"], name="dead_letter_status_idx")]

    def __str__(self) -> str:
        return f"{self.handler} x {self.event_type} {self.event_id}: {self.error_type}"


class ProjectionRebuild(models.Model):
    """The checkpoint of a projection's rebuild from scratch (``replay_events --from-scratch``).

    Written on the projection's database in the same transaction as each batch of the rebuild, so
    it says exactly how much of the rebuild is committed. While ``finished_at`` is empty the
    projection holds only part of what the event log says (the rebuild was interrupted or stopped
    on a failure): it is claimed incomplete, and running the rebuild again resumes it.
    """

    projection = models.CharField(max_length=160, unique=True)
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    deliveries_total = models.PositiveIntegerField(default=0)
    deliveries_done = models.PositiveIntegerField(default=0)
    batches_committed = models.PositiveIntegerField(default=0)
    last_event_id = models.UUIDField(null=True, blank=True)
    last_error = models.TextField(blank=True, help_text="Why the last run stopped before the end, if it failed.")

    def __str__(self) -> str:
        state = "finished" if self.finished_at else f"unfinished at {self.deliveries_done}/{self.deliveries_total}"
        return f"rebuild of {self.projection} ({state})"

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


class Acknowledgement(models.Model):
    """ "Delivery D of producer P was processed (or dead-lettered)": written by the consumer on its
    own database, in the transaction that applied the delivery (or parked it), when the producer's
    deliveries live on another database. The relay sends them to the producer in batches, one
    message per producer, and deletes them once the broker took the message
    (project.messaging.outbox.acknowledgements)."""

    class Outcome(models.TextChoices):
        PROCESSED = "processed", "processed by the handler"
        DEAD_LETTERED = "dead_lettered", "dead-lettered"

    producer = models.CharField(max_length=60, help_text="The app label of the producer (the envelope's).")
    delivery_id = models.BigIntegerField(help_text="The id of the delivery on the producer's database.")
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.producer} delivery {self.delivery_id} {self.outcome}"
