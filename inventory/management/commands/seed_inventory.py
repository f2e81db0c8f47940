"""Create demo products (idempotent)."""

from __future__ import annotations

from typing import Any

from inventory.models import StockItem
from inventory.services import stock_item_create
from project.management import DomainCommand

DEMO_PRODUCTS = [
    ("CRUNCHY-ARMCHAIR", "Crunchy armchair", 50),
    ("WOBBLY-TABLE", "Wobbly table", 20),
    ("SHINY-LAMP", "Shiny lamp", 100),
    ("RARE-VASE", "Rare vase", 1),
]


class Command(DomainCommand):
    help = "Create the demo products with some stock (skips those that exist)."

    def handle(self, *args: Any, **options: Any) -> None:
        for sku, name, on_hand in DEMO_PRODUCTS:
            if StockItem.objects.filter(sku=sku).exists():
                continue
            stock_item_create(sku=sku, name=name, on_hand=on_hand)
            self.stdout.write(f"created {sku} with {on_hand} on hand")
