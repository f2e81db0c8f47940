"""Health checks (django-health-check): database, broker, workers per queue, outbox lag, and
the /health/ view that shows them.

Anyone may ask /health/, and the checks ask the workers over the broker (up to ~6 s): the verdict
given to anonymous callers and customers is kept in Django's cache (Redis, shared by every
process) for HEALTH_ANONYMOUS_CACHE_SECONDS (5; 0 turns it off), so that asking in a loop costs one
run of the checks per window, not one per request. Staff and the METRICS_TOKEN bearer always get a
fresh run."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import redis.asyncio
import structlog
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from health_check.base import HealthCheck
from health_check.checks import Database
from health_check.exceptions import ServiceUnavailable, ServiceWarning
from health_check.views import HealthCheckView
from kombu import Connection
from kombu.pidbox import Mailbox
from redis.exceptions import RedisError

from project.messaging.broker import ping
from project.messaging.models import Delivery
from project.messaging.operations.selectors import projection_rebuilds_unfinished
from project.messaging.outbox.relay import open_deliveries
from project.messaging.registry.databases import messaging_databases
from project.observability.exposition import carries_metrics_token

logger = structlog.get_logger(__name__)

ANONYMOUS_VERDICT_KEY = "health:anonymous-verdict"
VERDICTS = ("ok", "failing")
REBUILD_STALLED_AFTER = timedelta(minutes=2)  # a running rebuild commits a batch far more often


@dataclasses.dataclass
class Broker(HealthCheck):
    """The broker answers: Redis a PING, RabbitMQ an AMQP connection (kombu). The error names which."""

    timeout = timedelta(seconds=3)

    async def run(self) -> None:
        kind = settings.MESSAGING_BROKER
        if kind != "redis":
            try:
                await asyncio.to_thread(ping, settings.CELERY_BROKER_URL, timeout=2.0)
            except Exception as exc:  # noqa: BLE001  (whatever the AMQP client raises)
                raise ServiceUnavailable(f"{kind} broker unreachable: {type(exc).__name__}") from exc
            return
        client = redis.asyncio.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=2)
        try:
            await client.ping()
        except redis.RedisError as exc:
            raise ServiceUnavailable(f"redis broker unreachable: {type(exc).__name__}") from exc
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
            raise ServiceUnavailable(
                f"cannot ask the workers over {settings.MESSAGING_BROKER}: {type(exc).__name__}"
            ) from exc
        served = {queue["name"] for reply in replies for queues in reply.values() for queue in queues}
        missing = sorted(set(settings.MESSAGING_QUEUES) - served)
        if missing:
            raise ServiceUnavailable(f"{settings.MESSAGING_BROKER}: no worker consumes: {', '.join(missing)}")


@dataclasses.dataclass
class OutboxLag(HealthCheck):
    """The oldest delivery still waiting to be sent is younger than MESSAGING_HEALTH_MAX_OUTBOX_LAG."""

    def run(self) -> None:
        limit = settings.MESSAGING_HEALTH_MAX_OUTBOX_LAG
        for alias in messaging_databases():
            oldest = (
                open_deliveries(alias)  # by the partial index, on SQLite too
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


@dataclasses.dataclass
class ProjectionRebuilds(HealthCheck):
    """No projection is left half rebuilt: a rebuild (``replay_events --from-scratch``) that was
    interrupted or stopped on a failure leaves its table incomplete until it is resumed. One that
    is running commits a batch every few seconds; one silent for REBUILD_STALLED_AFTER stopped."""

    def run(self) -> None:
        stalled_since = timezone.now() - REBUILD_STALLED_AFTER
        stalled = [
            f"{r.projection} ({r.deliveries_done}/{r.deliveries_total})"
            for r in projection_rebuilds_unfinished()
            if r.updated_at < stalled_since
        ]
        if stalled:
            raise ServiceUnavailable(
                f"rebuild unfinished, resume it with replay_events --from-scratch: {', '.join(stalled)}"
            )


# Besides one health_check.checks.Database per configured database (HealthView.get_checks).
CHECKS = (
    Broker,
    WorkersPerQueue,
    OutboxLag,
    ProjectionRebuilds,
)


async def may_see_health_details(request: HttpRequest) -> bool:
    """Staff (signed in to the admin) and scrapers with the METRICS_TOKEN bearer."""
    if carries_metrics_token(request):
        return True
    user = await request.auser()
    return user.is_active and user.is_staff


class HealthView(HealthCheckView):
    """/health/: every check and its error for staff and for the METRICS_TOKEN bearer (any format
    django-health-check offers); for anyone else only the verdict, ``{"status": "ok"}`` (200) or
    ``{"status": "failing"}`` (503), since the errors name hosts, queues and backlogs, and up to
    HEALTH_ANONYMOUS_CACHE_SECONDS old. A failing system answers 503 whoever asks
    (django-health-check's own answer is 500)."""

    checks = CHECKS

    def get_checks(self) -> Iterator[HealthCheck]:
        # Every database answers, each through its own connection: with a database per domain,
        # one domain's being down is named here while the others' keep working.
        for alias in messaging_databases():
            yield Database(alias=alias)
        yield from super().get_checks()

    async def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if await may_see_health_details(request):
            response = await super().get(request, *args, **kwargs)
            if response.status_code == 500:
                response.status_code = 503
        else:
            verdict = await self.anonymous_verdict()
            response = JsonResponse({"status": verdict}, status=200 if verdict == "ok" else 503)
        patch_vary_headers(response, ["Authorization", "Cookie"])
        return response

    async def anonymous_verdict(self) -> str:
        """The verdict, "ok" or "failing": the one a run of the last HEALTH_ANONYMOUS_CACHE_SECONDS
        left in the cache, else a fresh run's (kept for the next callers). Without the cache (its
        Redis down) every request runs the checks."""
        seconds = getattr(settings, "HEALTH_ANONYMOUS_CACHE_SECONDS", 5)
        if seconds > 0:
            try:
                cached = await cache.aget(ANONYMOUS_VERDICT_KEY)
            except (RedisError, OSError, DatabaseError) as exc:
                logger.warning("health cache unavailable; running the checks", error=type(exc).__name__)
                seconds = 0
            else:
                if cached in VERDICTS:
                    return cached
        verdict = await self.run_checks()
        if seconds > 0:
            try:
                await cache.aset(ANONYMOUS_VERDICT_KEY, verdict, timeout=seconds)
            except (RedisError, OSError, DatabaseError) as exc:
                logger.warning("health cache unavailable; verdict not kept", error=type(exc).__name__)
        return verdict

    async def run_checks(self) -> str:
        with self.get_executor() as executor:
            results = await asyncio.gather(*(check.get_result(executor) for check in self.get_checks()))
        return "failing" if any(result.error for result in results) else "ok"
