"""Operator tools with the domains on databases of their own: the admin lists each
database's messaging rows through its own connection (``?db=``), and a dead letter is acted on in
the database it is in, even when another database has a letter of the same id."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from inventory.services import stock_item_create
from orders.services import LineInput, order_place
from project.messaging.models import DeadLetter, OutboxEvent
from project.messaging.operations import services
from project.messaging.testing import TestBus

pytestmark = pytest.mark.django_db(databases="__all__")


def dead_letter(alias: str, handler: str) -> DeadLetter:
    now = timezone.now()
    return DeadLetter.objects.using(alias).create(
        pk=7,  # the same id in both databases: ids are per database
        handler=handler,
        queue=handler.split(".")[0],
        event_id=uuid.uuid4(),
        event_type="inventory.StockReserved",
        envelope={},
        error_type="project.messaging.contract.errors.PermanentError",
        error_message=f"refused on {alias}",
        fingerprint="f" * 64,
        permanent=True,
        first_failed_at=now,
        last_failed_at=now,
    )


def test_the_outbox_list_shows_one_database_at_a_time_and_an_event_page_its_deliveries(
    bus: TestBus, admin_client: Client
) -> None:
    stock_item_create(sku="CRUNCHY-ARMCHAIR", name="Crunchy armchair", on_hand=5)
    bus.drain()
    order_place(customer_id=42, lines=[LineInput("CRUNCHY-ARMCHAIR", 1, Decimal("10.00"))])

    of_orders = admin_client.get("/admin/messaging/outboxevent/?db=orders")
    assert of_orders.status_code == 200
    assert {e.event_type for e in of_orders.context["cl"].result_list} == {
        "orders.OrderPlaced",
        "inventory.ReserveStock",
    }
    assert "?db=inventory" in of_orders.content.decode()  # the database selector
    of_default = admin_client.get("/admin/messaging/outboxevent/")
    assert of_default.context["cl"].result_count == 0

    placed = OutboxEvent.objects.using("orders").get(event_type="inventory.ReserveStock")
    page = admin_client.get(f"/admin/messaging/outboxevent/{placed.pk}/change/?db=orders")
    assert page.status_code == 200
    deliveries = page.context["inline_admin_formsets"][0].formset.queryset
    assert deliveries.db == "orders"
    assert deliveries.count() == placed.deliveries.count() > 0


def test_a_dead_letter_is_discarded_in_its_own_database_not_in_one_with_the_same_id(admin_client: Client) -> None:
    in_orders = dead_letter("orders", "orders.advance_saga_on_stock_reserved")
    in_default = dead_letter("default", "notifications.tell_customer_order_confirmed")

    page = admin_client.get("/admin/messaging/deadletter/7/change/?db=orders")
    assert page.status_code == 200 and "refused on orders" in page.content.decode()
    assert "/admin/messaging/deadletter/7/discard/?db=orders" in page.content.decode()
    answer = admin_client.post("/admin/messaging/deadletter/7/discard/?db=orders", {"reason": "test data"})
    assert answer.status_code == 302 and answer["Location"].endswith("?db=orders")

    in_orders.refresh_from_db()
    in_default.refresh_from_db()
    assert in_orders.status == DeadLetter.Status.DISCARDED
    assert in_default.status == DeadLetter.Status.DEAD


def test_the_discard_service_takes_the_letter_s_database() -> None:
    dead_letter("orders", "orders.advance_saga_on_stock_reserved")
    in_default = dead_letter("default", "notifications.tell_customer_order_confirmed")
    done = services.dead_letter_discard(dead_letter_id=7, reason="test data", database="default")
    assert done._state.db == "default"
    in_default.refresh_from_db()
    assert in_default.status == DeadLetter.Status.DISCARDED
    assert DeadLetter.objects.using("orders").get(pk=7).status == DeadLetter.Status.DEAD


def test_health_checks_every_database_through_its_own_connection(admin_client: Client) -> None:
    results = admin_client.get("/health/?format=json").json()
    for alias in ("default", "orders", "inventory", "notifications", "articles", "publishing"):
        assert results[f"Database(alias='{alias}')"] == "OK"
