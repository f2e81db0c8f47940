"""The order saga through real worker processes on real Redis: confirm, compensate, race."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from inventory.models import StockItem
from inventory.services import stock_item_create
from orders.models import KnownProduct, Order, OrderSaga
from orders.services import LineInput, order_cancel, order_place
from project.celery import app
from tests.conftest import wait_until

pytestmark = [pytest.mark.flows, pytest.mark.django_db(transaction=True)]


def shelve(sku: str, on_hand: int) -> None:
    """Create a product in inventory and wait until orders has heard of it (ProductAdded)."""
    stock_item_create(sku=sku, name=sku.title(), on_hand=on_hand)
    wait_until(lambda: KnownProduct.objects.filter(sku=sku).exists(), what=f"orders to learn of {sku}")


def final_order(order_id, timeout: float = 30) -> Order:
    return wait_until(
        lambda: Order.objects.filter(pk=order_id, status__in=Order.TERMINAL).first(),
        timeout=timeout,
        what="the order to reach a final state",
    )


def stock() -> dict[str, tuple[int, int]]:
    return {s.sku: (s.on_hand, s.reserved) for s in StockItem.objects.all()}


def settled() -> bool:
    """Every reservation answered: nothing left in flight for inventory."""
    return not OrderSaga.objects.filter(state__in=["reserving", "compensating"]).exists()


def test_a_three_line_order_is_confirmed_and_exactly_its_stock_leaves_the_shelves(workers) -> None:
    shelve("CRUNCHY-ARMCHAIR", 10)
    shelve("SHINY-LAMP", 5)
    shelve("WOBBLY-TABLE", 4)
    order = order_place(
        customer_id=1,
        lines=[
            LineInput("CRUNCHY-ARMCHAIR", 3, Decimal("99.00")),
            LineInput("SHINY-LAMP", 5, Decimal("20.00")),
            LineInput("WOBBLY-TABLE", 1, Decimal("45.00")),
        ],
    ).order
    assert final_order(order.pk).status == Order.Status.CONFIRMED
    wait_until(
        lambda: stock() == {"CRUNCHY-ARMCHAIR": (7, 0), "SHINY-LAMP": (0, 0), "WOBBLY-TABLE": (3, 0)},
        what="the confirmed lines to be committed out of on_hand",
    )


def test_an_order_short_of_stock_fails_naming_the_sku_and_reserves_nothing(workers) -> None:
    shelve("CRUNCHY-ARMCHAIR", 10)
    shelve("RARE-VASE", 1)
    order = order_place(
        customer_id=1,
        lines=[LineInput("CRUNCHY-ARMCHAIR", 2, Decimal("99.00")), LineInput("RARE-VASE", 2, Decimal("500.00"))],
    ).order
    failed = final_order(order.pk)
    assert failed.status == Order.Status.FAILED
    assert failed.failure_reason == "insufficient stock for RARE-VASE"
    assert stock() == {"CRUNCHY-ARMCHAIR": (10, 0), "RARE-VASE": (1, 0)}  # the armchairs were released


def test_an_order_placed_through_the_api_reaches_its_final_state_within_seconds(workers) -> None:
    shelve("WOBBLY-TABLE", 3)
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
    wait_until(lambda: stock() == {"WOBBLY-TABLE": (2, 0)}, what="the line to be committed")


def test_cancelling_while_inventory_is_down_compensates_once_inventory_is_back(worker_factory, clean_queues) -> None:
    worker_factory(["orders"])
    inventory = worker_factory(["inventory"])
    shelve("CRUNCHY-ARMCHAIR", 10)
    shelve("SHINY-LAMP", 5)
    inventory.stop()  # inventory's worker is down: ReserveStock waits in its queue
    order = order_place(
        customer_id=1,
        lines=[LineInput("CRUNCHY-ARMCHAIR", 2, Decimal("99.00")), LineInput("SHINY-LAMP", 1, Decimal("20.00"))],
    ).order
    order_cancel(order_id=order.pk)
    assert Order.objects.get(pk=order.pk).status == Order.Status.RESERVING  # waiting for the releases
    worker_factory(["inventory"])
    cancelled = final_order(order.pk)
    assert (cancelled.status, cancelled.failure_reason) == (Order.Status.CANCELLED, "cancelled by the customer")
    wait_until(lambda: clean_queues.ready("inventory") == 0 and clean_queues.ready("orders") == 0, what="quiet queues")
    assert stock() == {"CRUNCHY-ARMCHAIR": (10, 0), "SHINY-LAMP": (5, 0)}  # late reserves changed nothing


def test_a_deadline_passing_while_inventory_is_down_fails_the_order_and_late_messages_change_nothing(
    worker_factory, clean_queues, settings
) -> None:
    settings.ORDERS_RESERVATION_TIMEOUT_SECONDS = 1
    worker_factory(["orders"], env={"ORDERS_RESERVATION_TIMEOUT_SECONDS": "1"})
    inventory = worker_factory(["inventory"])
    shelve("CRUNCHY-ARMCHAIR", 10)
    inventory.stop()
    order = order_place(customer_id=1, lines=[LineInput("CRUNCHY-ARMCHAIR", 4, Decimal("99.00"))]).order

    def beat_fires() -> bool:
        app.send_task("orders.expire_overdue_sagas")  # what Celery beat sends every few seconds
        return OrderSaga.objects.get(pk=order.pk).state == OrderSaga.State.COMPENSATING

    wait_until(beat_fires, interval=0.5, what="the deadline sweep to start compensating")
    worker_factory(["inventory"])
    failed = final_order(order.pk)
    assert (failed.status, failed.failure_reason) == (
        Order.Status.FAILED,
        "stock reservation timed out after 1 seconds",
    )
    wait_until(lambda: clean_queues.ready("inventory") == 0 and clean_queues.ready("orders") == 0, what="quiet queues")
    app.send_task("orders.expire_overdue_sagas")  # a deadline firing after the end does nothing
    wait_until(lambda: clean_queues.ready("orders") == 0, what="the sweep to run")
    assert Order.objects.get(pk=order.pk).status == Order.Status.FAILED
    assert stock() == {"CRUNCHY-ARMCHAIR": (10, 0)}


def test_two_hundred_orders_racing_for_fifty_units_never_oversell_and_conserve_stock(
    worker_factory, clean_queues
) -> None:
    worker_factory(["orders"])
    worker_factory(["inventory"], wait=False)
    worker_factory(["inventory"])  # two inventory processes reserve concurrently
    shelve("LAST-FIFTY", 50)
    shelve("PLENTY", 1000)
    before = stock()
    orders = []
    for i in range(200):
        lines = [LineInput("LAST-FIFTY", 1, Decimal("10.00"))]
        if i % 2:
            lines.insert(0, LineInput("PLENTY", 2, Decimal("1.00")))  # must be released when the other fails
        orders.append(order_place(customer_id=1 + i % 7, lines=lines).order.pk)
    wait_until(
        lambda: Order.objects.filter(pk__in=orders, status__in=Order.TERMINAL).count() == 200,
        timeout=180,
        interval=0.5,
        what="all 200 orders to end",
    )
    wait_until(settled, timeout=60, what="every saga to settle")
    confirmed = Order.objects.filter(pk__in=orders, status=Order.Status.CONFIRMED)
    assert confirmed.count() == 50
    assert Order.objects.filter(pk__in=orders, status=Order.Status.FAILED).count() == 150
    wait_until(lambda: stock()["LAST-FIFTY"] == (0, 0), what="confirmed lines to be committed")
    plenty_sold = sum(line.quantity for o in confirmed for line in o.lines.all() if line.sku == "PLENTY")
    wait_until(lambda: stock()["PLENTY"] == (1000 - plenty_sold, 0), what="PLENTY to be released or committed")
    # Conservation: on_hand before = on_hand after + units in confirmed orders.
    for sku in ("LAST-FIFTY", "PLENTY"):
        sold = sum(line.quantity for o in confirmed for line in o.lines.all() if line.sku == sku)
        assert before[sku][0] == stock()[sku][0] + sold
