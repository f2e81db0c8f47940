"""The first vertical slice: orders -> inventory -> orders, through real worker processes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from inventory.models import StockItem
from inventory.services import stock_item_create
from orders.models import Order
from orders.services import LineInput, order_place
from tests.conftest import wait_until

pytestmark = [pytest.mark.flows, pytest.mark.django_db(transaction=True)]


def final_order(order_id) -> Order:
    return wait_until(
        lambda: Order.objects.filter(pk=order_id, status__in=Order.TERMINAL).first(),
        what="the order to reach a final state",
    )


def test_an_order_with_stock_for_every_line_is_confirmed_and_its_stock_reserved(workers) -> None:
    stock_item_create(sku="CRUNCHY-ARMCHAIR", name="Crunchy armchair", on_hand=10)
    stock_item_create(sku="SHINY-LAMP", name="Shiny lamp", on_hand=5)
    order = order_place(
        customer_id=1,
        lines=[LineInput("CRUNCHY-ARMCHAIR", 3, Decimal("99.00")), LineInput("SHINY-LAMP", 5, Decimal("20.00"))],
    ).order
    assert final_order(order.pk).status == Order.Status.CONFIRMED
    stock = {s.sku: (s.on_hand, s.reserved) for s in StockItem.objects.all()}
    assert stock == {"CRUNCHY-ARMCHAIR": (10, 3), "SHINY-LAMP": (5, 5)}


def test_an_order_short_of_stock_fails_naming_the_sku_and_reserves_nothing(workers) -> None:
    stock_item_create(sku="CRUNCHY-ARMCHAIR", name="Crunchy armchair", on_hand=10)
    stock_item_create(sku="RARE-VASE", name="Rare vase", on_hand=1)
    order = order_place(
        customer_id=1,
        lines=[LineInput("CRUNCHY-ARMCHAIR", 2, Decimal("99.00")), LineInput("RARE-VASE", 2, Decimal("500.00"))],
    ).order
    failed = final_order(order.pk)
    assert failed.status == Order.Status.FAILED
    assert failed.failure_reason == "insufficient stock for RARE-VASE"
    assert set(StockItem.objects.values_list("reserved", flat=True)) == {0}


def test_an_order_placed_through_the_api_reaches_its_final_state_within_seconds(workers) -> None:
    stock_item_create(sku="WOBBLY-TABLE", name="Wobbly table", on_hand=3)
    customer = get_user_model().objects.create_user("alice", password="alice-secret-pw")
    client = APIClient()
    client.force_authenticate(customer)
    response = client.post(
        "/api/orders/", {"lines": [{"sku": "WOBBLY-TABLE", "quantity": 1, "unit_price": "45.50"}]}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "reserving"
    order_id = response.json()["id"]
    wait_until(
        lambda: client.get(f"/api/orders/{order_id}/").json()["status"] == "confirmed",
        timeout=10,
        what="the API to show the order confirmed",
    )
    assert StockItem.objects.get(sku="WOBBLY-TABLE").reserved == 1
