"""Events published by the inventory domain: its public contract (its commands: inventory.commands).

Each event is about one of inventory's aggregates: a stock item (id: its ``sku``) or a
reservation, the units held for one order line (id: its ``line_id``; the ``order_id`` it belongs
to travels as data).
"""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from project.messaging import Event, message_type


@message_type("inventory.ProductAdded", version=1, aggregate="stock_item", aggregate_id="sku")
class ProductAdded(Event):
    """A new product can be ordered from now on. Aggregate: the stock item (``sku``)."""

    sku: str
    name: str


@message_type("inventory.StockReserved", version=1, aggregate="reservation", aggregate_id="line_id")
class StockReserved(Event):
    """One order line's units are held for it. Aggregate: the reservation (``line_id``)."""

    order_id: UUID
    line_id: UUID
    sku: str
    quantity: int = Field(gt=0)


@message_type("inventory.StockReservationFailed", version=1, aggregate="reservation", aggregate_id="line_id")
class StockReservationFailed(Event):
    """One order line could not be reserved; it holds nothing. Aggregate: the reservation (``line_id``).

    ``code``: insufficient_stock | unknown_sku | already_released (the line was released first).
    """

    order_id: UUID
    line_id: UUID
    sku: str
    code: str
    reason: str


@message_type("inventory.StockReleased", version=1, aggregate="reservation", aggregate_id="line_id")
class StockReleased(Event):
    """One order line holds nothing any more. ``quantity`` is 0 when it never held anything.

    Aggregate: the reservation (``line_id``).
    """

    order_id: UUID
    line_id: UUID
    sku: str
    quantity: int = Field(ge=0)


@message_type("inventory.StockCommitted", version=1, aggregate="reservation", aggregate_id="line_id")
class StockCommitted(Event):
    """One confirmed order line's units left stock (on_hand) for good. Aggregate: the reservation (``line_id``)."""

    order_id: UUID
    line_id: UUID
    sku: str
    quantity: int = Field(gt=0)


@message_type("inventory.StockDepleted", version=1, aggregate="stock_item", aggregate_id="sku")
class StockDepleted(Event):
    """Nothing of this sku is available any more. Aggregate: the stock item (``sku``)."""

    sku: str
    on_hand: int
    reserved: int


@message_type("inventory.StockReplenished", version=1, aggregate="stock_item", aggregate_id="sku")
class StockReplenished(Event):
    """Stock was added (restock) or corrected upwards (adjustment). Aggregate: the stock item (``sku``)."""

    sku: str
    on_hand: int
    available: int
    added: int
