"""Gauges about the state of the messaging layer, computed when Prometheus scrapes."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import redis
from django.conf import settings
from django.db import connections
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from project.messaging.models import DeadLetter, Delivery

logger = logging.getLogger(__name__)


class MessagingStateCollector(Collector):
    """Outbox backlog and age, open dead letters, and the length of every queue in Redis."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        backlog = GaugeMetricFamily(
            "messaging_outbox_backlog", "Deliveries not yet processed, by status.", labels=["database", "status"]
        )
        oldest = GaugeMetricFamily(
            "messaging_outbox_oldest_unsent_age_seconds",
            "Age of the oldest delivery not sent yet.",
            labels=["database"],
        )
        letters = GaugeMetricFamily(
            "messaging_dead_letters_open", "Dead letters awaiting an operator.", labels=["database", "handler"]
        )
        now = timezone.now()
        for alias in connections:
            open_deliveries = Delivery.objects.using(alias).filter(
                status__in=[Delivery.Status.PENDING, Delivery.Status.SENT]
            )
            counts = dict(open_deliveries.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
            for status in (Delivery.Status.PENDING, Delivery.Status.SENT):
                backlog.add_metric([alias, status], counts.get(status, 0))
            first = open_deliveries.filter(status=Delivery.Status.PENDING).aggregate(at=Min("created_at"))["at"]
            oldest.add_metric([alias], (now - first).total_seconds() if first else 0.0)
            rows = (
                DeadLetter.objects.using(alias)
                .filter(status__in=[DeadLetter.Status.DEAD, DeadLetter.Status.REPLAYING])
                .values_list("handler")
                .annotate(n=Count("id"))
            )
            for handler, n in rows:
                letters.add_metric([alias, handler], n)
        yield backlog
        yield oldest
        yield letters
        yield self._queue_lengths()

    def _queue_lengths(self) -> GaugeMetricFamily:
        lengths = GaugeMetricFamily(
            "messaging_queue_length", "Messages waiting in each broker queue.", labels=["queue"]
        )
        try:
            client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1)
            with client.pipeline(transaction=False) as pipe:
                for queue in settings.MESSAGING_QUEUES:
                    pipe.llen(queue)
                for queue, n in zip(settings.MESSAGING_QUEUES, pipe.execute(), strict=True):
                    lengths.add_metric([queue], n)
        except redis.RedisError as exc:
            logger.warning("Queue lengths unavailable: %r", exc)
        return lengths
