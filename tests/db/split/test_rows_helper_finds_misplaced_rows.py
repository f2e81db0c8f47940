"""tests/db/split/rows.py finds what the flow tests rely on it to find: a messaging row in another
domain's database, an acknowledgement on the producer's side. (A domain row cannot be misplaced
here: a domain's tables exist in its own database only, as test_rows_land_in_their_domain_database
checks.)"""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from inventory.services import stock_item_create
from project.messaging.models import Acknowledgement, InboxRecord, OutboxEvent
from tests.db.split.rows import assert_no_rows, assert_rows, assert_rows_only_in_their_database, misplaced_rows

pytestmark = pytest.mark.django_db(databases="__all__")


def outbox_event(alias: str, producer: str) -> OutboxEvent:
    return OutboxEvent.objects.using(alias).create(
        event_type=f"{producer}.Something",
        schema_version=1,
        producer=producer,
        aggregate_type="thing",
        aggregate_id="1",
        correlation_id=uuid.uuid4(),
        occurred_at=timezone.now(),
        payload={},
    )


def test_rows_in_their_own_databases_are_not_reported() -> None:
    stock_item_create(sku="CRUNCHY-ARMCHAIR", name="Crunchy armchair", on_hand=5)
    assert_rows_only_in_their_database()
    assert_rows(OutboxEvent, "inventory", 1, event_type="inventory.ProductAdded")
    with pytest.raises(AssertionError, match="expected {'orders': 1}, found {'inventory': 1}"):
        assert_rows(OutboxEvent, "orders", 1, event_type="inventory.ProductAdded")
    with pytest.raises(AssertionError, match="expected none"):
        assert_no_rows(OutboxEvent)


def test_messaging_rows_in_another_domain_s_database_are_reported() -> None:
    outbox_event("orders", producer="inventory")
    InboxRecord.objects.using("inventory").create(
        handler="orders.advance_saga_on_stock_reserved", event_id=uuid.uuid4(), event_type="inventory.StockReserved"
    )
    ack = Acknowledgement.objects.using("orders").create(
        producer="orders", delivery_id=1, outcome="processed", created_at=timezone.now()
    )
    assert misplaced_rows() == [
        "1 messaging.OutboxEvent of producer=inventory in orders",
        "1 messaging.InboxRecord of handler=orders.advance_saga_on_stock_reserved in inventory",
        f"acknowledgement {ack.pk} (producer orders, delivery 1 consumed on None) in orders",
    ]
    with pytest.raises(AssertionError, match="Rows outside their database"):
        assert_rows_only_in_their_database()
