"""Orders use cases. Entry services are durable transactions; handler services join the inbox's."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from django.db import transaction

from orders.events import OrderConfirmed, OrderFailed, OrderPlaced, PlacedLine
from orders.models import Order, OrderLine
from project.messaging.outbox import publish

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LineInput:
    sku: str
    quantity: int
    unit_price: Decimal


@transaction.atomic(durable=True)
def order_place(*, customer_id: int, lines: Sequence[LineInput]) -> Order:
    """Create the order and start reserving its stock: OrderPlaced goes out with the commit."""
    if not lines:
        raise ValueError("An order needs at least one line.")
    order = Order.objects.create(
        customer_id=customer_id, total=sum((l.unit_price * l.quantity for l in lines), Decimal("0"))
    )
    created = OrderLine.objects.bulk_create(
        OrderLine(order=order, position=i, sku=l.sku, quantity=l.quantity, unit_price=l.unit_price)
        for i, l in enumerate(lines, start=1)
    )
    order.start_reserving()
    order.save(update_fields=["status", "version"])
    publish(
        OrderPlaced(
            order_id=order.id,
            customer_id=customer_id,
            lines=tuple(
                PlacedLine(line_id=l.id, sku=l.sku, quantity=l.quantity, unit_price=l.unit_price) for l in created
            ),
            total=order.total,
        ),
        aggregate_version=order.version,
    )
    return order


def _locked_order(order_id: UUID) -> Order | None:
    # Lock the order row: a confirmation and a failure arriving together are applied one by one.
    return Order.objects.select_for_update().filter(pk=order_id).first()


@transaction.atomic
def order_confirm(*, order_id: UUID) -> None:
    """Stock is reserved: confirm. A reply for an order that already ended changes nothing."""
    order = _locked_order(order_id)
    if order is None or order.status != Order.Status.RESERVING:
        logger.info("Ignoring stock reservation for order %s in state %s", order_id, order and order.status)
        return
    order.confirm()
    order.save(update_fields=["status", "version", "updated_at"])
    publish(OrderConfirmed(order_id=order.id, customer_id=order.customer_id, total=order.total),
            aggregate_version=order.version)


@transaction.atomic
def order_fail(*, order_id: UUID, reason: str) -> None:
    """Stock could not be reserved: fail with the reason. Late or repeated replies change nothing."""
    order = _locked_order(order_id)
    if order is None or order.is_terminal:
        logger.info("Ignoring reservation failure for order %s in state %s", order_id, order and order.status)
        return
    order.fail(reason)
    order.save(update_fields=["status", "version", "failure_reason", "updated_at"])
    publish(OrderFailed(order_id=order.id, customer_id=order.customer_id, reason=reason),
            aggregate_version=order.version)
