"""Messages published by the orders domain: its public contract.

Events tell everyone what happened to an order. The saga's requests to inventory are inventory's
own commands (inventory.commands), one per order line; inventory answers each with an event of
its own (inventory.events).
"""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from project.messaging import Event, message_type


class PlacedLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    line_id: UUID
    sku: str
    quantity: int = Field(gt=0)
    unit_price: Decimal


@message_type("orders.OrderPlaced", version=1, aggregate="order", aggregate_id="order_id")
class OrderPlaced(Event):
    order_id: UUID
    customer_id: int
    lines: tuple[PlacedLine, ...] = Field(min_length=1)
    total: Decimal


@message_type("orders.OrderConfirmed", version=1, aggregate="order", aggregate_id="order_id")
class OrderConfirmed(Event):
    order_id: UUID
    customer_id: int
    total: Decimal


@message_type("orders.OrderFailed", version=1, aggregate="order", aggregate_id="order_id")
class OrderFailed(Event):
    order_id: UUID
    customer_id: int
    reason: str


@message_type("orders.OrderCancelled", version=1, aggregate="order", aggregate_id="order_id")
class OrderCancelled(Event):
    order_id: UUID
    customer_id: int
    reason: str
