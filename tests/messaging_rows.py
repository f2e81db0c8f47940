"""The messaging rows of one app, read from that app's database: a test's view of an outbox, an
inbox or the dead letters that is true on one database and with every domain on its own.

Each messaging row lives in the database of the app it belongs to (database_for): an event and
its deliveries in the producer's, an inbox record, a dead letter or an acknowledgement in the
consumer's. ``OutboxEvent.objects`` alone reads the default database, which, split, holds none of a
domain's rows, so a test asserting "nothing was announced" there would pass for the wrong reason.
"""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Model, QuerySet

from project.messaging.models import (
    Acknowledgement,
    DeadLetter,
    Delivery,
    InboxRecord,
    OutboxEvent,
    ProjectionRebuild,
)
from project.messaging.outbox.acknowledgements import acknowledgement_queue
from project.messaging.registry.databases import database_for, messaging_databases

M = TypeVar("M", bound=Model)


def outbox_events(producer: str) -> QuerySet[OutboxEvent]:
    """The events ``producer`` (an app label) published."""
    return OutboxEvent.objects.using(database_for(producer))


def deliveries(producer: str) -> QuerySet[Delivery]:
    """The deliveries of the events ``producer`` published (to every consumer)."""
    return Delivery.objects.using(database_for(producer))


def inbox_records(consumer: str) -> QuerySet[InboxRecord]:
    """The messages ``consumer``'s handlers have handled."""
    return InboxRecord.objects.using(database_for(consumer))


def dead_letters(consumer: str) -> QuerySet[DeadLetter]:
    """The messages ``consumer``'s handlers gave up on."""
    return DeadLetter.objects.using(database_for(consumer))


def acknowledgements(consumer: str) -> QuerySet[Acknowledgement]:
    """The acknowledgements ``consumer`` has yet to send to the producers."""
    return Acknowledgement.objects.using(database_for(consumer))


def projection_rebuilds(app_label: str) -> QuerySet[ProjectionRebuild]:
    """The checkpoints of the rebuilds of ``app_label``'s projections."""
    return ProjectionRebuild.objects.using(database_for(app_label))


def everywhere(model: type[M]) -> list[QuerySet[M]]:
    """The model's rows on each database that holds messaging rows (every producer's deliveries
    to one queue, say): one queryset per database, as no query spans two."""
    return [model.objects.using(alias) for alias in messaging_databases()]


def acknowledgement_queues(consumer: str, *producers: str) -> list[str]:
    """The queues of those producers on another database than ``consumer``: there the consumer
    acknowledges by a message to the producer's queue, and only a worker consuming it marks the
    producer's deliveries processed (a flow test waiting for that starts one)."""
    return [acknowledgement_queue(p) for p in producers if database_for(p) != database_for(consumer)]
