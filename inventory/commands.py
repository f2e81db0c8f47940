"""Commands inventory carries out: its published command API, for an orchestrator (the order saga).

Inventory defines them and subscribes to them; the orchestrator depends on this module and sends
them from its own outbox (``sender``), so inventory imports nothing of the orchestrator. Each is
about one reservation: the units held for one order line, identified by ``line_id`` (with the
``order_id`` it belongs to as data). They were published as ``orders.<Name>`` before inventory
owned them; envelopes carrying those names are still understood (``formerly``).
"""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from project.messaging import Command, message_type


@message_type(
    "inventory.ReserveStock",
    version=1,
    aggregate="reservation",
    aggregate_id="line_id",
    sender="orders",
    formerly=("orders.ReserveStock",),
)
class ReserveStock(Command):
    """Reserve one order line. Answered by StockReserved or StockReservationFailed."""

    order_id: UUID
    line_id: UUID
    sku: str
    quantity: int = Field(gt=0)


@message_type(
    "inventory.ReleaseStock",
    version=1,
    aggregate="reservation",
    aggregate_id="line_id",
    sender="orders",
    formerly=("orders.ReleaseStock",),
)
class ReleaseStock(Command):
    """Give back whatever one order line holds (nothing, if it was never reserved). Answered by StockReleased."""

    order_id: UUID
    line_id: UUID
    sku: str


@message_type(
    "inventory.CommitStock",
    version=1,
    aggregate="reservation",
    aggregate_id="line_id",
    sender="orders",
    formerly=("orders.CommitStock",),
)
class CommitStock(Command):
    """The order is confirmed: the line's reserved units leave stock for good. Answered by StockCommitted."""

    order_id: UUID
    line_id: UUID
    sku: str
