from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db.models import QuerySet, Sum

from inventory.models import Reservation, StockItem

# Keeps an IN (...) list well under every database's limit on bound parameters.
_IDS_PER_QUERY = 500


def stock_item_list() -> QuerySet[StockItem]:
    return StockItem.objects.all()


# --- Facts for the cross-domain reconciliation (check_consistency) ----------------------------


@dataclass(frozen=True)
class LineStock:
    """What inventory holds for one order line."""

    order_id: UUID
    line_id: UUID
    sku: str
    quantity: int
    status: str  # reserved | committed | released

    @property
    def holds_stock(self) -> bool:
        return self.status in (Reservation.Status.RESERVED, Reservation.Status.COMMITTED)

    @property
    def committed(self) -> bool:
        return self.status == Reservation.Status.COMMITTED


@dataclass(frozen=True)
class StockCount:
    sku: str
    on_hand: int
    reserved: int
    reserved_by_lines: int  # the sum of the reservations still held (not yet committed or released)


@dataclass(frozen=True)
class StockFacts:
    """What inventory holds that other domains' copies must agree with: plain values, no models."""

    lines: dict[tuple[UUID, UUID], LineStock]  # (order id, line id) -> its reservation, for the orders asked about
    counts: list[StockCount]  # every stock item, by sku
    stocked_skus: set[str]  # the skus stocked before the cut-off


def stock_facts(*, order_ids: Iterable[UUID], settled_before: datetime) -> StockFacts:
    """The reconciliation's view of inventory, read from inventory's own tables only."""
    wanted, lines = list(dict.fromkeys(order_ids)), {}
    for start in range(0, len(wanted), _IDS_PER_QUERY):
        rows = Reservation.objects.filter(order_id__in=wanted[start : start + _IDS_PER_QUERY]).values_list(
            "order_id", "line_id", "sku", "quantity", "status"
        )
        lines.update({(row[0], row[1]): LineStock(*row) for row in rows})
    held = dict(
        Reservation.objects.filter(status=Reservation.Status.RESERVED)
        .values_list("sku")
        .annotate(total=Sum("quantity"))
    )
    return StockFacts(
        lines=lines,
        counts=[
            StockCount(sku, on_hand, reserved, held.get(sku) or 0)
            for sku, on_hand, reserved in StockItem.objects.order_by("sku").values_list("sku", "on_hand", "reserved")
        ],
        stocked_skus=set(StockItem.objects.filter(created_at__lt=settled_before).values_list("sku", flat=True)),
    )
