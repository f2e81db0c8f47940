"""With every domain but users on a database of its own, each domain's rows, and its messaging
rows, are in its database and nowhere else (no table of theirs exists anywhere else)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.apps import apps
from django.db import connections

from inventory.models import Reservation
from inventory.services import stock_item_create
from orders.models import KnownProduct, Order
from orders.services import LineInput, order_place
from project.messaging.models import Delivery, InboxRecord, OutboxEvent
from project.messaging.registry.databases import database_for, messaging_databases
from project.messaging.testing import TestBus

pytestmark = pytest.mark.django_db(databases="__all__")


def tables(alias: str) -> set[str]:
    return set(connections[alias].introspection.table_names())


def test_each_split_domain_has_its_own_alias_and_the_others_stay_on_default() -> None:
    for label in ("orders", "inventory", "notifications", "articles", "publishing"):
        assert database_for(label) == label
    assert database_for("users") == "default"
    assert messaging_databases() == ["default", "articles", "inventory", "notifications", "orders", "publishing"]


def test_each_database_holds_its_domain_tables_the_messaging_tables_and_django_s_only_on_default() -> None:
    aliases = ["default", "orders", "inventory", "notifications", "articles", "publishing"]
    for label in ("orders", "inventory", "notifications", "articles", "publishing", "users"):
        for model in apps.get_app_config(label).get_models():
            home = database_for(label)
            assert model._meta.db_table in tables(home), (model, home)
            assert not any(model._meta.db_table in tables(other) for other in aliases if other != home), model
    for alias in aliases:
        assert {"messaging_outboxevent", "messaging_delivery", "messaging_inboxrecord"} <= tables(alias)
    assert "auth_user" in tables("default")
    assert not any("auth_user" in tables(alias) for alias in aliases[1:])


def test_placing_an_order_puts_the_order_and_its_outbox_in_orders_and_the_reservation_in_inventory(
    bus: TestBus,
) -> None:
    stock_item_create(sku="CRUNCHY-ARMCHAIR", name="Crunchy armchair", on_hand=5)
    assert OutboxEvent.objects.using("inventory").filter(event_type="inventory.ProductAdded").count() == 1
    bus.drain()  # orders learns the product from inventory's ProductAdded
    assert KnownProduct.objects.using("orders").filter(sku="CRUNCHY-ARMCHAIR").exists()

    order = order_place(customer_id=42, lines=[LineInput("CRUNCHY-ARMCHAIR", 2, Decimal("10.00"))]).order

    assert Order.objects.using("orders").filter(pk=order.pk).exists()
    placed = OutboxEvent.objects.using("orders").filter(event_type__in=["orders.OrderPlaced", "inventory.ReserveStock"])
    assert placed.count() == 2
    assert Delivery.objects.using("orders").filter(event__in=placed).exists()
    for elsewhere in ("default", "inventory"):
        assert not OutboxEvent.objects.using(elsewhere).filter(correlation_id=order.pk).exists()
        assert (
            not OutboxEvent.objects.using(elsewhere)
            .filter(event_type__in=["orders.OrderPlaced", "inventory.ReserveStock"])
            .exists()
        )

    bus.drain()

    assert Reservation.objects.using("inventory").filter(order_id=order.pk).count() == 1
    reserve_records = InboxRecord.objects.filter(event_type="inventory.ReserveStock")
    assert reserve_records.using("inventory").count() == 1
    assert not reserve_records.using("orders").exists()
    assert not reserve_records.using("default").exists()
    reply_records = InboxRecord.objects.filter(event_type="inventory.StockReserved")
    assert reply_records.using("orders").count() == 1
    assert not reply_records.using("inventory").exists()
    assert OutboxEvent.objects.using("inventory").filter(event_type="inventory.StockReserved").count() == 1
    assert Order.objects.using("orders").get(pk=order.pk).status == Order.Status.CONFIRMED
    # The producer's delivery rows, in the producer's database, learnt that they were processed.
    reserve_deliveries = Delivery.objects.using("orders").filter(event__event_type="inventory.ReserveStock")
    assert set(reserve_deliveries.values_list("status", flat=True)) == {Delivery.Status.PROCESSED}
