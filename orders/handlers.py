"""Orders' reactions to what inventory reports. Each handler calls one service."""

from __future__ import annotations

from inventory.events import StockReservationFailed, StockReserved
from orders import services


def confirm_order_when_stock_reserved(event: StockReserved) -> None:
    services.order_confirm(order_id=event.order_id)


def fail_order_when_stock_unavailable(event: StockReservationFailed) -> None:
    services.order_fail(order_id=event.order_id, reason=event.reason)


SUBSCRIPTIONS = {
    StockReserved: [confirm_order_when_stock_reserved],
    StockReservationFailed: [fail_order_when_stock_unavailable],
}
