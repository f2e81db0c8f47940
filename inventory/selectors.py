from __future__ import annotations

from django.db.models import QuerySet

from inventory.models import Reservation, StockItem


def stock_item_list() -> QuerySet[StockItem]:
    return StockItem.objects.all()


def reservation_list_for_order(order_id: str) -> QuerySet[Reservation]:
    return Reservation.objects.filter(order_id=order_id)
