"""Inventory carrying out its commands (inventory.commands), sent by the order saga. Each handler calls one service."""

from __future__ import annotations

from inventory import services
from inventory.commands import CommitStock, ReleaseStock, ReserveStock


def reserve_order_line(command: ReserveStock) -> None:
    services.stock_reserve_line(
        order_id=command.order_id, line_id=command.line_id, sku=command.sku, quantity=command.quantity
    )


def release_order_line(command: ReleaseStock) -> None:
    services.stock_release_line(order_id=command.order_id, line_id=command.line_id, sku=command.sku)


def commit_order_line(command: CommitStock) -> None:
    services.stock_commit_line(order_id=command.order_id, line_id=command.line_id, sku=command.sku)


SUBSCRIPTIONS = {
    ReserveStock: [reserve_order_line],
    ReleaseStock: [release_order_line],
    CommitStock: [commit_order_line],
}
