"""The admin pages of orders and inventory open, and their actions call the services."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from inventory.models import StockItem
from orders.models import Order
from orders.services import LineInput, order_place
from project.messaging.models import OutboxEvent
from project.messaging.registry.databases import database_for
from project.messaging.testing import TestBus
from tests.factories.inventory import StockItemFactory
from tests.factories.orders import KnownProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_the_order_page_shows_lines_and_the_saga_history(admin: Client, bus: TestBus) -> None:
    StockItemFactory(sku="CRUNCHY-ARMCHAIR", on_hand=1)
    KnownProductFactory(sku="CRUNCHY-ARMCHAIR")
    order = order_place(customer_id=1, lines=[LineInput("CRUNCHY-ARMCHAIR", 2, Decimal("5.00"))]).order
    bus.drain()
    page = admin.get(f"/admin/orders/order/{order.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "saga step history" in text.lower() and "inventory.StockReservationFailed" in text
    assert "insufficient stock for CRUNCHY-ARMCHAIR" in text
    assert admin.get("/admin/orders/order/?status__exact=failed").status_code == 200


def test_the_cancel_action_cancels_through_the_saga(admin: Client, bus: TestBus) -> None:
    StockItemFactory(sku="CRUNCHY-ARMCHAIR", on_hand=5)
    KnownProductFactory(sku="CRUNCHY-ARMCHAIR")
    order = order_place(customer_id=1, lines=[LineInput("CRUNCHY-ARMCHAIR", 2, Decimal("5.00"))]).order
    admin.post("/admin/orders/order/", {"action": "cancel_orders", "_selected_action": [str(order.pk)]})
    bus.drain()
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert StockItem.objects.get().reserved == 0


def test_the_restock_action_adds_stock_through_the_service(admin: Client, bus: TestBus) -> None:
    item = StockItemFactory(sku="CRUNCHY-ARMCHAIR", on_hand=5)
    admin.post("/admin/inventory/stockitem/", {"action": "restock", "quantity": "7", "_selected_action": [item.pk]})
    item.refresh_from_db()
    assert item.on_hand == 12
    assert admin.get("/admin/inventory/stockitem/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_adding_a_product_in_the_admin_creates_it_through_the_service(admin_user) -> None:
    # Outside a test transaction, as in production: the service's durable transaction must not be
    # nested in the admin's own (it was: "A durable atomic block cannot be nested").
    client = Client()
    client.force_login(admin_user)
    response = client.post(
        "/admin/inventory/stockitem/add/", {"sku": "CRUNCHY-ARMCHAIR", "name": "Crunchy armchair", "on_hand": "4"}
    )
    assert response.status_code == 302, response.content.decode()[:500]
    item = StockItem.objects.get(sku="CRUNCHY-ARMCHAIR")
    assert (item.on_hand, item.reserved) == (4, 0)
    assert (
        OutboxEvent.objects.using(database_for("inventory"))
        .filter(event_type="inventory.ProductAdded", aggregate_id="CRUNCHY-ARMCHAIR")
        .exists()
    )
