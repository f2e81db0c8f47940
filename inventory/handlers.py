"""Inventory's reactions to other domains' events. Each handler calls one service."""

from __future__ import annotations

from inventory import services
from orders.events import OrderPlaced


def reserve_stock_for_order(event: OrderPlaced) -> None:
    services.order_stock_reserve(
        order_id=event.order_id,
        lines=[services.LineRequest(line_id=l.line_id, sku=l.sku, quantity=l.quantity) for l in event.lines],
    )


SUBSCRIPTIONS = {
    OrderPlaced: [reserve_stock_for_order],
}
