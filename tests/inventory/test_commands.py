"""Inventory's command API: owned by inventory, sent from orders' outbox, and still understood
under the names the orders domain published them with before (messages in flight at an upgrade)."""

from __future__ import annotations

import uuid

import pytest

from inventory.commands import CommitStock, ReleaseStock, ReserveStock
from inventory.models import Reservation, StockItem
from project.messaging.contract.delivery import DeliveryAttempt
from project.messaging.contract.events import Envelope, current_type_name, decode, message_class
from project.messaging.inbox.consumer import Outcome, process
from tests.factories.envelopes import raw_envelope
from tests.factories.inventory import StockItemFactory
from tests.messaging_rows import inbox_records, outbox_events


def old_envelope(event_type: str, payload: dict) -> dict:
    """An envelope as the code before the move wrote it (outbox row, delivery, dead letter)."""
    return raw_envelope(
        event_type, payload, producer="orders", aggregate_type="order", aggregate_id=payload["order_id"]
    )


def test_the_commands_are_named_by_inventory_and_sent_by_orders() -> None:
    for command in (ReserveStock, ReleaseStock, CommitStock):
        assert command.event_type == f"inventory.{command.__name__}"
        assert command.producer() == "orders"  # travels in the sender's outbox, in its database
        assert (command.aggregate_type, command.aggregate_id_field) == ("reservation", "line_id")


@pytest.mark.parametrize("command", [ReserveStock, ReleaseStock, CommitStock])
def test_the_former_orders_type_names_still_decode_to_the_commands(command: type) -> None:
    old = f"orders.{command.__name__}"
    assert current_type_name(old) == command.event_type
    assert message_class(old) is command
    payload = {"order_id": str(uuid.uuid4()), "line_id": str(uuid.uuid4()), "sku": "RARE-VASE", "quantity": 1}
    decoded = decode(Envelope.from_json(old_envelope(old, payload)))
    assert type(decoded) is command and str(decoded.line_id) == payload["line_id"]


@pytest.mark.django_db
def test_a_reserve_stock_written_under_its_old_name_is_handled_once() -> None:
    StockItemFactory(sku="RARE-VASE", on_hand=3)
    order_id, line_id = uuid.uuid4(), uuid.uuid4()
    envelope = old_envelope(
        "orders.ReserveStock", {"order_id": str(order_id), "line_id": str(line_id), "sku": "RARE-VASE", "quantity": 2}
    )
    attempt = DeliveryAttempt(envelope=envelope, handler="inventory.reserve_order_line")
    assert process(attempt).outcome is Outcome.PROCESSED
    assert process(attempt).outcome is Outcome.DUPLICATE  # the inbox knows it under its handler and id
    assert Reservation.objects.get(line_id=line_id).quantity == 2
    assert StockItem.objects.get(sku="RARE-VASE").reserved == 2
    inbox = inbox_records("inventory").filter(handler="inventory.reserve_order_line", event_id=envelope["event_id"])
    assert inbox.count() == 1
    reply = outbox_events("inventory").get(event_type="inventory.StockReserved")
    assert (reply.aggregate_type, reply.aggregate_id) == ("reservation", str(line_id))
    assert reply.payload["order_id"] == str(order_id)
