"""/metrics moves with traffic and shows the state of the outbox, dead letters and queues."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.checks.registry import registry
from django.db import connection
from django.test import Client
from django.urls import resolve
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from orders.models import OrderSaga
from orders.services import LineInput, order_place, order_sagas_expire_overdue
from project.messaging.testing import TestBus
from project.observability.checks import check_metrics_token
from tests.factories.inventory import StockItemFactory
from tests.factories.orders import KnownProductFactory
from tests.testapp.services import tally_ping

pytestmark = pytest.mark.django_db


def scrape(client: Client, **headers: str) -> dict[str, float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200
    values = {}
    for line in response.content.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def value(metrics: dict[str, float], pattern: str) -> float:
    return sum(v for k, v in metrics.items() if re.fullmatch(pattern, k))


def test_counters_move_as_events_are_published_and_handled(bus: TestBus) -> None:
    client = Client()
    before = scrape(client)
    for key in ("A", "B", "C"):
        tally_ping(key=key, amount=1)
    tally_ping(key="GRUMPY", amount=1, behaviour="permanent")
    bus.drain()
    after = scrape(client)
    handled = r'messaging_deliveries_handled_total\{handler="testapp.add_to_tally",outcome="processed"\}'
    assert value(after, handled) - value(before, handled) == 3
    dead = r'messaging_dead_lettered_total\{error_type="PermanentError",handler="testapp.add_to_tally"\}'
    assert value(after, dead) - value(before, dead) == 1
    count = r'messaging_handler_seconds_count\{handler="testapp.add_to_tally"\}'
    assert value(after, count) - value(before, count) == 3
    assert value(after, r'messaging_dead_letters_open\{database="default",handler="testapp.add_to_tally"\}') == 1


def test_the_outbox_backlog_and_its_age_are_gauged(bus: TestBus) -> None:
    tally_ping(key="WAITING", amount=1)
    metrics = scrape(Client())
    assert value(metrics, r'messaging_outbox_backlog\{database="default",status="pending"\}') == 1
    assert value(metrics, r'messaging_outbox_oldest_unsent_age_seconds\{database="default"\}') >= 0
    assert any(k.startswith('messaging_queue_length{queue="orders"}') for k in metrics)


@pytest.mark.django_db(transaction=True)  # saga ends are counted on commit
def test_saga_durations_are_observed_by_outcome(settings) -> None:
    settings.MESSAGING_SEND_ON_COMMIT = False
    bus = TestBus()
    StockItemFactory(sku="CRUNCHY-ARMCHAIR", on_hand=1)
    KnownProductFactory(sku="CRUNCHY-ARMCHAIR")
    client = Client()
    before = scrape(client)
    order_place(customer_id=1, lines=[LineInput("CRUNCHY-ARMCHAIR", 1, Decimal("1.00"))])
    order_place(customer_id=1, lines=[LineInput("CRUNCHY-ARMCHAIR", 5, Decimal("1.00"))])
    bus.drain()
    after = scrape(client)
    for outcome in ("confirmed", "failed"):
        name = rf'orders_saga_duration_seconds_count\{{outcome="{outcome}"\}}'
        assert value(after, name) - value(before, name) == 1


def test_metrics_can_require_a_bearer_token(settings) -> None:
    settings.METRICS_TOKEN = "s3cret-scraper-token"
    client = Client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert scrape(client, HTTP_AUTHORIZATION="Bearer s3cret-scraper-token")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scraper-tökén").status_code == 401  # not a 500


def test_check_deploy_warns_when_metrics_are_open_in_production(settings) -> None:
    """observability.W001 (the production settings themselves: tests/security/test_deploy_settings.py)."""
    assert check_metrics_token in registry.get_checks(include_deployment_checks=True)
    assert check_metrics_token not in registry.get_checks(include_deployment_checks=False)
    settings.DEBUG, settings.METRICS_TOKEN = False, ""
    assert [w.id for w in check_metrics_token()] == ["observability.W001"]
    settings.METRICS_TOKEN = "s3cret-scraper-token"
    assert check_metrics_token() == []
    settings.DEBUG, settings.METRICS_TOKEN = True, ""
    assert check_metrics_token() == []


def sample(client: Client, name: str, **labels: str) -> float:
    """The value of one series on /metrics (0 when absent), whatever the order of its labels."""
    response = client.get("/metrics")
    assert response.status_code == 200
    total = 0.0
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def test_http_requests_are_counted_and_timed_by_view() -> None:
    client = Client()
    view = resolve("/api/products/").view_name
    requests = ("django_http_requests_total_by_view_transport_method_total", {"view": view, "method": "GET"})
    latency = ("django_http_requests_latency_seconds_by_view_method_count", {"view": view, "method": "GET"})
    answers = ("django_http_responses_total_by_status_view_method_total", {"view": view, "status": "401"})
    before = [sample(client, name, **labels) for name, labels in (requests, latency, answers)]
    assert client.get("/api/products/").status_code == 401  # anonymous: refused, and counted
    assert client.get("/api/products/").status_code == 401
    after = [sample(client, name, **labels) for name, labels in (requests, latency, answers)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 2, 2]


def test_database_statements_are_counted_and_timed() -> None:
    client = Client()
    labels = {"alias": "default", "vendor": connection.vendor}
    before = sample(client, "django_db_execute_total", **labels)
    timed_before = sample(client, "django_db_query_duration_seconds_count", **labels)
    with connection.cursor() as cursor:
        for _ in range(50):
            cursor.execute("SELECT 1")
    after = sample(client, "django_db_execute_total", **labels)
    timed_after = sample(client, "django_db_query_duration_seconds_count", **labels)
    # These 50 and the few statements of the scrapes in between.
    assert 50 <= after - before < 80
    assert 50 <= timed_after - timed_before < 80


@pytest.mark.django_db(transaction=True)  # counted on commit
def test_sagas_compensated_at_their_deadline_are_counted(settings) -> None:
    settings.MESSAGING_SEND_ON_COMMIT = False  # inventory never answers
    StockItemFactory(sku="CRUNCHY-ARMCHAIR", on_hand=1)
    KnownProductFactory(sku="CRUNCHY-ARMCHAIR")
    client = Client()
    before = sample(client, "orders_saga_deadlines_expired_total")
    placed = order_place(customer_id=1, lines=[LineInput("CRUNCHY-ARMCHAIR", 1, Decimal("1.00"))])
    OrderSaga.objects.filter(pk=placed.order.pk).update(deadline_at=timezone.now() - timedelta(seconds=1))
    assert order_sagas_expire_overdue() == 1
    assert order_sagas_expire_overdue() == 0  # once
    assert sample(client, "orders_saga_deadlines_expired_total") - before == 1
