"""The broker under Celery, Redis or RabbitMQ, seen through kombu: which one it is, the queues a
message can be routed to (declared before anything is published to them), their depths and
consumers, and whether it answers.

Redis keeps a queue as a list that exists as soon as something is pushed onto it. RabbitMQ drops
a message published to a queue nobody declared, so every publishing process declares every
routable queue before its first publish (``ensure_queues_declared``: idempotent, once per
process, again after the broker returned a message as unroutable). On RabbitMQ the queues are
durable quorum queues (replicated, ``RABBITMQ_QUEUE_TYPE=classic`` for classic durable ones);
docs/messaging.md#brokers says what else differs.

Imported by project/settings.py (``broker_kind``, ``task_queues``): nothing here may need Django
set up at import time.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kombu import Connection, Exchange, Queue

logger = logging.getLogger(__name__)

REDIS = "redis"
RABBITMQ = "rabbitmq"
_SCHEMES = {
    "redis": REDIS,
    "rediss": REDIS,
    "redis+socket": REDIS,
    "amqp": RABBITMQ,
    "amqps": RABBITMQ,
    "pyamqp": RABBITMQ,
}


def broker_kind(url: str) -> str:
    """``"redis"`` or ``"rabbitmq"`` for a broker URL (another scheme is named as it is)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else url.lower()
    return _SCHEMES.get(scheme, scheme)


def task_queues(names: Iterable[str], *, broker: str, queue_type: str, consumer_timeout: int) -> list[Queue]:
    """Celery's queues (CELERY_TASK_QUEUES), one per name, each with an exchange of its own.

    On RabbitMQ they are durable queues of ``queue_type`` ("quorum" or "classic"), with
    ``consumer_timeout`` (seconds) as the x-consumer-timeout argument (RabbitMQ 3.12+). Their
    exchanges are topic exchanges there: Celery's native delayed delivery, which quorum queues
    need for a retry's countdown (a countdown held by the worker would block it, since quorum
    queues have no global prefetch), binds only topic and fanout exchanges. A topic exchange
    with a routing key free of wildcards routes like a direct one.
    """
    if broker != RABBITMQ:
        return [Queue(name, Exchange(name, type="direct"), routing_key=name) for name in names]
    arguments: dict[str, Any] = {"x-queue-type": queue_type, "x-consumer-timeout": consumer_timeout * 1000}
    return [
        Queue(name, Exchange(name, type="topic"), routing_key=name, durable=True, queue_arguments=arguments)
        for name in names
    ]


def retry_countdown_for(countdown: float, *, broker: str, queue_type: str) -> float:
    """A retry's countdown as the broker can delay it. On RabbitMQ's quorum queues Celery's native
    delayed delivery counts whole seconds and refuses a countdown under one second (it would round
    it to 0): round up."""
    if broker == RABBITMQ and queue_type == "quorum" and countdown > 0:
        return float(math.ceil(countdown))
    return countdown


def supports_confirms(connection: Connection) -> bool:
    """Whether the broker confirms and returns publishes (AMQP), rather than taking them blindly."""
    return connection.transport.driver_type == "amqp"


# Whether this process declared every routable queue on the broker yet (reset when the broker
# returned a message: a queue was deleted, or the broker lost its definitions).
_declared = False
_declare_lock = threading.Lock()


def ensure_queues_declared(connection: Connection, queues: Sequence[Queue]) -> None:
    """Declare every queue (and its exchange and binding) once per process, before the first
    publish. Declaring an existing queue with the same arguments changes nothing, so processes
    may race; on Redis it only records the binding."""
    global _declared
    if _declared:
        return
    with _declare_lock:
        if _declared:
            return
        channel = connection.default_channel
        for queue in queues:
            queue.bind(channel).declare()
        _declared = True
        logger.info("Declared the broker's queues: %s", ", ".join(q.name for q in queues))


def forget_declared_queues() -> None:
    """The next publish declares every queue again (one came back unroutable)."""
    global _declared
    _declared = False


@dataclass(frozen=True)
class QueueState:
    """A queue as the broker reports it."""

    messages: int  # waiting to be handed out (not those a worker holds unacknowledged)
    consumers: int | None  # None where the broker cannot say (Redis)


def queue_states(url: str, names: Sequence[str], *, timeout: float = 2.0) -> dict[str, QueueState | None]:
    """Each queue's depth and consumers (None for a queue that does not exist on RabbitMQ), on a
    connection of its own that tries once. Raises what the broker's client raises when it
    cannot be reached.

    RabbitMQ: ``queue.declare`` with passive=True, which creates nothing and answers the
    message and consumer counts. Redis: LLEN of each queue's list (kombu's Redis transport keeps
    no consumer count).
    """
    with Connection(url, connect_timeout=timeout, transport_options={"socket_timeout": timeout}) as connection:
        connection.ensure_connection(max_retries=1)
        if connection.transport.driver_type == "redis":
            client = connection.default_channel.client
            with client.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.llen(name)
                lengths = pipe.execute()
            return {name: QueueState(messages=n, consumers=None) for name, n in zip(names, lengths, strict=True)}
        states: dict[str, QueueState | None] = {}
        for name in names:
            channel = connection.channel()
            try:
                _, messages, consumers = channel.queue_declare(queue=name, passive=True)
                states[name] = QueueState(messages=messages, consumers=consumers)
            except connection.channel_errors:  # 404 NOT_FOUND closes the channel: the next gets a new one
                states[name] = None
            finally:
                with contextlib.suppress(Exception):  # already closed by the broker
                    channel.close()
        return states


def ping(url: str, *, timeout: float = 2.0) -> None:
    """Connect to the broker once (and on Redis, PING it). Raises when it does not answer."""
    with Connection(url, connect_timeout=timeout, transport_options={"socket_timeout": timeout}) as connection:
        connection.ensure_connection(max_retries=1)
        if connection.transport.driver_type == "redis":
            connection.default_channel.client.ping()


__all__ = [
    "RABBITMQ",
    "REDIS",
    "QueueState",
    "broker_kind",
    "ensure_queues_declared",
    "forget_declared_queues",
    "ping",
    "queue_states",
    "retry_countdown_for",
    "supports_confirms",
    "task_queues",
]
