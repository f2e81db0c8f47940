"""Orders' reactions to what inventory reports about each line. Each handler calls one service."""

from __future__ import annotations

from inventory.events import ProductAdded, StockCommitted, StockReleased, StockReservationFailed, StockReserved
from orders import services


def advance_saga_on_stock_reserved(event: StockReserved) -> None:
    services.order_stock_reserved(order_id=event.order_id, line_id=event.line_id)


def advance_saga_on_stock_refused(event: StockReservationFailed) -> None:
    services.order_stock_refused(order_id=event.order_id, line_id=event.line_id, reason=event.reason)


def advance_saga_on_stock_released(event: StockReleased) -> None:
    services.order_stock_released(order_id=event.order_id, line_id=event.line_id, quantity=event.quantity)


def advance_saga_on_stock_committed(event: StockCommitted) -> None:
    services.order_stock_committed(order_id=event.order_id, line_id=event.line_id)


def remember_orderable_product(event: ProductAdded) -> None:
    services.known_product_record(sku=event.sku, name=event.name)


SUBSCRIPTIONS = {
    ProductAdded: [remember_orderable_product],
    StockReserved: [advance_saga_on_stock_reserved],
    StockReservationFailed: [advance_saga_on_stock_refused],
    StockReleased: [advance_saga_on_stock_released],
    StockCommitted: [advance_saga_on_stock_committed],
}
