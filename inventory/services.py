"""Inventory use cases. Entry services are durable transactions; the ones handlers call join the
handler's inbox transaction, so their effects and the events they publish commit with it."""

from __future__ import annotations

import logging
from uuid import UUID

from django.db import transaction
from django.db.models import F

from inventory.events import (
    ProductAdded,
    StockCommitted,
    StockDepleted,
    StockReleased,
    StockReplenished,
    StockReservationFailed,
    StockReserved,
)
from inventory.models import Reservation, StockAdjustment, StockItem
from project.errors import DomainError
from project.messaging import database_for, publish

# The database this domain's rows and its outbox live in (its own, or the default): every
# service's transaction runs there, so that what it publishes commits with what it changes.
DATABASE = database_for("inventory")


logger = logging.getLogger(__name__)


class StockError(DomainError):
    """A stock operation broke a business rule (the message says which)."""

    code = "stock-refused"


class UnknownSku(StockError):
    code = "unknown-sku"
    field = "sku"


@transaction.atomic(using=DATABASE, durable=True)
def stock_item_create(*, sku: str, name: str, on_hand: int = 0) -> StockItem:
    if StockItem.objects.filter(sku=sku).exists():
        raise StockError(f"A product with sku {sku} already exists.")
    item = StockItem.objects.create(sku=sku, name=name, on_hand=on_hand)
    if on_hand:
        StockAdjustment.objects.create(sku=sku, delta=on_hand, on_hand_after=on_hand, reason="initial stock")
    publish(ProductAdded(sku=sku, name=name))
    return item


def _locked_item(sku: str) -> StockItem:
    # Row lock: a restock or adjustment and a concurrent reservation serialise on the item.
    item = StockItem.objects.select_for_update().filter(sku=sku).first()
    if item is None:
        raise UnknownSku(f"Unknown sku {sku}.")
    return item


@transaction.atomic(using=DATABASE, durable=True)
def stock_restock(*, sku: str, quantity: int, actor_id: int | None = None, reason: str = "restock") -> StockItem:
    """Add units to stock and tell the world they are available."""
    if quantity <= 0:
        raise StockError("Restock quantity must be positive.")
    item = _locked_item(sku)
    item.on_hand += quantity
    item.save(update_fields=["on_hand", "updated_at"])
    StockAdjustment.objects.create(
        sku=sku, delta=quantity, on_hand_after=item.on_hand, reason=reason, actor_id=actor_id
    )
    publish(StockReplenished(sku=sku, on_hand=item.on_hand, available=item.available, added=quantity))
    return item


@transaction.atomic(using=DATABASE, durable=True)
def stock_adjust(*, sku: str, on_hand: int, reason: str, actor_id: int | None = None) -> StockItem:
    """Correct on_hand after a count. It can never drop below what is reserved for orders."""
    if not reason.strip():
        raise StockError("An adjustment needs a reason.")
    item = _locked_item(sku)
    if on_hand < item.reserved:
        raise StockError(f"on_hand cannot go below the {item.reserved} units reserved for orders.")
    delta = on_hand - item.on_hand
    item.on_hand = on_hand
    item.save(update_fields=["on_hand", "updated_at"])
    StockAdjustment.objects.create(sku=sku, delta=delta, on_hand_after=on_hand, reason=reason, actor_id=actor_id)
    if delta > 0:
        publish(StockReplenished(sku=sku, on_hand=on_hand, available=item.available, added=delta))
    elif item.available == 0 and delta < 0:
        publish(StockDepleted(sku=sku, on_hand=item.on_hand, reserved=item.reserved))
    return item


@transaction.atomic(using=DATABASE, savepoint=False)  # a handler's: joins its transaction, see messaging.md
def stock_reserve_line(*, order_id: UUID, line_id: UUID, sku: str, quantity: int) -> None:
    """Reserve one order line, or refuse it, and answer the saga either way.

    Safe to repeat: a line already reserved (or committed) is answered StockReserved again; a
    line released before (a tombstone) is refused, so a late message cannot resurrect stock.
    """
    try:
        existing = Reservation.objects.get(order_id=order_id, line_id=line_id)
    except Reservation.DoesNotExist:
        existing = None
    if existing is not None:
        _answer_again(existing)
        return
    # One conditional UPDATE checks and takes the units: two orders racing for the last ones
    # cannot both pass the check, so stock is never oversold (PostgreSQL and SQLite).
    taken = StockItem.objects.filter(sku=sku, on_hand__gte=F("reserved") + quantity).update(
        reserved=F("reserved") + quantity
    )
    if not taken:
        known = StockItem.objects.filter(sku=sku).exists()
        publish(
            StockReservationFailed(
                order_id=order_id,
                line_id=line_id,
                sku=sku,
                code="insufficient_stock" if known else "unknown_sku",
                reason=f"insufficient stock for {sku}" if known else f"unknown sku {sku}",
            )
        )
        return
    # Two commands for one line reserved at once (a retried command and the first): the second
    # fails here on the unique (order, line) key once the first commits, which rolls back its
    # whole transaction, the units it took included. That is a transient fault: its retry finds
    # the first one's reservation and answers it as a repeat.
    Reservation.objects.create(order_id=order_id, line_id=line_id, sku=sku, quantity=quantity)
    publish(StockReserved(order_id=order_id, line_id=line_id, sku=sku, quantity=quantity))
    item = StockItem.objects.get(sku=sku)
    if item.available == 0:
        publish(StockDepleted(sku=sku, on_hand=item.on_hand, reserved=item.reserved))


def _answer_again(reservation: Reservation) -> None:
    """A reserve for a line seen before: answered as the first time, unless it was released."""
    if reservation.status == Reservation.Status.RELEASED:
        publish(
            StockReservationFailed(
                order_id=reservation.order_id,
                line_id=reservation.line_id,
                sku=reservation.sku,
                code="already_released",
                reason=f"the reservation of {reservation.sku} was already released",
            )
        )
    else:
        publish(
            StockReserved(
                order_id=reservation.order_id,
                line_id=reservation.line_id,
                sku=reservation.sku,
                quantity=reservation.quantity,
            )
        )


@transaction.atomic(using=DATABASE, savepoint=False)  # a handler's: joins its transaction, see messaging.md
def stock_release_line(*, order_id: UUID, line_id: UUID, sku: str) -> None:
    """Give back what one order line holds, and answer StockReleased.

    Releasing a line that was never reserved is a recorded no-op: it leaves a tombstone so that a
    reserve arriving after it is refused. Releasing twice answers the same again.
    """
    reservation, created = Reservation.objects.select_for_update().get_or_create(
        order_id=order_id,
        line_id=line_id,
        defaults={"sku": sku, "quantity": 0, "status": Reservation.Status.RELEASED},
    )
    released = 0
    if reservation.status == Reservation.Status.RESERVED:
        StockItem.objects.filter(sku=reservation.sku).update(reserved=F("reserved") - reservation.quantity)
        reservation.status = Reservation.Status.RELEASED
        reservation.save(update_fields=["status", "updated_at"])
        released = reservation.quantity
    elif reservation.status == Reservation.Status.COMMITTED:
        # A confirmed order's stock has left the warehouse; releasing it would invent units.
        logger.warning("Refusing to release committed line %s of order %s", line_id, order_id)
        return
    elif created:
        logger.info("Release of never-reserved line %s of order %s recorded as a tombstone", line_id, order_id)
    publish(StockReleased(order_id=order_id, line_id=line_id, sku=reservation.sku, quantity=released))


@transaction.atomic(using=DATABASE, savepoint=False)  # a handler's: joins its transaction, see messaging.md
def stock_commit_line(*, order_id: UUID, line_id: UUID, sku: str) -> None:
    """The order is confirmed: its reserved units leave on_hand for good. Safe to repeat."""
    try:
        reservation = Reservation.objects.select_for_update().get(order_id=order_id, line_id=line_id)
    except Reservation.DoesNotExist:
        reservation = None
    if reservation is None or reservation.status == Reservation.Status.RELEASED:
        logger.warning("Nothing reserved to commit for line %s of order %s", line_id, order_id)
        return
    if reservation.status == Reservation.Status.RESERVED:
        StockItem.objects.filter(sku=reservation.sku).update(
            on_hand=F("on_hand") - reservation.quantity, reserved=F("reserved") - reservation.quantity
        )
        reservation.status = Reservation.Status.COMMITTED
        reservation.save(update_fields=["status", "updated_at"])
    publish(StockCommitted(order_id=order_id, line_id=line_id, sku=reservation.sku, quantity=reservation.quantity))
