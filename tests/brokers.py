"""The test run's broker, Redis or RabbitMQ, behind one small interface for the flow tests: how
many messages wait in a queue, how many a worker holds unacknowledged, losing some, purging.

bin/test gives a run its own broker: a fresh embedded Redis, or with
CELERY_BROKER_URL=amqp://... a RabbitMQ vhost of its own.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from urllib.parse import unquote, urlsplit

import redis
from kombu import Connection

from project.messaging.broker import RABBITMQ, broker_kind, queue_states


class RedisQueues:
    kind = "redis"

    def __init__(self, url: str, queues: Sequence[str]) -> None:
        self.client = redis.Redis.from_url(url)
        self.queues = list(queues)

    def ping(self) -> None:
        self.client.ping()

    def ready(self, queue: str) -> int:
        """Messages waiting in the queue (priority variants included)."""
        return sum(
            self.client.llen(k) for k in self.client.scan_iter(match=f"{queue}*") if self.client.type(k) == b"list"
        )

    def unacked(self) -> int:
        """Messages handed to a worker and not acknowledged yet (kombu's `unacked` hash)."""
        return self.client.hlen("unacked")

    def lose(self, queue: str, count: int) -> None:
        """The broker loses the ``count`` oldest messages of the queue (consumed from the right)."""
        for _ in range(count):
            self.client.rpop(queue)

    def purge(self) -> None:
        keys: list[bytes] = []
        for name in self.queues:
            keys.extend(self.client.scan_iter(match=f"{name}*"))
        keys.extend(k for k in (b"unacked", b"unacked_index", b"unacked_mutex") if self.client.exists(k))
        if keys:
            self.client.delete(*keys)


class RabbitQueues:
    """A RabbitMQ vhost of the test run's own (bin/test created it)."""

    kind = "rabbitmq"

    def __init__(self, url: str, queues: Sequence[str]) -> None:
        self.url = url
        self.vhost = unquote(urlsplit(url).path.lstrip("/")) or "/"
        self.queues = list(queues)

    def ping(self) -> None:
        with Connection(self.url, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1)

    def ready(self, queue: str) -> int:
        state = queue_states(self.url, [queue])[queue]
        return state.messages if state else 0

    def unacked(self) -> int:
        """Messages delivered to a consumer and not acknowledged yet, in every queue of the vhost.
        AMQP itself does not tell (queue.declare counts ready messages only): rabbitmqctl does."""
        out = rabbitmqctl("list_queues", "-p", self.vhost, "--quiet", "--no-table-headers", "messages_unacknowledged")
        return sum(int(line) for line in out.split() if line.strip().isdigit())

    def lose(self, queue: str, count: int) -> None:
        """The broker loses the ``count`` oldest messages of the queue (fetched and acknowledged)."""
        with Connection(self.url) as connection:
            channel = connection.channel()
            for _ in range(count):
                message = channel.basic_get(queue, no_ack=False)
                assert message is not None, f"fewer than {count} messages in {queue}"
                channel.basic_ack(message.delivery_tag)

    def purge(self) -> None:
        with Connection(self.url) as connection:
            for name, state in queue_states(self.url, self.queues).items():
                if state is not None:
                    connection.channel().queue_purge(name)

    def close_connections(self) -> None:
        """RabbitMQ closes every client connection of the vhost, as a broker restart would."""
        rabbitmqctl("close_all_connections", "-p", self.vhost, "test: connections closed")

    def delete_queue(self, queue: str) -> None:
        with Connection(self.url) as connection:
            connection.channel().queue_delete(queue)


def rabbitmqctl(*args: str) -> str:
    executable = shutil.which("rabbitmqctl")
    assert executable, "rabbitmqctl is not on PATH: the RabbitMQ flow tests need it (and to run as root)"
    done = subprocess.run([executable, *args], capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def broker_queues(url: str, queues: Sequence[str]) -> RedisQueues | RabbitQueues:
    return RabbitQueues(url, queues) if broker_kind(url) == RABBITMQ else RedisQueues(url, queues)


BrokerQueues = RedisQueues | RabbitQueues
