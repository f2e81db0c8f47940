"""The order saga through real worker processes, with orders and inventory on databases of their
own: each worker reads and writes its domain's database, and the rows land there only."""

from __future__ import annotations

from decimal import Decimal

import pytest

from inventory.models import Reservation, StockItem
from inventory.services import stock_item_create
from orders.models import KnownProduct, Order
from orders.services import LineInput, order_place
from project.messaging.models import Delivery, InboxRecord, OutboxEvent
from project.messaging.outbox.relay import send_acknowledgements
from tests.conftest import wait_until

pytestmark = [pytest.mark.flows, pytest.mark.django_db(transaction=True, databases="__all__")]


def test_an_order_is_confirmed_by_real_workers_with_each_domain_s_rows_in_its_own_database(workers) -> None:
    stock_item_create(sku="CRUNCHY-ARMCHAIR", name="Crunchy armchair", on_hand=10)
    wait_until(
        lambda: KnownProduct.objects.using("orders").filter(sku="CRUNCHY-ARMCHAIR").exists(),
        what="orders to learn of the armchair",
    )
    order = order_place(customer_id=1, lines=[LineInput("CRUNCHY-ARMCHAIR", 3, Decimal("99.00"))]).order

    confirmed = wait_until(
        lambda: Order.objects.using("orders").filter(pk=order.pk, status=Order.Status.CONFIRMED).first(),
        what="the order to be confirmed",
    )
    assert confirmed.status == Order.Status.CONFIRMED
    wait_until(
        lambda: StockItem.objects.using("inventory").filter(sku="CRUNCHY-ARMCHAIR", on_hand=7, reserved=0).exists(),
        what="the confirmed line to be committed out of on_hand",
    )
    assert Reservation.objects.using("inventory").filter(order_id=order.pk).count() == 1
    assert OutboxEvent.objects.using("orders").filter(event_type="orders.OrderConfirmed").count() == 1
    assert not OutboxEvent.objects.using("default").filter(event_type__startswith="orders.").exists()
    assert not OutboxEvent.objects.using("default").filter(event_type__startswith="inventory.").exists()
    assert InboxRecord.objects.using("inventory").filter(event_type="inventory.ReserveStock").count() == 1
    assert InboxRecord.objects.using("orders").filter(event_type="inventory.StockReserved").count() == 1

    def orders_learned_every_reservation_was_handled() -> bool:
        # Inventory acknowledges in its own database; its relay loop (here: this call) sends the
        # acknowledgements to orders' queue, and orders' worker marks its deliveries.
        send_acknowledgements(using="inventory")
        return (
            not Delivery.objects.using("orders")
            .filter(event__event_type="inventory.ReserveStock")
            .exclude(status=Delivery.Status.PROCESSED)
            .exists()
        )

    wait_until(
        orders_learned_every_reservation_was_handled,
        what="orders' ReserveStock delivery to be marked processed in orders' database",
    )
