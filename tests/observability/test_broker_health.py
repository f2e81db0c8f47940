"""/health/'s broker check on either broker, through kombu for RabbitMQ: green when it answers,
red naming the broker when it does not."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from project.observability.health import ANONYMOUS_VERDICT_KEY

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "a-broker-health-token"


@pytest.fixture(autouse=True)
def _token_and_no_kept_verdict(settings):
    settings.METRICS_TOKEN = TOKEN
    cache.delete(ANONYMOUS_VERDICT_KEY)
    yield
    cache.delete(ANONYMOUS_VERDICT_KEY)


def broker_check() -> str:
    return Client().get("/health/?format=json", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").json()["Broker()"]


def test_an_unreachable_rabbitmq_turns_the_broker_check_red_and_says_so(settings) -> None:
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1/nowhere"
    settings.MESSAGING_BROKER = "rabbitmq"
    assert "rabbitmq broker unreachable" in broker_check()


def test_an_unreachable_redis_turns_the_broker_check_red_and_says_so(settings) -> None:
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    settings.MESSAGING_BROKER = "redis"
    assert "redis broker unreachable" in broker_check()


def test_the_run_s_broker_passes_the_broker_check(broker_queues) -> None:
    assert broker_check() == "OK"
