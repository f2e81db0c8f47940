"""A step of the deployment as it ran before the move, in a process of its own (``python -m
tests.operations.split_move.single_database <step> ...``) given DATABASE_URL and no
DATABASE_URL_<LABEL>: every domain lives in the default database, as in a single-database deployment."""

from __future__ import annotations

import sys
from decimal import Decimal


def main(argv: list[str]) -> None:
    import django

    django.setup()
    from django.conf import settings

    if own := sorted(set(settings.DATABASES) & set(settings.DOMAIN_APPS)):
        sys.exit(f"not a single-database process: {', '.join(own)} have databases of their own")

    from inventory.services import stock_item_create
    from orders.services import LineInput, order_place

    step, sku, quantity = argv
    if step == "stock":
        stock_item_create(sku=sku, name=sku.title(), on_hand=int(quantity))
    elif step == "order":
        placement = order_place(customer_id=1, lines=[LineInput(sku, int(quantity), Decimal("25.00"))])
        print(placement.order.pk)
    else:
        sys.exit(f"unknown step {step}")


if __name__ == "__main__":
    main(sys.argv[1:])
