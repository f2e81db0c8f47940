"""Inventory use cases. Each entry service is a transaction boundary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from django.db import transaction
from django.db.models import F

from inventory.events import ReservedLine, StockReservationFailed, StockReserved
from inventory.models import Reservation, StockItem
from project.messaging.outbox import publish


@dataclass(frozen=True)
class LineRequest:
    line_id: UUID
    sku: str
    quantity: int


class InsufficientStock(Exception):
    def __init__(self, sku: str, reason: str) -> None:
        super().__init__(reason)
        self.sku = sku
        self.reason = reason


@transaction.atomic(durable=True)
def stock_item_create(*, sku: str, name: str, on_hand: int = 0) -> StockItem:
    return StockItem.objects.create(sku=sku, name=name, on_hand=on_hand)


def _reserve_line(line: LineRequest, order_id: UUID) -> None:
    # One conditional UPDATE checks and takes the stock: two orders racing for the last units
    # cannot both pass the check, so stock is never oversold (on PostgreSQL and SQLite alike).
    taken = StockItem.objects.filter(sku=line.sku, on_hand__gte=F("reserved") + line.quantity).update(
        reserved=F("reserved") + line.quantity
    )
    if not taken:
        exists = StockItem.objects.filter(sku=line.sku).exists()
        raise InsufficientStock(
            line.sku, f"insufficient stock for {line.sku}" if exists else f"unknown sku {line.sku}"
        )
    Reservation.objects.create(order_id=order_id, line_id=line.line_id, sku=line.sku, quantity=line.quantity)


@transaction.atomic
def order_stock_reserve(*, order_id: UUID, lines: Sequence[LineRequest]) -> bool:
    """Reserve every line of an order, or none of them, and publish the outcome.

    Joins the caller's transaction (the handler's inbox transaction). Repeating it for an order
    already reserved publishes nothing new: the inbox normally prevents that, this is the backstop.
    """
    if Reservation.objects.filter(order_id=order_id).exists():
        return True
    try:
        with transaction.atomic():  # savepoint: a failing line undoes the lines before it
            for line in lines:
                _reserve_line(line, order_id)
    except InsufficientStock as exc:
        publish(StockReservationFailed(order_id=order_id, sku=exc.sku, reason=exc.reason))
        return False
    publish(
        StockReserved(
            order_id=order_id,
            lines=tuple(ReservedLine(line_id=l.line_id, sku=l.sku, quantity=l.quantity) for l in lines),
        )
    )
    return True
