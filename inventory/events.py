"""Events published by the inventory domain: its public contract."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from project.messaging.events import Event, message_type


class ReservedLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    line_id: UUID
    sku: str
    quantity: int = Field(gt=0)


@message_type("inventory.StockReserved", version=1, aggregate="order", aggregate_id="order_id")
class StockReserved(Event):
    """Every line of the order is reserved."""

    order_id: UUID
    lines: tuple[ReservedLine, ...]


@message_type("inventory.StockReservationFailed", version=1, aggregate="order", aggregate_id="order_id")
class StockReservationFailed(Event):
    """The order could not be reserved; nothing of it stays reserved."""

    order_id: UUID
    sku: str
    reason: str
