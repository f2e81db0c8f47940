"""Send a consumer again what its producers delivered to it since a moment: the repair after the
consumer's database was restored from a backup (docs/operations.md, "A consumer's database
restored from a backup").

A restored consumer has forgotten what it applied after the backup (its inbox and the effects
went back together), but its producers heard it applied them (their deliveries are processed),
so nothing would ever send those messages again. ``redeliver`` puts the producers' deliveries
to that consumer settled since the moment back to pending, on every producer database of this
process; the relay sends them as it sends any pending delivery. The consumer's inbox applies
the forgotten ones and drops the rest as duplicates (acknowledging them again), and what it
publishes while re-applying keeps the ids it had (context.caused_event_id), so its own
consumers drop what they already got.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from project.errors import DomainError
from project.messaging.models import Delivery
from project.messaging.outbox.relay import relay_pending
from project.messaging.registry.databases import messaging_databases

logger = logging.getLogger(__name__)


class RedeliveryError(DomainError):
    """The redelivery request is impossible as given; nothing was changed (the message says why)."""

    code = "redelivery-refused"


@dataclass
class Redelivered:
    """What one producer database did: deliveries put back to pending, by the outcome they had."""

    database: str
    processed: int = 0
    dead_lettered: int = 0
    sent: int | None = None  # pending deliveries the relay sent at once (None: not tried, dry run or failed)

    @property
    def total(self) -> int:
        return self.processed + self.dead_lettered


def retry_window() -> timedelta:
    """How long after its last send a delivery may still be dead-lettered: its retries (Celery's,
    not new sends) wait up to MESSAGING_RETRY_BACKOFF_MAX each."""
    return timedelta(seconds=settings.MESSAGING_MAX_ATTEMPTS * settings.MESSAGING_RETRY_BACKOFF_MAX)


def settled_since(using: str, *, queue: str, since: datetime) -> QuerySet[Delivery]:
    """The deliveries to ``queue`` on ``using`` whose outcome may have been recorded at or after
    ``since``: processed then (processed_at is when the producer heard it, never before the
    consumer committed), or dead-lettered by a delivery last sent within a retry window of it (a
    dead-lettered row carries no time of its own). Wider than exact is harmless: the inbox drops
    what it applied already."""
    return Delivery.objects.using(using).filter(
        Q(status=Delivery.Status.PROCESSED, processed_at__gte=since)
        | Q(status=Delivery.Status.DEAD_LETTERED, last_sent_at__gte=since - retry_window()),
        queue=queue,
    )


def redeliver(*, queue: str, since: datetime, dry_run: bool = False) -> list[Redelivered]:
    """Put the deliveries to ``queue`` settled since ``since`` back to pending on every producer
    database of this process, one transaction each, then let the relay send them at once (what it
    cannot send now, the relay loop sends). ``dry_run``: count them, change nothing."""
    if queue not in settings.MESSAGING_QUEUES:
        raise RedeliveryError(f"Unknown queue {queue!r}. Known queues: {', '.join(settings.MESSAGING_QUEUES)}.")
    if timezone.is_naive(since):
        raise RedeliveryError("The time to redeliver from needs a time zone.")
    if since > timezone.now():
        raise RedeliveryError(f"{since.isoformat()} is in the future: nothing was settled since then.")
    done = []
    for alias in messaging_databases():
        result = Redelivered(database=alias)
        selected = settled_since(alias, queue=queue, since=since)
        if dry_run:
            result.processed = selected.filter(status=Delivery.Status.PROCESSED).count()
            result.dead_lettered = selected.filter(status=Delivery.Status.DEAD_LETTERED).count()
            done.append(result)
            continue
        with transaction.atomic(using=alias):
            result.processed = selected.filter(status=Delivery.Status.PROCESSED).update(
                status=Delivery.Status.PENDING, processed_at=None, send_count=0, last_sent_at=None
            )
            result.dead_lettered = selected.filter(status=Delivery.Status.DEAD_LETTERED).update(
                status=Delivery.Status.PENDING, send_count=0, last_sent_at=None
            )
        if result.total:
            logger.warning(
                "Redelivering %d deliveries to %s settled since %s (%s)", result.total, queue, since.isoformat(), alias
            )
            try:
                result.sent = relay_pending(using=alias)
            except Exception:  # noqa: BLE001 (the broker is down: they stay pending for the relay loop)
                logger.warning("Could not send the redeliveries on %s now; the relay loop will", alias, exc_info=True)
        done.append(result)
    return done
