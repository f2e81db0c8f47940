"""The orders API: placement, idempotency, visibility, cancellation, timeline, and bad input."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from orders.models import Order
from project.messaging.models import OutboxEvent
from project.messaging.registry.databases import database_for
from project.messaging.testing import TestBus
from tests.factories.inventory import StockItemFactory
from tests.factories.orders import CustomerFactory, KnownProductFactory, OrderFactory, StaffFactory

pytestmark = pytest.mark.django_db

GOOD = {"lines": [{"sku": "CRUNCHY-ARMCHAIR", "quantity": 2, "unit_price": "10.00"}]}


@pytest.fixture(autouse=True)
def catalog() -> None:
    for sku in ("CRUNCHY-ARMCHAIR", "WOBBLY-TABLE"):
        KnownProductFactory(sku=sku)


@pytest.fixture
def alice():
    return CustomerFactory(username="alice")


@pytest.fixture
def client(alice) -> APIClient:
    api = APIClient()
    api.force_authenticate(alice)
    return api


def test_placing_an_order_answers_201_and_starts_reserving(client: APIClient, alice, bus: TestBus) -> None:
    response = client.post("/api/orders/", GOOD, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["customer_id"], body["total"], body["saga_state"]) == (
        "reserving",
        alice.pk,
        "20.00",
        "reserving",
    )
    assert OutboxEvent.objects.using(database_for("orders")).filter(event_type="inventory.ReserveStock").count() == 1


def test_a_retried_post_with_the_same_idempotency_key_returns_the_original_order(client: APIClient, bus) -> None:
    first = client.post("/api/orders/", GOOD, format="json", HTTP_IDEMPOTENCY_KEY="k-123")
    again = client.post("/api/orders/", GOOD, format="json", HTTP_IDEMPOTENCY_KEY="k-123")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert Order.objects.count() == 1


def test_an_idempotency_key_reused_for_a_different_order_is_refused(client: APIClient, bus) -> None:
    client.post("/api/orders/", GOOD, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    other = {"lines": [{"sku": "WOBBLY-TABLE", "quantity": 1, "unit_price": "5.00"}]}
    response = client.post("/api/orders/", other, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 400
    assert "was already used for a different order" in response.json()["errors"]["Idempotency-Key"][0]
    assert Order.objects.count() == 1


def test_the_same_idempotency_key_from_two_customers_places_two_orders(client: APIClient, bus) -> None:
    client.post("/api/orders/", GOOD, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    bob = APIClient()
    bob.force_authenticate(CustomerFactory(username="bob"))
    assert bob.post("/api/orders/", GOOD, format="json", HTTP_IDEMPOTENCY_KEY="k-1").status_code == 201
    assert Order.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "lines", "This field is required."),
        ({"lines": []}, "lines", "This list may not be empty."),
        ({"lines": [{"quantity": 1, "unit_price": "1.00"}]}, "sku", "This field is required."),
        (
            {"lines": [{"sku": "CRUNCHY-ARMCHAIR", "quantity": 0, "unit_price": "1.00"}]},
            "quantity",
            "Ensure this value is greater than or equal to 1.",
        ),
        (
            {"lines": [{"sku": "CRUNCHY-ARMCHAIR", "quantity": -3, "unit_price": "1.00"}]},
            "quantity",
            "Ensure this value is greater than or equal to 1.",
        ),
        (
            {"lines": [{"sku": "CRUNCHY-ARMCHAIR", "quantity": 10**12, "unit_price": "1.00"}]},
            "quantity",
            "Ensure this value is less than or equal to 1000.",
        ),
        (
            {"lines": [{"sku": "CRUNCHY-ARMCHAIR", "quantity": "two", "unit_price": "1.00"}]},
            "quantity",
            "A valid integer is required.",
        ),
        (
            {"lines": [{"sku": "CRUNCHY-ARMCHAIR", "quantity": 1, "unit_price": "-1"}]},
            "unit_price",
            "Ensure this value is greater than or equal to 0.01.",
        ),
        (
            {"lines": [{"sku": "drop table;", "quantity": 1, "unit_price": "1.00"}]},
            "sku",
            "Use capitals, digits and dashes, at most 64 characters.",
        ),
        ({"lines": "CRUNCHY-ARMCHAIR"}, "lines", 'Expected a list of items but got type "str".'),
    ],
    ids=[
        "no-lines",
        "empty-lines",
        "no-sku",
        "zero",
        "negative",
        "huge",
        "wrong-type",
        "negative-price",
        "bad-sku",
        "lines-not-a-list",
    ],
)
def test_bad_input_gets_a_400_naming_the_field_and_changes_nothing(client: APIClient, body, field, message) -> None:
    response = client.post("/api/orders/", body, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert message in str(errors), errors
    assert f"'{field}'" in str(errors) or field in errors
    assert not Order.objects.exists() and not OutboxEvent.objects.using(database_for("orders")).exists()


def test_duplicate_skus_in_one_order_are_refused(client: APIClient) -> None:
    line = {"sku": "CRUNCHY-ARMCHAIR", "quantity": 1, "unit_price": "1.00"}
    response = client.post("/api/orders/", {"lines": [line, line]}, format="json")
    assert response.status_code == 400
    assert "one line only" in response.json()["errors"]["lines"][0]


def test_malformed_json_is_a_400(client: APIClient) -> None:
    response = client.post("/api/orders/", '{"lines": [', content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]
    assert not Order.objects.exists()


def test_an_unknown_sku_is_a_400_naming_it_and_changes_nothing(client: APIClient) -> None:
    lines = [{"sku": "GHOST-SOFA", "quantity": 1, "unit_price": "1.00"}, GOOD["lines"][0]]
    response = client.post("/api/orders/", {"lines": lines}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"lines": ["Unknown sku: GHOST-SOFA."]}
    assert not Order.objects.exists() and not OutboxEvent.objects.using(database_for("orders")).exists()


def test_anonymous_requests_are_refused() -> None:
    anonymous = APIClient()
    assert anonymous.post("/api/orders/", GOOD, format="json").status_code == 401
    assert anonymous.get("/api/orders/").status_code == 401
    assert not Order.objects.exists()


def test_a_customer_sees_only_their_own_orders_and_staff_see_all(client: APIClient, alice) -> None:
    own = OrderFactory(customer_id=alice.pk)
    others = OrderFactory(customer_id=CustomerFactory(username="bob").pk)
    assert [o["id"] for o in client.get("/api/orders/").json()["results"]] == [str(own.pk)]
    assert client.get(f"/api/orders/{others.pk}/").status_code == 404
    assert client.post(f"/api/orders/{others.pk}/cancel/").status_code == 404
    assert client.get(f"/api/orders/{others.pk}/timeline/").status_code == 404
    staff = APIClient()
    staff.force_authenticate(StaffFactory())
    assert {o["id"] for o in staff.get("/api/orders/").json()["results"]} == {str(own.pk), str(others.pk)}


def test_an_unknown_or_malformed_order_id_is_a_404(client: APIClient) -> None:
    assert client.get(f"/api/orders/{uuid.uuid4()}/").status_code == 404
    assert client.get("/api/orders/not-a-uuid/").status_code == 404


def test_orders_can_be_filtered_by_status(client: APIClient, alice) -> None:
    OrderFactory(customer_id=alice.pk, status=Order.Status.CONFIRMED)
    OrderFactory(customer_id=alice.pk, status=Order.Status.FAILED)
    statuses = [o["status"] for o in client.get("/api/orders/?status=failed").json()["results"]]
    assert statuses == ["failed"]


def test_cancelling_then_the_timeline_shows_the_compensation(client: APIClient, bus: TestBus) -> None:
    StockItemFactory(sku="CRUNCHY-ARMCHAIR", on_hand=5)
    order_id = client.post("/api/orders/", GOOD, format="json").json()["id"]
    response = client.post(f"/api/orders/{order_id}/cancel/", {}, format="json")
    assert response.status_code == 202
    assert response.json()["saga_state"] == "compensating"
    bus.drain()
    timeline = client.get(f"/api/orders/{order_id}/timeline/").json()
    assert (timeline["state"], timeline["order_status"]) == ("cancelled", "cancelled")
    assert [s["action"] for s in timeline["steps"]] == ["reserve", "compensate", "release", "cancel"]
    assert timeline["steps"][0]["reply_type"] == "inventory.StockReserved"


def test_cancelling_a_confirmed_order_is_a_400_that_says_why(client: APIClient, bus: TestBus) -> None:
    StockItemFactory(sku="CRUNCHY-ARMCHAIR", on_hand=5)
    order_id = client.post("/api/orders/", GOOD, format="json").json()["id"]
    bus.drain()
    response = client.post(f"/api/orders/{order_id}/cancel/", {}, format="json")
    assert response.status_code == 400
    assert "can no longer be cancelled" in response.json()["errors"]["status"][0]


def test_the_timeline_shows_a_cancellation_s_releases_while_they_are_on_their_way(
    client: APIClient, bus: TestBus
) -> None:
    # The cancellation runs under its own request's correlation id, and its ReleaseStock commands
    # are about each line's reservation, not about the order: the order's timeline still finds them
    # before anything about the order itself (OrderCancelled) is published in that chain.
    StockItemFactory(sku="CRUNCHY-ARMCHAIR", on_hand=5)
    order_id = client.post("/api/orders/", GOOD, format="json").json()["id"]
    client.post(f"/api/orders/{order_id}/cancel/", {}, format="json", HTTP_X_CORRELATION_ID=str(uuid.uuid4()))
    events = [e["event_type"] for e in client.get(f"/api/orders/{order_id}/timeline/").json()["events"]]
    assert events == ["orders.OrderPlaced", "inventory.ReserveStock", "inventory.ReleaseStock"]
    bus.drain()
    events = [e["event_type"] for e in client.get(f"/api/orders/{order_id}/timeline/").json()["events"]]
    assert events.count("inventory.ReleaseStock") == 1 and events[-1] == "orders.OrderCancelled"
