"""The products API: anyone signed in reads stock levels; only staff change them, with
inventory.add_stockitem and inventory.change_stockitem (without: tests/security/test_staff_write_permissions.py)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from inventory.models import StockAdjustment, StockItem
from tests.factories.inventory import StockItemFactory
from tests.factories.orders import CustomerFactory, StaffFactory
from tests.messaging_rows import outbox_events

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer() -> APIClient:
    api = APIClient()
    api.force_authenticate(CustomerFactory())
    return api


@pytest.fixture
def staff() -> APIClient:
    clerk = StaffFactory()
    clerk.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="inventory", codename__in=["add_stockitem", "change_stockitem"]
        )
    )
    api = APIClient()
    api.force_authenticate(clerk)
    return api


def test_signed_in_users_see_products_with_stock_levels(customer: APIClient) -> None:
    StockItemFactory(sku="CRUNCHY-ARMCHAIR", on_hand=10, reserved=3)
    [product] = customer.get("/api/products/").json()["results"]
    assert (product["sku"], product["on_hand"], product["reserved"], product["available"]) == (
        "CRUNCHY-ARMCHAIR",
        10,
        3,
        7,
    )
    assert customer.get("/api/products/CRUNCHY-ARMCHAIR/").json()["available"] == 7
    assert customer.get("/api/products/NOPE/").status_code == 404


def test_anonymous_users_see_nothing() -> None:
    assert APIClient().get("/api/products/").status_code == 401


def test_customers_cannot_create_restock_or_adjust(customer: APIClient) -> None:
    StockItemFactory(sku="CRUNCHY-ARMCHAIR", on_hand=10)
    assert customer.post("/api/products/", {"sku": "NEW-ONE", "name": "New"}, format="json").status_code == 403
    assert customer.post("/api/products/CRUNCHY-ARMCHAIR/restock/", {"quantity": 5}, format="json").status_code == 403
    assert (
        customer.post(
            "/api/products/CRUNCHY-ARMCHAIR/adjust/", {"on_hand": 0, "reason": "x"}, format="json"
        ).status_code
        == 403
    )
    assert StockItem.objects.get().on_hand == 10


def test_staff_create_a_product(staff: APIClient) -> None:
    response = staff.post(
        "/api/products/", {"sku": "SQUEAKY-CHAIR", "name": "Squeaky chair", "on_hand": 4}, format="json"
    )
    assert response.status_code == 201
    assert StockItem.objects.get(sku="SQUEAKY-CHAIR").on_hand == 4
    again = staff.post("/api/products/", {"sku": "SQUEAKY-CHAIR", "name": "Again"}, format="json")
    assert again.status_code == 400 and "already exists" in str(again.json()["errors"])


def test_staff_restock_and_the_world_is_told(staff: APIClient, bus) -> None:
    StockItemFactory(sku="CRUNCHY-ARMCHAIR", on_hand=10, reserved=2)
    response = staff.post("/api/products/CRUNCHY-ARMCHAIR/restock/", {"quantity": 5}, format="json")
    assert response.status_code == 200 and response.json()["on_hand"] == 15
    event = outbox_events("inventory").get(event_type="inventory.StockReplenished")
    assert event.payload == {"sku": "CRUNCHY-ARMCHAIR", "on_hand": 15, "available": 13, "added": 5}
    assert StockAdjustment.objects.get().delta == 5


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("restock", {"quantity": 0}, "greater than or equal to 1"),
        ("restock", {"quantity": "many"}, "A valid integer is required."),
        ("adjust", {"on_hand": 5}, "reason"),
        ("adjust", {"on_hand": 1, "reason": "count"}, "cannot go below the 2 units reserved"),
    ],
)
def test_bad_stock_changes_are_refused_with_the_reason(staff: APIClient, path: str, body: dict, message: str) -> None:
    StockItemFactory(sku="CRUNCHY-ARMCHAIR", on_hand=10, reserved=2)
    response = staff.post(f"/api/products/CRUNCHY-ARMCHAIR/{path}/", body, format="json")
    assert response.status_code == 400
    assert message in str(response.json()["errors"])
    assert StockItem.objects.get().on_hand == 10
