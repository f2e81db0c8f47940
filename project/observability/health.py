"""Health checks (django-health-check): database, broker, workers per queue, outbox lag."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import redis.asyncio
from django.conf import settings
from django.db import connections
from django.utils import timezone
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable, ServiceWarning
from kombu import Connection
from kombu.pidbox import Mailbox

from project.messaging.models import Delivery


@dataclasses.dataclass
class Broker(HealthCheck):
    """The Redis broker answers PING."""

    timeout = timedelta(seconds=3)

    async def run(self) -> None:
        client = redis.asyncio.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=2)
        try:
            await client.ping()
        except redis.RedisError as exc:
            raise ServiceUnavailable(f"broker unreachable: {type(exc).__name__}") from exc
        finally:
            await client.aclose()


@dataclasses.dataclass
class WorkersPerQueue(HealthCheck):
    """Every queue in MESSAGING_QUEUES is consumed by at least one live worker."""

    timeout = timedelta(seconds=6)

    def run(self) -> None:
        # Asks the workers over the broker like `celery inspect active_queues`, on a connection of
        # its own that tries once: the app's shared connection retries forever (right for workers,
        # wrong for a probe that must answer).
        try:
            with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as connection:
                connection.ensure_connection(max_retries=1)
                mailbox = Mailbox("celery", type="fanout", accept=["json"], serializer="json")(connection)
                replies = mailbox._broadcast("active_queues", reply=True, timeout=1.0) or []
        except Exception as exc:  # broker down: the Broker check says why
            raise ServiceUnavailable(f"cannot ask the workers: {type(exc).__name__}") from exc
        served = {queue["name"] for reply in replies for queues in reply.values() for queue in queues}
        missing = sorted(set(settings.MESSAGING_QUEUES) - served)
        if missing:
            raise ServiceUnavailable(f"no worker consumes: {', '.join(missing)}")


@dataclasses.dataclass
class OutboxLag(HealthCheck):
    """The oldest delivery still waiting to be sent is younger than MESSAGING_HEALTH_MAX_OUTBOX_LAG."""

    def run(self) -> None:
        limit = settings.MESSAGING_HEALTH_MAX_OUTBOX_LAG
        for alias in connections:
            oldest = (
                Delivery.objects.using(alias)
                .filter(status=Delivery.Status.PENDING)
                .order_by("id")
                .values_list("created_at", flat=True)
                .first()
            )
            if oldest is None:
                continue
            lag = (timezone.now() - oldest).total_seconds()
            if lag > limit:
                raise ServiceUnavailable(f"outbox on {alias}: oldest unsent event waits {lag:.0f}s (> {limit:g}s)")
            if lag > limit / 2:
                raise ServiceWarning(f"outbox on {alias}: oldest unsent event waits {lag:.0f}s")


CHECKS = (
    "health_check.checks.Database",
    Broker,
    WorkersPerQueue,
    OutboxLag,
)
