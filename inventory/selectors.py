from __future__ import annotations

from django.db.models import QuerySet

from inventory.models import StockItem


def stock_item_list() -> QuerySet[StockItem]:
    return StockItem.objects.all()

