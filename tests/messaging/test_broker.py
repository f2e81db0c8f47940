"""The broker seen through kombu (project.messaging.broker): which one a URL names, the queues
declared for it, the countdowns it can delay, and the state of its queues."""

from __future__ import annotations

import pytest
from django.conf import settings

from project.messaging import broker
from project.messaging.outbox.relay import send_messages


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("redis://127.0.0.1:6379/0", "redis"),
        ("rediss://cache.internal:6380/1", "redis"),
        ("amqp://guest:guest@127.0.0.1:5672/shop", "rabbitmq"),
        ("amqps://u:p@mq.internal:5671/", "rabbitmq"),
        ("pyamqp://u:p@mq/", "rabbitmq"),
        ("sqs://", "sqs"),
    ],
)
def test_the_broker_kind_comes_from_the_url_scheme(url: str, kind: str) -> None:
    assert broker.broker_kind(url) == kind


def test_on_redis_the_queues_are_plain_direct_queues() -> None:
    [queue] = broker.task_queues(["orders"], broker="redis", queue_type="quorum", consumer_timeout=3600)
    assert (queue.name, queue.exchange.type, queue.routing_key, queue.queue_arguments) == (
        "orders",
        "direct",
        "orders",
        None,
    )


@pytest.mark.parametrize("queue_type", ["quorum", "classic"])
def test_on_rabbitmq_the_queues_are_durable_of_the_chosen_type_with_a_consumer_timeout(queue_type: str) -> None:
    [queue] = broker.task_queues(["orders"], broker="rabbitmq", queue_type=queue_type, consumer_timeout=3600)
    assert queue.durable and not queue.auto_delete
    assert queue.queue_arguments == {"x-queue-type": queue_type, "x-consumer-timeout": 3_600_000}
    # Native delayed delivery (retry countdowns on quorum queues) binds topic exchanges only.
    assert (queue.exchange.type, queue.routing_key) == ("topic", "orders")


def test_countdowns_are_whole_seconds_only_for_rabbitmq_quorum_queues() -> None:
    assert broker.retry_countdown_for(0.2, broker="rabbitmq", queue_type="quorum") == 1.0
    assert broker.retry_countdown_for(2.5, broker="rabbitmq", queue_type="quorum") == 3.0
    assert broker.retry_countdown_for(0.0, broker="rabbitmq", queue_type="quorum") == 0.0
    assert broker.retry_countdown_for(0.2, broker="rabbitmq", queue_type="classic") == 0.2
    assert broker.retry_countdown_for(0.2, broker="redis", queue_type="quorum") == 0.2


def test_an_unreachable_broker_raises_instead_of_answering() -> None:
    with pytest.raises(Exception):  # noqa: B017,PT011  (whichever client's connection error)
        broker.ping("amqp://guest:guest@127.0.0.1:1/none", timeout=0.5)
    with pytest.raises(Exception):  # noqa: B017,PT011
        broker.queue_states("redis://127.0.0.1:1/0", ["orders"], timeout=0.5)


@pytest.mark.django_db
def test_the_queue_states_count_what_waits_in_each_queue(clean_queues) -> None:
    assert send_messages([("testapp", {"envelope": {}, "handler": "testapp.nothing"})] * 3) == set()
    states = broker.queue_states(settings.CELERY_BROKER_URL, ["testapp", "orders"])
    assert states["testapp"].messages == 3
    # RabbitMQ counts consumers (none here); Redis cannot.
    assert states["testapp"].consumers == (0 if settings.MESSAGING_BROKER == "rabbitmq" else None)
    assert states["orders"].messages == 0
    clean_queues.purge()


@pytest.mark.parametrize(
    ("broker_kind", "setting"), [("rabbitmq", "RABBITMQ_CONSUMER_TIMEOUT"), ("redis", "CELERY_VISIBILITY_TIMEOUT")]
)
def test_a_consumer_timeout_shorter_than_a_task_and_its_retry_is_flagged(settings, broker_kind, setting) -> None:
    from project.messaging.registry.checks import check_unacknowledged_timeout

    settings.MESSAGING_BROKER = broker_kind
    settings.CELERY_TASK_TIME_LIMIT, settings.MESSAGING_RETRY_BACKOFF_MAX = 300, 120
    setattr(settings, setting, 3600)
    assert check_unacknowledged_timeout() == []
    setattr(settings, setting, 400)
    [warning] = check_unacknowledged_timeout()
    assert warning.id == "messaging.W002" and setting in warning.msg
